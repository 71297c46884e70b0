"""Trustworthy runs: determinism, kill -9 and resume, unwritable outputs, property tests of the validators."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kaggle_digits import cli
from kaggle_digits.competition import submission
from kaggle_digits.config import RunConfig
from kaggle_digits.competition.data import PIXEL_COLUMNS, parse_test_csv, parse_train_csv
from kaggle_digits.errors import DataError, OutputError
from kaggle_digits.pipeline import make_submission
from kaggle_digits.runs import rundir

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(data=None, max_train_rows=240, epochs=1, verbose=0, models=("cnn_fast",), report=False)  # the model is incidental


# "a": the whole run (kill -9's reference); "b" (the same seed again, in the same process) and "c" (another seed)
# train its first fold only: the determinism test compares that fold's files, and a fold is the unit of work
SEEDS = (("a", 7, None), ("b", 7, (0,)), ("c", 8, (0,)))


@pytest.fixture(scope="session")
def seeded_runs(tmp_path_factory):
    """Three in-process runs of TINY x 2 folds (SEEDS), traced as a real run is (no eager_training): the determinism
    test and kill -9's reference."""
    root = tmp_path_factory.mktemp("seeded")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("KAGGLE_DIGITS_CACHE", str(root / "cache"))
        return {name: make_submission(RunConfig(**TINY, folds=2, seed=seed, only_folds=folds, run_dir=str(root / name),
                                                submissions_dir=str(root)))
                for name, seed, folds in SEEDS}


def test_same_seed_gives_byte_identical_probabilities(seeded_runs):
    fold0 = {name: seeded_runs[name].run_dir / "cnn_fast" / "fold0" for name, _, _ in SEEDS}
    for file in (rundir.FOLD_TEST, rundir.FOLD_OOF):
        a, b, c = (np.load(fold0[name] / file) for name, _, _ in SEEDS)
        assert a.tobytes() == b.tobytes(), file
        assert not np.array_equal(a, c), file  # the seed really reaches the folds/weights/augmentation
    # kill -9's test compares whole runs ("a" and the CLI's) across processes


ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # the scripts import this checkout's package


def _make_args(subs: Path) -> list[str]:
    """TINY x 2 folds, seed 7, as a user types it after `make`: the same run as seeded_runs' "a"."""
    return ["--max-train-rows", "240", "--folds", "2", "--epochs", "1", "--models", "cnn_fast", "--seed", "7",
            "--verbose", "0", "--no-report", "--submissions-dir", str(subs)]


def test_kill_9_mid_run_then_same_command_resumes(tmp_path, seeded_runs, monkeypatch, capsys):
    """Kill the real CLI after its first fold, rerun the same command: it resumes and matches a clean run (the same
    settings run in this process: the CLI adds nothing that changes a number). The rerun is the script's
    cli.run_script in this process: what it resumes from is on disk (fold 0, the dead process's lock), and a
    second TensorFlow start-up would add nothing but time."""
    subs = tmp_path / "subs"
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "make_submission.py"), *_make_args(subs)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ENV)
    deadline = time.monotonic() + 240
    while not list(subs.glob("*/cnn_fast/fold0/done.json")):
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.monotonic() < deadline, "first fold never finished"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    (run_dir,) = [p for p in subs.iterdir() if p.is_dir()]
    assert not (run_dir / "submission.csv").exists()

    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert cli.run_script("make", _make_args(subs)) == 0
    resumed = capsys.readouterr().out
    assert f"run folder: {run_dir}" in resumed
    assert "[cnn_fast] fold 1/2: val accuracy" in resumed and "reused from an earlier run" in resumed
    assert "fold 1/2: training" not in resumed and "fold 2/2: training" in resumed

    clean_dir = seeded_runs["a"].run_dir
    assert (run_dir / "submission.csv").read_bytes() == (clean_dir / "submission.csv").read_bytes()
    assert np.load(run_dir / "test_probabilities.npy").tobytes() == \
        np.load(clean_dir / "test_probabilities.npy").tobytes()


def test_unwritable_run_folder_is_a_clear_error_before_training(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="cannot write the run folder"):
        make_submission(RunConfig(**TINY, folds=2, run_dir=str(blocker / "run")))


def test_fresh_never_reuses_an_existing_run_dir(tmp_path, monkeypatch, fake_training):
    monkeypatch.chdir(tmp_path)
    cfg = dict(TINY, folds=2, run_dir=str(tmp_path / "run"), submissions_dir=str(tmp_path))
    make_submission(RunConfig(**cfg))
    with pytest.raises(OutputError, match="--fresh with --run-dir"):
        make_submission(RunConfig(**cfg, fresh=True))


# ----------------------------------------------------------------------------- property tests
def _csv(labels: np.ndarray | None, pixels: np.ndarray) -> str:
    frame = pd.DataFrame(pixels, columns=PIXEL_COLUMNS)
    if labels is not None:
        frame.insert(0, "label", labels)
    return frame.to_csv(index=False)


# Pixels come from a seeded generator so hypothesis shrinks a seed, not 784-long lists.
images = st.tuples(st.integers(1, 6), st.integers(0, 2**32 - 1)).map(lambda t: (
    np.random.default_rng(t[1]).integers(0, 10, t[0]),
    np.random.default_rng(t[1] + 1).integers(0, 256, (t[0], 784), dtype=np.uint8)))
PROPS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(images)
def test_loader_round_trips_any_valid_file(data):
    labels, pixels = data
    x, y = parse_train_csv(_csv(labels, pixels).encode())
    np.testing.assert_array_equal(x, pixels)
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_array_equal(parse_test_csv(_csv(None, pixels).encode()), pixels)


@PROPS
@given(images, st.data(), st.sampled_from(["x", "-3", "+3", "256", "1e3", "7.5", "", "0x1f", " ", "1 ", "nan", "NA"]))
def test_loader_names_the_corrupted_cell(data, draw, bad):
    labels, pixels = data
    lines = _csv(labels, pixels).splitlines()
    row = draw.draw(st.integers(1, len(labels)))
    column = draw.draw(st.integers(1, 784))
    fields = lines[row].split(",")
    fields[column] = bad
    lines[row] = ",".join(fields)
    with pytest.raises(DataError) as info:
        parse_train_csv(("\n".join(lines) + "\n").encode(), "train.csv")
    assert f"train.csv, row {row} (line {row + 1}), column pixel{column - 1}:" in str(info.value)


@PROPS
@given(st.lists(st.integers(0, 9), min_size=1, max_size=50), st.data())
def test_submission_validator_accepts_valid_and_names_the_first_bad_id(labels, draw):
    n = len(labels)
    frame = pd.DataFrame({"ImageId": np.arange(1, n + 1), "Label": labels})
    submission.validate_frame(frame, n_rows=n)
    if n > 1:
        i, j = sorted(draw.draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True)))
        ids = frame["ImageId"].to_numpy().copy()
        ids[i], ids[j] = ids[j], ids[i]
        with pytest.raises(DataError, match=rf"row {i + 1} \(line {i + 2}\), column ImageId: expected {i + 1}"):
            submission.validate_frame(frame.assign(ImageId=ids), n_rows=n)
