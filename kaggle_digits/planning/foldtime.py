"""A run's folds in seconds: what each is expected to take (the ETA, the deadline's gate, the re-planner), and the
speed a finished fold sustained, kept for the next plan on this machine."""

from __future__ import annotations

import numpy as np

from kaggle_digits.planning import probe
from kaggle_digits.runs import rundir
from kaggle_digits.training.clock import Deadline
from kaggle_digits.competition.data import cache_root
from kaggle_digits.planning.planner import WORKER_START_SECONDS, ModelCost, fold_seconds
from kaggle_digits.planning.replan import Replanner
from kaggle_digits.training.train import FoldResult, FoldTask

SUSTAINED_MIN_ROWS = 10_000  # folds on fewer rows are dominated by per-epoch overhead: not a speed to plan with


def planned_seconds(tasks: list[FoldTask], fold_of: np.ndarray, n_test: int, n_workers: int,
                     extra_rows: dict[str, int] | None = None) -> tuple[dict[str, float], set[str]]:
    """Estimated seconds of each fold from its model's measured speed here (the probe cache), for the ETA; and
    the folds whose model was measured (the others' figures are only ratios, no time to hold a deadline to).

    A model never measured on this machine counts as fast as the slowest one measured (or, with none, each
    fold weighs its epochs x rows): the ETA rescales by the pace of the folds done, so only ratios matter.
    """
    costs = {t.model: probe.cached_cost(t.model, t.augment, t.precision, cache_root(), n_workers) for t in tasks}
    extra = {t.member: 0 for t in tasks} | (extra_rows or {})
    known = [c.train_images_per_second for c in costs.values() if c is not None]
    guess = ModelCost("?", min(known), min(known) * 3) if known else ModelCost("?", 1.0, 1e9, 0.0)
    planned = {}
    for task in tasks:
        n_train, n_held = int(np.sum(fold_of != task.fold)), int(np.sum(fold_of == task.fold))
        planned[rundir.fold_name(task.member, task.fold)] = fold_seconds(
            costs[task.model] or guess, task.recipe.epochs, n_train + extra[task.member], n_held + n_test,
            task.augment.enabled)
    return planned, {rundir.fold_name(t.member, t.fold) for t in tasks if costs[t.model] is not None}


def replanner(training_end: float | None, deadline: Deadline, to_train: list[FoldTask], planned: dict[str, float],
              measured: set[str], n_workers: int) -> Replanner | None:
    """The re-planner of a --minutes run's folds (replan.py): when every fold to train is fitted to seconds and its
    model's speed was measured here (else its planned seconds are only ratios)."""
    labels = {rundir.fold_name(t.member, t.fold): t for t in to_train}
    if training_end is None or not labels or any(
            not t.recipe.seconds or label not in measured for label, t in labels.items()):
        return None
    return Replanner(training_end, {label: planned[label] for label in labels},
                     {label: t.recipe.seconds for label, t in labels.items()}, deadline.elapsed, n_workers,
                     WORKER_START_SECONDS if n_workers > 1 else 0.0)


def record_speed(task: FoldTask, result: FoldResult, n_workers: int) -> None:
    """Long enough epochs: the next plan on this machine uses the speed this fold sustained."""
    if result.metrics["epochs"] > 1 and result.metrics["n_train"] >= SUSTAINED_MIN_ROWS and not task.pseudo:
        probe.record_sustained(task.model, task.augment, task.precision, result.metrics["images_per_second"],
                               cache_root(), n_workers)
