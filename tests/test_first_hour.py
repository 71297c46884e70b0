"""The first hour as a new user: quiet start-up, readable redirected output, help without repeated
defaults, a locked run folder, and `submit` that says which run it uploads and refuses a subset's file."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kaggle_digits import atomic, cli
from kaggle_digits.runs import rundir, runlock
from kaggle_digits.errors import OutputError
from kaggle_digits.kaggle import provenance
from kaggle_digits.scoring.summary import EnsembleScore, ModelScore, RunSummary

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
ENV.pop("TF_CPP_MIN_LOG_LEVEL", None)  # what a user's shell has: nothing set


# --------------------------------------------------------------------------- the run folder lock
def test_a_locked_run_folder_refuses_a_second_run_and_is_released(tmp_path):
    with runlock.lock(tmp_path / "run") as path:
        assert path == tmp_path / "run" / rundir.LOCK
        owner = (tmp_path / "run" / rundir.LOCK_OWNER).read_text().split()
        assert owner[0] == str(os.getpid())
        with pytest.raises(OutputError, match=rf"in use by process {os.getpid()}; wait") as refused:
            with runlock.lock(tmp_path / "run"):
                pass
        assert "\n" not in str(refused.value)
        assert (tmp_path / "run" / rundir.LOCK_OWNER).is_file()  # the refused attempt left the holder alone
    assert not (tmp_path / "run" / rundir.LOCK_OWNER).exists()
    with runlock.lock(tmp_path / "run"):  # free again
        pass


def test_the_lock_is_released_when_the_run_fails(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with runlock.lock(tmp_path):
            raise KeyboardInterrupt
    with runlock.lock(tmp_path):
        pass


def test_a_lock_held_by_another_live_process_is_refused_and_freed_when_it_dies(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from kaggle_digits.runs import runlock\n"
                               "with runlock.lock(sys.argv[1]):\n print('locked', flush=True); time.sleep(60)",
                               str(tmp_path)], env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputError, match=rf"in use by process {holder.pid}\b"):
            with runlock.lock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    with runlock.lock(tmp_path):  # killed: the OS released its lock (its stale owner file is overwritten)
        assert (tmp_path / rundir.LOCK_OWNER).read_text().split()[0] == str(os.getpid())


# --------------------------------------------------------------------------- --verbose, --help
def _make_args(*argv: str) -> argparse.Namespace:
    args, _ = cli.build_parser().parse_known_args(["make", *argv])
    return args


def test_progress_bars_only_on_a_terminal():
    assert cli.run_config(_make_args(), interactive=True).verbose == 1
    assert cli.run_config(_make_args(), interactive=False).verbose == 2  # redirected: a line per epoch
    assert cli.run_config(_make_args("--verbose", "1"), interactive=False).verbose == 1  # asked for explicitly
    assert cli.run_config(_make_args("--verbose", "0"), interactive=False).verbose == 0


def _parsers(parser: argparse.ArgumentParser, name: str = "kaggle-digits"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_help_shows_each_default_once_for_every_command():
    parsers = list(_parsers(cli.build_parser()))
    parsers += [(f"scripts/{c.script}", cli._setup(c, argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter))) for c in cli.COMMANDS.values() if c.script]
    assert len(parsers) > len(cli.COMMANDS)
    for name, parser in parsers:
        text = parser.format_help()
        assert "(default: None)" not in text, name
        for action in parser._actions:
            if action.help and action.help != argparse.SUPPRESS:
                shown = action.help % {"default": action.default, "prog": "x"} if "%(" in action.help else action.help
                assert shown.count("default") <= 1 + shown.count("defaults"), (name, action.option_strings, shown)
        assert not re.search(r"\(default: [^)]*\)\s*\(default", " ".join(text.split())), name


# --------------------------------------------------------------------------- start-up noise
NOISE = re.compile(r"absl|oneDNN|cudart|cuInit|cuda|^[IWE]\d{4} ", re.IGNORECASE | re.MULTILINE)


@pytest.mark.slow
def test_list_models_prints_no_tensorflow_start_up_lines():
    proc = subprocess.run([sys.executable, "-m", "kaggle_digits", "make", "--list-models"], env=ENV, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "cnn_gru" in proc.stdout and "28,506" in proc.stdout and not NOISE.search(proc.stdout)  # its parameters
    assert proc.stderr.strip() == "", proc.stderr


def test_commands_without_a_model_never_import_tensorflow(tmp_path):
    code = ("import sys; from kaggle_digits import cli\n"
            "rc = cli.main(sys.argv[1:])\n"
            "print('TF', 'tensorflow' in sys.modules, rc)")
    (tmp_path / "s.csv").write_text("ImageId,Label\n" + "".join(f"{i},1\n" for i in range(1, 28_001)))
    proc = subprocess.run([sys.executable, "-c", code, "submit", "s.csv", "--dry-run", "-m", "x"], env=ENV,
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.stdout.splitlines()[-1] == "TF False 0", proc.stdout + proc.stderr


@pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                    reason="JAX is not installed (pip install jax to test the KERAS_BACKEND=jax path)")
@pytest.mark.slow
def test_the_jax_backend_never_imports_tensorflow(tmp_path):
    code = ("import sys; from kaggle_digits import cli\n"
            "rc = cli.main(sys.argv[1:])\n"
            "print('TF', 'tensorflow' in sys.modules, rc)")
    proc = subprocess.run([sys.executable, "-c", code, "make", "--list-models"], cwd=tmp_path,
                          env={**ENV, "KERAS_BACKEND": "jax"}, capture_output=True, text=True, timeout=300)
    assert proc.stdout.splitlines()[-1] == "TF False 0", proc.stdout + proc.stderr
    assert "cnn_gru" in proc.stdout and proc.stderr.strip() == "", proc.stderr


# --------------------------------------------------------------------------- which run made the file
def fake_run(folder: Path, oof: float, used: int = 42_000, total: int = 42_000, sample: bool = False) -> Path:
    """A finished-looking run folder: just what `submit` reads (ensemble.json, data.json, config.toml)."""
    folder.mkdir(parents=True)
    atomic.write_json(folder / rundir.ENSEMBLE, one_model_summary(oof, sample).to_json())
    atomic.write_json(folder / rundir.DATA_RECORD, {"is_sample": sample, "n_train_used": used, "n_train_total": total})
    (folder / rundir.CONFIG).write_text("" if used == total else f"max_train_rows = {used}\n")
    (folder / rundir.SUBMISSION).write_text("ImageId,Label\n" + "".join(f"{i},{(i * 7 + round(oof * 1e3)) % 10}\n"
                                                                        for i in range(1, 28_001)))
    return folder


def one_model_summary(oof: float, sample: bool) -> RunSummary:
    """The summary of a 5-fold run of one model (cnn) whose every fold scored ``oof``."""
    member = ModelScore(oof_accuracy=oof, oof_log_loss=0.1, fold_accuracy=[oof] * 5, fold_accuracy_mean=oof,
                        fold_accuracy_std=0.0, seconds_per_epoch=None, images_per_second=None, fit_seconds=1.0,
                        epochs=1, params=1)
    alone = EnsembleScore(weights_used="model:cnn", blend_requested="auto", blend="cnn alone", weights={"cnn": 1.0},
                          oof_accuracy=oof, oof_log_loss=0.1, blends={}, best_member="cnn", gain_over_best_member=0.0)
    return RunSummary(models={"cnn": member}, ensemble=alone, error_overlap=[], folds={"cnn": [0, 1, 2, 3, 4]},
                      scored_folds=[0, 1, 2, 3, 4], partial=False, left_out=[], is_sample=sample)


def test_the_latest_copy_names_its_run_until_it_changes(tmp_path):
    subs = tmp_path / "submissions"
    a, b = fake_run(subs / "a", 0.99), fake_run(subs / "b", 0.991)
    latest = subs / rundir.SUBMISSION
    latest.write_bytes((b / rundir.SUBMISSION).read_bytes())
    rundir.record_latest(subs, b)
    assert json.loads((subs / rundir.LATEST).read_text())["run_dir"] == str(b)
    assert provenance.find_run(latest, subs) == b
    (b / rundir.SUBMISSION).unlink()  # the run's own copy gone: the record still says where the file came from
    assert provenance.find_run(latest, subs) == b
    latest.write_bytes((a / rundir.SUBMISSION).read_bytes())  # replaced without a record: found by content
    assert provenance.find_run(latest, subs) == a


def test_refusals_name_subset_sample_and_a_worse_oof(tmp_path):
    subs = tmp_path / "submissions"
    full = provenance.describe(fake_run(subs / "full", 0.992) / rundir.SUBMISSION, subs)
    subset = provenance.describe(fake_run(subs / "subset", 0.95, used=200) / rundir.SUBMISSION, subs)
    sample = provenance.describe(fake_run(subs / "sample", 0.9, used=500, total=500, sample=True) / "submission.csv")
    assert full.oof_accuracy == 0.992 and not full.subset and "OOF accuracy 99.2000%" in full.line()
    assert provenance.refusals(full, None) == []
    assert "200 of 42,000" in provenance.refusals(subset, None)[0]
    assert "bundled sample" in provenance.refusals(sample, None)[0]
    provenance.record_submitted(subs, "x.csv", full, "m")
    provenance.record_submitted(subs, "y.csv", subset, "m")  # a subset's OOF never sets the bar
    assert provenance.best_submitted(subs) == (0.992, "run full")
    worse = provenance.describe(fake_run(subs / "worse", 0.991) / rundir.SUBMISSION, subs)
    (reason,) = provenance.refusals(worse, provenance.best_submitted(subs))
    assert "99.1000% is below the best submitted before (99.2000%, run full)" in reason
    listing = "fileName date description\ns.csv 2024 kaggle-digits 0.3 run r: cnn, 5 folds, OOF accuracy 99.6500%, x"
    assert provenance.best_submitted(tmp_path / "elsewhere", listing) == (0.9965, "your Kaggle submissions")


def test_submit_refuses_a_subset_run_unless_yes(tmp_path, monkeypatch, capsys):
    subs = tmp_path / "submissions"
    run = fake_run(subs / "subset", 0.95, used=200)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["submit", str(run / rundir.SUBMISSION), "--dry-run"]) == 2
    out, err = capsys.readouterr()
    assert f"run {run}: OOF accuracy 95.0000%, 200 of 42,000 train.csv rows" in out
    (line,) = err.splitlines()
    assert line.startswith("error: ") and "200 of 42,000" in line and "--yes" in line
    assert cli.main(["submit", str(run / rundir.SUBMISSION), "--dry-run", "--yes"]) == 0
    assert "dry run, not submitted" in capsys.readouterr().out
