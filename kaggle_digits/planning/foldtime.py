"""A run's folds in seconds: each fold's plan (its fixed costs and its training, for the run's schedule) from its
model's speed measured here, and the speed a finished fold sustained, kept for the next plan on this machine when
the fold trained in the shape that speed is for."""

from __future__ import annotations

import numpy as np

from kaggle_digits.planning import probe
from kaggle_digits.runs import rundir
from kaggle_digits.competition.data import cache_root
from kaggle_digits.planning.costs import ModelCost, fold_seconds
from kaggle_digits.planning.schedule import FoldPlan
from kaggle_digits.training.train import FoldResult, FoldTask, epochs_trained

SUSTAINED_MIN_ROWS = 10_000  # folds on fewer rows are dominated by per-epoch overhead: not a speed to plan with
# with several workers a cached speed is one worker's while the others train folds of the same model (the shape of a
# one-model plan, and of most of a pair's: the longest folds first pair them up): a fold that trained alone for
# part of its time (the last of an odd number of folds) ran faster than that, 12.5 against 16-18 s an epoch beside
# another fold (issue 32), and one beside another model -- at any time: cnn_gru took 31 s an epoch beside cnn_fast,
# 20-23 beside cnn_gru (benchmarks/planner/README.md) -- ran at another speed, and neither is recorded
SHARED_MIN = 0.9


def fold_plans(tasks: list[FoldTask], fold_of: np.ndarray, n_test: int, n_workers: int,
               extra_rows: dict[str, int] | None = None, planned_workers: int | None = None) -> dict[str, FoldPlan]:
    """Each fold's plan (label -> FoldPlan): its fixed costs and seconds of training from its model's speed measured
    here (the probe cache, read as the planner read it: probe.cached_cost), or -- for a model never measured -- as
    fast as the slowest one measured (with none, each fold weighs its epochs x rows): only ratios, which the
    schedule's pace turns into seconds once folds finish. A fold fitted to seconds trains its recipe's seconds.
    ``planned_workers``: the workers the plan was timed with, whose speeds serve where fewer folds than those run at
    once (3 folds on 4 cores: 3 workers, an entry no probe wrote).
    """
    def cost_of(task: FoldTask) -> ModelCost | None:
        return next((cost for workers in dict.fromkeys((n_workers, planned_workers or n_workers))
                     if (cost := probe.cached_cost(task.model, task.augment, task.precision, cache_root(), workers))),
                    None)

    costs = {t.model: cost_of(t) for t in tasks}
    extra = {t.member: 0 for t in tasks} | (extra_rows or {})
    known = [c.train_images_per_second for c in costs.values() if c is not None]
    guess = ModelCost("?", min(known), min(known) * 3) if known else ModelCost("?", 1.0, 1e9, 0.0)
    plans = {}
    for task in tasks:
        cost = costs[task.model] or guess
        n_train, n_held = int(np.sum(fold_of != task.fold)) + extra[task.member], int(np.sum(fold_of == task.fold))
        epochs_seconds = fold_seconds(cost, task.recipe.epochs, n_train, n_held + n_test, task.augment.enabled)
        fixed = fold_seconds(cost, 0, n_train, n_held + n_test, task.augment.enabled)
        fit = task.recipe.seconds or (epochs_seconds - fixed)
        plans[rundir.fold_name(task.member, task.fold)] = FoldPlan(
            fixed=fixed, fit=fit, fitted=bool(task.recipe.seconds), measured=costs[task.model] is not None)
    return plans


def record_speed(task: FoldTask, result: FoldResult, n_workers: int, shared: float = 1.0,
                 beside: set[str] = frozenset()) -> None:
    """Long enough epochs, trained in the shape the cache entry is for (with several workers: beside folds of
    ``beside``'s models for ``shared`` of its time): the next plan on this machine uses the speed this fold
    sustained."""
    if n_workers > 1 and (shared < SHARED_MIN or set(beside) - {task.model}):
        return
    whole = int(epochs_trained(result.metrics))  # the last one may have ended part-way
    if whole > 1 and result.metrics["n_train"] >= SUSTAINED_MIN_ROWS and not task.pseudo:
        probe.record_sustained(task.model, task.augment, task.precision, result.metrics["images_per_second"],
                               cache_root(), n_workers)
