"""The T4 x2 path's loss scaling: mixed float16 under MirroredStrategy, an overflow on either replica.

A Kaggle "GPU T4 x2" kernel trains each fold under tf.distribute.MirroredStrategy in mixed_float16 (a
LossScaleOptimizer wraps the recipe's optimizer). Two logical CPU devices stand in for the two GPUs (the
split must happen before TensorFlow starts, hence the subprocess). The whole path -- a kernel training
cnn,cnn_gru in float16 on two replicas with time-fitted folds -- runs where a T4 x2 kernel runs it, on
Kaggle's image: tests/test_kaggle_image.py, in .ci/run's pinned step, which runs this test too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

OVERFLOW = textwrap.dedent('''
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    from kaggle_digits.training import precision
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


@pytest.mark.slow
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
