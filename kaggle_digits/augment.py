"""Augmentation as Keras layers, so it runs inside the training graph (on the accelerator).

Keras' random layers are active only when called with ``training=True``: ``fit`` sees jittered
digits, while ``predict`` -- and therefore validation folds and test.csv -- sees them untouched.
"""

from __future__ import annotations

import keras
from keras import layers

from kaggle_digits.config import AugmentConfig


def build_augmentation(config: AugmentConfig, seed: int | None = None) -> keras.Sequential | None:
    """Rotation (degrees), zoom and shift (fractions of 28 px); None when disabled or all zero."""
    if not config.enabled:
        return None
    steps = []
    if config.rotation_deg:
        steps.append(layers.RandomRotation(config.rotation_deg / 360.0, fill_mode="constant", seed=_seed(seed, 1)))
    if config.zoom:
        steps.append(layers.RandomZoom(config.zoom, config.zoom, fill_mode="constant", seed=_seed(seed, 2)))
    if config.shift:
        steps.append(layers.RandomTranslation(config.shift, config.shift, fill_mode="constant", seed=_seed(seed, 3)))
    return keras.Sequential(steps, name="augmentation") if steps else None


def _seed(seed: int | None, offset: int) -> int | None:
    return None if seed is None else seed * 10 + offset
