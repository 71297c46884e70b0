"""Blending fold and model probabilities: a registry of blends (name -> fit, apply) and the scores.

A blend fits one weight per model on the models' out-of-fold probabilities (``fit``) and combines any
per-model probabilities with those weights (``apply``). Every blend is scored on OOF rows by cross-fitting
(``Blend.oof_probabilities``): the rows of fold k are blended with weights fitted on the other folds only,
so no row helps choose its own weights. ``--blend NAME`` picks the blend whose test probabilities make the
submission; the default, ``auto`` (``choose``), takes whichever scores best on OOF rows among the blends
and each model alone -- so the submission is never below its best member on OOF rows. Every registered
blend is scored in ensemble.json, and the CLI's choices come from this registry. A new blend is one
decorated function in this file::

    @register_blend("name", apply=average, description="what it does")
    def fit_name(oof: list[np.ndarray], y: np.ndarray) -> np.ndarray:   # one weight per model
        ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import log_softmax, softmax

from kaggle_digits.scoring import calibration
from kaggle_digits.competition.digits import N_CLASSES
from kaggle_digits.errors import ConfigError

CLASSES = tuple(range(N_CLASSES))
Probabilities = list[np.ndarray]  # one (n, 10) array per model


@dataclass(frozen=True)
class Blend:
    name: str
    fit: Callable[[Probabilities, np.ndarray], np.ndarray]      # (OOF per model, labels) -> weights
    apply: Callable[[Probabilities, np.ndarray], np.ndarray]    # (probabilities per model, weights) -> (n, 10)
    description: str

    def oof_probabilities(self, oof: Probabilities, y: np.ndarray, fold_of: np.ndarray,
                          fitted: np.ndarray | None = None) -> np.ndarray:
        """The blend of every OOF row with weights fitted on the other folds' rows (cross-fitting).

        ``fitted`` (the weights fitted on all rows, for test rows) is not used: it is accepted so callers
        can pass what they have."""
        blended = np.empty_like(oof[0], dtype=np.float32)
        for fold in np.unique(fold_of):
            held = fold_of == fold
            # one fold alone (a partial ensemble of kernels stopped at their deadline): fitted on its own rows
            fit_on = ~held if (~held).any() else held
            weights = self.fit([p[fit_on] for p in oof], y[fit_on])
            blended[held] = self.apply([p[held] for p in oof], weights)
        return blended


BLENDS: dict[str, Blend] = {}  # registration order
AUTO = "auto"  # --blend auto: the best-scoring of the blends and the members alone (``choose``)


class _BlendChoices:
    """What --blend accepts: ``auto`` and every registered blend, read from the registry when asked."""

    def __iter__(self):
        return iter((AUTO, *BLENDS))

    def __contains__(self, name) -> bool:
        return name == AUTO or name in BLENDS


def blend_choices() -> _BlendChoices:
    return _BlendChoices()


def register_blend(name: str, *, apply: Callable, description: str) -> Callable:
    """Decorator on a blend's ``fit`` function: ``@register_blend("oof", apply=log_blend, description=...)``."""
    def decorate(fit: Callable) -> Callable:
        if name in BLENDS or name == AUTO:
            raise ValueError(f"blend {name!r} is registered twice")
        BLENDS[name] = Blend(name, fit, apply, description)
        return fit
    return decorate


def get_blend(name: str) -> Blend:
    try:
        return BLENDS[name]
    except KeyError:
        raise ConfigError(f"unknown blend {name!r}; choose from: {', '.join(blend_choices())}") from None


def choose(scores: dict[str, dict]) -> str:
    """The candidate with the highest OOF accuracy, ties to the lower OOF log loss; ``scores`` maps each
    candidate (a blend's name, or ``model:NAME`` for a member alone) to its ``oof_accuracy`` and ``oof_log_loss``.

    One discrete choice among a handful made on all OOF rows: the chosen figure is a little optimistic,
    far less than fitting weights on the rows they are scored on would be."""
    return max(scores, key=lambda c: (round(scores[c]["oof_accuracy"], 10), -scores[c]["oof_log_loss"]))


# --------------------------------------------------------------------------- combining
def average(probabilities: Probabilities, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted mean of (n, 10) probability arrays; equal weights by default."""
    stacked = np.stack(probabilities).astype(np.float64)
    weights = np.full(len(probabilities), 1 / len(probabilities)) if weights is None else np.asarray(weights)
    return np.tensordot(weights / weights.sum(), stacked, axes=1).astype(np.float32)


def log_blend(probabilities: Probabilities, weights: np.ndarray) -> np.ndarray:
    """softmax(sum_m w_m * log p_m): a weighted geometric mean whose weights also act as temperatures."""
    z = np.tensordot(np.asarray(weights, dtype=np.float64), _log_probs(probabilities), axes=1)
    return softmax(z, axis=1).astype(np.float32)


def calibrated_average(probabilities: Probabilities, temperatures: np.ndarray) -> np.ndarray:
    """The probability average after scaling each model by its temperature (calibration.apply_temperature)."""
    return average([calibration.apply_temperature(p, t) for p, t in zip(probabilities, temperatures)])


def weighted_calibrated_average(probabilities: Probabilities, fitted: np.ndarray) -> np.ndarray:
    """``fitted``: the temperatures then the weights of ``fit_calibrated_weights``."""
    n = len(probabilities)
    return average([calibration.apply_temperature(p, t) for p, t in zip(probabilities, fitted[:n])], fitted[n:])


# --------------------------------------------------------------------------- the blends
@register_blend("calibrated", apply=calibrated_average,
                description="probability average of temperature-calibrated models")
def fit_temperatures(oof: Probabilities, y: np.ndarray) -> np.ndarray:
    """One temperature per model (its 'weight'), each minimising that model's own OOF log loss."""
    return np.array([calibration.fit_temperature(p, y) for p in oof])


@register_blend("equal", apply=average, description="probability average")
def equal_weights(oof: Probabilities, y: np.ndarray) -> np.ndarray:
    return np.full(len(oof), 1 / len(oof))


@register_blend("weighted", apply=weighted_calibrated_average,
                description="weighted probability average of temperature-calibrated models, weights fitted on OOF")
def fit_calibrated_weights(oof: Probabilities, y: np.ndarray) -> np.ndarray:
    """Temperatures as ``calibrated``, then convex weights minimising the OOF log loss of their average.

    Returned as one array: the temperatures, then the weights."""
    from scipy.optimize import minimize

    temperatures = fit_temperatures(oof, y)
    if len(oof) == 1:
        return np.concatenate([temperatures, np.ones(1)])
    calibrated = np.stack([calibration.apply_temperature(p, t) for p, t in zip(oof, temperatures)]).astype(np.float64)
    rows = np.arange(len(y))

    def loss(theta: np.ndarray) -> float:  # softmax: convex weights from unconstrained parameters
        mixed = np.tensordot(softmax(theta), calibrated[:, rows, y], axes=1)
        return float(-np.mean(np.log(np.clip(mixed, 1e-7, 1.0))))

    theta = minimize(loss, np.zeros(len(oof)), method="L-BFGS-B").x
    return np.concatenate([temperatures, softmax(theta)])


@register_blend("oof", apply=log_blend, description="log-probability (geometric) with fitted weights")
def fit_weights(oof: Probabilities, y: np.ndarray) -> np.ndarray:
    """Non-negative log-probability weights minimising the OOF log loss of ``log_blend``.

    Fitting on log-probabilities, not on a plain average, lets each weight rescale its model's
    confidence: a model trained with label smoothing is under-confident, so a probability-average
    fit that minimises log loss shifts weight to a less accurate but sharper model, and the blend can
    score below its best model (benchmarks/planner/README.md).
    """
    from scipy.optimize import minimize

    if len(oof) == 1:
        return np.ones(1)
    logs = _log_probs(oof)
    rows = np.arange(len(y))

    def loss(theta: np.ndarray) -> float:
        z = np.tensordot(np.exp(theta), logs, axes=1)
        return float(-np.mean(log_softmax(z, axis=1)[rows, y]))

    return np.exp(minimize(loss, np.zeros(len(oof)), method="L-BFGS-B").x)


# --------------------------------------------------------------------------- scores
# sklearn.metrics is imported where it is used: it takes a second, and the CLI's --help needs none of it
def accuracy(probabilities: np.ndarray, y: np.ndarray) -> float:
    from sklearn import metrics

    return float(metrics.accuracy_score(y, np.asarray(probabilities).argmax(axis=1)))


def log_loss(probabilities: np.ndarray, y: np.ndarray) -> float:
    from sklearn import metrics

    return float(metrics.log_loss(y, probabilities, labels=CLASSES))


def error_overlap(oof_by_model: dict[str, np.ndarray], y: np.ndarray) -> list[dict]:
    """For each ordered pair of models: how many OOF rows the first gets wrong and the second gets right."""
    wrong = {m: p.argmax(axis=1) != y for m, p in oof_by_model.items()}
    return [{"model": a, "other": b, "errors": int(wrong[a].sum()), "other_right": int((wrong[a] & ~wrong[b]).sum())}
            for a in wrong for b in wrong if a != b]


def _log_probs(probabilities: Probabilities) -> np.ndarray:
    return np.log(np.clip(np.stack(probabilities).astype(np.float64), 1e-7, 1.0))
