"""Every kit model trains under XLA with the default augmentation, as Keras compiles it on a GPU.

Keras' ``jit_compile="auto"`` turns XLA on whenever TensorFlow sees a GPU outside a tf.distribute strategy (a
local GPU, Kaggle's one-GPU shapes) and always on JAX; on a CPU it is off, so without these tests the suite
would never see an op XLA cannot compile. They force ``jit_compile=True`` here, which is what a GPU picks.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

from kaggle_digits.models import augment
from kaggle_digits.training import train
from kaggle_digits.config import AugmentConfig
from kaggle_digits.models import get_spec
from kaggle_digits.training.precision import fresh_session

ROOT = Path(__file__).resolve().parents[1]
KIT_MODELS = ("cnn", "cnn_fast", "cnn_gru", "cnn_gru_deep", "cnn_small")
# XLA fails, where it fails, on an op it cannot lower (the augmentation's ImageProjectiveTransform was one), not on
# a size: each kind of layer the kit models hold, with each padding and stride, is compiled once (~10 s a model
# here). cnn_fast and cnn_gru_deep hold them all: cnn and cnn_small are cnn_fast's ops plus strided 'same'
# convolutions, which cnn_gru_deep has; cnn_gru is cnn_fast's stem under cnn_gru_deep's GRU head
# (test_the_xla_models_cover_every_kit_layer keeps that true)
XLA_MODELS = ("cnn_fast", "cnn_gru_deep")


def random_transforms(n: int, seed: int = 0, size: int = 28) -> np.ndarray:
    """Rotations up to 0.5 rad, zooms 0.8-1.2, shifts up to 6 px: rows [a0, a1, a2, b0, b1, b2, 0, 0]."""
    rng = np.random.default_rng(seed)
    angle, scale = rng.uniform(-0.5, 0.5, n), rng.uniform(0.8, 1.2, n)
    tx, ty, c = rng.uniform(-6, 6, n), rng.uniform(-6, 6, n), (size - 1) / 2
    a0, a1, b0, b1 = scale * np.cos(angle), -scale * np.sin(angle), scale * np.sin(angle), scale * np.cos(angle)
    zeros = np.zeros(n)
    return np.stack([a0, a1, c - a0 * c - a1 * c - tx, b0, b1, c - b0 * c - b1 * c - ty, zeros, zeros],
                    axis=1).astype("float32")


def test_the_gather_warp_is_the_projective_transform_pixel_for_pixel():
    """augment.warp_affine gives the numbers of keras.ops.image.affine_transform (on TensorFlow: the op XLA
    lacks), bilinear with black outside, for the same transforms -- so the augmentation's distribution of digits
    is today's, not merely similar. Integer shifts and the identity included."""
    rng = np.random.default_rng(1)
    images = rng.random((48, 28, 28, 1)).astype("float32")
    transforms = random_transforms(48)
    transforms[0] = [1, 0, 0, 0, 1, 0, 0, 0]        # identity
    transforms[1] = [1, 0, 3, 0, 1, -2, 0, 0]       # a whole-pixel shift
    transforms[2] = [1, 0, 40, 0, 1, 0, 0, 0]       # shifted out entirely: black
    expected = ops.convert_to_numpy(ops.image.affine_transform(
        images, transforms, interpolation="bilinear", fill_mode="constant", fill_value=0.0))
    got = ops.convert_to_numpy(augment.warp_affine(images, transforms))
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_array_equal(got[0], images[0])
    assert not got[2].any()


def one_batch_under_xla(name: str) -> keras.Model:
    fresh_session("float32")
    recipe = get_spec(name).recipe.override(batch_size=8, epochs=1)
    model = train.compile_for_training(name, dict(get_spec(name).hp), AugmentConfig(), recipe, steps_per_epoch=1,
                                       seed=0, jit_compile=True)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (8, 28, 28, 1), dtype=np.uint8)
    history = model.fit(x, train.one_hot(rng.integers(0, 10, 8)), batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    return model


@pytest.mark.slow  # XLA compiles each model's training step: tens of seconds apiece on a 2-core CPU
@pytest.mark.parametrize("name", XLA_MODELS)
def test_every_kit_model_trains_one_batch_under_forced_xla_on_tensorflow(name):
    model = one_batch_under_xla(name)
    assert model.jit_compile is True  # Keras would quietly drop XLA for a layer that opts out: none does
    assert model.get_layer("augmentation") is not None


def layer_kinds(model: keras.Model) -> set[tuple]:
    """What XLA lowers differently in a model: each layer's class, and for convolutions and pooling their padding and
    whether they stride (the wrappers' inner layers included)."""
    kinds = set()
    for layer in model._flatten_layers(include_self=False):
        config = layer.get_config()
        strides = config.get("strides")
        kinds.add((type(layer).__name__, config.get("padding"),
                   None if strides is None else any(s != 1 for s in np.atleast_1d(strides))))
    return kinds


def test_the_xla_models_cover_every_kit_layer():
    """Every kind of layer of every kit model (class, padding, striding) is in a model compiled under XLA."""
    from kaggle_digits.models import create_model

    kinds = {name: layer_kinds(create_model(name, **get_spec(name).hp)) for name in KIT_MODELS}  # each built once
    compiled = set().union(*(kinds[m] for m in XLA_MODELS))
    for name in KIT_MODELS:
        missing = kinds[name] - compiled
        assert not missing, f"{name}: {sorted(missing, key=str)} never compiled under XLA"
    assert ("GRU", None, None) in compiled and ("Conv2D", "same", True) in compiled  # the walk sees inside


JAX_SCRIPT = textwrap.dedent('''
    import json, sys
    import keras
    sys.path.insert(0, sys.argv[1])
    from test_xla import XLA_MODELS, one_batch_under_xla
    print(json.dumps({name: bool(one_batch_under_xla(name).jit_compile) for name in XLA_MODELS}))
''')


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                    reason="JAX is not installed (pip install jax to test the KERAS_BACKEND=jax path)")
def test_every_kit_model_trains_one_batch_under_xla_on_jax():
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(ROOT / "tests")], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {name: True for name in XLA_MODELS}
