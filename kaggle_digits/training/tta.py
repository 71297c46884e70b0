"""Test-time augmentation: average a model's probabilities over a few fixed one-pixel shifts.

Fixed (not random) views keep predictions deterministic; shifting whole uint8 batches with NumPy
slicing costs no per-sample Python work.
"""

from __future__ import annotations

import numpy as np

from kaggle_digits.competition.digits import N_CLASSES

PREDICT_BATCH = 1024  # images per predict() call: every prediction of the kit (folds, TTA, probe, baseline)
SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))  # (rows down, columns right)


def shift(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Images (n, 28, 28, 1) moved by (dy, dx) pixels, zero-filled (the background colour)."""
    out = np.zeros_like(images)
    h, w = images.shape[1:3]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        images[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def predict(model, images: np.ndarray, tta: bool = False, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """float32 (n, 10) probabilities; with ``tta`` the mean over SHIFTS."""
    views = SHIFTS if tta else SHIFTS[:1]
    total = np.zeros((len(images), N_CLASSES), dtype=np.float64)
    for dy, dx in views:
        view = images if (dy, dx) == (0, 0) else shift(images, dy, dx)
        total += model.predict(view, batch_size=batch_size, verbose=0)
    return (total / len(views)).astype(np.float32)
