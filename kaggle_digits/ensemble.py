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


def log_blend(probabilities: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """softmax(sum_m w_m * log p_m): a weighted geometric mean whose weights also act as temperatures."""
    z = np.tensordot(np.asarray(weights, dtype=np.float64), _log_probs(probabilities), axes=1)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def fit_weights(oof: list[np.ndarray], y: np.ndarray) -> np.ndarray:
    """Non-negative log-probability weights minimising the OOF log loss of ``log_blend``.

    Fitting on log-probabilities, not on a plain average, lets each weight rescale its model's
    confidence: a model trained with label smoothing is under-confident, so a probability-average
    fit that minimises log loss shifts weight to a less accurate but sharper model (seen on the
    5-fold CPU run: 98.63% fitted vs 99.28% for the CNN alone). Scoring on the rows the weights
    were fitted on flatters the blend slightly; with one weight per model the optimism is small.
    """
    if len(oof) == 1:
        return np.ones(1)
    logs = _log_probs(oof)
    rows = np.arange(len(y))

    def loss(theta: np.ndarray) -> float:
        z = np.tensordot(np.exp(theta), logs, axes=1)
        z -= z.max(axis=1, keepdims=True)
        log_p = z[rows, y] - np.log(np.exp(z).sum(axis=1))
        return float(-np.mean(log_p))

    return np.exp(minimize(loss, np.zeros(len(oof)), method="L-BFGS-B").x)


def _log_probs(probabilities: list[np.ndarray]) -> np.ndarray:
    return np.log(np.clip(np.stack(probabilities).astype(np.float64), 1e-7, 1.0))
