"""A whole run under KERAS_BACKEND=jax: the backend a Kaggle GPU kernel trains with when its image's jax sees the
GPUs (kaggle/backend.py), on the versions of that image (.ci/kaggle-image.txt: jax 0.7.2, Keras 3.13.2).

jax is not a dependency of the kit: the main suite skips this (jax is not installed there); .ci/run's pinned step,
which installs the image's jax (its CPU build), runs it. The run goes through the command line in a fresh
process, since the Keras backend is fixed when Keras is first imported.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kaggle_digits.competition import submission
from kaggle_digits.runs import rundir

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                       reason="jax is not installed (not a kit dependency): .ci/run's pinned step installs Kaggle's "
                              "jax 0.7.2 and runs this"),
    pytest.mark.slow,
]

TINY = ["--max-train-rows", "400", "--folds", "2", "--epochs", "1", "--models", "cnn_fast", "--no-report",
        "--verbose", "0"]


@pytest.mark.parametrize("flags, devices", [
    (["--workers", "1"], None),  # in the process that plans
    ([], "gpu:0,gpu:1"),         # a T4 x2 stand-in: a JAX worker per (fake) GPU, CUDA_VISIBLE_DEVICES 0 and 1
], ids=["one-process", "a-worker-per-device"])
def test_a_tiny_run_trains_and_submits_with_jax(tmp_path, flags, devices):
    """In float16, as a T4 kernel trains (no bfloat16 on a T4: --precision auto is mixed float16 there): under JAX
    that is Keras' own loss scaling, not the TensorFlow path's replica-safe one (precision.py)."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "KAGGLE_DIGITS_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": str(ROOT)}
    env.pop("KAGGLE_DIGITS_DISTRIBUTE", None)
    if devices:
        env["KAGGLE_DIGITS_DEVICES"] = devices
    else:
        env.pop("KAGGLE_DIGITS_DEVICES", None)
    # no --data: the bundled sample (cwd has no data/ folder)
    proc = subprocess.run([sys.executable, "-m", "kaggle_digits", "make", *TINY, *flags, "--precision", "float16",
                           "--submissions-dir", str(tmp_path / "subs")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert ("2 at a time" in proc.stdout + proc.stderr) == bool(devices), proc.stdout[-4000:] + proc.stderr[-4000:]
    (run_dir,) = [p.parent for p in (tmp_path / "subs").glob("*/run.json")]
    # the sample's 1,000 test rows: ImageId 1..1000, a label 0..9 each
    assert len(submission.validate_file(run_dir / "submission.csv", n_rows=1_000)) == 1_000

    # run.json: the machine line and the devices line name the backend; every fold's fingerprint records it
    # (ensemble.json has no backend field: it is the blend of the folds these name)
    invocation = rundir.read_invocations(run_dir)[-1]
    assert "(jax backend)" in invocation.machine and "jax backend" in invocation.devices, invocation
    assert invocation.devices.startswith("2 devices, one worker process each") == bool(devices), invocation
    assert (invocation.precision, invocation.policy) == ("float16", "mixed_float16"), invocation
    for k in (0, 1):
        fold = run_dir / "cnn_fast" / f"fold{k}"
        assert (fold / rundir.DONE).is_file()
        fingerprint = json.loads((fold / rundir.FINGERPRINT).read_text())
        assert (fingerprint["backend"], fingerprint["precision"]) == ("jax", "float16"), fingerprint
        history = json.loads((fold / rundir.HISTORY).read_text())
        assert history["loss"] and np.isfinite(history["loss"]).all(), history  # the loss scale kept it finite
    ensemble = json.loads((run_dir / rundir.ENSEMBLE).read_text())
    assert 0.0 <= ensemble["ensemble"]["oof_accuracy"] <= 1.0, ensemble["ensemble"]
    probabilities = np.load(run_dir / "test_probabilities.npy")
    assert np.isfinite(probabilities).all() and np.allclose(probabilities.sum(1), 1, atol=1e-4)
