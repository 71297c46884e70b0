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

This module owns kernel_manifest.json's shape (its name is rundir.KERNEL_MANIFEST): ``KernelManifest`` with its
``to_json`` and ``from_json`` is the only code that knows the keys; every reader (push, wait, gather, resume, the
speed record, provenance, the ledger) takes the typed record from ``read_manifest`` (``manifest_or_none`` where
there may be none).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kaggle_digits import atomic
from kaggle_digits.competition import submission
from kaggle_digits.competition.folds import member_name, planned_folds
from kaggle_digits.errors import DataError
from kaggle_digits.runs import rundir
from kaggle_digits.scoring import ensemble

log = logging.getLogger(__name__)
SOURCES_ENV = "KAGGLE_DIGITS_SOURCES"
KAGGLE_INPUT_ROOT = "/kaggle/input"
SOURCE_PATTERNS = ("*", "*/*", "*/*/*")  # where Kaggle mounts an attached notebook's output varies by image


def assigned_folds(settings: dict) -> dict[str, list[int]]:
    """member -> the folds a run with ``settings`` means to train: every member of every model (--seeds), fold 0
    alone for a holdout, the --only-folds of those (pipeline's tasks and ``FoldsDone.assigned``, from settings as
    fanout.json and config.toml hold them: what a kernel is pushed with, what gather and a resumed kernel read)."""
    only = settings.get("only_folds")
    assigned: dict[str, list[int]] = {}
    for model, member, fold in planned_folds(settings["models"], settings["folds"], settings.get("seeds") or 1,
                                             bool(settings.get("holdout"))):
        folds = assigned.setdefault(member_name(model, member), [])  # every member, with or without folds
        if not only or fold in only:
            folds.append(fold)
    return assigned


# --------------------------------------------------------------------------- kernel_manifest.json
@dataclass(frozen=True)
class KernelManifest:
    """kernel_manifest.json: who pushed the kernel, what ran it, the folds done so far and, once it ended, how.

    Written at the kernel's start (partial, nothing trained), after every fold, and at its end (KernelOutputs).
    Every key any release wrote has a field; the first kernels' manifests (before partial outputs) lack the
    progress keys and read with the defaults below. Keys this release does not know (a newer kernel's, or
    KERNEL_INFO values added later) are kept in ``extra`` and written back."""
    # KERNEL_INFO, as the push put it into the script (fanout.prepare, resume, bundle, the script itself); None:
    # a kernel run without one (locally), or made before the key existed
    kernel: str | None = None
    fanout_id: str | None = None  # which push: a fetched manifest of an earlier version's is not this push's
    created: str | None = None
    git_commit: str | None = None
    gpu: bool | None = None
    accelerator: str | None = None
    part: int | None = None
    parts: int | None = None
    resume_from: str | None = None  # push --resume-kernels: the kernel whose finished folds this one takes over
    timeout_seconds: int | None = None  # the push's -t
    package_sha256: str | None = None
    untested_versions: list[str] | None = None  # kaggle/image.py: packages of versions the kit was not tested with
    # what ran it (bundle.kernel_main)
    kit_version: str | None = None
    settings: dict = field(default_factory=dict)  # the settings it was pushed with (before any plan)
    backend: str | None = None
    backend_reason: str | None = None
    keras_version: str | None = None
    python: str | None = None
    devices: str | None = None
    input: str | None = None
    deadline_seconds: float | None = None  # training stops this long after the script's first line
    # the folds done so far, of those the run means to train
    partial: bool = False  # the first kernels wrote no partial outputs: a manifest was written at the end only
    folds: dict[str, list[int]] = field(default_factory=dict)  # member -> its finished folds (0-based)
    missing_folds: list[str] = field(default_factory=list)  # model/foldK names
    images_per_second: dict[str, float | None] = field(default_factory=dict)  # per member, its folds' mean
    precision: str | None = None
    submission: bool = False  # submission.csv is in the outputs
    wall_seconds: float | None = None
    updated: str | None = None
    n_test: int | None = None
    # the run's end (KernelOutputs.finish); None while it runs
    finished: str | None = None
    stopped_at_deadline: list[str] | None = None  # the folds the deadline left out
    deadline: str | None = None  # clock.Deadline.describe()
    ensemble: dict | None = None  # the run's own ensemble, as ensemble.json's (summary.EnsembleScore.to_json())
    extra: dict = field(default_factory=dict)  # keys this release does not know, kept as they were

    @property
    def oof_accuracy(self) -> float | None:
        """The ensemble's OOF accuracy, once the run made one."""
        return (self.ensemble or {}).get("oof_accuracy")

    def to_json(self) -> dict:
        """The file's content: KERNEL_INFO's keys and the end's only when known (as kernels always wrote them),
        every other field under its own name, ``extra`` as it was read."""
        content = {**self.extra}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name != "extra" and not (value is None and f.name in _ONLY_WHEN_KNOWN):
                content[f.name] = value
        return content

    @classmethod
    def from_json(cls, content: dict) -> KernelManifest:
        """The manifest in ``content``, written by this release or an earlier one; ValueError when it is not one
        (not an object, or a known key of another type)."""
        if not isinstance(content, dict):
            raise ValueError(f"not a kernel manifest (a {type(content).__name__}, not an object)")
        known = {f.name: f for f in dataclasses.fields(cls) if f.name != "extra"}
        values = {}
        for name, value in content.items():
            if name not in known:
                continue
            if value is not None and not isinstance(value, _TYPES[name]):
                raise ValueError(f"not a kernel manifest: {name} is {value!r}")
            if value is None and known[name].default_factory is not dataclasses.MISSING:
                continue  # a collection written as null reads as empty, as its readers always took it
            values[name] = value
        return cls(**values, extra={k: v for k, v in content.items() if k not in known})


# written only when known: KERNEL_INFO's keys (a kernel run locally has none) and those of the run's end
_ONLY_WHEN_KNOWN = {"kernel", "fanout_id", "created", "git_commit", "gpu", "accelerator", "part", "parts",
                    "resume_from", "timeout_seconds", "package_sha256", "untested_versions", "n_test", "finished",
                    "stopped_at_deadline", "deadline", "ensemble"}
_NUMBER = (int, float)
_TYPES = {"kernel": str, "fanout_id": str, "created": str, "git_commit": str, "gpu": bool, "accelerator": str,
          "part": int, "parts": int, "resume_from": str, "timeout_seconds": _NUMBER, "package_sha256": str,
          "untested_versions": list, "kit_version": str, "settings": dict, "backend": str, "backend_reason": str,
          "keras_version": str, "python": str, "devices": str, "input": str, "deadline_seconds": _NUMBER,
          "partial": bool, "folds": dict, "missing_folds": list, "images_per_second": dict, "precision": str,
          "submission": bool, "wall_seconds": _NUMBER, "updated": str, "n_test": int, "finished": str,
          "stopped_at_deadline": list, "deadline": str, "ensemble": dict}


def read_manifest(output_dir: Path) -> KernelManifest:
    """The kernel_manifest.json in a kernel's outputs; DataError when it is missing or not a manifest."""
    path = Path(output_dir) / rundir.KERNEL_MANIFEST
    try:
        return KernelManifest.from_json(atomic.read_json(path))
    except FileNotFoundError:
        raise DataError(f"{output_dir}: no {rundir.KERNEL_MANIFEST}; the kernel did not finish (see its .log "
                        f"there)") from None
    except ValueError as exc:
        raise DataError(f"{path}: not a kernel manifest ({exc})") from None


def manifest_or_none(output_dir: Path) -> KernelManifest | None:
    """read_manifest, or None where there is none to read (not fetched, or unreadable)."""
    try:
        return read_manifest(output_dir)
    except (DataError, OSError):
        return None


# --------------------------------------------------------------------------- the outputs while the kernel runs
class KernelOutputs:
    """The kernel's outputs in ``working``, kept valid while it runs. ``base``: the manifest's fixed part."""

    def __init__(self, working: Path, base: KernelManifest, assigned: dict[str, list[int]], started: float):
        self.working, self.base, self.assigned, self.started = Path(working), base, assigned, started
        self.folds: dict[str, list[int]] = {}
        self.speeds: dict[str, float | None] = {}
        self.precision: str | None = None
        self.submission = False

    def write_manifest(self, **end) -> None:
        """The manifest from the folds done so far; ``end``: further fields (n_test, and those of the run's end)."""
        missing = [rundir.fold_name(m, k) for m, folds in self.assigned.items() for k in folds
                   if k not in self.folds.get(m, [])]
        manifest = dataclasses.replace(
            self.base, partial=bool(missing), folds=self.folds, missing_folds=missing, images_per_second=self.speeds,
            precision=self.precision, submission=self.submission, wall_seconds=time.monotonic() - self.started,
            updated=dt.datetime.now().isoformat(timespec="seconds"), **end)
        atomic.write_json(self.working / rundir.KERNEL_MANIFEST, manifest.to_json())

    def fold_done(self, done) -> None:
        """pipeline's on_fold_done: rewrite the outputs from every fold finished so far (``done``: FoldsDone)."""
        # a plan may choose other models, members and folds than the settings name (a holdout: fold 0 alone): what
        # the run means to train is assigned
        only = self.base.settings.get("only_folds")
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
