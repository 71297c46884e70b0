"""The T4 x2 path on a CPU: mixed float16 under MirroredStrategy with time-fitted folds, two models.

A Kaggle "GPU T4 x2" kernel trains each fold under tf.distribute.MirroredStrategy in mixed_float16 (a
LossScaleOptimizer wraps the recipe's optimizer), and a planned fold re-sets its schedule length -- a
mirrored optimizer variable -- from a callback after every epoch (timefit.py). Two logical CPU devices stand
in for the two GPUs (the split must happen before TensorFlow starts, hence the subprocess).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import sample_lines

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent('''
    import json, os, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    os.environ["KAGGLE_DIGITS_DEVICES"] = "/device:CPU:0,/device:CPU:1"
    from kaggle_digits.config import RunConfig
    from kaggle_digits.pipeline import make_submission
    root, data = sys.argv[1], sys.argv[2]
    result = make_submission(RunConfig(
        data=data, folds=2, models=("cnn", "cnn_gru"), precision="float16",
        model_epochs={"cnn": 2, "cnn_gru": 2}, model_seconds={"cnn": 3.0, "cnn_gru": 3.0},
        validate_each_epoch=False, report=False, submissions_dir=root + "/submissions", verbose=0))
    print(json.dumps({"run_dir": str(result.run_dir), "submission": str(result.submission_path)}))
''')


OVERFLOW = textwrap.dedent('''
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    from kaggle_digits import precision
    strategy = tf.distribute.MirroredStrategy(["/device:CPU:0", "/device:CPU:1"])
    results = []
    # a batch of two, one row per replica: one row's float16 gradients overflow (1e3 x the 2**15 loss scale; zero
    # weights: uniform probabilities, so the gradient is never 0),
    # the other's do not -- in both orders, so that either replica holds the overflow
    for big in (1, 0):
        precision.fresh_session("float16")
        with strategy.scope():
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, kernel_initializer="zeros"),
                                      keras.layers.Activation("softmax", dtype="float32")])
            optimizer = precision.loss_scaled(keras.optimizers.SGD(0.1)) if sys.argv[1] == "kit" else "sgd"
            model.compile(optimizer=optimizer, loss="categorical_crossentropy")
        x = np.ones((2, 4), dtype="float32")
        x[big] = 1e3
        model.fit(x, np.eye(3, dtype="float32")[[0, 1]], batch_size=2, epochs=1, verbose=0, shuffle=False)
        results.append({"optimizer": type(model.optimizer).__name__,
                        "finite": bool(np.isfinite(keras.ops.convert_to_numpy(model.layers[0].kernel)).all()),
                        "scale": float(keras.ops.convert_to_numpy(model.optimizer.dynamic_scale))})
    print(json.dumps(results))
''')


def test_an_overflow_on_either_replica_skips_the_step(tmp_path):
    """Keras' own LossScaleOptimizer tests only the first replica's gradients before applying them, so an overflow
    on the second reaches the weights (inf/NaN) -- which replica gets the overflowing row varies from run to run,
    so Keras' result does too; the kit's (precision.loss_scaled) skips the step whichever replica overflowed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-c", OVERFLOW, "kit"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # each time the overflow was seen: the step skipped (weights finite), the loss scale halved from 2**15
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [
        {"optimizer": "ReplicaSafeLossScaleOptimizer", "finite": True, "scale": 2.0 ** 14}] * 2


@pytest.mark.slow  # two models x two folds, in float16 emulated on a CPU, on two replicas
def test_float16_under_mirrored_strategy_with_time_fitted_folds(tmp_path):
    # 400 train rows, 100 test rows: float16 is emulated on a CPU, so predicting is most of a fold's time
    # (the bundled sample's 1,000 test rows made this test take 3.5 minutes)
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("\n".join(sample_lines("train", 400)) + "\n")
    (data / "test.csv").write_text("\n".join(sample_lines("test", 100)) + "\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": "", "KAGGLE_DIGITS_CACHE": str(tmp_path / "c")}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), str(data)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    run = Path(out["run_dir"])
    for model in ("cnn", "cnn_gru"):
        for fold in (0, 1):
            folder = run / model / f"fold{fold}"
            done = json.loads((folder / "done.json").read_text())
            assert 1 <= done["metrics"]["epochs"] <= 4            # fitted to its seconds, capped at 2x planned
            history = json.loads((folder / "history.json").read_text())
            assert np.all(np.isfinite(history["loss"])), (model, fold, history["loss"])
            with zipfile.ZipFile(folder / "model.keras") as saved:  # the policy the fold really trained in
                config = saved.read("config.json").decode()
            assert "mixed_float16" in config
            test = np.load(folder / "test.npy")
            assert test.dtype == np.float32 and np.allclose(test.sum(1), 1, atol=1e-3)
    ensemble = json.loads((run / "ensemble.json").read_text())
    assert ensemble["precision"] == "float16"
    assert 0.1 < ensemble["ensemble"]["oof_accuracy"] <= 1.0    # above chance, a number
    invocation = json.loads((run / "run.json").read_text())["invocations"][-1]
    assert invocation["devices"].startswith("data-parallel over 2 devices")
    assert invocation["policy"] == "mixed_float16"
