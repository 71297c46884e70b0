"""Plan a run to fit a time budget (``--minutes M``): folds x models x epochs x augmentation.

The planner is pure arithmetic over measured costs, so it is tested with made-up step times:

1. ``measure_costs`` (in ``probe.py``) times a few training and prediction steps of each model on
   this machine, or reuses an earlier measurement of the same model, backend and precision.
2. ``make_plan`` picks the configuration whose estimated wall time fits the budget, by the rule
   below, and returns a ``Plan``; the run records it in config.toml so a rerun reproduces it.

The rule, read off measured runs on 2 CPU cores (benchmarks/budgets, benchmarks/planner): accuracy rises
steeply over the first epochs and keeps rising to the recipe's end (the schedules anneal fully at any
length); augmentation only pays after ~6 epochs; and per CPU-second the small ``cnn_fast`` beats ``cnn``
at every budget measured -- in 15 minutes cnn_fast 5 folds x 21 epochs reached 99.56% OOF where cnn
4 folds x 12 epochs reached 99.40% (in 15.4 min). So: ``cnn_fast``, epochs first, then folds,
augmentation once epochs allow it; the chosen models (all, then fewer) only when they get 5 folds of
``CHOSEN_MIN_EPOCHS`` epochs each -- a threshold not yet measured against cnn_fast's full recipe.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

FOLD_CHOICES = (5, 4, 3, 2)
MIN_EPOCHS_FOR_FOLDS = {5: 12, 4: 10, 3: 6, 2: 1}  # fewest epochs that make k folds worth their cost
CHOSEN_MIN_EPOCHS = 20     # the chosen models only at 5 folds with this many epochs; below, the fast model
FALLBACK_MODEL = "cnn_fast"  # the model for budgets too short for the chosen models
AUGMENT_MIN_EPOCHS = 6     # shorter runs score higher without augmentation
FINISH_SECONDS = 3.0       # after the last fold: ensemble, calibration, submission (measured: ~1-2 s)
REPORT_SECONDS = 6.0       # report.html and its figures, when the run writes them (measured: ~5 s)
# Whole augmented epochs of cnn_fast ran at ~0.79 of the probe's speed (probe 5,318 img/s; epochs at 4,240 on
# 28,000 rows and 4,150 on 33,600 in planned runs on 2 CPU cores); applied to probe-only speeds with augmentation.
# Once a run has trained the model here, its sustained speed replaces the probe's (probe.record_sustained).
AUGMENTED_SPEED = 0.78


@dataclass(frozen=True)
class ModelCost:
    """Measured speed of one model on this machine (batch of its recipe, current backend and precision)."""

    model: str
    train_images_per_second: float
    predict_images_per_second: float
    fold_overhead_seconds: float = 5.0  # build, compile, first-step tracing, saving
    sustained: bool = False  # train_images_per_second is what whole epochs of a real run took, not the probe's


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
    return cost.train_images_per_second * (AUGMENTED_SPEED if augment and not cost.sustained else 1.0)


def candidate_model_sets(models: tuple[str, ...], fallback: str | None = FALLBACK_MODEL) -> list[tuple[str, ...]]:
    """The model sets a plan may use, most preferred first: all, then fewer, then the fast fallback."""
    sets = [models[:n] for n in range(len(models), 0, -1)]
    if fallback and (fallback,) not in sets:
        sets.append((fallback,))
    return sets


def make_plan(budget_seconds: float, costs: dict[str, ModelCost], candidates: list[tuple[str, ...]], n_rows: int,
              n_test: int, max_epochs: dict[str, int], finish: float = FINISH_SECONDS) -> Plan:
    """The configuration that fits ``budget_seconds`` by the module's rule.

    ``candidates``: model sets in order of preference (``candidate_model_sets``), the fast model last. A
    chosen set is taken only at 5 folds with ``CHOSEN_MIN_EPOCHS`` epochs; the fast model at the most folds
    whose epochs reach ``MIN_EPOCHS_FOR_FOLDS``. ``max_epochs`` caps each model at its recipe.
    """
    if budget_seconds <= 0:
        raise ValueError(f"the time budget must be positive, got {budget_seconds}")
    *chosen_sets, fast = candidates
    fit = functools.partial(_fit, budget_seconds, costs, n_rows=n_rows, n_test=n_test, max_epochs=max_epochs,
                            finish=finish)
    for chosen in chosen_sets:
        epochs = fit(chosen, FOLD_CHOICES[0])
        if min(epochs.values()) >= min(CHOSEN_MIN_EPOCHS, *(max_epochs[m] for m in chosen)):
            return _plan(budget_seconds, costs, epochs, FOLD_CHOICES[0], n_rows, n_test, finish)
    for folds in FOLD_CHOICES:
        epochs = fit(fast, folds)
        if min(epochs.values()) >= max(1, MIN_EPOCHS_FOR_FOLDS[folds]):
            return _plan(budget_seconds, costs, epochs, folds, n_rows, n_test, finish)
    # not even the fast model at 2 folds x 1 epoch fits: the smallest run there is, estimated honestly
    return _plan(budget_seconds, costs, {fast[0]: 1}, FOLD_CHOICES[-1], n_rows, n_test, finish)


def _fit(budget, costs, models, folds, *, n_rows, n_test, max_epochs, finish) -> dict[str, int]:
    """The epochs ``models`` get at ``folds``: with augmentation if that still leaves enough, else plain (faster)."""
    epochs = _epochs_that_fit(budget, costs, models, folds, n_rows, n_test, max_epochs, True, finish)
    if min(epochs.values()) < AUGMENT_MIN_EPOCHS:
        plain = _epochs_that_fit(budget, costs, models, folds, n_rows, n_test, max_epochs, False, finish)
        epochs = {m: min(e, AUGMENT_MIN_EPOCHS - 1) for m, e in plain.items()}
    return epochs


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
