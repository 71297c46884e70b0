"""Folds side by side in worker processes: how many, one per GPU with each its own device (two fake GPUs
here), and that a run trained that way is a whole run."""

from __future__ import annotations

import logging
import operator
import os

import numpy as np
import pytest

import worker_jobs

from kaggle_digits.training import devices, workers
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
def test_how_many_workers(no_device_settings, monkeypatch, requested, jobs, rows, gpu, expected):
    monkeypatch.setattr(workers.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(devices, "gpu_devices", lambda: ["/device:GPU:0"] if gpu else [])
    assert workers.resolve_workers(requested, jobs, rows, gpu) == expected
    assert workers.threads_per_worker(2) == 1 and workers.threads_per_worker(1) == 2


@pytest.fixture
def no_device_settings(monkeypatch):
    for name in (devices.DEVICES_ENV, devices.DISTRIBUTE_ENV, devices.WORKER_DEVICE_ENV, "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("requested, jobs, rows, expected", [
    (None, 10, 33_600, 2),   # one worker per GPU...
    (None, 10, 300, 2),      # ...whatever the run's size (a GPU fold is long beside a worker's start-up)
    (None, 1, 33_600, 1),    # one fold to train
    (3, 10, 33_600, 3),      # asked for: several on a device
    (1, 10, 33_600, 1),
])
def test_two_gpus_mean_one_worker_each(no_device_settings, requested, jobs, rows, expected):
    no_device_settings.setattr(workers.os, "cpu_count", lambda: 4)
    no_device_settings.setattr(devices, "gpu_devices", lambda: ["/device:GPU:0", "/device:GPU:1"])
    assert workers.resolve_workers(requested, jobs, rows, True) == expected
    assert devices.worker_devices() == ["/device:GPU:0", "/device:GPU:1"] and devices.replica_devices() == []
    # data parallelism is the option, no longer the default: one process, one fold spread over both GPUs
    no_device_settings.setenv(devices.DISTRIBUTE_ENV, "mirrored")
    assert devices.replica_devices() == ["/device:GPU:0", "/device:GPU:1"] and devices.worker_devices() == []
    assert workers.resolve_workers(None, 10, 33_600, True) == 1


def test_a_cpu_only_machine_never_asks_for_gpus(no_device_settings):
    """has_gpu False (what the caller saw): the decision is the one of before, without a device query."""
    no_device_settings.setattr(devices, "gpu_devices", lambda: pytest.fail("GPUs listed on a CPU-only machine"))
    no_device_settings.setattr(workers.os, "cpu_count", lambda: 2)
    assert workers.resolve_workers(None, 10, 33_600, False) == 2
    assert workers.resolve_workers(None, 10, 3_000, False) == 1
    assert devices.worker_devices(query_gpus=False) == []


@pytest.mark.parametrize("device, visible, index", [
    ("gpu:1", None, "1"), ("/device:GPU:0", None, "0"), ("cuda:1", "4,6", "6"), ("/physical_device:GPU:0", "3", "3"),
    ("gpu:1", "", ""), ("gpu:2", "4,6", ""),  # a GPU the parent does not see stays hidden
    ("/device:CPU:1", None, None), ("/cpu:0", "0,1", None), ("gpu", None, None),
])
def test_a_worker_s_cuda_visible_devices(device, visible, index):
    assert devices.cuda_index(device, visible) == index


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


def test_two_devices_one_worker_process_each_with_its_own_device(light_workers, no_device_settings, tmp_path):
    """The pool on a T4 x2 stand-in (two fake GPUs named as TensorFlow names them): one process per device, each
    given its own -- CUDA_VISIBLE_DEVICES set before its framework would load -- for every job it runs."""
    no_device_settings.setenv(devices.DEVICES_ENV, "/device:GPU:0,/device:GPU:1")
    n_workers = workers.resolve_workers(None, 4, 300, False)
    assert n_workers == 2
    (tmp_path / "met").mkdir()
    seen = [r for _, r in workers.run_all(worker_jobs.device_seen, [(str(tmp_path / "met"), 2)] * 4, n_workers)]
    by_pid = {}
    for report in seen:
        by_pid.setdefault(report["pid"], set()).add((report["device"], report["cuda"], report["devices"]))
    assert len(by_pid) == 2 and os.getpid() not in by_pid  # two worker processes, neither of them this one
    assert sorted(d for given in by_pid.values() for d in given) == [
        ("/device:GPU:0", "0", "/device:GPU:0"), ("/device:GPU:1", "1", "/device:GPU:1")]  # one device each, always
    assert {r["backend"] for r in seen} == {"numpy"}  # light_workers' backend, passed on as before
    assert {r["preallocate"] for r in seen} <= {None, os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE")}  # its own GPU


def test_more_workers_than_devices_share_them_round_robin(light_workers, no_device_settings, tmp_path):
    no_device_settings.setenv(devices.DEVICES_ENV, "gpu:0,gpu:1")
    no_device_settings.setenv("CUDA_VISIBLE_DEVICES", "2,3")  # the parent's own restriction is honoured
    no_device_settings.delenv("XLA_PYTHON_CLIENT_PREALLOCATE", raising=False)
    (tmp_path / "met").mkdir()
    seen = [r for _, r in workers.run_all(worker_jobs.device_seen, [(str(tmp_path / "met"), 3)] * 3, 3)]
    assert len({r["pid"] for r in seen}) == 3
    assert sorted(r["cuda"] for r in seen) in (["2", "2", "3"], ["2", "3", "3"])  # each worker's, through "2,3"
    assert {r["preallocate"] for r in seen} == {"false"}  # two processes on one GPU: neither reserves 75% of it


@pytest.mark.slow
def test_a_run_trained_by_two_workers_is_a_whole_run(tmp_path, no_device_settings, caplog):
    """No --workers on two (fake) GPUs: the folds train side by side, one worker per device, not mirrored."""
    monkeypatch = no_device_settings
    caplog.set_level(logging.INFO, logger="kaggle_digits")
    monkeypatch.chdir(tmp_path)  # the bundled sample
    monkeypatch.setenv("KAGGLE_DIGITS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(devices.DEVICES_ENV, "gpu:0,gpu:1")  # CUDA_VISIBLE_DEVICES=0 / 1 in the workers: no GPU here
    result = make_submission(RunConfig(data=None, max_train_rows=300, folds=2, epochs=1, models=("cnn_fast",),
                                       verbose=0, report=False, submissions_dir=str(tmp_path / "subs")))
    oof = np.load(result.run_dir / "oof_probabilities.npy")
    assert oof.shape == (300, 10) and np.allclose(oof.sum(1), 1, atol=1e-4)
    assert all((result.run_dir / "cnn_fast" / f"fold{k}" / "done.json").is_file() for k in (0, 1))
    assert result.summary.trained_folds == 2
    assert "training 2 folds, 2 at a time" in caplog.text
    from kaggle_digits.runs import rundir

    assert rundir.read_invocations(result.run_dir)[-1].devices.startswith(
        "2 devices, one worker process each (gpu:0, gpu:1)")


def test_a_fold_too_small_to_learn_gets_a_smaller_batch_or_a_warning(caplog):
    caplog.set_level(logging.INFO, logger="kaggle_digits.training.tasks")
    recipe = Recipe(epochs=1, batch_size=128)
    adapted = enough_steps(recipe, "m", 2_000, log_it=True)  # 16 steps at batch 128: near chance (measured 11%)
    assert adapted.batch_size < 128 and 1 * -(-2_000 // adapted.batch_size) >= MIN_STEPS
    assert "too few to learn" in caplog.text
    assert enough_steps(Recipe(epochs=30, batch_size=128), "m", 33_600, log_it=True).batch_size == 128
    tiny = enough_steps(recipe, "m", 150, log_it=True)
    assert tiny.batch_size == MIN_BATCH and "near chance" in caplog.text
