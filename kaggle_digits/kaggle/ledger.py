"""The ledger every Kaggler keeps by hand: which run (models, folds x epochs, wall time, OOF accuracy,
commit) got which public score -- one pandas table of the runs in the submissions folder, newest first.

Read from what the runs wrote: run.json (created, invocations with their commit and wall time),
ensemble.json (models, folds, epochs, OOF accuracy) and the public scores ``submit`` recorded
(kaggle/scores.py). Runs gathered from Kaggle kernels (kernels-<time>/run) and a single kernel's finished
run (kernels-<time>/<slug>/output/run) are listed too; nothing is trained or fetched.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pandas as pd

from kaggle_digits import atomic
from kaggle_digits.runs import rundir
from kaggle_digits.config import DEFAULT_SUBMISSIONS
from kaggle_digits.competition.folds import model_of
from kaggle_digits.kaggle import outputs, scores
from kaggle_digits.runs.runload import read_summary
from kaggle_digits.scoring.summary import ModelScore, RunSummary

COLUMNS = ["when", "run", "models", "folds x epochs", "wall", "OOF", "public score", "commit"]


def run_folders(submissions_dir: str | Path) -> list[Path]:
    """Every run folder under ``submissions_dir``: its own folders with a run.json, and finished kernel runs."""
    root = Path(submissions_dir)
    if not root.is_dir():
        return []
    found = [p.parent for p in root.glob(f"*/{rundir.RUN_RECORD}")]
    for pattern in (f"{rundir.FANOUT_PREFIX}*/{rundir.KERNEL_RUN}",
                    f"{rundir.FANOUT_PREFIX}*/*/{rundir.KERNEL_OUTPUT}/{rundir.KERNEL_RUN}"):
        found += [p for p in root.glob(pattern) if (p / rundir.ENSEMBLE).is_file()]
    return sorted(set(found))


def _read(path: Path) -> dict:
    try:
        value = atomic.read_json(path)
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _when(run_dir: Path, record: dict) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(record["created"])
    except (KeyError, TypeError, ValueError):
        try:
            return dt.datetime.fromtimestamp((run_dir / rundir.ENSEMBLE).stat().st_mtime)
        except OSError:
            return None


def _summary(run_dir: Path) -> RunSummary | None:
    """The run's ensemble.json; None for an unfinished run (or a file that is not a summary)."""
    try:
        return read_summary(run_dir)
    except (OSError, ValueError):
        return None


def _folds_epochs(models: dict[str, ModelScore]) -> str:
    if not models:
        return ""
    folds = max(len(m.fold_accuracy) for m in models.values())
    epochs: dict[str, int] = {}
    for name, m in models.items():  # a model's members (--seeds) as one entry: its first member's epochs
        epochs.setdefault(model_of(name), m.epochs)
    per_model = Counter(model_of(name) for name in models)
    members = f" x {max(per_model.values())} members" if max(per_model.values()) > 1 else ""
    if len(set(epochs.values())) == 1:
        return f"{folds} x {next(iter(epochs.values()))}{members}"
    return f"{folds} x " + ", ".join(f"{name} {e}" for name, e in epochs.items()) + members


def _commit(run_dir: Path, invocations: list[rundir.Invocation]) -> str:
    commits = [i.commit for i in invocations if i.commit]
    if commits:
        return commits[-1]
    # a kernel's run (its manifest, its fan-out's record), a gathered run (its fan-out's record)
    manifest = outputs.manifest_or_none(run_dir.parent)
    if manifest is not None and manifest.git_commit:
        return manifest.git_commit
    for where in (folder / rundir.FANOUT for folder in (run_dir.parent, run_dir.parent.parent.parent)):
        if (commit := _read(where).get("git_commit")):
            return commit
    return ""


def _invocations(run_dir: Path) -> list[rundir.Invocation]:
    """The run's recorded invocations; none where run.json is missing (a kernel's run) or not the kit's."""
    try:
        return rundir.read_invocations(run_dir)
    except (OSError, ValueError):
        return []


def describe(run_dir: Path, submissions_dir: Path) -> dict:
    """One row of the ledger for ``run_dir``."""
    record = _read(run_dir / rundir.RUN_RECORD)
    invocations = _invocations(run_dir)
    summary = _summary(run_dir)
    models = summary.models if summary is not None else {}
    wall = sum(i.wall_seconds for i in invocations) or (summary.wall_seconds if summary is not None else None)
    public = scores.best_public(run_dir)
    return {
        "when": _when(run_dir, record),
        "run": run_dir.relative_to(submissions_dir).as_posix(),
        "models": "+".join(models) or "(unfinished)",
        "folds x epochs": _folds_epochs(models),
        "wall": f"{wall / 60:.1f} min" if wall else "",
        "OOF": f"{summary.ensemble.oof_accuracy:.4%}" if summary is not None else "",
        "public score": f"{public:.5f}" if public is not None else "",
        "commit": _commit(run_dir, invocations),
    }


def table(submissions_dir: str | Path = DEFAULT_SUBMISSIONS) -> pd.DataFrame:
    """The ledger: one row per run folder, newest first."""
    root = Path(submissions_dir)
    frame = pd.DataFrame([describe(p, root) for p in run_folders(root)], columns=COLUMNS)
    frame["when"] = pd.to_datetime(frame["when"])
    frame = frame.sort_values("when", ascending=False, na_position="last", kind="stable")
    frame["when"] = frame["when"].dt.strftime("%Y-%m-%d %H:%M").fillna("")
    return frame.reset_index(drop=True)


def render(frame: pd.DataFrame) -> str:
    return frame.to_string(index=False) if len(frame) else "no runs"
