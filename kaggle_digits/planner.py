"""Plan a run to fit a time budget (``--minutes M``): folds x models x epochs x augmentation.

The planner is pure arithmetic over measured costs, so it is tested with made-up step times:

1. ``measure_costs`` (in ``probe.py``) times a few training and prediction steps of each model on
   this machine, or reuses an earlier measurement of the same model, backend and precision.
2. ``make_plan`` picks the configuration whose estimated wall time fits the budget, by the rule
   below, and returns a ``Plan``; the run records it in config.toml so a rerun reproduces it.

The rule, read off measured runs on 2 CPU cores (README, "Time budget"): accuracy rises steeply over
the first epochs and flattens after ~10 (the schedules anneal fully at any length); augmentation only
pays after ~6 epochs; and per CPU-second the small ``cnn_fast`` beats ``cnn`` until ``cnn`` can have
4+ folds of 10+ epochs (2 folds x 4 epochs: cnn_fast 99.05% OOF in 46 s; 3 folds x 8 epochs: 99.30%,
99.36% with augmentation). So: the chosen models (all, then fewer) only at 4 or 5 folds with enough
epochs; else ``cnn_fast``, epochs first, then folds; augmentation once epochs allow it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FOLD_CHOICES = (5, 4, 3, 2)
MIN_EPOCHS_FOR_FOLDS = {5: 12, 4: 10, 3: 6, 2: 1}  # fewest epochs that make k folds worth their cost
CHOSEN_MODELS_MIN_FOLDS = 4  # the chosen models only at this many folds; below, the fast model does better
FALLBACK_MODEL = "cnn_fast"  # the model for budgets too short for the chosen models
AUGMENT_MIN_EPOCHS = 6     # shorter runs score higher without augmentation
FINISH_SECONDS = 3.0       # after the last fold: ensemble, calibration, submission (measured: ~1-2 s)
REPORT_SECONDS = 6.0       # report.html and its figures, when the run writes them (measured: ~5 s)
# Whole augmented epochs run at ~0.79 of the probe's speed (it times short fits with augmentation on): cnn_fast,
# probe 5,318 img/s, epochs at 4,240 (28,000 rows) and 4,150 (33,600 rows) in planned runs on 2 CPU cores.
# Without augmentation an epoch runs at about the probe's speed.
AUGMENTED_SPEED = 0.78


@dataclass(frozen=True)
class ModelCost:
    """Measured speed of one model on this machine (batch of its recipe, current backend and precision)."""

    model: str
    train_images_per_second: float
    predict_images_per_second: float
    fold_overhead_seconds: float = 5.0  # build, compile, first-step tracing, saving


@dataclass(frozen=True)
class Plan:
    folds: int
    epochs: dict[str, int]          # model -> epochs (the models in training order)
    augment: bool
    estimate_seconds: float
    budget_seconds: float

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self.epochs)

    def describe(self) -> str:
        parts = " + ".join(f"{m} {e} ep" for m, e in self.epochs.items())
        return (f"{self.folds} folds x {parts}, augmentation {'on' if self.augment else 'off'} "
                f"~ {format_minutes(self.estimate_seconds)} (budget {format_minutes(self.budget_seconds)})")


def estimate_seconds(costs: dict[str, ModelCost], epochs: dict[str, int], folds: int, n_rows: int,
                     n_test: int, augment: bool = False, finish: float = FINISH_SECONDS) -> float:
    """Estimated wall time of a run from the plan on: per fold each model's overhead, epochs and predictions,
    then ``finish`` seconds (the ensemble, the submission and, if written, the report)."""
    train_rows = n_rows * (folds - 1) / folds
    predict_rows = n_rows / folds + n_test
    per_fold = sum(costs[m].fold_overhead_seconds + e * train_rows / _train_speed(costs[m], augment)
                   + predict_rows / costs[m].predict_images_per_second for m, e in epochs.items())
    return finish + folds * per_fold


def _train_speed(cost: ModelCost, augment: bool) -> float:
    return cost.train_images_per_second * (AUGMENTED_SPEED if augment else 1.0)


def candidate_model_sets(models: tuple[str, ...], fallback: str | None = FALLBACK_MODEL) -> list[tuple[str, ...]]:
    """The model sets a plan may use, most preferred first: all, then fewer, then the fast fallback."""
    sets = [models[:n] for n in range(len(models), 0, -1)]
    if fallback and (fallback,) not in sets:
        sets.append((fallback,))
    return sets


def make_plan(budget_seconds: float, costs: dict[str, ModelCost], candidates: list[tuple[str, ...]], n_rows: int,
              n_test: int, max_epochs: dict[str, int], finish: float = FINISH_SECONDS) -> Plan:
    """The configuration that fits ``budget_seconds`` by the module's rule.

    ``candidates``: model sets in order of preference (``candidate_model_sets``); a set is taken at
    the most folds whose epochs reach ``MIN_EPOCHS_FOR_FOLDS``, and only at ``CHOSEN_MODELS_MIN_FOLDS``
    or more folds unless it is the last resort. ``max_epochs`` caps each model at its recipe.
    """
    if budget_seconds <= 0:
        raise ValueError(f"the time budget must be positive, got {budget_seconds}")
    for i, chosen in enumerate(candidates):
        last = i == len(candidates) - 1
        for folds in (f for f in FOLD_CHOICES if last or f >= CHOSEN_MODELS_MIN_FOLDS):
            epochs = _epochs_that_fit(budget_seconds, costs, chosen, folds, n_rows, n_test, max_epochs, True, finish)
            if min(epochs.values()) < AUGMENT_MIN_EPOCHS:  # too short for augmentation: plain epochs, faster
                plain = _epochs_that_fit(budget_seconds, costs, chosen, folds, n_rows, n_test, max_epochs, False, finish)
                epochs = {m: min(e, AUGMENT_MIN_EPOCHS - 1) for m, e in plain.items()}
            if min(epochs.values()) >= max(1, MIN_EPOCHS_FOR_FOLDS[folds]):
                return _plan(budget_seconds, costs, epochs, folds, n_rows, n_test, finish)
    # not even the last resort at 2 folds x 1 epoch fits: the smallest run there is, estimated honestly
    return _plan(budget_seconds, costs, {candidates[-1][0]: 1}, FOLD_CHOICES[-1], n_rows, n_test, finish)


def _epochs_that_fit(budget, costs, models, folds, n_rows, n_test, max_epochs, augment, finish) -> dict[str, int]:
    """Equal epochs for every model (capped at its recipe), as many as the budget holds; at least 1."""
    fixed = estimate_seconds(costs, {m: 0 for m in models}, folds, n_rows, n_test, finish=finish)
    per_epoch = sum(folds * n_rows * (folds - 1) / folds / _train_speed(costs[m], augment) for m in models)
    e = max(1, math.floor((budget - fixed) / per_epoch)) if budget > fixed else 0
    return {m: max(1, min(e, max_epochs[m])) if e else 0 for m in models}


def _plan(budget, costs, epochs, folds, n_rows, n_test, finish) -> Plan:
    augment = min(epochs.values()) >= AUGMENT_MIN_EPOCHS
    return Plan(folds=folds, epochs=epochs, augment=augment, budget_seconds=budget,
                estimate_seconds=estimate_seconds(costs, epochs, folds, n_rows, n_test, augment, finish))


def format_minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


class Progress:
    """Elapsed time and the run's ETA after each fold: the plan's estimate, rescaled by the pace so far.

    ``planned`` maps each fold still to train (a label) to its estimated seconds; ``clock`` returns
    seconds (time.perf_counter in a run, a fake clock in tests).
    """

    def __init__(self, planned: dict[str, float], clock):
        self.remaining = dict(planned)
        self.clock = clock
        self.start = clock()
        self.done_estimate = 0.0

    def fold_done(self, label: str) -> str:
        """Mark ``label`` finished; returns a line with the elapsed time and the ETA."""
        self.done_estimate += self.remaining.pop(label, 0.0)
        elapsed = self.clock() - self.start
        pace = elapsed / self.done_estimate if self.done_estimate > 0 else 1.0
        left = sum(self.remaining.values()) * pace
        return f"{label} done: elapsed {format_minutes(elapsed)}, ETA {format_minutes(left)}"
