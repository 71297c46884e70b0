"""Plan a run to fit a time budget (``--minutes M``): folds x models x members x epochs x augmentation.

The planner is pure arithmetic over measured costs, so it is tested with made-up step times:

1. ``measure_costs`` (in ``probe.py``) times a few training and prediction steps of each model on
   this machine, or reuses an earlier measurement of the same model, backend and precision.
2. ``make_plan`` picks the configuration whose estimated wall time fills the budget, by the rule
   below, and returns a ``Plan``; the run records it in config.toml so a rerun reproduces it.

A run asks once: ``plan_budget(Request, measure, elapsed)`` (budget.py passes the probe in as ``measure`` and the
run clock as ``elapsed``) decides which models to time, times them, plans, and re-plans a holdout, so the
planner is never called back from below and budget.py never asks it twice.

The rule (the measurements behind it are in benchmarks/planner/README.md):

- Each candidate set -- the user's models (``cnn`` + ``cnn_gru`` by default), their fast stand-ins as a pair (each
  model's registered ``stand_in``: ``cnn_fast`` for the CNN, the small ``cnn_gru`` for the deep one) at 5 folds,
  and the fallback model (``cnn_fast``, registered ``fallback=True``) alone with every epoch the others would have
  had, at the most folds whose epochs reach ``MIN_EPOCHS_FOR_FOLDS`` -- is planned for the same budget, and the one
  the measured accuracy-against-epochs curves (each model's registered ``error_curve``, and ``PAIR_ERROR_FACTOR``
  for several models) say ends with the lowest OOF error is taken. Averaging two models pays only once each is
  near its own floor, and a slow model only where it gets the epochs its curve needs: at short budgets one model
  with all the epochs is ahead. A model without a curve falls back to a threshold: ``CHOSEN_MIN_EPOCHS`` for the
  user's set, ``PAIR_MIN_EPOCHS`` for a pair. The user's models are timed only where, as fast as their
  stand-ins, they would be chosen (``users_models_may_win``).
- The budget is filled: epochs go past a recipe's own count (up to ``MAX_EPOCHS_FACTOR`` times it) while
  time is left -- the schedules anneal fully at any length, so a longer schedule is a better model -- and each
  fold then fits its epochs to the seconds the plan gave it (``Plan.fit_seconds``, timefit.py).
- Augmentation only when the models get ``AUGMENT_MIN_EPOCHS`` epochs (below, unaugmented runs score higher).
- Below 2 folds of ``MIN_EPOCHS_FOR_FOLDS[2]`` epochs (a budget of about a minute), a holdout: one fold of
  ``HOLDOUT_FOLDS`` trained, scored on its held-out fifth, its model making the submission -- what a notebook's
  validation split does, with one fold's fixed costs instead of two and every epoch on four fifths of the rows
  (at 1 minute two folds scored 98.11-98.91% OOF, below the plain notebook; the holdout 99.17%: docs/results.md).
- Members (``Plan.seeds``): each set is also planned with 2..``MAX_SEEDS`` members per model, each on its own
  split (competition/folds.py), and taken where the curves with the ensemble-gain curve (curves.py) predict a
  lower error -- once epochs near their cap (a GPU's budget), more members is what more time buys.

The per-model facts above live on each model's registry entry (``models.ModelSpec``; the planner reads them
through ``models.error_curves()``, ``stand_ins()`` and ``fallback_model()``), so a new model with its curve is a
change under models/ only; the facts about pairs (``PAIR_ERROR_FACTOR``, ``PAIR_MIN_EPOCHS``) stay here.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

from kaggle_digits import models as registry  # each model's facts: its error curve, stand-in, fallback
from kaggle_digits.planning.curves import (MAX_SEEDS, MIN_MEMBER_EPOCHS, PAIR_ERROR_FACTOR,  # noqa: F401 (re-exported)
                                           ahead, predicted_error)
from kaggle_digits.training.epochs import MAX_EPOCHS_FACTOR, epoch_cap
from kaggle_digits.logs import format_minutes
from kaggle_digits.planning.costs import ModelCost, fold_seconds, train_speed

FOLD_CHOICES = (5, 4, 3, 2)
MIN_EPOCHS_FOR_FOLDS = {5: 12, 4: 10, 3: 6, 2: 6}  # fewest epochs that make k folds worth their cost
HOLDOUT_FOLDS = 5          # a holdout plan trains fold 0 of this split: a fifth held out, as a kept 5-fold run's
CHOSEN_MIN_EPOCHS = 20     # without curves: the user's models only at 5 folds with this many epochs each
PAIR_MIN_EPOCHS = 8        # without curves: the fast stand-ins as an ensemble only at 5 folds with this many epochs
# each model's OOF error curve, its fast stand-in and the fallback model are on its registry entry (models/)
WORKER_START_SECONDS = 8.0  # worker processes start and import TensorFlow before their first fold
TARGET_FILL = 0.97         # plan to this share of the budget: the estimate's own error is a few percent
AUGMENT_MIN_EPOCHS = 6     # shorter runs score higher without augmentation
FINISH_SECONDS = 3.0       # after the last fold: ensemble, calibration, submission (with a margin over its time)
REPORT_SECONDS = 6.0       # report.html and its figures, when the run writes them (with a margin over its time)
@dataclass(frozen=True)
class Plan:
    folds: int
    epochs: dict[str, int]          # model -> epochs (the models in training order)
    augment: bool
    estimate_seconds: float
    budget_seconds: float
    workers: int = 1                # folds trained at once (workers.py)
    # model -> the seconds of training each of its folds gets (its epochs at the measured speed): a fold fits
    # its epochs to them as it trains (timefit.py), so the run fills the budget although the speed is an estimate
    fit_seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    holdout: bool = False           # only fold 0 of ``folds`` trains (a budget too short for two folds)
    # model -> the training speed (images/s) the plan was made with: a kept plan is made again when the speed
    # measured since then differs by more than a quarter (budget.py)
    speeds: dict[str, float] = dataclasses.field(default_factory=dict)
    seeds: int = 1                  # members per model (--seeds): each trains every fold of its own split

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self.epochs)

    def shape(self) -> str:
        """What trains, e.g. "5 folds x cnn_fast 14 ep, 2 at a time, augmentation on"."""
        parts = " + ".join(f"{m} {e} ep" for m, e in self.epochs.items())
        if self.seeds > 1:
            parts = f"{self.seeds} members of ({parts})" if len(self.epochs) > 1 else f"{self.seeds} members of {parts}"
        at_once = f", {self.workers} at a time" if self.workers > 1 else ""
        folds = f"1 of {self.folds} folds (holdout)" if self.holdout else f"{self.folds} folds"
        return f"{folds} x {parts}{at_once}, augmentation {'on' if self.augment else 'off'}"

    def describe(self) -> str:
        return (f"{self.shape()} ~ {format_minutes(self.estimate_seconds)} "
                f"(budget {format_minutes(self.budget_seconds)})")


@dataclass(frozen=True)
class Request:
    """What a budgeted run asks of the planner: the user's models, the budget, the data's size, the seconds the
    run keeps after its folds (``finish``), the worker processes it trains with, whether augmentation is on, and
    whether a pseudo-label round follows (it trains every fold again, so the first round gets only its share)."""

    models: tuple[str, ...]
    minutes: float
    n_rows: int
    n_test: int
    finish: float = FINISH_SECONDS
    workers: int = 1
    augment: bool = True
    pseudo_label: bool = False


@dataclass(frozen=True)
class Planned:
    """The planner's answer: the plan, the seconds of the budget spent before it was made (start-up, data,
    probe), and the user's models' full recipe at 5 folds (None when their stand-ins ruled them out untimed)."""

    plan: Plan
    spent: float
    recipe_seconds: float | None


# the probe, passed in: (models, worker processes) -> each model's measured cost on this machine
Measure = Callable[[tuple[str, ...], int], dict[str, ModelCost]]


def plan_budget(request: Request, measure: Measure, elapsed: Callable[[], float]) -> Planned:
    """A budgeted run's whole plan in one call: the candidate model sets and their epoch caps, which models to time
    (``measure``: the fast ones first; the user's slower ones only where their stand-ins leave them room), the
    plan (``make_plan``) for what is left of the budget after timing (``elapsed``: the run clock's seconds), and a
    holdout's re-plan with the speed of one process on every core (planned with the speed of one worker among
    several, a holdout left a fifth of a 1-minute budget unused: one thread's tracing and predicting)."""
    candidates = candidate_model_sets(request.models)
    everything = models_of(candidates)
    recipe_epochs = {m: registry.get_spec(m).recipe.epochs for m in everything}
    sizes = dict(n_rows=request.n_rows, n_test=request.n_test, max_epochs=epoch_caps(recipe_epochs),
                 finish=request.finish)
    costs = measure(models_of(candidates[1:]) or everything, request.workers)
    if set(everything) - set(costs) and users_models_may_win(plannable_seconds(request, elapsed()), costs, candidates,
                                                             workers=request.workers, **sizes):
        costs = measure(everything, request.workers)
    spent = elapsed()
    plan = make_plan(plannable_seconds(request, spent), costs, candidates, workers=request.workers, **sizes)
    if plan.holdout and request.workers > 1:
        costs = measure(plan.models, 1)
        spent = elapsed()
        plan = make_plan(plannable_seconds(request, spent), costs, [plan.models], workers=1, **sizes)
    recipe = None
    if all(m in costs for m in request.models):
        recipe = estimate_seconds(costs, {m: recipe_epochs[m] for m in request.models}, FOLD_CHOICES[0],
                                  request.n_rows, request.n_test, request.augment, workers=request.workers)
    return Planned(plan, spent, recipe)


def plannable_seconds(request: Request, spent: float) -> float:
    """The seconds the plan may give the (first-round) training: what is left of the budget, and with a
    pseudo-label round only the first round's share, since the second trains every fold again on its rows plus
    (at most) every test row."""
    left = max(request.minutes * 60 - spent, 1.0)
    if not request.pseudo_label:
        return left
    train_rows = request.n_rows * (FOLD_CHOICES[0] - 1) / FOLD_CHOICES[0]
    return left / (1 + (train_rows + request.n_test) / train_rows)


def estimate_seconds(costs: dict[str, ModelCost], epochs: dict[str, int], folds: int, n_rows: int,
                     n_test: int, augment: bool = False, finish: float = FINISH_SECONDS, workers: int = 1,
                     holdout: bool = False, seeds: int = 1) -> float:
    """Estimated wall time of a run from the plan on: every fold's overhead, epochs and predictions, spread
    over ``workers`` processes longest first (as the run schedules them), then ``finish`` seconds (the
    ensemble, the submission and, if written, the report). ``holdout``: only one of the ``folds`` trains;
    ``seeds``: members per model, each training every fold."""
    train_rows = n_rows * (folds - 1) / folds
    predict_rows = n_rows / folds + n_test
    loads = sorted((fold_seconds(costs[m], e, train_rows, predict_rows, augment) for m, e in epochs.items()
                    for _ in range(1 if holdout else folds * seeds)), reverse=True)
    busy = [0.0] * max(1, workers)
    for seconds in loads:
        busy[busy.index(min(busy))] += seconds
    return finish + max(busy) + (WORKER_START_SECONDS if workers > 1 and len(loads) > 1 else 0.0)


def candidate_model_sets(models: tuple[str, ...], fallback: str | None = None) -> list[tuple[str, ...]]:
    """The model sets a plan may use, most preferred first: the user's, their fast stand-ins, the fast model
    (``fallback``, default the registry's ``fallback_model()``); a model without a stand-in stands for itself."""
    sets = [tuple(models)]
    stand_in = registry.stand_ins()
    fast = tuple(dict.fromkeys(stand_in.get(m, m) for m in models))
    if len(fast) > 1 and fast not in sets:
        sets.append(fast)
    fallback = fallback or registry.fallback_model()
    if (fallback,) not in sets:
        sets.append((fallback,))
    return sets


def models_of(sets: list[tuple[str, ...]]) -> tuple[str, ...]:
    """Every model of ``sets``, once each, in order."""
    return tuple(dict.fromkeys(m for s in sets for m in s))


def epoch_caps(recipe_epochs: dict[str, int]) -> dict[str, int]:
    """The most epochs a plan gives each model: the one cap (epochs.epoch_cap) on its recipe's."""
    return {m: epoch_cap(e) for m, e in recipe_epochs.items()}


def make_plan(budget_seconds: float, costs: dict[str, ModelCost], candidates: list[tuple[str, ...]], n_rows: int,
              n_test: int, max_epochs: dict[str, int], finish: float = FINISH_SECONDS, workers: int = 1) -> Plan:
    """The configuration that fills ``budget_seconds`` by the module's rule.

    ``candidates``: model sets in order of preference (``candidate_model_sets``), the fast model last. The fast
    model is planned at the most folds whose epochs reach ``MIN_EPOCHS_FOR_FOLDS``; then each other set, from the
    least preferred to the user's own, at 5 folds, replaces the plan so far where it is ahead (``ahead``: the
    error curves, or a threshold for a model without one). ``max_epochs`` caps each model (``epoch_caps``). A set
    with a model missing from ``costs`` is skipped (the user's slower models go untimed where even at their
    stand-ins' speed they would not be chosen: ``users_models_may_win``).
    """
    if budget_seconds <= 0:
        raise ValueError(f"the time budget must be positive, got {budget_seconds}")
    *ensembles, fast = candidates
    target = budget_seconds * TARGET_FILL
    fit = functools.partial(_fit, target, costs, n_rows=n_rows, n_test=n_test, max_epochs=max_epochs, finish=finish,
                            workers=workers)
    _plan = functools.partial(_make, budget_seconds, costs, n_rows=n_rows, n_test=n_test, finish=finish,
                              workers=workers, max_epochs=max_epochs)
    best = _fast_alone(fit, fast, _plan, functools.partial(_make, budget_seconds, costs, n_rows=n_rows, n_test=n_test,
                                                           finish=finish, workers=1, max_epochs=max_epochs,
                                                           holdout=True))
    for i in reversed(range(len(ensembles))):
        models = ensembles[i]
        if any(m not in costs for m in models):
            continue  # not timed: it could not have been chosen (users_models_may_win)
        plan = _plan(fit(models, FOLD_CHOICES[0]), FOLD_CHOICES[0])
        if ahead(plan, best, max_epochs, CHOSEN_MIN_EPOCHS if i == 0 else PAIR_MIN_EPOCHS):
            best = plan
    return _grow_members(best, [c for c in candidates if all(m in costs for m in c)], fit, _plan)  # then members


def _grow_members(best: Plan, candidates: list[tuple[str, ...]], fit, _plan) -> Plan:
    """``best``, or a plan of more members (seeds) per model where the curves say they end lower: each set at 5
    folds with 2..``MAX_SEEDS`` members, while a member still gets ``MIN_MEMBER_EPOCHS``. Members pay once epochs
    are near their cap (a GPU's budgets); on a CPU's minutes one member with every epoch stays ahead."""
    if best.holdout or predicted_error(best) is None:
        return best
    for models in candidates:  # the sets whose every model was timed
        for seeds in range(2, MAX_SEEDS + 1):
            epochs = fit(models, FOLD_CHOICES[0], seeds=seeds)
            if min(epochs.values()) < MIN_MEMBER_EPOCHS:
                break
            plan = _plan(epochs, FOLD_CHOICES[0], seeds=seeds)
            if (error := predicted_error(plan)) is not None and error < predicted_error(best):
                best = plan
    return best


def _fast_alone(fit, fast: tuple[str, ...], _plan, _holdout_plan) -> Plan:
    """The fast model alone at the most folds whose epochs reach ``MIN_EPOCHS_FOR_FOLDS``, else a holdout."""
    for folds in FOLD_CHOICES:
        epochs = fit(fast, folds)
        if min(epochs.values()) >= max(1, MIN_EPOCHS_FOR_FOLDS[folds]):
            return _plan(epochs, folds)
    epochs = fit(fast, HOLDOUT_FOLDS, workers=1, holdout=True)
    # not even one fold of 1 epoch fits: the smallest run there is, estimated honestly
    return _holdout_plan({m: max(1, e) for m, e in epochs.items()}, HOLDOUT_FOLDS)


def users_models_may_win(budget_seconds: float, costs: dict[str, ModelCost], candidates: list[tuple[str, ...]],
                         n_rows: int, n_test: int, max_epochs: dict[str, int], finish: float = FINISH_SECONDS,
                         workers: int = 1) -> bool:
    """Whether timing the user's models could change the plan: would it choose them if each were as fast as its
    stand-in (which is faster, so the real ones get no more epochs and, by their curves, no lower error)?

    Lets a run skip timing the user's slower models where the budget rules them out anyway."""
    stand_in = registry.stand_ins()
    as_fast = {**costs, **{m: dataclasses.replace(costs[stand_in[m]], model=m)
                           for m in candidates[0] if m not in costs and stand_in.get(m) in costs}}
    if any(m not in as_fast for m in candidates[0]):
        return True  # a model with neither a measured speed nor a timed stand-in: only timing it can tell
    plan = make_plan(budget_seconds, as_fast, candidates, n_rows, n_test, max_epochs, finish, workers)
    return plan.models == tuple(candidates[0])


def _fit(budget, costs, models, folds, *, n_rows, n_test, max_epochs, finish, workers,
         holdout: bool = False, seeds: int = 1) -> dict[str, int]:
    """The epochs ``models`` get at ``folds`` (``seeds`` members each): with augmentation if that still leaves
    enough, else plain (faster)."""
    fit = functools.partial(_epochs_that_fit, budget, costs, models, folds, n_rows, n_test, max_epochs,
                            finish=finish, workers=workers, holdout=holdout, seeds=seeds)
    epochs = fit(augment=True)
    if not _augments(epochs, max_epochs):
        plain = fit(augment=False)
        epochs = {m: min(e, AUGMENT_MIN_EPOCHS - 1) for m, e in plain.items()}
    return epochs


def _epochs_that_fit(budget, costs, models, folds, n_rows, n_test, max_epochs, *, augment, finish,
                     workers, holdout=False, seeds=1) -> dict[str, int]:
    """As many epochs as the budget holds, equal for every model until one reaches its cap, whose time then
    goes to the others; 0 for every model when not even the fixed costs fit."""
    estimate = functools.partial(estimate_seconds, costs, folds=folds, n_rows=n_rows, n_test=n_test,
                                 augment=augment, finish=finish, workers=workers, holdout=holdout, seeds=seeds)
    fixed = estimate({m: 0 for m in models})
    if budget <= fixed:
        return {m: 0 for m in models}
    # the workers share the epochs; a whole fold is the smallest piece, so the exact fit is checked below
    trained = 1 if holdout else folds * seeds
    epoch_cost = {m: trained * n_rows * (folds - 1) / folds / train_speed(costs[m], augment) / min(workers, trained)
                  for m in models}
    epochs, left, open_ = {}, budget - fixed, list(models)
    while open_:
        e = max(1, math.floor(left / sum(epoch_cost[m] for m in open_)))
        capped = [m for m in open_ if max_epochs[m] <= e]
        if not capped:
            epochs.update({m: e for m in open_})
            break
        for m in capped:  # a capped model takes only its cap; the time it leaves goes to the others
            epochs[m] = max_epochs[m]
            left -= max_epochs[m] * epoch_cost[m]
            open_.remove(m)
    while estimate(epochs) > budget and max(epochs.values()) > 1:  # uneven folds per worker: trim to fit
        longest = max(epochs, key=epochs.get)
        epochs[longest] -= 1
    # what is left buys single epochs, cheapest model first: the budget is filled, not rounded down
    grown = True
    while grown:
        grown = False
        for m in sorted(models, key=epoch_cost.get):
            if epochs[m] < max_epochs[m]:
                epochs[m] += 1
                if estimate(epochs) <= budget:
                    grown = True
                else:
                    epochs[m] -= 1
    return {m: epochs[m] for m in models}


def _augments(epochs: dict[str, int], max_epochs: dict[str, int]) -> bool:
    """Augmentation pays once every model gets AUGMENT_MIN_EPOCHS epochs, or all its cap allows."""
    return all(e >= min(AUGMENT_MIN_EPOCHS, max_epochs.get(m, AUGMENT_MIN_EPOCHS)) for m, e in epochs.items())


def _make(budget, costs, epochs, folds, *, n_rows, n_test, finish, workers=1, max_epochs=None,
          holdout: bool = False, seeds: int = 1) -> Plan:
    augment = _augments(epochs, max_epochs or {})
    estimate = estimate_seconds(costs, epochs, folds, n_rows, n_test, augment, finish, workers, holdout, seeds)
    return Plan(folds=folds, epochs=epochs, augment=augment, budget_seconds=budget, workers=workers,
                estimate_seconds=estimate, holdout=holdout,
                fit_seconds=_fit_seconds(budget, costs, epochs, folds, n_rows, n_test, augment, finish, workers,
                                         estimate, max_epochs or {}, holdout, seeds),
                speeds={m: round(train_speed(costs[m], augment), 1) for m in epochs}, seeds=seeds)


def _fit_seconds(budget, costs, epochs, folds, n_rows, n_test, augment, finish, workers, estimate,
                 max_epochs, holdout=False, seeds=1) -> dict[str, float]:
    """Each model's seconds of training per fold: its epochs at the measured speed, every model's stretched
    by one factor so the run's estimate reaches ``TARGET_FILL`` of the budget. Whole epochs leave the rest of
    the budget unplanned (a tenth of it when an epoch of every fold is that much); the folds fill it with the
    epochs that fit as they train (timefit.py), never more than their epoch cap."""
    train_rows = n_rows * (folds - 1) / folds
    fit = {m: e * train_rows / train_speed(costs[m], augment) for m, e in epochs.items()}
    fixed = estimate_seconds(costs, {m: 0 for m in epochs}, folds, n_rows, n_test, augment, finish, workers, holdout,
                             seeds)
    stretch = (budget * TARGET_FILL - fixed) / (estimate - fixed) if estimate > fixed else 1.0
    # a model at its epoch cap gets no more seconds than its epochs take (a fold never trains past the cap)
    cap = min((max_epochs[m] / e for m, e in epochs.items() if e and m in max_epochs), default=MAX_EPOCHS_FACTOR)
    stretch = max(1.0, min(stretch, cap))
    return {m: max(0.1, round(seconds * stretch, 1)) for m, seconds in fit.items()}  # > 0: a valid setting
