"""Folds side by side in worker processes: how many, and that a run trained that way is a whole run."""

from __future__ import annotations

import logging
import operator
import os

import numpy as np
import pytest

from kaggle_digits.training import workers
from kaggle_digits.config import RunConfig
from kaggle_digits.pipeline import make_submission
from kaggle_digits.training.tasks import MIN_BATCH, MIN_STEPS, enough_steps
from kaggle_digits.training.recipe import Recipe


@pytest.mark.parametrize("requested, jobs, rows, gpu, expected", [
    (None, 10, 33_600, False, min(2, workers.MAX_AUTO_WORKERS)),  # auto on a CPU: one per core (2 here)
    (None, 10, 33_600, True, 1),     # one GPU is the shared resource
    (None, 10, 3_000, False, 1),     # small folds: a worker's start-up costs more than it saves
    (None, 1, 33_600, False, 1),     # one fold to train
    (3, 2, 300, False, 2),           # asked for: at most one per fold
    (1, 10, 33_600, False, 1),
])
def test_how_many_workers(monkeypatch, requested, jobs, rows, gpu, expected):
    monkeypatch.setattr(workers.os, "cpu_count", lambda: 2)
    assert workers.resolve_workers(requested, jobs, rows, gpu) == expected
    assert workers.threads_per_worker(2) == 1 and workers.threads_per_worker(1) == 2


@pytest.fixture
def light_workers(monkeypatch):
    """Spawned workers that skip TensorFlow's import (the jobs here are plain Python; the TensorFlow set-up of a
    worker is what test_a_run_trained_by_two_workers_is_a_whole_run trains through)."""
    import keras

    monkeypatch.setattr(keras.backend, "backend", lambda: "numpy")


def test_run_all_returns_every_result_with_its_job_index(light_workers):
    jobs = [(i, 10) for i in range(5)]
    assert sorted(workers.run_all(operator.mul, jobs, 1)) == [(i, 10 * i) for i in range(5)]
    assert sorted(workers.run_all(operator.mul, jobs, 2)) == [(i, 10 * i) for i in range(5)]  # spawned processes
    assert os.getpid() not in {pid for _, pid in workers.run_all(os.getpid, [()] * 4, 2)}  # in other processes


def test_a_failing_job_raises_in_the_caller(light_workers):
    with pytest.raises(ZeroDivisionError):
        list(workers.run_all(operator.truediv, [(1, 1), (1, 0)], 2))


@pytest.mark.slow
def test_a_run_trained_by_two_workers_is_a_whole_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the bundled sample
    monkeypatch.setenv("KAGGLE_DIGITS_CACHE", str(tmp_path / "cache"))
    result = make_submission(RunConfig(data=None, max_train_rows=300, folds=2, epochs=1, models=("cnn_fast",),
                                       verbose=0, report=False, workers=2, submissions_dir=str(tmp_path / "subs")))
    oof = np.load(result.run_dir / "oof_probabilities.npy")
    assert oof.shape == (300, 10) and np.allclose(oof.sum(1), 1, atol=1e-4)
    assert all((result.run_dir / "cnn_fast" / f"fold{k}" / "done.json").is_file() for k in (0, 1))
    assert result.summary.trained_folds == 2


def test_a_fold_too_small_to_learn_gets_a_smaller_batch_or_a_warning(caplog):
    caplog.set_level(logging.INFO, logger="kaggle_digits.training.tasks")
    recipe = Recipe(epochs=1, batch_size=128)
    adapted = enough_steps(recipe, "m", 2_000, log_it=True)  # 16 steps at batch 128: near chance (measured 11%)
    assert adapted.batch_size < 128 and 1 * -(-2_000 // adapted.batch_size) >= MIN_STEPS
    assert "too few to learn" in caplog.text
    assert enough_steps(Recipe(epochs=30, batch_size=128), "m", 33_600, log_it=True).batch_size == 128
    tiny = enough_steps(recipe, "m", 150, log_it=True)
    assert tiny.batch_size == MIN_BATCH and "near chance" in caplog.text
