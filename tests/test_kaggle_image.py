"""The kit on what a Kaggle kernel has (issue 23): .ci/kaggle-image.txt's pinned versions (Colab's runtime,
which Kaggle's GPU image follows), in .ci/run's second environment.

Skipped unless KAGGLE_DIGITS_IMAGE_ENV=1 (.ci/run sets it in that step; the main suite, on the newest
versions, does not run these twice). First the environment is checked to be exactly the pins -- the step
can never silently test something else -- then a kernel bundle runs end to end against tests/fake_kaggle.py
on two logical CPUs (the MirroredStrategy option, KAGGLE_DIGITS_DISTRIBUTE=mirrored, on "GPU T4 x2") in float16,
as a T4 kernel trained before it got a worker process per GPU. tests/test_jax_backend.py trains a run with
KERAS_BACKEND=jax on the image's jax.
tests/test_fold_stability.py runs in this environment too: the folds a kernel makes are the local ones.
"""

from __future__ import annotations

import importlib.metadata
import math
import os
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from test_kaggle import (ROOT, USER, fake, in_process, kaggle_env, run_kernel_code, tiny_input,  # noqa: F401
                         work)
from kaggle_digits import atomic
from kaggle_digits.competition import submission
from kaggle_digits.runs import rundir
from kaggle_digits.kaggle import image, outputs

PINS = ROOT / ".ci" / "kaggle-image.txt"

pytestmark = pytest.mark.skipif(
    os.environ.get("KAGGLE_DIGITS_IMAGE_ENV") != "1",
    reason="Kaggle-image environment only: .ci/run's pinned step (KAGGLE_DIGITS_IMAGE_ENV=1, "
           ".ci/kaggle-image.txt's versions) runs it")


def pins() -> dict[str, str]:
    """``name==version`` lines of .ci/kaggle-image.txt (comments and blank lines skipped)."""
    found = {}
    for line in PINS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+-]+)", line)
            assert match, f"{PINS.name}: not a name==version pin: {line!r}"
            found[match[1].lower()] = match[2]
    return found


def test_the_environment_is_exactly_the_pins():
    expected = pins()
    assert expected, f"no pins in {PINS}"
    running = {name: importlib.metadata.version(name) for name in expected}
    assert running == expected, f"this environment is not {PINS.name}'s: running {running}"
    # the pins are the kit's declared minimums and the image check's tested versions (test_kaggle_today keeps
    # setup.cfg's equal to image.TESTED): a kernel on this image reports nothing as untested
    assert {name: expected[name] for name in image.TESTED} == image.TESTED
    assert image.check() == []


def test_kernel_on_the_image_two_replicas_float16_cnn_and_cnn_gru(fake, work, tmp_path, tiny_input, monkeypatch,
                                                                  capsys):
    test_the_environment_is_exactly_the_pins()
    assert shutil.which("kaggle"), "the kaggle CLI is part of the kit's install: missing from this environment"
    # the data-parallel option (KAGGLE_DIGITS_DISTRIBUTE=mirrored; the default is a worker process per GPU): its
    # MirroredStrategy and replica-safe loss scaling are what depends most on this Keras' internals
    monkeypatch.setenv("KAGGLE_DIGITS_DISTRIBUTE", "mirrored")
    fake.kernel_runner = lambda code, working: run_kernel_code(code, working, tiny_input, tmp_path / "khome", 2)
    env = kaggle_env(fake, tmp_path / "home")
    # time-fitted folds (issue 23, item 4): each fold re-sets its schedule length -- a mirrored optimizer
    # variable -- from a callback, under a loss-scaled optimizer, on two replicas
    args = ["--models", "cnn,cnn_gru", "--precision", "float16", "--folds", "2",
            "--model-epochs", "cnn=2,cnn_gru=2", "--model-seconds", "cnn=3,cnn_gru=3",
            "--max-train-rows", "200", "--no-val-curves", "--no-report", "--poll", "3"]
    code = in_process("push", *args, env=env, cwd=work, monkeypatch=monkeypatch)
    (kern,) = fake.kernels.values()
    stdout, stderr = capsys.readouterr()
    assert code == 0, stdout + stderr + kern.log
    assert "older than the versions tested" not in kern.log, kern.log

    (output,) = (work / "submissions").glob("kernels-*/kaggle-digits/output")
    manifest = outputs.read_manifest(output)
    assert manifest.devices.startswith("data-parallel over 2 devices"), manifest.devices
    assert manifest.untested_versions == []
    assert manifest.backend == "tensorflow" and manifest.keras_version == pins()["keras"]
    # the image's jax is a CPU build here: the GPU kernel looked, saw no GPU, and trained with TensorFlow
    assert manifest.backend_reason.startswith("jax sees no GPU"), manifest.backend_reason
    # float16: asked for (the kernel's settings), resolved and used (ensemble.json, run.json, every fold's
    # fingerprint)
    run = output / rundir.KERNEL_RUN
    assert manifest.settings["precision"] == "float16"
    assert atomic.read_json(run / rundir.ENSEMBLE)["precision"] == "float16"
    invocation = rundir.read_invocations(run)[-1]
    assert invocation.precision == "float16" and invocation.policy == "mixed_float16"
    assert invocation.devices.startswith("data-parallel over 2 devices")
    for model in ("cnn", "cnn_gru"):
        for k in (0, 1):
            fold = run / model / f"fold{k}"
            assert (fold / rundir.DONE).is_file(), fold
            assert atomic.read_json(fold / rundir.FINGERPRINT)["precision"] == "float16"
            history = atomic.read_json(fold / rundir.HISTORY)
            assert history["loss"] and all(math.isfinite(v) for v in history["loss"]), (fold, history)
            assert 1 <= atomic.read_json(fold / rundir.DONE)["metrics"]["epochs"] <= 4  # fitted: at most 2x planned
            with zipfile.ZipFile(fold / "model.keras") as saved:  # the policy the fold really trained in
                assert "mixed_float16" in saved.read("config.json").decode()
    ensemble = atomic.read_json(run / rundir.ENSEMBLE)
    assert sorted(ensemble["models"]) == ["cnn", "cnn_gru"]
    for accuracy in [ensemble["ensemble"]["oof_accuracy"], manifest.ensemble["oof_accuracy"],
                     *(m["oof_accuracy"] for m in ensemble["models"].values())]:
        assert isinstance(accuracy, float) and 0.0 <= accuracy <= 1.0, accuracy
    # its submission is valid
    frame = submission.validate_file(output / "submission.csv", n_rows=100)
    assert len(frame) == 100 and np.load(output / "test_probabilities.npy").shape == (100, 10)
    assert Path(output / "submission.csv").read_bytes() == (run / rundir.SUBMISSION).read_bytes()
