"""End to end on tiny data: k-fold training, OOF coverage, run folder, resume, outputs, CLI errors."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
from conftest import PAIR_RUN, SESSION_START

from kaggle_digits import atomic, cli
from kaggle_digits.competition import submission
from kaggle_digits.runs import rundir, runlock
from kaggle_digits.config import RunConfig, from_args
from kaggle_digits.errors import ConfigError, DataError, OutputError
from kaggle_digits.pipeline import make_submission
from kaggle_digits.runs.runload import read_summary
from kaggle_digits.training.train import fingerprint_hash

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def quick_run(pair_run):
    """The session's two-model run (conftest.pair_run) and its working folder (cache, submissions/)."""
    return pair_run.run_dir.parents[1], pair_run


def test_run_folder_holds_every_fold_result(quick_run):
    _, result = quick_run
    run = result.run_dir
    for name in ("config.toml", "data.json", "folds.npy", "train_rows.npy", "ensemble.json", "submission.csv",
                 "oof_probabilities.npy", "test_probabilities.npy"):
        assert (run / name).is_file(), name
    for model in ("cnn_fast", "cnn_small"):
        for fold in (0, 1):
            fold_dir = run / model / f"fold{fold}"
            for name in ("done.json", "fingerprint.json", "history.json", "oof.npy", "test.npy", "model.keras"):
                assert (fold_dir / name).is_file(), f"{model}/fold{fold}/{name}"
            assert len(atomic.read_json(fold_dir / "history.json")["loss"]) == 1
            # done.json certifies exactly the fingerprint recorded when the fold started
            assert atomic.read_json(fold_dir / "done.json")["fingerprint"] == \
                fingerprint_hash(atomic.read_json(fold_dir / "fingerprint.json"))
    assert atomic.read_json(run / "run.json")["data_sha256"] == atomic.read_json(run / "data.json")["sha256"]
    assert tomllib.loads((run / "config.toml").read_text())["models"] == ["cnn_fast", "cnn_small"]


def test_oof_covers_every_training_row_exactly_once(quick_run):
    _, result = quick_run
    run = result.run_dir
    fold_of = np.load(run / "folds.npy")
    assert len(fold_of) == 300 and np.load(run / "train_rows.npy").shape == (300,)
    for model in ("cnn_fast", "cnn_small"):
        sizes = [np.load(run / model / f"fold{k}" / "oof.npy").shape[0] for k in (0, 1)]
        assert sizes == [int(np.sum(fold_of == 0)), int(np.sum(fold_of == 1))]
        assert sum(sizes) == 300
    oof = np.load(run / "oof_probabilities.npy")
    assert oof.shape == (300, 10)
    np.testing.assert_allclose(oof.sum(axis=1), 1.0, rtol=1e-4)  # no row left at zero, none counted twice


def test_ensemble_report_and_submission_agree(quick_run):
    _, result = quick_run
    run = result.run_dir
    summary = json.loads((run / "ensemble.json").read_text())
    assert set(summary["models"]) == {"cnn_fast", "cnn_small"}
    for m in summary["models"].values():
        assert 0.0 <= m["oof_accuracy"] <= 1.0 and len(m["fold_accuracy"]) == 2
        assert m["seconds_per_epoch"] > 0
    # the calibrated blend: one OOF-fitted temperature per model, then the probability average
    blends = summary["ensemble"]["blends"]
    temps = blends["calibrated"]["weights"]
    assert set(temps) == {"cnn_fast", "cnn_small"} and all(0.05 <= t <= 20 for t in temps.values())
    assert blends["equal"]["weights"] == {"cnn_fast": 0.5, "cnn_small": 0.5}
    # every registered blend is scored; the default (--blend auto) takes the best of them and the models alone
    assert set(blends) == {"calibrated", "equal", "weighted", "oof"}
    e = summary["ensemble"]
    best = max(m["oof_accuracy"] for m in summary["models"].values())
    assert e["blend_requested"] == "auto" and e["oof_accuracy"] >= best
    assert e["oof_accuracy"] == max(best, *(b["oof_accuracy"] for b in blends.values()))
    assert e["gain_over_best_member"] == pytest.approx(e["oof_accuracy"] - best) and e["gain_over_best_member"] >= 0
    # error overlap: each model's OOF errors and how many of them the other model gets right
    oof = {m: np.zeros((300, 10)) for m in ("cnn_fast", "cnn_small")}
    _, fold_of = rundir.read_folds(run)
    for m in oof:
        for k in (0, 1):
            oof[m][fold_of == k] = np.load(run / m / f"fold{k}" / "oof.npy")
    pairs = {(p["model"], p["other"]): p for p in summary["error_overlap"]}
    assert set(pairs) == {("cnn_fast", "cnn_small"), ("cnn_small", "cnn_fast")}
    assert all(0 <= p["other_right"] <= p["errors"] <= 300 for p in pairs.values())
    test_probs = np.load(run / "test_probabilities.npy")
    frame = submission.validate_file(run / "submission.csv", n_rows=1000)
    np.testing.assert_array_equal(frame["Label"].astype(int).to_numpy(), test_probs.argmax(axis=1))
    # a sample run never replaces the file `submit` uploads
    assert result.copies == [] and not (run.parent / "submission.csv").exists()
    assert summary["is_sample"] is True and "-sample" in run.name


def test_rerun_with_the_same_run_dir_reuses_every_fold(quick_run, caplog):
    workdir, first = quick_run
    caplog.set_level(logging.INFO, logger="kaggle_digits")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)
        mp.setenv("KAGGLE_DIGITS_CACHE", str(workdir / "cache"))
        again = make_submission(RunConfig(**PAIR_RUN, run_dir=str(first.run_dir),
                                          submissions_dir=str(workdir / "submissions")))
    logs = caplog.messages
    assert sum("reused from an earlier run" in line for line in logs) == 4
    assert not any("training on" in line for line in logs)
    assert (again.run_dir / "submission.csv").read_bytes() == (first.run_dir / "submission.csv").read_bytes()


def test_the_identical_command_reuses_the_finished_run_and_says_so(quick_run, caplog, tmp_path):
    workdir, first = quick_run
    caplog.set_level(logging.INFO, logger="kaggle_digits")
    caplog.clear()
    out = tmp_path / "again.csv"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)
        mp.setenv("KAGGLE_DIGITS_CACHE", str(workdir / "cache"))
        again = make_submission(RunConfig(**PAIR_RUN, submissions_dir=str(workdir / "submissions"), out=str(out)))
    logs = caplog.messages
    assert again.run_dir == first.run_dir
    assert any(f"identical to finished run {first.run_dir}; nothing to train -- --fresh trains again" in line
               for line in logs)
    assert not any("training on" in line for line in logs)
    assert out.read_bytes() == (first.run_dir / "submission.csv").read_bytes()  # --out gets the reused submission


def test_a_run_on_a_folder_in_use_is_refused_before_training(quick_run, caplog):
    workdir, first = quick_run
    caplog.set_level(logging.INFO, logger="kaggle_digits")
    caplog.clear()
    with pytest.MonkeyPatch.context() as mp, runlock.lock(first.run_dir):  # as a live run holding the folder would
        mp.chdir(workdir)
        mp.setenv("KAGGLE_DIGITS_CACHE", str(workdir / "cache"))
        with pytest.raises(OutputError, match=rf"in use by process {os.getpid()}\b"):
            make_submission(RunConfig(**PAIR_RUN, run_dir=str(first.run_dir),
                                      submissions_dir=str(workdir / "submissions")))
    assert not any("training on" in line or "reused" in line for line in caplog.messages)
    assert not (first.run_dir / rundir.LOCK_OWNER).exists()


def test_unfinished_run_is_resumed_and_only_the_missing_fold_trains(tmp_path, monkeypatch, caplog, fake_training):
    """Folds by conftest's fake_training (written as train_fold writes them): what is tested is the resume."""
    monkeypatch.chdir(tmp_path)
    cfg = dict(PAIR_RUN, models=("cnn_fast",), submissions_dir=str(tmp_path / "subs"))
    first = make_submission(RunConfig(**cfg))
    # simulate a crash during fold 2: its done.json never got written, no submission yet
    (first.run_dir / "cnn_fast" / "fold1" / "done.json").unlink()
    (first.run_dir / "submission.csv").unlink()
    caplog.set_level(logging.INFO, logger="kaggle_digits")
    caplog.clear()  # only the second run's lines (an earlier test may have left the logger at INFO)
    second = make_submission(RunConfig(**cfg))
    logs = caplog.messages
    assert second.run_dir == first.run_dir
    assert [line for line in logs if "training on" in line] == [
        next(line for line in logs if "fold 2/2: training" in line)]
    fresh = make_submission(RunConfig(**cfg, fresh=True))
    assert fresh.run_dir != first.run_dir
    assert [t.fold for t in fake_training[1]] == [0, 1, 1, 0, 1]  # first run, the missing fold, the fresh run


def test_out_file_is_refused_if_it_exists_unless_forced(tmp_path, monkeypatch, fake_training):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "mine.csv"
    out.write_text("keep me")
    cfg = dict(PAIR_RUN, models=("cnn_fast",), submissions_dir=str(tmp_path / "subs"), out=str(out))
    with pytest.raises(OutputError, match="--out .* exists already"):
        make_submission(RunConfig(**cfg))
    assert out.read_text() == "keep me"
    make_submission(RunConfig(**cfg, force=True))
    submission.validate_file(out, n_rows=1000)


def test_config_is_validated_before_any_work():
    with pytest.raises(ConfigError, match="unknown model"):
        RunConfig(models=("cnn", "nope")).validate()
    with pytest.raises(ConfigError, match="--folds is 1; expected 2 or more"):
        RunConfig(folds=1).validate()
    with pytest.raises(ConfigError, match="augment.zoom"):
        RunConfig(augment={"zoom": 1.5}).validate()


def _script(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's package, not an installed one
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "make_submission.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)


def test_cli_bad_input_is_one_line_without_traceback(tmp_path, monkeypatch, capsys):
    """What scripts/make_submission.py runs (cli.run_script, in this process: the script is a shim over it and a
    subprocess would spend its time importing TensorFlow): a data error is one line and exit code 2."""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train.csv").write_text("label,pixel0\n1,2\n")
    (bad / "test.csv").write_text("pixel0\n1\n")
    monkeypatch.chdir(tmp_path)
    assert cli.run_script("make", ["--data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: train.csv: header has 2 columns"), err
    assert not (tmp_path / "submissions").exists() or not any((tmp_path / "submissions").iterdir())
    # --debug lets the error through with its traceback
    with pytest.raises(DataError, match="header has 2 columns"):
        cli.main(["make", "--data", str(bad), "--debug"])


def test_cli_help(tmp_path):
    """The script's help (no TensorFlow import: about a second); --list-models runs as a script in test_first_hour."""
    help_text = _script("--help", cwd=tmp_path).stdout
    for flag in ("--data", "--models", "--folds", "--epochs", "--batch-size", "--seed", "--max-train-rows",
                 "--out", "--run-dir"):
        assert flag in help_text


def make_config(*flags: str) -> RunConfig:
    """The RunConfig ``kaggle-digits make FLAGS`` would run."""
    return from_args(cli.build_parser().parse_args(["make", *flags]))


def test_preset_is_a_starting_point_that_flags_override():
    quick = make_config("--preset", "quick")
    assert (quick.minutes, quick.blend, quick.preset) == (15.0, "auto", "quick")
    overridden = make_config("--preset", "quick", "--minutes", "4")
    assert overridden.minutes == 4.0 and overridden.preset == "quick"
    assert make_config("--preset", "full").full is True
    assert make_config().preset is None and make_config().minutes is None


def test_toml_sits_between_preset_and_flags(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('folds = 6\nepochs = 3\n[augment]\nzoom = 0.2\n')
    cfg = make_config("--preset", "quick", "--config", str(toml), "--epochs", "4", "--shift", "0.05")
    assert (cfg.folds, cfg.epochs, cfg.minutes) == (6, 4, 15.0)  # TOML over preset, flags over TOML
    assert (cfg.augment.zoom, cfg.augment.shift, cfg.augment.rotation_deg) == (0.2, 0.05, 10.0)
    assert make_config("--no-augment", "--no-val-curves", "--no-report", "--tta").to_dict() == {
        **RunConfig().to_dict(), "augment": {**RunConfig().to_dict()["augment"], "enabled": False},
        "validate_each_epoch": False, "report": False, "tta": True}


def test_a_run_s_wall_seconds_are_its_own(sample_run):
    """ensemble.json's wall_seconds is the run's clock (clock.Deadline): its load time included, never more than
    this test session has lasted."""
    summary = read_summary(sample_run.run_dir)
    assert 0 < summary.load_seconds <= summary.wall_seconds <= time.monotonic() - SESSION_START


def test_tta_changes_only_tta_in_the_fold_fingerprint_and_still_predicts_probabilities(sample_run, pair_run):
    """--tta end to end (conftest.pair_run against sample_run, the same settings without it): the same fold's
    fingerprints differ in tta alone, so a rerun with the other setting retrains; the shift-averaged
    predictions are still probabilities and make a valid submission."""
    plain = atomic.read_json(sample_run.run_dir / "cnn_fast" / "fold0" / "fingerprint.json")
    shifted = atomic.read_json(pair_run.run_dir / "cnn_fast" / "fold0" / "fingerprint.json")
    assert {key for key in plain.keys() | shifted.keys() if plain.get(key) != shifted.get(key)} == {"tta"}
    assert (plain["tta"], shifted["tta"]) == (False, True)
    run = pair_run.run_dir
    for path in (run / "cnn_fast" / "fold0" / "oof.npy", run / "cnn_fast" / "fold0" / "test.npy",
                 run / "oof_probabilities.npy", run / "test_probabilities.npy"):
        p = np.load(path)
        assert p.shape[1] == 10 and np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all(), path
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-4, err_msg=str(path))
    n_test = len(np.load(run / "test_probabilities.npy"))
    submission.validate_file(run / "submission.csv", n_rows=n_test)
