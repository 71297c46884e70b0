"""Probability averaging over folds and models; optional model weights fitted on OOF probabilities."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize


def average(probabilities: list[np.ndarray], weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted mean of (n, 10) probability arrays; equal weights by default."""
    stacked = np.stack(probabilities).astype(np.float64)
    weights = np.full(len(probabilities), 1 / len(probabilities)) if weights is None else np.asarray(weights)
    return np.tensordot(weights / weights.sum(), stacked, axes=1).astype(np.float32)


def accuracy(probabilities: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(probabilities.argmax(axis=1) == y))


def log_loss(probabilities: np.ndarray, y: np.ndarray) -> float:
    picked = probabilities[np.arange(len(y)), y]
    return float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))


def fit_weights(oof: list[np.ndarray], y: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to 1 that minimise the OOF log loss of the blend.

    Parameterised as a softmax so the optimiser is unconstrained. Fitting and scoring on the same
    OOF rows flatters the blend a little; with a handful of weights the optimism is small.
    """
    if len(oof) == 1:
        return np.ones(1)
    stacked = np.stack(oof).astype(np.float64)
    rows = np.arange(len(y))

    def loss(theta: np.ndarray) -> float:
        w = np.exp(theta - theta.max())
        w /= w.sum()
        picked = np.tensordot(w, stacked[:, rows, y], axes=1)
        return float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))

    result = minimize(loss, np.zeros(len(oof)), method="Nelder-Mead",
                      options={"xatol": 1e-4, "fatol": 1e-7, "maxiter": 2000})
    w = np.exp(result.x - result.x.max())
    return w / w.sum()
