"""What a kernel refuses to waste: a GPU push that sees no GPU, a fold that hangs, a shape the kit cannot use."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kaggle_digits.training import watchdog
from kaggle_digits.errors import ConfigError
from kaggle_digits.kaggle import bundle, guard, limits

ROOT = Path(__file__).resolve().parents[1]


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_watchdog_fires_only_while_a_fold_trains_and_makes_no_progress():
    clock, fired = FakeClock(), []
    dog = watchdog.Watchdog(stall_seconds=600, on_stall=fired.append, clock=clock)
    clock.now = 5000
    assert not dog.check()                      # nothing training yet: quiet is fine
    beat = watchdog.HeartBeat(dog, "cnn_gru/fold2")
    beat.on_train_begin()
    clock.now += 599
    assert not dog.check()
    beat.on_train_batch_end(0)
    clock.now += 599
    assert not dog.check() and not fired        # a batch ended: the clock restarts
    clock.now += 1
    assert dog.check() and "cnn_gru/fold2" in fired[0] and "10 min" in fired[0]
    dog.rest()
    clock.now += 10_000
    fired.clear()
    assert not dog.check() and not fired        # between folds (ensemble, report): nothing to watch


@pytest.mark.slow
def test_a_hung_fold_ends_the_process_with_its_own_exit_code():
    code = textwrap.dedent('''
        import logging, sys, time
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
        from kaggle_digits.training import watchdog
        dog = watchdog.arm(stall_seconds=1.0)
        dog.beat("cnn/fold0")
        time.sleep(60)   # an all-reduce that never returns
        print("not reached")
    ''')
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == watchdog.EXIT_STALLED, proc.stderr[-2000:]
    assert "cnn/fold0: no training progress" in proc.stderr and "not reached" not in proc.stdout


def test_a_gpu_push_that_sees_no_gpu_stops_in_one_line(monkeypatch):
    monkeypatch.delenv(guard.CPU_OK, raising=False)
    monkeypatch.setattr(guard.devices, "gpu_devices", lambda: [])
    with pytest.raises(guard.NoAccelerator) as stopped:
        guard.require_gpu({"gpu": True, "accelerator": "NvidiaTeslaT4"}, "tensorflow")
    assert "pushed with NvidiaTeslaT4, but tensorflow sees no GPU" in str(stopped.value)
    assert "\n" not in str(stopped.value)
    guard.require_gpu({"gpu": False}, "tensorflow")               # a CPU push: nothing to check
    monkeypatch.setattr(guard.devices, "gpu_devices", lambda: ["/device:GPU:0"])
    guard.require_gpu({"gpu": True, "accelerator": "NvidiaL4X1"}, "tensorflow")
    monkeypatch.setattr(guard.devices, "gpu_devices", lambda: [])
    monkeypatch.setenv(guard.CPU_OK, "1")
    guard.require_gpu({"gpu": True}, "tensorflow")                # on purpose (the tests' kernels)


@pytest.mark.slow
def test_the_kernel_script_stops_before_training_when_its_gpu_is_missing(tmp_path):
    """The generated script, pushed with a GPU, run where TensorFlow sees none: one line, nothing trained."""
    folder = bundle.write_kernel_folder(tmp_path / "bundle", "someone/kaggle-digits",
                                        {"models": ["cnn_fast"], "folds": 2, "epochs": 1, "max_train_rows": 200},
                                        info={"gpu": True, "accelerator": "NvidiaTeslaT4"})
    working = tmp_path / "working"
    env = {k: v for k, v in os.environ.items() if k != guard.CPU_OK}
    env.update(CUDA_VISIBLE_DEVICES="", KAGGLE_DIGITS_WORKING=str(working), KAGGLE_DIGITS_INPUT=str(tmp_path / "no"),
               TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, str(folder / bundle.CODE_FILE)], capture_output=True, text=True,
                          timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    last = [line for line in proc.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("kaggle-digits kernel: pushed with NvidiaTeslaT4, but tensorflow sees no GPU"), proc.stderr
    assert "Traceback" not in proc.stderr and not (working / "run").exists()


@pytest.mark.parametrize("shape", ["TpuV5E8", "TpuV6E8"])
def test_tpu_shapes_are_refused_before_the_push(shape):
    with pytest.raises(ConfigError, match="train on GPUs"):
        limits.check_accelerator(shape)


@pytest.mark.parametrize("shape", limits.GPU_SHAPES)
def test_kaggle_cli_gpu_shapes_of_today_are_accepted_quietly(shape, caplog):
    assert limits.check_accelerator(shape) == shape
    assert not caplog.records
