"""Temperature scaling of a model's probabilities, fitted on out-of-fold rows and cross-fitted.

A model trained with label smoothing is deliberately under-confident, one trained without it is
often over-confident; averaging their raw probabilities lets the sharper model outvote the better
one. One temperature per model, ``p_T = softmax(log p / T)``, fitted to minimise the OOF log loss,
puts them on the same footing before the average. The argmax of a single model never changes.

To score the calibrated average honestly on OOF rows, the temperature applied to fold k's rows is
fitted on the other folds' rows only (cross-fitting): no row helps choose its own calibration. Test
probabilities use the temperature fitted on all OOF rows.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

EPS = 1e-7
LOG_T_BOUNDS = (np.log(0.05), np.log(20.0))


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) as float32: T < 1 sharpens, T > 1 softens, T = 1 leaves p unchanged."""
    return np.exp(log_softmax(_log(probabilities) / temperature, axis=1)).astype(np.float32)


def fit_temperature(probabilities: np.ndarray, y: np.ndarray) -> float:
    """The T in [0.05, 20] that minimises the log loss of ``apply_temperature(p, T)`` on labels ``y``."""
    logs = _log(probabilities)
    rows = np.arange(len(y))

    def loss(log_t: float) -> float:
        return float(-np.mean(log_softmax(logs / np.exp(log_t), axis=1)[rows, y]))

    return float(np.exp(minimize_scalar(loss, bounds=LOG_T_BOUNDS, method="bounded").x))


def cross_fitted(probabilities: np.ndarray, y: np.ndarray, fold_of: np.ndarray) -> tuple[np.ndarray, dict]:
    """OOF probabilities with each fold's rows scaled by a temperature fitted on the other folds.

    Returns the calibrated array and ``{fold: temperature}``.
    """
    calibrated = np.empty_like(probabilities, dtype=np.float32)
    temperatures = {}
    for fold in np.unique(fold_of):
        held = fold_of == fold
        t = fit_temperature(probabilities[~held], y[~held])
        calibrated[held] = apply_temperature(probabilities[held], t)
        temperatures[int(fold)] = t
    return calibrated, temperatures


def _log(probabilities: np.ndarray) -> np.ndarray:
    return np.log(np.clip(probabilities.astype(np.float64), EPS, 1.0))
