"""Which run made a submission file, and whether ``submit`` should upload it.

``find_run`` maps a file to its run folder (its own folder, a kernel output's run/, the run named by
submissions/submission.json, or a byte-identical run submission); ``describe`` reads that run's OOF
accuracy and whether it trained on all of train.csv; ``refusals`` lists why an upload would waste a day's
submission (a subset, the bundled sample, or an OOF accuracy below the best submitted before: the local
record submissions/submitted.json and the OOF accuracies in `kaggle competitions submissions` descriptions).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Iterator

from kaggle_digits import __version__, atomic
from kaggle_digits.runs import rundir
from kaggle_digits.config import DEFAULT_SUBMISSIONS
from kaggle_digits.kaggle import outputs
from kaggle_digits.machine import git_commit
from kaggle_digits.runs.runload import read_summary

_OOF_IN_MESSAGE = re.compile(r"OOF accuracy (\d+(?:\.\d+)?)%")


# --------------------------------------------------------------------------- which run made a file
def _run_of(csv: Path) -> Path | None:
    for candidate in (csv.parent, csv.parent / rundir.KERNEL_RUN):
        if (candidate / rundir.ENSEMBLE).is_file():
            return candidate
    return None


def _submission_files(submissions_dir: Path) -> Iterator[Path]:
    for depth in range(1, 5):
        yield from Path(submissions_dir).glob("/".join(["*"] * depth) + f"/{rundir.SUBMISSION}")


def find_run(file: str | os.PathLike, submissions_dir: str | os.PathLike = DEFAULT_SUBMISSIONS) -> Path | None:
    """The run folder that made ``file``: its own folder, a kernel output's run/, the run recorded for
    submissions/submission.csv (rundir.record_latest), else the newest run whose submission.csv is
    byte-identical (copies made before that record existed, --out copies)."""
    file = Path(file)
    run = _run_of(file)
    if run is None and (recorded := rundir.recorded_run(file)) is not None:
        run = _run_of(recorded / rundir.SUBMISSION)
    if run is not None:
        return run
    try:
        content = file.read_bytes()
    except OSError:
        return None
    matches = set()
    for other in _submission_files(Path(submissions_dir)):
        try:
            same = other.stat().st_size == len(content) and other.read_bytes() == content
        except OSError:
            continue
        if same and (run := _run_of(other)) is not None:
            matches.add(run)
    return max(matches, key=lambda r: (r / rundir.ENSEMBLE).stat().st_mtime) if matches else None


# --------------------------------------------------------------------------- what the run was
@dataclasses.dataclass
class RunFacts:
    run_dir: Path | None
    oof_accuracy: float | None = None
    is_sample: bool = False
    n_train_used: int | None = None
    n_train_total: int | None = None
    max_train_rows: int | None = None

    @property
    def subset(self) -> bool:
        return bool(self.max_train_rows) or (self.n_train_used is not None and self.n_train_total is not None
                                             and self.n_train_used < self.n_train_total)

    @property
    def name(self) -> str:
        if self.run_dir is None:
            return "an unknown run"
        return self.run_dir.parent.name if self.run_dir.name == rundir.KERNEL_RUN else self.run_dir.name

    def line(self) -> str:
        """``run <name>: OOF accuracy 99.1234%, 42,000 of 42,000 train.csv rows``."""
        if self.run_dir is None:
            return "made by no run folder found under the submissions folder: its OOF accuracy is unknown"
        oof = f"OOF accuracy {self.oof_accuracy:.4%}" if self.oof_accuracy is not None else "no OOF accuracy"
        rows = ("the bundled sample" if self.is_sample else f"{self.n_train_used:,} of {self.n_train_total:,} "
                f"train.csv rows" if self.n_train_used is not None and self.n_train_total else "rows not recorded")
        return f"run {self.run_dir}: {oof}, {rows}"


def describe(file: str | os.PathLike, submissions_dir: str | os.PathLike = DEFAULT_SUBMISSIONS) -> RunFacts:
    run_dir = find_run(file, submissions_dir)
    if run_dir is None:
        return RunFacts(None)
    facts = RunFacts(run_dir)
    try:
        summary = read_summary(run_dir)
        facts.oof_accuracy, facts.is_sample = summary.ensemble.oof_accuracy, summary.is_sample
    except (OSError, ValueError):
        pass
    try:
        data = atomic.read_json(run_dir / rundir.DATA_RECORD)
        facts.is_sample = facts.is_sample or bool(data.get("is_sample"))
        facts.n_train_used, facts.n_train_total = data.get("n_train_used"), data.get("n_train_total")
    except (OSError, ValueError, AttributeError):
        pass
    try:
        facts.max_train_rows = tomllib.loads((run_dir / rundir.CONFIG).read_text(encoding="utf-8")).get(
            "max_train_rows")
    except (OSError, ValueError):
        pass
    return facts


def default_message(file: str | os.PathLike, submissions_dir: str | os.PathLike = DEFAULT_SUBMISSIONS,
                    commit: str | None = None) -> str:
    """``kaggle-digits <version> run <name>: <models>, <k> folds, OOF <acc>, commit <sha>`` -- what made the file."""
    head, details = f"kaggle-digits {__version__}", []
    kernel, n_kernels, recorded_commit = None, 0, None
    run_dir = find_run(file, submissions_dir)
    if run_dir is not None:
        head += f" run {RunFacts(run_dir).name}"
        try:
            summary = read_summary(run_dir)
            n_folds = max((len(m.fold_accuracy) for m in summary.models.values()), default=0)
            details.append(f"{'+'.join(summary.models)}, {n_folds} folds")
            details.append(f"OOF accuracy {summary.ensemble.oof_accuracy:.4%}")
        except (OSError, ValueError):
            pass
        # a kernel's run sits beside its manifest, a gathered run beside its fan-out's record
        if (manifest := outputs.manifest_or_none(run_dir.parent)) is not None:
            kernel, recorded_commit = manifest.kernel, manifest.git_commit
        else:
            try:
                record = json.loads((run_dir.parent / rundir.FANOUT).read_text(encoding="utf-8"))
                n_kernels, recorded_commit = len(record.get("kernels") or []), record.get("git_commit")
            except (OSError, ValueError, AttributeError, TypeError):
                pass
    if kernel:
        details.append(f"kernel {kernel}")
    elif n_kernels:
        details.append(f"gathered from {n_kernels} Kaggle kernels")
    if commit is None:
        commit = recorded_commit
    if commit is None:
        commit = git_commit()
    details.append(f"commit {commit}" if commit else "no git commit")
    return f"{head}: {', '.join(details)}"[:500]


# --------------------------------------------------------------------------- what was submitted before
def submitted(submissions_dir: str | os.PathLike) -> list[dict]:
    """The local record of uploads (submissions/submitted.json), oldest first."""
    try:
        records = atomic.read_json(Path(submissions_dir) / rundir.SUBMITTED)
    except (OSError, ValueError):
        return []
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


def record_submitted(submissions_dir: str | os.PathLike, file: str | os.PathLike, facts: RunFacts,
                     message: str) -> Path:
    entry = {"time": dt.datetime.now().isoformat(timespec="seconds"), "file": str(file),
             "run_dir": str(facts.run_dir) if facts.run_dir else None, "oof_accuracy": facts.oof_accuracy,
             "subset": facts.subset, "is_sample": facts.is_sample, "message": message}
    Path(submissions_dir).mkdir(parents=True, exist_ok=True)
    return atomic.write_json(Path(submissions_dir) / rundir.SUBMITTED, submitted(submissions_dir) + [entry])


def annotate_last_submitted(submissions_dir: str | os.PathLike, fields: dict) -> Path | None:
    """Add ``fields`` (the Kaggle ref, status, public score) to the newest entry of submissions/submitted.json."""
    records = submitted(submissions_dir)
    if not records:
        return None
    records[-1].update(fields)
    return atomic.write_json(Path(submissions_dir) / rundir.SUBMITTED, records)


def best_submitted(submissions_dir: str | os.PathLike, listing: str = "") -> tuple[float, str] | None:
    """The best OOF accuracy submitted before, from full-data runs in the local record and from the
    descriptions (the kit's default message) in ``listing`` (`kaggle competitions submissions` output)."""
    found = [(r["oof_accuracy"], f"run {Path(r['run_dir']).name}") for r in submitted(submissions_dir)
             if isinstance(r.get("oof_accuracy"), (int, float)) and r.get("run_dir")
             and not r.get("subset") and not r.get("is_sample")]
    found += [(float(m.group(1)) / 100, "your Kaggle submissions") for m in _OOF_IN_MESSAGE.finditer(listing)]
    return max(found, key=lambda f: f[0]) if found else None


def refusals(facts: RunFacts, best: tuple[float, str] | None) -> list[str]:
    """Why the file should not be uploaded without --yes (empty: go ahead)."""
    reasons = []
    if facts.is_sample:
        reasons.append("it was trained on the bundled sample, not the competition data")
    elif facts.subset:
        rows = f"{facts.n_train_used:,} of {facts.n_train_total:,}" if facts.n_train_used is not None else "a subset of"
        reasons.append(f"it was trained on {rows} train.csv rows (--max-train-rows)")
    if best is not None and facts.oof_accuracy is not None and facts.oof_accuracy < best[0] - 1e-9:
        reasons.append(f"its OOF accuracy {facts.oof_accuracy:.4%} is below the best submitted before "
                       f"({best[0]:.4%}, {best[1]})")
    return reasons
