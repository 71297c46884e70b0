"""The run folder's files: every file name of a run folder and of the submissions folder, opening (or
resuming) a run folder, and the small records written into it and read from it.

```
submissions/<run-id>/
  config.toml  run.json  data.json  train_rows.npy  folds.npy       what produced the run
  <model>/fold<k>/  fingerprint.json  history.json  oof.npy  test.npy  model.keras  done.json (last)
  ensemble.json  oof_probabilities.npy  test_probabilities.npy  submission.csv
  report.html  report/  tta.json                                      read-only extras
  kaggle_scores.json                                                  its uploads' public scores (kaggle/scores.py)
  run.lock  run.lock.owner                                            the OS lock while a process writes it
submissions/submission.csv  submission.json                           copy of the latest full-data run's, its run
submissions/submitted.json                                            what `submit` uploaded
submissions/reference/  submission.csv  manifest.json                 the reference submission (reference.py)
submissions/kernels-<time>/  fanout.json  <slug>/output/{kernel_manifest.json, run/}  run/ (gathered)
```
Every other module asks this one for these names. The run folder lock is runlock.py; reading a finished
run back (with its data) is runload.py. Files outside the submissions folder have one owner each too:
the data cache (data.py), the measured model speeds (probe.py) and the time plans (budget.py), all under
data.cache_root().
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kaggle_digits import __version__, atomic
from kaggle_digits.config import DEFAULT_SUBMISSIONS
from kaggle_digits.errors import KaggleDigitsError, OutputError

if TYPE_CHECKING:
    from kaggle_digits.config import RunConfig
    from kaggle_digits.competition.data import Competition

log = logging.getLogger(__name__)

# --- a run folder, <submissions>/<run-id>/
CONFIG = "config.toml"
RUN_RECORD = "run.json"
DATA_RECORD = "data.json"
TRAIN_ROWS = "train_rows.npy"
FOLDS = "folds.npy"
ENSEMBLE = "ensemble.json"
OOF_PROBABILITIES = "oof_probabilities.npy"
TEST_PROBABILITIES = "test_probabilities.npy"
SUBMISSION = "submission.csv"  # also the name of the latest run's copy in the submissions folder
REPORT_HTML = "report.html"
REPORT_DIR = "report"
TTA = "tta.json"
KAGGLE_SCORES = "kaggle_scores.json"  # every scored upload of the run's submission, oldest first (kaggle/scores.py)
LOCK = "run.lock"  # the OS file lock held while a process writes the folder (runlock.py)
LOCK_OWNER = "run.lock.owner"  # pid and host of the lock's holder, for the refusal message
# --- a fold folder, <model>/fold<k>/
FINGERPRINT = "fingerprint.json"
HISTORY = "history.json"
FOLD_OOF = "oof.npy"
FOLD_TEST = "test.npy"
MODEL = "model.keras"
DONE = "done.json"  # written last: a fold folder without it is unfinished
# --- a Kaggle fan-out folder, <submissions>/kernels-<time>/ (kaggle/fanout.py)
FANOUT = "fanout.json"  # the kernels pushed and what each trains ("plan" is only the --minutes time plan)
KERNEL_MANIFEST = "kernel_manifest.json"  # what a kernel trained, in its outputs
KERNEL_RUN = "run"  # the run folder inside a kernel's outputs and inside the fan-out folder
FANOUT_PREFIX = "kernels-"  # submissions/kernels-<time>/: one push's fan-out folder (kaggle/fanout.py)
KERNEL_BUNDLE = "bundle"  # <fan-out folder>/<slug>/bundle/: the kernel folder pushed (kaggle/bundle.py)
KERNEL_OUTPUT = "output"  # <fan-out folder>/<slug>/output/: what the kernel wrote, as fetched
# --- the submissions folder: SUBMISSION (the latest full-data run's copy) with LATEST naming its run folder
LATEST = "submission.json"
SUBMITTED = "submitted.json"  # what `submit` uploaded: run, OOF accuracy, time (kaggle/provenance.py)
REFERENCE_DIR = Path(DEFAULT_SUBMISSIONS) / "reference"  # the reference submission, beside its manifest
REFERENCE_MANIFEST = "manifest.json"

FINISHED = (DATA_RECORD, TRAIN_ROWS, FOLDS, ENSEMBLE, OOF_PROBABILITIES, TEST_PROBABILITIES)


class RunError(KaggleDigitsError):
    """The folder is not a finished run, or its data cannot be found."""


def fold_name(model: str, fold: int) -> str:
    """``cnn/fold0``: a fold folder relative to its run folder."""
    return f"{model}/fold{fold}"


def fold_dir(run_dir: Path, model: str, fold: int) -> Path:
    return Path(run_dir) / fold_name(model, fold)


def finished_fold_dirs(run_dir: Path) -> list[Path]:
    """Every fold folder of ``run_dir`` whose done.json exists, sorted."""
    return sorted(done.parent for done in Path(run_dir).glob(f"*/fold*/{DONE}"))


def model_dirs(run_dir: Path) -> list[Path]:
    """The per-model folders of ``run_dir`` that hold saved fold models."""
    return sorted(p for p in Path(run_dir).iterdir() if (p / "fold0" / MODEL).is_file())


# --------------------------------------------------------------------------- open, resume, record
def open_run(cfg: RunConfig, data: Competition) -> Path:
    """The explicit --run-dir, else the newest run of the same config (resumed, or reused when finished), else a new
    folder."""
    run_key = _run_key(cfg, data)
    run_dir = _existing_run(cfg, run_key)
    if cfg.run_dir and cfg.fresh and (run_dir / RUN_RECORD).exists():
        raise OutputError(f"--fresh with --run-dir {run_dir}: that folder holds a run already; "
                          f"give a new --run-dir (runs are never deleted by the kit)")
    if not cfg.run_dir:
        if run_dir is not None and (run_dir / SUBMISSION).exists():
            log.info(f"identical to finished run {run_dir}; nothing to train -- --fresh trains again")
        elif run_dir is not None:
            log.info(f"resuming the unfinished run {run_dir} (same configuration; --fresh starts a new one)")
        if run_dir is None:
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            suffix = "-sample" if data.is_sample else ""
            run_dir = atomic.unique_path(Path(cfg.submissions_dir) / f"{stamp}-{'+'.join(cfg.models)}{suffix}")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        if not (run_dir / RUN_RECORD).exists():
            atomic.write_json(run_dir / RUN_RECORD, {**run_key, "created": dt.datetime.now().isoformat(),
                                                     "kit_version": __version__})
    except OSError as exc:
        raise OutputError(f"cannot write the run folder {run_dir}: {exc.strerror or exc}") from None
    return run_dir


def has_trained(cfg: RunConfig, data: Competition) -> bool:
    """Whether the run folder ``cfg`` would open (``open_run``, which this does not create) holds a finished fold."""
    run_dir = _existing_run(cfg, _run_key(cfg, data))
    return run_dir is not None and bool(finished_fold_dirs(run_dir))


def _run_key(cfg: RunConfig, data: Competition) -> dict:
    """What makes two runs the same run (run.json holds it): the training settings and the data."""
    return {"training_fingerprint": cfg.training_fingerprint(), "data_sha256": data.sha256}


def _existing_run(cfg: RunConfig, run_key: dict) -> Path | None:
    """The folder ``open_run`` would take before making one: the explicit --run-dir, else (not --fresh) the newest run
    of ``run_key`` under --submissions-dir; None: a new one."""
    if cfg.run_dir:
        return Path(cfg.run_dir)
    return None if cfg.fresh else _same_run(Path(cfg.submissions_dir), run_key)


def _same_run(root: Path, run_key: dict) -> Path | None:
    """The newest run folder under ``root`` with the same training fingerprint and data, finished or not."""
    if not root.is_dir():
        return None
    for candidate in sorted(root.iterdir(), reverse=True):
        record = candidate / RUN_RECORD
        if record.is_file():
            try:
                saved = atomic.read_json(record)
            except (OSError, ValueError):
                continue
            if all(saved.get(k) == v for k, v in run_key.items()):
                return candidate
    return None


def record_inputs(run_dir: Path, cfg: RunConfig, data: Competition, rows: np.ndarray, fold_of: np.ndarray) -> None:
    atomic.write_text(run_dir / CONFIG, cfg.to_toml())
    atomic.write_json(run_dir / DATA_RECORD, {"source": data.source, "sha256": data.sha256,
                                              "is_sample": data.is_sample, "n_train_total": int(len(data.x_train)),
                                              "n_train_used": int(len(rows)), "n_test": int(data.n_test)})
    atomic.save_npy(run_dir / TRAIN_ROWS, rows.astype(np.int64))
    atomic.save_npy(run_dir / FOLDS, fold_of)


@dataclass(frozen=True)
class Invocation:
    """One ``make`` invocation that finished a run, as run.json's ``invocations`` hold it: the command, the commit
    and machine it ran on, how it trained, when it finished, its wall seconds and the folds it trained itself (0:
    every fold reused). ``to_json``/``from_json`` are the only code that knows the keys."""
    command: str
    commit: str | None  # None: not a git checkout
    machine: str
    precision: str
    finished: str  # ISO time
    wall_seconds: float
    trained_folds: int
    # added after the first release that recorded invocations: None in its entries
    policy: str | None = None  # the Keras dtype policy of ``precision``
    devices: str | None = None  # the devices it trained on, in words

    def to_json(self) -> dict:
        """run.json's entry: the keys it always had."""
        return {"command": self.command, "commit": self.commit, "machine": self.machine, "precision": self.precision,
                "policy": self.policy, "devices": self.devices, "finished": self.finished,
                "wall_seconds": self.wall_seconds, "trained_folds": self.trained_folds}

    @classmethod
    def from_json(cls, content: dict) -> Invocation:
        """An entry written by this release or an earlier one (``policy`` and ``devices`` came later); ValueError
        when ``content`` is not one."""
        if not isinstance(content, dict):
            raise ValueError(f"not an invocation record (a {type(content).__name__}, not an object)")
        known = {f.name for f in dataclasses.fields(cls)}
        try:
            invocation = cls(**{k: v for k, v in content.items() if k in known})
        except TypeError as exc:  # a key every release wrote is missing
            raise ValueError(f"not an invocation record ({exc})") from None
        for name in ("command", "machine", "precision", "finished"):
            if not isinstance(getattr(invocation, name), str):
                raise ValueError(f"not an invocation record: {name} is {getattr(invocation, name)!r}, not text")
        if not isinstance(invocation.wall_seconds, (int, float)) or not isinstance(invocation.trained_folds, int):
            raise ValueError(f"not an invocation record: wall_seconds {invocation.wall_seconds!r}, trained_folds "
                             f"{invocation.trained_folds!r}")
        return invocation


def record_invocation(run_dir: Path, invocation: Invocation) -> None:
    """Append one ``make`` invocation to run.json."""
    record = atomic.read_json(run_dir / RUN_RECORD)
    record["invocations"] = [*record.get("invocations", []), invocation.to_json()]
    atomic.write_json(run_dir / RUN_RECORD, record)


def record_budget_spent(run_dir: Path, seconds: float) -> None:
    """The seconds of a budgeted run's clock its invocations have spent so far (run.json), so that a resume
    continues the budget the first invocation started with instead of granting it again."""
    record = atomic.read_json(run_dir / RUN_RECORD)
    atomic.write_json(run_dir / RUN_RECORD, {**record, "budget_spent_seconds": float(seconds)})


def read_budget_spent(run_dir: Path) -> float:
    """What record_budget_spent last wrote (0 for a new run, or one made before it was recorded)."""
    try:
        return float(atomic.read_json(Path(run_dir) / RUN_RECORD).get("budget_spent_seconds", 0.0))
    except (OSError, ValueError, TypeError):
        return 0.0


def read_invocations(run_dir: Path) -> list[Invocation]:
    """The invocations record_invocation wrote, oldest first ([] for runs made before they were recorded).
    OSError when run.json cannot be read; ValueError when it, or one of its entries, is not what the kit writes."""
    path = Path(run_dir) / RUN_RECORD
    record = atomic.read_json(path)
    if not isinstance(record, dict) or not isinstance(record.get("invocations", []), list):
        raise ValueError(f"{path}: not a run record")
    try:
        return [Invocation.from_json(entry) for entry in record.get("invocations", [])]
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def record_ensemble(run_dir: Path, summary: dict, oof: np.ndarray, test: np.ndarray) -> None:
    """The ensemble's probabilities and ensemble.json (``summary``: summary.RunSummary.to_json(), its shape)."""
    atomic.save_npy(run_dir / TEST_PROBABILITIES, test)
    atomic.save_npy(run_dir / OOF_PROBABILITIES, oof)
    atomic.write_json(run_dir / ENSEMBLE, summary)


def read_folds(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The train.csv rows a run used and the fold id of each."""
    return (np.load(Path(run_dir) / TRAIN_ROWS, allow_pickle=False),
            np.load(Path(run_dir) / FOLDS, allow_pickle=False))


def read_ensemble(run_dir: Path) -> dict:
    """ensemble.json's content as written; runload.read_summary gives it typed, older formats included.

    Typed in runload.py, not here: rundir is imported by training (train.py), whose imports are hashed into
    every fold's fingerprint (codehash.py), so it must not import the code that scores runs."""
    return atomic.read_json(Path(run_dir) / ENSEMBLE)


# --------------------------------------------------------------------------- the latest copy and its run
def record_latest(submissions_dir: str | os.PathLike, run_dir: str | os.PathLike) -> Path:
    """Write submissions/submission.json naming the run that made submissions/submission.csv; call it right
    after copying the file there. ``recorded_run`` trusts it while the copy's bytes are the ones recorded."""
    latest = Path(submissions_dir) / SUBMISSION
    return atomic.write_json(latest.with_name(LATEST), {"run_dir": str(run_dir),
                             "sha256": hashlib.sha256(latest.read_bytes()).hexdigest()})


def recorded_run(file: str | os.PathLike) -> Path | None:
    """The run folder record_latest wrote for ``file`` (a submissions/submission.csv), if the file is unchanged."""
    file = Path(file)
    with contextlib.suppress(OSError, ValueError, LookupError, TypeError):
        record = atomic.read_json(file.with_name(LATEST)) if file.name == SUBMISSION else {}
        if record and record["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest():
            return Path(record["run_dir"])
    return None

