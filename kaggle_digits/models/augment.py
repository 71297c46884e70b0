"""Augmentation as Keras layers, so it runs inside the training graph (on the accelerator): the block
``create_model`` puts between a model's input and its layers (models/__init__.py), hence beside the models, below
config.py, which checks ``--augmentation`` against this registry.

Keras' random layers are active only when called with ``training=True``: ``fit`` sees jittered
digits, while ``predict`` -- and therefore validation folds and test.csv -- sees them untouched.

Augmentations are registered by name (``AugmentConfig.kind``); a new one is one function here,
decorated with ``@register_augmentation("name")``, taking the config and a seed.

The default, ``affine``, draws a rotation, a zoom and a shift per image, composes them into one
affine matrix and warps the batch once with ``warp_affine``. That is the same distribution of digits as
Keras' RandomRotation -> RandomZoom -> RandomTranslation chain (kept as ``keras_layers``), but one bilinear
resampling instead of three -- one warp per batch costs the same on every backend, where the three-layer chain
is slow on JAX (see CHANGELOG.md).

``warp_affine`` is the bilinear, constant-fill warp of ``keras.ops.image.affine_transform`` written with
``keras.ops`` gathers, because on TensorFlow that op is ``ImageProjectiveTransformV3``, which XLA cannot
compile -- and Keras compiles the training step with XLA whenever TensorFlow sees a GPU (a local GPU,
Kaggle's one-GPU shapes): the kit's default augmentation would end every such run at its first batch.
Gathers compile on every backend and device; tests/test_xla.py checks that the two warps agree pixel for
pixel and that every kit model trains under forced XLA.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import keras
from keras import layers, ops

# The builders read a config.AugmentConfig (kind, rotation_deg, zoom, shift). It is not imported: config.py
# checks --augmentation against list_augmentations(), so this module stays below it.
AugmentConfig = Any

_AUGMENTATIONS: dict[str, Callable[[AugmentConfig, int | None], keras.layers.Layer]] = {}


def register_augmentation(name: str) -> Callable:
    """Decorator: ``@register_augmentation("name")`` on ``builder(config, seed) -> keras Layer``."""
    def decorate(builder: Callable) -> Callable:
        if name in _AUGMENTATIONS:
            raise ValueError(f"augmentation {name!r} is registered twice")
        _AUGMENTATIONS[name] = builder
        return builder
    return decorate


def list_augmentations() -> list[str]:
    return list(_AUGMENTATIONS)


def build_augmentation(config: AugmentConfig, seed: int | None = None) -> keras.layers.Layer | None:
    """The configured augmentation block; None when disabled or when every range is zero."""
    if not config.enabled or not (config.rotation_deg or config.zoom or config.shift):
        return None
    try:
        builder = _AUGMENTATIONS[config.kind]
    except KeyError:
        raise ValueError(f"unknown augmentation {config.kind!r}; choose from {', '.join(_AUGMENTATIONS)}") from None
    return builder(config, seed)


@keras.saving.register_keras_serializable(package="kaggle_digits")
class RandomAffine(layers.Layer):
    """Per-image random rotation (degrees), zoom and shift (fractions of the side), one warp per batch.

    The output pixel at (x, y) samples the input at ``c + A (p - c) - t``: ``A`` is a rotation by
    ``angle`` scaled by ``scale`` in [1 - zoom, 1 + zoom], ``c`` the image centre and ``t`` the shift
    in pixels; outside the input is black (MNIST's background).
    """

    def __init__(self, rotation_deg: float = 10.0, zoom: float = 0.1, shift: float = 0.1,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rotation_deg, self.zoom, self.shift, self.seed = rotation_deg, zoom, shift, seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, images, training=None):
        if not training:
            return images
        shape = ops.shape(images)
        n, height, width = shape[0], shape[1], shape[2]
        angle = self._uniform(n, math.radians(self.rotation_deg))
        scale = 1.0 + self._uniform(n, self.zoom)
        tx = self._uniform(n, self.shift * width)
        ty = self._uniform(n, self.shift * height)
        cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
        a0, a1 = scale * ops.cos(angle), -scale * ops.sin(angle)
        b0, b1 = scale * ops.sin(angle), scale * ops.cos(angle)
        a2 = cx - a0 * cx - a1 * cy - tx
        b2 = cy - b0 * cx - b1 * cy - ty
        zeros = ops.zeros_like(a0)
        transform = ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
        return ops.cast(warp_affine(ops.cast(images, "float32"), transform), images.dtype)

    def _uniform(self, n, limit: float):
        if not limit:
            return ops.zeros((n,), dtype="float32")
        return keras.random.uniform((n,), -limit, limit, dtype="float32", seed=self.seed_generator)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rotation_deg": self.rotation_deg, "zoom": self.zoom,
                "shift": self.shift, "seed": self.seed}


def warp_affine(images, transform):
    """Bilinear warp of a batch (n, height, width, channels): output pixel (x, y) samples the input at
    ``(a0 x + a1 y + a2, b0 x + b1 y + b2)``, one row ``[a0, a1, a2, b0, b1, b2, 0, 0]`` of ``transform`` per
    image; a neighbour outside the image reads 0.

    The same numbers as ``keras.ops.image.affine_transform(..., "bilinear", fill_mode="constant")``
    (TensorFlow's ImageProjectiveTransformV3 reads each of the four neighbours with the fill value when it
    lies outside), from ops every backend compiles under XLA: the four neighbours are gathered from the
    flattened image with ``take_along_axis``.
    """
    shape = ops.shape(images)
    n, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    rows, cols = ops.meshgrid(ops.arange(height, dtype="float32"), ops.arange(width, dtype="float32"),
                              indexing="ij")
    xs, ys = ops.reshape(cols, (1, -1)), ops.reshape(rows, (1, -1))          # (1, height * width)
    x = transform[:, 0:1] * xs + transform[:, 1:2] * ys + transform[:, 2:3]   # (n, height * width)
    y = transform[:, 3:4] * xs + transform[:, 4:5] * ys + transform[:, 5:6]
    x0, y0 = ops.floor(x), ops.floor(y)
    wx, wy = x - x0, y - y0
    flat = ops.reshape(images, (n, height * width, channels))

    def neighbour(yy, xx):
        inside = (xx >= 0) & (xx <= ops.cast(width - 1, "float32")) & (yy >= 0) & (yy <= ops.cast(height - 1, "float32"))
        index = (ops.cast(ops.clip(yy, 0, height - 1), "int32") * width
                 + ops.cast(ops.clip(xx, 0, width - 1), "int32"))
        index = ops.broadcast_to(ops.expand_dims(index, -1), (n, height * width, channels))
        return ops.take_along_axis(flat, index, axis=1) * ops.expand_dims(ops.cast(inside, "float32"), -1)

    wx, wy = ops.expand_dims(wx, -1), ops.expand_dims(wy, -1)
    top = (1.0 - wx) * neighbour(y0, x0) + wx * neighbour(y0, x0 + 1.0)
    bottom = (1.0 - wx) * neighbour(y0 + 1.0, x0) + wx * neighbour(y0 + 1.0, x0 + 1.0)
    return ops.reshape((1.0 - wy) * top + wy * bottom, (n, height, width, channels))


@register_augmentation("affine")
def affine(config: AugmentConfig, seed: int | None) -> keras.layers.Layer:
    """One fused random affine warp (rotation, zoom, shift) per batch."""
    return RandomAffine(config.rotation_deg, config.zoom, config.shift, seed=seed, name="augmentation")


@register_augmentation("keras_layers")
def keras_layers(config: AugmentConfig, seed: int | None) -> keras.layers.Layer:
    """Keras' RandomRotation -> RandomZoom -> RandomTranslation: three resamplings (the kit's first version)."""
    steps = []
    if config.rotation_deg:
        steps.append(layers.RandomRotation(config.rotation_deg / 360.0, fill_mode="constant", seed=_seed(seed, 1)))
    if config.zoom:
        steps.append(layers.RandomZoom(config.zoom, config.zoom, fill_mode="constant", seed=_seed(seed, 2)))
    if config.shift:
        steps.append(layers.RandomTranslation(config.shift, config.shift, fill_mode="constant", seed=_seed(seed, 3)))
    return keras.Sequential(steps, name="augmentation")


def _seed(seed: int | None, offset: int) -> int | None:
    return None if seed is None else seed * 10 + offset
