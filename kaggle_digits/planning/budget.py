"""Fit a run to the machine before it starts: the time budget (``--minutes``) and the precision.

- With ``--minutes M`` the planner (planner.py) chooses folds, models, epochs and augmentation from
  the measured speed of each model (probe.py); the chosen values are written into the RunConfig, so
  config.toml records them and ``--config config.toml`` reproduces the run without planning again.
- With no budget, no ``--epochs`` / ``--model-epochs`` and no ``--full``, the budget defaults to
  ``CPU_DEFAULT_MINUTES`` on a machine without a GPU (``SAMPLE_DEFAULT_MINUTES`` on the bundled sample) and
  ``GPU_DEFAULT_MINUTES`` with one (a Kaggle GPU kernel's default too: the kernel probes its own speed and plans
  inside, members included), and the log says so, with the full recipe's estimate.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

from kaggle_digits import atomic
from kaggle_digits.planning import probe
from kaggle_digits.runs import rundir
from kaggle_digits.training import workers
from kaggle_digits.training.clock import Deadline, limited
from kaggle_digits.config import RunConfig
from kaggle_digits.competition.data import Competition, cache_root
from kaggle_digits.training.devices import gpu_devices
from kaggle_digits.fingerprint import digest
from kaggle_digits.logs import format_minutes
from kaggle_digits.planning.planner import (FINISH_SECONDS, FOLD_CHOICES, REPORT_SECONDS, TARGET_FILL, Plan, Request,
                                            candidate_model_sets, models_of, plan_budget, plannable_seconds,
                                            train_speed)

log = logging.getLogger(__name__)

CPU_DEFAULT_MINUTES = 20.0
# a GPU session's default: an hour of a Kaggle "GPU T4 x2" session is 1 of the 30 weekly GPU hours (README)
GPU_DEFAULT_MINUTES = 60.0
PLAN_FORMAT = 8  # part of a kept plan's key: plans made by an earlier planner rule are not reused (8: the speeds
# a plan records are those it counted with, planner.train_speed)
# a kept plan is made again when a model's speed measured since (a fold's sustained speed, probe.record_sustained)
# is off the speed it was planned with by more than this share: a probe taken while the machine was busy planned
# 4 folds x 15 epochs at 20 minutes where the folds then trained 29-30 epochs each (issue 24)
REPLAN_SPEED_CHANGE = 0.25
# a kept plan is also made again -- its fold count included -- while no fold of it has trained, when the seconds the
# budget has left now are off those it was made for by more than this share: a first --minutes 1 run spent 33 s of
# its minute timing the models and planned one epoch into the 27 s left; the same command again, with the speeds
# cached, kept that plan and ended after 21 s of its 60 (issue 32)
REPLAN_BUDGET_CHANGE = 0.25
SAMPLE_DEFAULT_MINUTES = 2.0


@dataclass(frozen=True)
class Budgeted:
    """What a run's budget decided: the settings it trains with (planned, or as given), and the run clock's reading
    by which its folds should be done (None without a budget)."""
    config: RunConfig
    training_end: float | None


def plan_run(cfg: RunConfig, data: Competition, n_rows: int, precision: str, clock: Deadline) -> Budgeted:
    """The run's budget in one call: the --minutes budget (or the CPU default) capped by ``clock``'s limit, the plan
    that fills it (``apply_budget``), and when its folds should be done (``training_end``)."""
    capped = _cap_budget(cfg, data, clock)
    planned = apply_budget(capped, data, n_rows, precision, clock)
    return Budgeted(planned, training_end(capped, data, holdout=planned.holdout))


def _cap_budget(cfg: RunConfig, data: Competition, clock: Deadline) -> RunConfig:
    """``cfg`` with its --minutes budget (or the CPU default) ending before ``clock``'s limit, so the plan fits in it."""
    minutes = default_minutes(cfg, data)
    if minutes is None or not limited(clock):
        return cfg
    # the budget and the deadline count from the same start (the run's clock): what has passed, plus what is left
    allowed = (clock.elapsed() + clock.remaining()) / 60
    if allowed >= minutes:
        return cfg
    log.info(f"budget: {minutes:g} min capped to {allowed:.1f} min by the deadline ({clock.describe()})")
    return dataclasses.replace(cfg, minutes=max(allowed, 0.1))


def default_minutes(cfg: RunConfig, data: Competition) -> float | None:
    """The budget a run gets when the user gave none: on CPU-only machines only, and not when told otherwise."""
    if cfg.minutes is not None:
        return cfg.minutes
    if cfg.full or cfg.epochs is not None or cfg.model_epochs is not None or cfg.ensemble_only:
        return None
    if data.is_sample:
        return SAMPLE_DEFAULT_MINUTES
    return GPU_DEFAULT_MINUTES if gpu_devices() else CPU_DEFAULT_MINUTES


def apply_budget(cfg: RunConfig, data: Competition, n_rows: int, precision: str, clock: Deadline) -> RunConfig:
    """``cfg`` with the planned folds, models, epochs and augmentation when a budget applies, else as is.
    ``clock``: the run's (clock.Deadline, from the command's start): the budget counts imports, data loading and
    (on a first run) the probe."""
    minutes = default_minutes(cfg, data)
    if minutes is None:
        return cfg
    key = _plan_key(cfg, minutes, data, n_rows, precision)
    request = Request(cfg.models, minutes, n_rows, data.n_test, finish_seconds(cfg), planned_workers(cfg, n_rows),
                      cfg.augment.enabled, cfg.pseudo_label is not None)
    if not cfg.fresh and (plan := _read_plan(key)) is not None:  # the same command plans the same run here
        changed = _speed_change(plan, cfg, precision, plan.workers) or _budget_change(plan, cfg, data, request, clock)
        if changed is None:
            log.info(f"plan: {plan.describe()} (as this command planned it before here; --fresh plans again)")
            return planned_config(cfg, plan)
        log.info(f"planning again: {changed} since this command's plan was made here ({plan.shape()})")
    planned = plan_budget(request, lambda models, n_workers: probe.measure_costs(
        models, cfg.augment, precision, cache_root(), log=log.info, n_workers=n_workers), clock.elapsed)
    plan = planned.plan
    if cfg.minutes is None:
        # None: the user's models were not timed, their stand-ins already rule out their recipe
        full = "hours here" if planned.recipe_seconds is None else f"about {format_minutes(planned.recipe_seconds)} here"
        where = f"{len(gpus)} GPU(s)" if (gpus := gpu_devices()) else "no GPU"
        log.info(f"{where}: planning a {minutes:g}-minute run (--minutes M to choose; --full for every model's "
                 f"full recipe, 5 folds: {full})")
    log.info(f"plan: {plan.describe()}; {planned.spent:.0f} s of the {minutes:g} min went to start-up, data and probe")
    if plan.estimate_seconds > plan.budget_seconds:
        log.warning(f"the smallest run there is ({plan.shape()}) takes about "
                    f"{format_minutes(plan.estimate_seconds)} here, more than the {format_minutes(plan.budget_seconds)} "
                    f"left of the budget: it will finish late (each fold predicts all {data.n_test:,} test rows)")
    try:
        _plan_path(key).parent.mkdir(parents=True, exist_ok=True)
        atomic.write_json(_plan_path(key), dataclasses.asdict(plan))
    except OSError as exc:  # an unwritable cache only costs the next identical command a new plan
        log.warning(f"could not keep the plan in {cache_root()}: {exc.strerror or exc}")
    return planned_config(cfg, plan)


def finish_seconds(cfg: RunConfig, holdout: bool = False) -> float:
    """The seconds a run's plan keeps after its last fold: the ensemble, the submission and, if written, the report
    (a holdout writes none: its figures need every row scored out of fold)."""
    return FINISH_SECONDS + (REPORT_SECONDS if cfg.report and not holdout else 0.0)


def training_end(cfg: RunConfig, data: Competition, holdout: bool = False) -> float | None:
    """The run clock's reading by which a budgeted run's folds should be done (None without a budget): the plan's
    share of the budget, less the finish (``holdout``: the plan is one, which writes no report). The folds not yet
    started are re-planned to it (schedule.py)."""
    minutes = default_minutes(cfg, data)
    if minutes is None or cfg.pseudo_label is not None:
        return None  # a second round trains every fold again: the plan's first-round seconds stand
    return minutes * 60 * TARGET_FILL - finish_seconds(cfg, holdout)


def _plan_key(cfg: RunConfig, minutes: float, data: Competition, n_rows: int, precision: str) -> str:
    """What a plan depends on besides the machine's speed: the request, the data, the budget, the precision."""
    identity = [PLAN_FORMAT, cfg.training_fingerprint(), minutes, data.sha256, n_rows, precision, cfg.report, probe.machine_key()]
    return digest(identity, 16)


def _speed_change(plan: Plan, cfg: RunConfig, precision: str, n_workers: int) -> str | None:
    """What makes a kept plan stale: a model's cached speed now off the plan's by more than REPLAN_SPEED_CHANGE."""
    augment = dataclasses.replace(cfg.augment, enabled=cfg.augment.enabled and plan.augment)
    for model, planned in plan.speeds.items():
        cost = probe.cached_cost(model, augment, precision, cache_root(), n_workers)
        speed = None if cost is None else train_speed(cost, plan.augment)
        if speed is not None and planned > 0 and abs(speed / planned - 1) > REPLAN_SPEED_CHANGE:
            return (f"{model} sustained {speed:,.0f} images/s here, the plan assumed "
                    f"{planned:,.0f}")
    return None


def _budget_change(plan: Plan, cfg: RunConfig, data: Competition, request: Request, clock: Deadline) -> str | None:
    """What makes a kept plan stale before any fold of it trained: the budget left now, off the plan's by more than
    REPLAN_BUDGET_CHANGE (a resume keeps its plan: its folds are reused, and it continues the budget)."""
    left = plannable_seconds(request, clock.elapsed())
    if abs(left / plan.budget_seconds - 1) <= REPLAN_BUDGET_CHANGE or rundir.has_trained(planned_config(cfg, plan), data):
        return None
    return f"{left:.0f} s of the budget are left now, the plan was made for {plan.budget_seconds:.0f} s"


def _plan_path(key: str) -> Path:
    return cache_root() / "plans" / f"plan-{key}.json"


def _read_plan(key: str) -> Plan | None:
    path = _plan_path(key)
    try:
        return Plan(**atomic.read_json(path)) if path.is_file() else None
    except (OSError, ValueError, TypeError):
        return None


def planned_workers(cfg: RunConfig, n_rows: int) -> int:
    """The worker processes a planned run will train with (workers.py), assuming it has folds enough for all."""
    return workers.resolve_workers(cfg.workers, 2 * FOLD_CHOICES[0], n_rows * (FOLD_CHOICES[0] - 1) // FOLD_CHOICES[0],
                                   bool(gpu_devices()))


def measure_costs(cfg: RunConfig, precision: str, n_workers: int = 1,
                  models: tuple[str, ...] | None = None) -> dict[str, probe.ModelCost]:
    """The measured speed of ``models`` (default: every model a plan for ``cfg`` may use), cached per machine."""
    if models is None:
        models = models_of(candidate_model_sets(cfg.models))
    return probe.measure_costs(models, cfg.augment, precision, cache_root(), log=log.info, n_workers=n_workers)


# every setting planned_config decides: a kernel's plan is read back by these (kaggle/gather.py)
PLANNED = ("minutes", "folds", "seeds", "models", "epochs", "model_epochs", "model_seconds", "augment",
           "validate_each_epoch", "holdout")


def planned_config(cfg: RunConfig, plan: Plan) -> RunConfig:
    """The configuration a plan makes: its folds, models, per-model epochs and augmentation; no budget left.

    A budgeted run does not score the held-out fold after every epoch (the learning curves of the report):
    that costs a prediction of a whole fold per epoch, which the plan spends on training instead.
    """
    augment = dataclasses.replace(cfg.augment, enabled=cfg.augment.enabled and plan.augment)
    return dataclasses.replace(cfg, minutes=None, folds=plan.folds, seeds=plan.seeds, models=plan.models, epochs=None,
                               model_epochs=dict(plan.epochs), model_seconds=dict(plan.fit_seconds) or None,
                               augment=augment, validate_each_epoch=False, holdout=plan.holdout,
                               workers=cfg.workers or plan.workers)
