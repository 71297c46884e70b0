"""What a kernel keeps in its working folder while it runs, and what a resumed kernel takes from an earlier one.

Kaggle keeps the files in /kaggle/working as a session's output even when the session ends at its limit, so
a kernel keeps that folder valid at every moment (``KernelOutputs``): kernel_manifest.json at the start
(partial, nothing trained yet), then after each finished fold submission.csv, test_probabilities.npy and the
manifest rewritten from the folds done so far -- each file atomically (atomic.py), the manifest last, so a kill
at any moment leaves a complete earlier set. Those test probabilities are the mean over each model's finished
folds, then across models: the equal blend. A run that finishes every fold replaces them with its own ensemble
at the end (``finish``), as before.

A kernel pushed by ``push --resume-kernels`` has the earlier kernel's output attached (``kernel_sources``), which
Kaggle mounts somewhere under /kaggle/input (the path varies by image); ``$KAGGLE_DIGITS_SOURCES`` (folders,
os.pathsep-separated) names such outputs elsewhere. ``adopt_folds`` copies the finished fold folders this kernel
is to train from their run/ folders into its own run folder, where the run reuses them (pipeline's
``reuse_ignore``: the earlier kernel's code version may differ) and trains only the others.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from kaggle_digits import atomic
from kaggle_digits.competition import submission
from kaggle_digits.runs import rundir
from kaggle_digits.scoring import ensemble

log = logging.getLogger(__name__)
SOURCES_ENV = "KAGGLE_DIGITS_SOURCES"
KAGGLE_INPUT_ROOT = "/kaggle/input"
SOURCE_PATTERNS = ("*", "*/*", "*/*/*")  # where Kaggle mounts an attached notebook's output varies by image


def assigned_folds(settings: dict) -> dict[str, list[int]]:
    """model -> the folds a kernel with ``settings`` trains (``only_folds``, else all)."""
    folds = list(settings.get("only_folds") or range(settings["folds"]))
    return {model: folds for model in settings["models"]}


class KernelOutputs:
    """The kernel's outputs in ``working``, kept valid while it runs. ``base``: the manifest's fixed part."""

    def __init__(self, working: Path, base: dict, assigned: dict[str, list[int]], started: float):
        self.working, self.base, self.assigned, self.started = Path(working), dict(base), assigned, started
        self.folds: dict[str, list[int]] = {}
        self.speeds: dict[str, float | None] = {}
        self.precision: str | None = None
        self.submission = False

    def write_manifest(self, **extra) -> None:
        missing = [rundir.fold_name(m, k) for m, folds in self.assigned.items() for k in folds
                   if k not in self.folds.get(m, [])]
        atomic.write_json(self.working / rundir.KERNEL_MANIFEST, {
            **self.base, "partial": bool(missing), "folds": self.folds, "missing_folds": missing,
            "images_per_second": self.speeds, "precision": self.precision, "submission": self.submission,
            "wall_seconds": time.monotonic() - self.started,
            "updated": dt.datetime.now().isoformat(timespec="seconds"), **extra})

    def fold_done(self, done) -> None:
        """pipeline's on_fold_done: rewrite the outputs from every fold finished so far (``done``: FoldsDone)."""
        # a plan may choose other models, members and folds than the settings name (a holdout: fold 0 alone): what
        # the run means to train is assigned
        only = (self.base.get("settings") or {}).get("only_folds")
        self.assigned = done.assigned or {m: [k for k in range(len(rs)) if not only or k in only]
                                          for m, rs in done.results.items()}
        finished = {m: [r for r in folds if r is not None] for m, folds in done.results.items()}
        finished = {m: rs for m, rs in finished.items() if rs}
        if not finished:
            return
        test = ensemble.average([ensemble.average([r.test for r in rs]) for rs in finished.values()])
        atomic.save_npy(self.working / rundir.TEST_PROBABILITIES, test)
        submission.write(submission.make_frame(test), self.working / rundir.SUBMISSION, overwrite=True,
                         n_rows=done.data.n_test, sample_ids=done.data.sample_ids)
        self.folds = {m: [r.fold for r in rs] for m, rs in finished.items()}
        self.speeds = {m: _mean([r.metrics.get("images_per_second") for r in rs]) for m, rs in finished.items()}
        self.precision, self.submission = done.precision, True
        self.write_manifest(n_test=int(done.data.n_test))
        log.info(f"outputs updated: {rundir.SUBMISSION} from {sum(map(len, self.folds.values()))} fold(s) "
                 f"({'; '.join(f'{m} folds {_ones(k)}' for m, k in self.folds.items())})")

    def finish(self, result, stopped: list[str], deadline) -> None:
        """The run's end: a complete run's own ensemble replaces the equal blend of the folds written so far."""
        extra = {"finished": dt.datetime.now().isoformat(timespec="seconds"), "stopped_at_deadline": stopped,
                 "deadline": deadline.describe() if deadline is not None else None}
        if result.submission_path is not None:
            # the kernel's own output, whatever the run trained on (the pipeline copies only full-data runs)
            for name in (rundir.SUBMISSION, rundir.TEST_PROBABILITIES):
                atomic.write_bytes(self.working / name, (result.run_dir / name).read_bytes())
            self.submission, self.precision = True, result.summary.precision
            extra.update(ensemble=result.summary.ensemble.to_json(), n_test=result.summary.n_test)
        if stopped:
            log.info(f"stopped at the deadline; the outputs hold {_describe(self.folds) or 'no fold'}")
        self.write_manifest(**extra)


def source_runs(env: dict | None = None) -> list[Path]:
    """The run/ folders of earlier kernels' outputs attached to this one: ``$KAGGLE_DIGITS_SOURCES``, else any
    under /kaggle/input."""
    env = os.environ if env is None else env
    if env.get(SOURCES_ENV):
        roots = [Path(p) for p in env[SOURCES_ENV].split(os.pathsep) if p]
    else:
        roots = [p for pattern in SOURCE_PATTERNS for p in sorted(Path(KAGGLE_INPUT_ROOT).glob(pattern))]
    return [root / rundir.KERNEL_RUN for root in roots if (root / rundir.KERNEL_RUN).is_dir()]


def adopt_folds(run_dir: Path, assigned: dict[str, list[int]], sources: list[Path]) -> list[str]:
    """Copy the finished folds of ``assigned`` that ``run_dir`` lacks from ``sources``; returns their names."""
    wanted = {rundir.fold_name(m, k) for m, folds in assigned.items() for k in folds}
    copied = []
    for source in sources:
        for fold_dir in rundir.finished_fold_dirs(source):
            name = fold_dir.relative_to(source).as_posix()
            target = Path(run_dir) / name
            if name in wanted and not (target / rundir.DONE).is_file():
                if target.exists():
                    shutil.rmtree(target)
                shutil.copytree(fold_dir, target)
                copied.append(name)
        if copied:
            log.info(f"resuming: {', '.join(copied)} copied from {source} (an earlier kernel's output); each is "
                     f"reused if it was trained with these settings, the other folds are trained")
    return copied


def _mean(values) -> float | None:
    values = [v for v in values if v]
    return float(np.mean(values)) if values else None


def _ones(folds: list[int]) -> str:
    return ", ".join(str(k + 1) for k in folds)


def _describe(folds: dict[str, list[int]]) -> str:
    return "; ".join(f"{m} folds {_ones(k)}" for m, k in folds.items() if k)
