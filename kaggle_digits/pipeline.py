"""The k-fold story, top to bottom: load -> folds -> train each (model, fold) -> ensemble -> submission.

Everything after training is a pure function of the fold results in the run folder, so a rerun
reuses finished folds (resume) and folds trained elsewhere (e.g. on Kaggle kernels) can be copied in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from kaggle_digits.competition import submission
from kaggle_digits.planning import budget, foldtime
from kaggle_digits.runs import rundir, runlock
from kaggle_digits.training import cutoff, pseudo, workers
from kaggle_digits.training.cutoff import FoldJob
from kaggle_digits.training.clock import Deadline
from kaggle_digits.config import RunConfig
from kaggle_digits.competition.data import Competition, load_competition
from kaggle_digits.errors import DataError, OutputError
from kaggle_digits.training.devices import describe as describe_devices
from kaggle_digits.training.devices import all_devices, gpu_devices
from kaggle_digits.competition.folds import member_splits, planned_folds, training_folds
from kaggle_digits.machine import describe_machine, git_commit
from kaggle_digits.planning.planner import WORKER_START_SECONDS
from kaggle_digits.planning.schedule import FoldSchedule
from kaggle_digits.training.precision import POLICIES
from kaggle_digits.training.precision import use as use_precision
from kaggle_digits.runs.runload import read_summary
from kaggle_digits.scoring.summary import RunPlan, RunSummary, log_summary, summarise
from kaggle_digits.training.tasks import fold_task, start_line
from kaggle_digits.training.train import PSEUDO_SUFFIX, FoldResult, FoldTask, epochs_trained, load_fold, stranger

log = logging.getLogger(__name__)
MB = 1024 * 1024


@dataclass
class RunResult:
    run_dir: Path
    submission_path: Path | None  # None when --only-folds left folds untrained (no ensemble yet)
    summary: RunSummary | None  # None with the submission: no ensemble yet
    copies: list[Path] = field(default_factory=list)
    report_path: Path | None = None  # run_dir/report.html, unless --no-report
    missing_folds: list[str] = field(default_factory=list)  # the folds that kept the ensemble from being made
    stopped_at_deadline: list[str] = field(default_factory=list)  # those of them the deadline left out


@dataclass
class FoldsDone:
    """What ``on_fold_done`` gets after each fold trained: every result of the run so far (None: not done yet)."""
    results: dict[str, list[FoldResult | None]]
    data: Competition
    run_dir: Path
    precision: str
    # member -> the folds this run means to train (a holdout's fold 0, --only-folds'): the rest are not missing
    assigned: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class _Hooks:
    """make_submission's extras for one run (see its docstring); ``cut`` collects the folds the deadline left out."""
    deadline: Deadline | None = None
    on_fold_done: Callable[[FoldsDone], None] | None = None
    reuse_ignore: tuple[str, ...] = ()
    partial_ensemble: bool = False
    cut: list[str] = field(default_factory=list)
    # the run clock's reading by which a --minutes run's training should be over: folds not yet started are
    # re-planned to it (planning/schedule.py); None without a budget
    training_end: float | None = None
    spent_before: float = 0.0  # the budget's seconds earlier invocations of this run spent (a resume continues it)


@dataclass(frozen=True)
class _RunContext:
    """One run as it trains: its settings as planned (a new config, never changed after), the data, the run folder,
    the rows it trains on and their folds, the resolved precision, and make_submission's extras."""
    cfg: RunConfig
    data: Competition
    run_dir: Path
    rows: np.ndarray
    fold_of: np.ndarray
    x: np.ndarray             # the training images of ``rows``
    y: np.ndarray
    precision: str
    load_seconds: float
    hooks: _Hooks
    # each member's own split of ``rows`` (--seeds; folds.member_splits): the first is ``fold_of``
    splits: tuple[np.ndarray, ...]

    def split(self, task: FoldTask) -> np.ndarray:
        """The fold id per row of ``task``'s member."""
        return self.splits[task.member_index]


def make_submission(cfg: RunConfig, deadline: Deadline | None = None, *,
                    on_fold_done: Callable[[FoldsDone], None] | None = None, reuse_ignore: tuple[str, ...] = (),
                    partial_ensemble: bool = False) -> RunResult:
    """One run: train what the run folder lacks, then the ensemble, the submission and the report.

    ``deadline`` (clock.Deadline, made once by the caller): a --minutes budget is capped by the time left before
    it, a fold that cannot finish before it is not started, one still running when it comes is stopped unsaved,
    and the run ends with the folds it finished. ``on_fold_done`` is called after every fold trained (a Kaggle
    kernel rewrites its outputs there). ``reuse_ignore``: fingerprint keys not compared when reusing a fold folder
    (folds copied in from an earlier kernel, whose code version may differ). ``partial_ensemble``: with
    --ensemble-only, the ensemble of the folds present (kernels stopped at their deadline) instead of an error.
    """
    deadline = deadline if deadline is not None else Deadline.none()  # the run's one clock, limit or none
    hooks = _Hooks(deadline, on_fold_done, tuple(reuse_ignore), partial_ensemble)
    cfg.validate()
    loading = time.perf_counter()
    _refuse_existing_out(cfg)
    data = load_competition(cfg.data)
    load_seconds = time.perf_counter() - loading
    log.info(f"data: {data.source} -- train {len(data.x_train):,} rows, test {data.n_test:,} rows "
             f"(loaded in {load_seconds:.2f} s)")
    if data.is_sample:
        log.info("NOTE: no competition data found (looked for --data, ./data, ./digit-recognizer.zip); running on "
                 "the bundled 4,000-row sample. The result is a demo, NOT a valid Kaggle submission. Get the real data "
                 "with `kaggle competitions download -c digit-recognizer -p data/`.")

    precision = use_precision(cfg.precision)
    n_rows = min(cfg.max_train_rows or len(data.y_train), len(data.y_train))
    # what the data allows (--max-train-rows 5, 5 folds of a 20-row subset) is refused now, not after the probe
    training_folds(data.y_train, cfg.folds, cfg.seed, cfg.max_train_rows)
    # planned once (one call: budget, plan, when the folds should be done); the run reads this config and
    # nothing changes it
    budgeted = budget.plan_run(cfg, data, n_rows, precision.name, deadline)
    planned, hooks.training_end = budgeted.config, budgeted.training_end
    rows, fold_of = training_folds(data.y_train, planned.folds, planned.seed, planned.max_train_rows)
    splits = tuple(member_splits(data.y_train[rows], planned.folds, planned.seed, planned.seeds))
    run_dir = rundir.open_run(planned, data)
    log.info(f"run folder: {run_dir}")
    with runlock.lock(run_dir):  # a second process on this folder is refused, naming this one
        return _run(_RunContext(planned, data, run_dir, rows, fold_of, data.x_train[rows], data.y_train[rows],
                                precision.name, load_seconds, hooks, splits))


def _run(ctx: _RunContext) -> RunResult:
    """Train what the run folder lacks, then the ensemble, the submission and the report."""
    cfg, data, run_dir, rows, fold_of, y = ctx.cfg, ctx.data, ctx.run_dir, ctx.rows, ctx.fold_of, ctx.y
    precision, load_seconds, hooks = ctx.precision, ctx.load_seconds, ctx.hooks
    _check_free_space(run_dir, cfg, data)
    rundir.record_inputs(run_dir, cfg, data, rows, fold_of)
    if hooks.training_end is not None and (spent := rundir.read_budget_spent(run_dir)) > 0:
        hooks.spent_before, hooks.training_end = spent, hooks.training_end - spent
        log.info(f"resuming a budgeted run: earlier invocations spent {spent:.0f} s of its budget; the folds left "
                 f"share what remains")

    rows_sha = hashlib.sha256(rows.tobytes()).hexdigest()
    split_shas = [hashlib.sha256(split.tobytes()).hexdigest() for split in ctx.splits]
    # --holdout: fold 0 alone, as it would train in the k-fold run (which reuses it)
    tasks = {}
    for name, member, fold in planned_folds(cfg.models, cfg.folds, cfg.seeds, cfg.holdout):
        task = fold_task(cfg, data, name, fold, rows_sha, precision, int(np.sum(fold_of != fold)), member,
                         split_shas[member])
        tasks[(task.member, fold)] = task
    results = _train_folds(ctx, tasks)
    if cfg.pseudo_label is not None and not any(r is None for folds in results.values() for r in folds):
        rows_by_fold = pseudo.pseudo_rows(results, cfg.folds, cfg.pseudo_label)
        log.info(pseudo.describe(rows_by_fold, cfg.pseudo_label, data.n_test))
        round2 = {key: pseudo.second_round(task, *rows_by_fold[task.fold], cfg.pseudo_label)
                  for key, task in tasks.items()}
        results |= _train_folds(ctx, round2, pseudo_rows=rows_by_fold, prior=results)
    missing = [rundir.fold_name(t.member, t.fold) for t in tasks.values() if results[t.member][t.fold] is None]
    if missing and hooks.cut:
        log.info(f"stopped at the deadline: {', '.join(hooks.cut)} not trained; the folds finished are in {run_dir}")
    elif missing and not (hooks.partial_ensemble and cfg.ensemble_only):  # --only-folds: the ensemble waits
        log.info(f"not trained yet: {', '.join(missing)}; no ensemble or submission until they are in {run_dir} "
                 f"(train them with --only-folds and the same --run-dir, or gather them from Kaggle kernels)")
    if missing and not (hooks.partial_ensemble and cfg.ensemble_only):
        return RunResult(run_dir, None, None, missing_folds=missing, stopped_at_deadline=list(hooks.cut))

    earlier_partial = (run_dir / rundir.ENSEMBLE).is_file() and read_summary(run_dir).partial
    if cfg.holdout:  # the folds the run never meant to train are not missing ones: the ensemble is fold 0's
        results = {member: folds[:1] for member, folds in results.items()}
    splits = {t.member: ctx.split(t) for t in tasks.values()}
    splits |= {f"{member}{PSEUDO_SUFFIX}": split for member, split in splits.items()}  # a second round's, its first's
    scored = summarise(results, y, fold_of, cfg.blend, splits)  # with some folds missing: those present (gather)
    summary = dataclasses.replace(
        scored.summary, holdout=cfg.holdout, plan=_plan(cfg), precision=precision,
        trained_folds=sum(not r.reused for folds in results.values() for r in folds if r is not None),
        # wall from the run's clock: the command's start (imports included, as the --minutes budget counts)
        load_seconds=load_seconds, wall_seconds=hooks.deadline.elapsed(),
        is_sample=data.is_sample, n_train=int(len(y)), n_test=int(data.n_test))
    rundir.record_ensemble(run_dir, summary.to_json(), scored.oof_probabilities, scored.test_probabilities)
    rundir.record_invocation(run_dir, rundir.Invocation(
        command=command_line(), commit=git_commit(), machine=describe_machine(all_devices())["full"],
        precision=precision, policy=POLICIES[precision], devices=describe_devices(),
        finished=dt.datetime.now().isoformat(), wall_seconds=summary.wall_seconds, trained_folds=summary.trained_folds))

    frame = submission.make_frame(scored.test_probabilities)
    validation = {"n_rows": data.n_test, "sample_ids": data.sample_ids}
    run_submission = run_dir / rundir.SUBMISSION
    if run_submission.exists() and run_submission.read_text() == frame.to_csv(index=False, lineterminator="\n"):
        pass  # rerun of a finished run: same result, nothing to write
    else:
        # a partial ensemble's file (gathered kernels stopped at their deadline) is replaced by a later gather
        submission.write(frame, run_submission, overwrite=earlier_partial or summary.partial, **validation)
    copies = []
    if data.is_sample or cfg.max_train_rows:  # the file `submit` uploads is only ever a full-data run's
        log.info(f"not copied to {Path(cfg.submissions_dir) / rundir.SUBMISSION}: this run trained on "
                 f"{'the bundled sample' if data.is_sample else f'{len(y):,} of {len(data.y_train):,} rows'}")
    else:
        copies.append(submission.write(frame, Path(cfg.submissions_dir) / rundir.SUBMISSION, overwrite=True,
                                       **validation))
        rundir.record_latest(cfg.submissions_dir, run_dir)  # `submit` shows this run's OOF for the copy
    if cfg.out:
        copies.append(submission.write(frame, cfg.out, overwrite=True, **validation))
    if cfg.report and cfg.holdout:
        log.info("no report for a --holdout run: its figures need every training row scored out of fold")
    report_path = (_write_report(cfg, run_dir, data) if cfg.report and not summary.partial and not cfg.holdout
                   else None)
    log_summary(summary)
    log.info(f"submission: {run_submission} ({data.n_test:,} rows)" + "".join(f"\n  copied to {c}" for c in copies))
    if report_path is not None:
        log.info(f"report: {report_path}")
    if data.is_sample:
        log.info("NOTE: made from the bundled sample -- do not upload it to Kaggle.")
    return RunResult(run_dir, run_submission, summary, copies, report_path=report_path)


def _plan(cfg: RunConfig) -> RunPlan | None:
    """What --minutes planned (or --model-epochs asked for), as ensemble.json records it; None: neither."""
    if not cfg.model_epochs:
        return None
    return RunPlan(folds=cfg.folds, seeds=cfg.seeds, epochs=dict(cfg.model_epochs), holdout=cfg.holdout,
                   augment=cfg.augment.enabled, fold_seconds=dict(cfg.model_seconds or {}))


def command_line(argv: list[str] | None = None) -> str:
    """The command that is running, as a user would type it (``python -m kaggle_digits`` for ``__main__.py``)."""
    argv = sys.argv if argv is None else argv
    program = Path(argv[0]).name if argv else "python"
    program = "python -m kaggle_digits" if program == "__main__.py" else program
    return " ".join([program, *map(shlex.quote, argv[1:])])


def _write_report(cfg: RunConfig, run_dir: Path, data: Competition) -> Path | None:
    """report.html and its figures; a failure is a warning, since the submission is written already."""
    from kaggle_digits.report import write_report  # imported here: matplotlib loads only when wanted

    try:
        return write_report(run_dir, data=data)
    except Exception as exc:  # noqa: BLE001 -- any figure failure; --debug shows the traceback
        if cfg.debug:
            raise
        log.warning(f"the report could not be written ({type(exc).__name__}: {exc}); the submission is "
                    f"fine. Retry with `kaggle-digits report {run_dir} --debug`")
        return None


def _refuse_existing_out(cfg: RunConfig) -> None:
    """An --out that would be refused is refused now, before any data is read or any model trained."""
    if cfg.out and Path(cfg.out).exists() and not cfg.force:
        raise OutputError(f"--out {cfg.out} exists already; choose another path or add --force to replace it")
    if cfg.out and not Path(cfg.out).resolve().parent.is_dir():
        raise OutputError(f"--out {cfg.out}: the folder {Path(cfg.out).resolve().parent} does not exist")


def _train_folds(ctx: _RunContext, tasks: dict, pseudo_rows: dict | None = None,
                 prior: dict | None = None) -> dict[str, list[FoldResult | None]]:
    """Every (member, fold) result: reused from the run folder, or trained -- several at once with --workers.

    ``pseudo_rows``: fold -> (test row ids, their pseudo-labels) added to that fold's training rows (pseudo.py).
    ``ctx.hooks``: the run's deadline (a fold starts only if the run's FoldSchedule admits it; one running when it comes is
    stopped: cutoff.py) and ``on_fold_done``, given ``prior`` (an earlier round's results) and these."""
    cfg, data, run_dir, x, y, fold_of, hooks = ctx.cfg, ctx.data, ctx.run_dir, ctx.x, ctx.y, ctx.fold_of, ctx.hooks
    results: dict[str, list[FoldResult | None]] = {t.member: [None] * cfg.folds for t in tasks.values()}
    assigned: dict[str, list[int]] = {}
    for t in tasks.values():
        if cfg.only_folds is None or t.fold in cfg.only_folds:
            assigned.setdefault(t.member, []).append(t.fold)
    to_train = []
    for (name, fold), task in tasks.items():
        name = task.member
        result = _reuse(cfg, task, run_dir, hooks)
        if result is not None:
            log.info(f"[{name}] fold {fold + 1}/{cfg.folds}: val accuracy {result.metrics['val_accuracy']:.4f} "
                     f"(reused from an earlier run)")
            results[name][fold] = result
        elif not cfg.ensemble_only and (cfg.only_folds is None or fold in cfg.only_folds):
            to_train.append(task)
    if hooks.on_fold_done is not None and len(to_train) < len(tasks):  # folds reused (a resumed kernel's) count too
        hooks.on_fold_done(FoldsDone({**(prior or {}), **results}, data, run_dir, next(iter(tasks.values())).precision,
                                     assigned))
    n_workers = workers.resolve_workers(cfg.workers, len(to_train), len(y) * (cfg.folds - 1) // cfg.folds,
                                        bool(gpu_devices()))
    extra = {t.member: len(pseudo_rows[t.fold][0]) for t in to_train if pseudo_rows}
    plans = foldtime.fold_plans(to_train, fold_of, data.n_test, n_workers, extra, cfg.workers)
    # the folds in time, from one pace: admitted against the deadline, re-planned to the budget's end (a second
    # round trains every fold again: its first round's seconds stand), the ETA
    schedule = FoldSchedule(plans, hooks.deadline, end=None if pseudo_rows else hooks.training_end, workers=n_workers,
                            worker_start=WORKER_START_SECONDS)
    # longest first: with several workers the last folds to finish are short ones, so none waits long
    to_train.sort(key=lambda t: -plans[rundir.fold_name(t.member, t.fold)].seconds)
    labels = [rundir.fold_name(t.member, t.fold) for t in to_train]
    if n_workers > 1:
        log.info(f"training {len(to_train)} folds, {n_workers} at a time (one process each, "
                 f"{workers.threads_per_worker(n_workers)} thread(s); --workers 1 trains one at a time)")
    jobs = []
    for task in to_train:
        held = ctx.split(task) == task.fold
        x_fit, y_fit = x[~held], y[~held]
        if pseudo_rows:  # a second round: the test images this fold's own first-round models labelled confidently
            test_rows, pseudo_labels = pseudo_rows[task.fold]
            x_fit, y_fit = np.concatenate([x_fit, data.x_test[test_rows]]), np.concatenate([y_fit, pseudo_labels])
        jobs.append((FoldJob(hooks.deadline, task, x_fit, y_fit, x[held], y[held], data.x_test,
                             rundir.fold_dir(run_dir, task.member, task.fold), cfg.verbose if n_workers == 1 else 0),))

    def admit(i: int) -> bool:  # asked just before fold i would start
        task, admission = to_train[i], schedule.admit(labels[i])
        if not admission.admitted:
            log.info(f"[{task.member}] fold {task.fold + 1}/{cfg.folds}: not started: {admission.refusal}")
            hooks.cut.append(labels[i])
            return False
        if admission.seconds is not None:  # the seconds the budget has left for it, from the folds done so far
            task = to_train[i] = dataclasses.replace(task, given_seconds=round(admission.seconds, 1))
            jobs[i] = (dataclasses.replace(jobs[i][0], task=task),)
        if n_workers == 1:
            log.info(start_line(cfg, task, int(np.sum(fold_of != task.fold))))
        return True

    for i, result in workers.run_all(cutoff.train_until, jobs, n_workers, admit=admit):
        task = to_train[i]
        if result is None:  # cutoff.py: the deadline came while it trained
            log.info(f"[{task.member}] fold {task.fold + 1}/{cfg.folds}: stopped at the deadline, not saved")
            hooks.cut.append(labels[i])
            schedule.cut(labels[i])
            continue
        m = result.metrics
        line = schedule.finished(labels[i], m["fit_seconds"] - m.get("tracing_seconds", 0.0))
        foldtime.record_speed(task, result, n_workers, schedule.shared(labels[i]),
                              {to_train[labels.index(other)].model for other in schedule.beside(labels[i])})
        log.info(f"[{task.member}] fold {task.fold + 1}/{cfg.folds}: val accuracy {m['val_accuracy']:.4f}, "
                 f"{round(epochs_trained(m), 1):g} epochs at {m['seconds_per_epoch'] or 0:.1f} s/epoch, {m['fit_seconds']:.0f} s fit; "
                 f"{line}")
        results[task.member][task.fold] = result
        if hooks.training_end is not None:
            rundir.record_budget_spent(run_dir, hooks.spent_before + hooks.deadline.elapsed())
        if hooks.on_fold_done is not None:
            hooks.on_fold_done(FoldsDone({**(prior or {}), **results}, data, run_dir, task.precision, assigned))
    return results


def _reuse(cfg: RunConfig, task: FoldTask, run_dir: Path, hooks: _Hooks) -> FoldResult | None:
    """The finished result of ``task`` in the run folder, or None; --ensemble-only refuses a missing one (unless
    the run makes a partial ensemble). A finished fold that is not ``task``'s -- another split, other code -- is
    never reused, and the log says why in one line."""
    fold_dir = rundir.fold_dir(run_dir, task.member, task.fold)
    result = load_fold(fold_dir, task)
    # folds trained elsewhere (Kaggle kernels) may have trained on another backend; their code must be this code
    ignore = tuple(dict.fromkeys((("backend",) if cfg.ensemble_only else ()) + tuple(hooks.reuse_ignore)))
    if result is None and ignore:
        result = load_fold(fold_dir, task, ignore=ignore)
    why = None if result is not None else stranger(fold_dir, task, ignore)
    if why is not None:
        log.info(f"[{task.member}] fold {task.fold + 1}/{cfg.folds}: not reused: {why}")
    if result is None and cfg.ensemble_only and not hooks.partial_ensemble:
        raise DataError(f"{fold_dir}: no finished fold result for this configuration (--ensemble-only trains "
                        f"nothing; the fold must come from a run with the same data, models, folds, seed, split, "
                        f"recipe and code{f'; this one: {why}' if why else ''})")
    return result


def _check_free_space(run_dir: Path, cfg: RunConfig, data: Competition) -> None:
    # per fold: test + OOF probabilities (float32) and a model file of a few MB
    need = len(cfg.models) * cfg.seeds * cfg.folds * (data.n_test * 40 + 30 * MB) + 10 * MB
    free = shutil.disk_usage(run_dir).free
    if free < need:
        raise OutputError(f"only {free / MB:.0f} MB free under {run_dir}; this run needs about {need / MB:.0f} MB "
                          f"(free some space or pass --run-dir on another disk)")
