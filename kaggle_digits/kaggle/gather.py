"""Gather: the folds that Kaggle kernels trained, merged into one local run and ensembled as any run is.

``gather`` copies every kernel's fetched fold folders (kaggle/fanout.py pushed and fetched them) into
``FANOUT_DIR/run`` and runs the ordinary ensemble step on them (``ensemble_only``: nothing is trained, and the
fold fingerprints must match except for the code version and the Keras backend). Folds a kernel did not finish
(stopped at its deadline) are named; the ensemble is then made of the folds present. A kernel pushed with
--minutes planned inside (its own models, folds and epochs): ``planned_settings`` reads that plan back from its
run folder, for gather and for a resumed kernel (kaggle/resume.py).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np

from kaggle_digits.runs import rundir
from kaggle_digits.config import kernel_settings
from kaggle_digits.errors import DataError
from kaggle_digits.kaggle.fanout import KernelJob, load_fanout
from kaggle_digits.kaggle.outputs import assigned_folds, manifest_or_none

log = logging.getLogger(__name__)

def planned_settings(fanout_dir: Path, record: dict, job: KernelJob) -> dict:
    """The settings ``job`` trains with: the push's, with what its kernel's plan chose (budget.PLANNED: read from the
    config.toml of its fetched run folder; its earlier outputs' when it was resumed). A kernel plans with --minutes,
    and on a GPU without --full/--epochs (its default budget); before the kernel planned, the push's settings."""
    from kaggle_digits.config import load_toml
    from kaggle_digits.planning.budget import PLANNED

    settings = {**record["settings"], "models": list(job.models), "only_folds": job.only_folds}
    for output in (job.output, *job.earlier_outputs):
        config = Path(fanout_dir) / output / rundir.KERNEL_RUN / rundir.CONFIG
        if config.is_file():
            planned = json.loads(json.dumps(kernel_settings(load_toml(config)), default=list))  # as fanout.json
            return {**settings, **{k: planned.get(k) for k in PLANNED}}
    return settings


def merge_folds(fanout_dir: Path, run_dir: Path) -> list[str]:
    """Copy every kernel's finished fold folders into ``run_dir``; return the ``model/foldK`` names copied. A resumed
    kernel's own outputs come first, then those of the kernels it resumed (folds it did not take over)."""
    _, jobs = load_fanout(fanout_dir)
    copied: dict[str, str] = {}
    for job, output in [(job, output) for job in jobs for output in (job.output, *job.earlier_outputs)]:
        source = Path(fanout_dir) / output / rundir.KERNEL_RUN
        if not source.is_dir() and (output != job.output or (source.parent / rundir.KERNEL_MANIFEST).is_file()):
            continue  # fetched, but it stopped before making its run folder: nothing of it to combine
        if not source.is_dir():
            raise DataError(f"{source.parent}: no {rundir.KERNEL_RUN}/ folder -- fetch the outputs of {job.id} "
                            f"first (`python scripts/gather_kernels.py {fanout_dir}`)")
        for fold_dir in rundir.finished_fold_dirs(source):
            name = fold_dir.relative_to(source).as_posix()
            if name in copied:
                log.info(f"note: {name} came from {copied[name]} already; the copy from {job.id} is not used")
                continue
            target = run_dir / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(fold_dir, target)
            copied[name] = job.id
    return sorted(copied)


def check_fold_assignment(fanout_dir: Path, cfg) -> None:
    """The kernels' train subset and fold ids must equal the ones computed here from the local data."""
    from kaggle_digits.competition.data import load_competition
    from kaggle_digits.competition.folds import training_folds

    data = load_competition(cfg.data)
    rows, fold_of = training_folds(data.y_train, cfg.folds, cfg.seed, cfg.max_train_rows)
    _, jobs = load_fanout(fanout_dir)
    for job in jobs:
        run = Path(fanout_dir) / job.output / rundir.KERNEL_RUN
        if not rundir.finished_fold_dirs(run):
            continue  # stopped before its first fold: nothing of it is combined
        try:
            theirs_rows, theirs_folds = rundir.read_folds(run)
        except (OSError, ValueError):
            raise DataError(f"{run}: {rundir.TRAIN_ROWS} / {rundir.FOLDS} missing or unreadable; fetch the outputs "
                            f"again") from None
        if not (np.array_equal(theirs_rows, rows) and np.array_equal(theirs_folds, fold_of)):
            raise DataError(f"{job.id}: its training rows or fold ids differ from the ones computed from "
                            f"{data.source} (different data, or a scikit-learn version that splits differently); "
                            f"its folds cannot be combined with this data")


def gather(fanout_dir: Path, *, data: str | None = None, submissions_dir: str | None = None,
           blend: str | None = None):
    """Merge fetched kernel outputs into ``fanout_dir``/run and run the ordinary ensemble step on them; folds a
    kernel did not finish (stopped at its deadline) are named, and the ensemble is made of the folds present."""
    from kaggle_digits.config import RunConfig
    from kaggle_digits.pipeline import make_submission

    record, jobs = load_fanout(fanout_dir)
    if never := [job for job in jobs if not job.pushed]:
        raise DataError(f"{fanout_dir}: {len(never)} of {len(jobs)} kernels were never pushed "
                        f"({', '.join(job.id for job in never)}); push them with `python scripts/push_kernel.py "
                        f"--resume {fanout_dir}`, then gather again (the outputs fetched so far are kept)")
    run_dir = Path(fanout_dir) / rundir.KERNEL_RUN
    planned = planned_settings(fanout_dir, record, jobs[0]) if len(jobs) == 1 else record["settings"]
    settings = {**kernel_settings(planned), "only_folds": None, "data": data, "run_dir": str(run_dir),
                "submissions_dir": submissions_dir or str(Path(fanout_dir).parent), "ensemble_only": True}
    if blend:
        settings["blend"] = blend
    cfg = RunConfig(**settings).validate()
    copied = merge_folds(fanout_dir, run_dir)
    # the folds the kernels' plan means to train: every member's, fold 0 alone for a holdout
    wanted = [rundir.fold_name(m, k) for m, folds in assigned_folds(settings).items() for k in folds]
    missing = [w for w in wanted if w not in copied]
    reasons = _why_missing(fanout_dir, record, jobs)
    if not copied:
        raise DataError(f"{fanout_dir}: no kernel finished a fold ({', '.join(sorted(set(reasons.values())))}); push "
                        f"them again with a longer --timeout-minutes or fewer folds per kernel")
    for name in missing:
        member, _, k = name.rpartition("/fold")
        log.info(f"[{member}] fold {int(k) + 1}/{cfg.folds}: missing ({reasons.get(name, 'no kernel trained it')})")
    check_fold_assignment(fanout_dir, cfg)
    log.info(f"gathered {len(copied)} fold results from {len(record['kernels'])} kernel(s) into {run_dir}"
             + (f"; {len(missing)} missing: a partial ensemble (`python scripts/push_kernel.py --resume-kernels "
                f"{fanout_dir}` trains them)" if missing else ""))
    return make_submission(cfg, partial_ensemble=True)


def _why_missing(fanout_dir: Path, record: dict, jobs: list[KernelJob]) -> dict[str, str]:
    """``model/foldK`` -> why the kernel that was to train it did not (from its fetched manifest)."""
    why = {}
    for job in jobs:
        manifest = manifest_or_none(Path(fanout_dir) / job.output)
        state = "stopped at its deadline" if manifest is not None and manifest.stopped_at_deadline else "did not finish"
        for member, folds in assigned_folds(planned_settings(fanout_dir, record, job)).items():
            for k in folds:
                why[rundir.fold_name(member, k)] = f"kernel {job.id} {state}"
    return why
