"""The run folder: the one module that spells its file names, opens, finds and resumes it, and reads it back.

```
submissions/<run-id>/
  config.toml  run.json  data.json  train_rows.npy  folds.npy       what produced the run
  <model>/fold<k>/  fingerprint.json  history.json  oof.npy  test.npy  model.keras  done.json (last)
  ensemble.json  oof_probabilities.npy  test_probabilities.npy  submission.csv
  report.html  report/  tta.json                                      read-only extras
  run.lock                                                          while a process writes the folder
submissions/submission.csv  submission.json                           copy of the latest full-data run's, its run
submissions/submitted.json                                            what `submit` uploaded
submissions/kernels-<time>/  plan.json  <slug>/output/{kernel_manifest.json, run/}  run/ (gathered)
```
Every other module asks this one for a path instead of spelling a name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
import os
import socket
import time
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from kaggle_digits import __version__, atomic
from kaggle_digits.data import BUNDLED_SAMPLE, Competition, load_competition
from kaggle_digits.errors import DataError, KaggleDigitsError, OutputError

if TYPE_CHECKING:
    from kaggle_digits.config import RunConfig

# --- the run folder
log = logging.getLogger(__name__)

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
LOCK = "run.lock"  # the pid of the process writing the folder (see lock)
# --- a fold folder, <model>/fold<k>/
FINGERPRINT = "fingerprint.json"
HISTORY = "history.json"
FOLD_OOF = "oof.npy"
FOLD_TEST = "test.npy"
MODEL = "model.keras"
DONE = "done.json"  # written last: a fold folder without it is unfinished
# --- a Kaggle plan folder (see kaggle/fanout.py)
PLAN = "plan.json"
MANIFEST = "kernel_manifest.json"
KERNEL_RUN = "run"  # the run folder inside a kernel's outputs and inside the plan folder
# --- the submissions folder: SUBMISSION (the latest full-data run's copy) with LATEST naming its run folder
LATEST = "submission.json"
SUBMITTED = "submitted.json"  # what `submit` uploaded: run, OOF accuracy, time (kaggle/provenance.py)

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
    run_key = {"training_fingerprint": cfg.training_fingerprint(), "data_sha256": data.sha256}
    if cfg.run_dir:
        run_dir = Path(cfg.run_dir)
        if cfg.fresh and (run_dir / RUN_RECORD).exists():
            raise OutputError(f"--fresh with --run-dir {run_dir}: that folder holds a run already; "
                              f"give a new --run-dir (runs are never deleted by the kit)")
    else:
        run_dir = None if cfg.fresh else _same_run(Path(cfg.submissions_dir), run_key)
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


@contextlib.contextmanager
def lock(run_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold RUN_DIR/run.lock (this pid, created with O_EXCL) while a run writes the folder: a second run on it,
    this process's included, gets OutputError naming the holder; a lock whose process is gone is taken over."""
    path, mine = Path(run_dir) / LOCK, f"{os.getpid()} {socket.gethostname()}\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        while not _create(path, mine):
            _take_over_if_stale(path)
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot lock the run folder {run_dir}: {exc.strerror or exc}") from None
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink() if path.read_text() == mine else None


def _create(path: Path, text: str) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return True


def _take_over_if_stale(path: Path) -> None:
    """Remove the lock ``path`` if the process it names is gone; OutputError if that process may be alive."""
    try:
        text, age = path.read_text(), time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return  # released meanwhile
    pid, _, host = text.strip().partition(" ")
    in_use = (f"the run folder {path.parent} is in use by process {pid or '?'}{f' on {host}' if host else ''}; wait "
              f"for it to finish or use another --run-dir (delete {path} if no run is using it)")
    alive = (host and host != socket.gethostname()) or _alive(int(pid)) if pid.isdigit() else age < 10
    if alive:
        raise OutputError(in_use)
    aside = path.with_name(f"{LOCK}.stale-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        os.rename(path, aside)  # of two processes taking over one stale lock, only one moves it
        if aside.read_text() != text:  # a newer, live lock was moved: put it back
            with contextlib.suppress(OSError):
                os.link(aside, path)
            aside.unlink()
            raise OutputError(in_use.replace(f"process {pid}", "another process"))
        aside.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0) if os.name == "posix" else None  # elsewhere no safe probe: deleted by hand (see message)
    except ProcessLookupError:
        return False
    except OSError:
        pass  # EPERM: alive, another user's
    return True


def record_inputs(run_dir: Path, cfg: RunConfig, data: Competition, rows: np.ndarray, fold_of: np.ndarray) -> None:
    atomic.write_text(run_dir / CONFIG, cfg.to_toml())
    atomic.write_json(run_dir / DATA_RECORD, {"source": data.source, "sha256": data.sha256,
                                              "is_sample": data.is_sample, "n_train_total": int(len(data.x_train)),
                                              "n_train_used": int(len(rows)), "n_test": int(data.n_test)})
    atomic.save_npy(run_dir / TRAIN_ROWS, rows.astype(np.int64))
    atomic.save_npy(run_dir / FOLDS, fold_of)


def record_invocation(run_dir: Path, entry: dict) -> None:
    """Append one ``make`` invocation (command, commit, machine, wall seconds, folds trained) to run.json."""
    record = atomic.read_json(run_dir / RUN_RECORD)
    record["invocations"] = [*record.get("invocations", []), entry]
    atomic.write_json(run_dir / RUN_RECORD, record)


def read_invocations(run_dir: Path) -> list[dict]:
    """The invocations record_invocation wrote, oldest first ([] for runs made before they were recorded)."""
    return list(atomic.read_json(Path(run_dir) / RUN_RECORD).get("invocations", []))


def record_ensemble(run_dir: Path, summary: dict, oof: np.ndarray, test: np.ndarray) -> None:
    atomic.save_npy(run_dir / TEST_PROBABILITIES, test)
    atomic.save_npy(run_dir / OOF_PROBABILITIES, oof)
    atomic.write_json(run_dir / ENSEMBLE, summary)


def read_folds(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The train.csv rows a run used and the fold id of each."""
    return (np.load(Path(run_dir) / TRAIN_ROWS, allow_pickle=False),
            np.load(Path(run_dir) / FOLDS, allow_pickle=False))


def read_summary(run_dir: Path) -> dict:
    """ensemble.json, with ``ensemble.blends`` filled in for runs written before the blend registry."""
    summary = atomic.read_json(Path(run_dir) / ENSEMBLE)
    e = summary.get("ensemble", {})
    if "blends" not in e and "equal_weights_oof_accuracy" in e:
        n = len(summary.get("models", {})) or 1
        e["blends"] = {
            "equal": {"weights": {m: 1 / n for m in summary.get("models", {})},
                      "oof_accuracy": e.get("equal_weights_oof_accuracy"),
                      "oof_log_loss": e.get("equal_weights_oof_log_loss")},
            "oof": {"weights": e.get("fitted_weights", {}), "oof_accuracy": e.get("fitted_weights_oof_accuracy"),
                    "oof_log_loss": e.get("fitted_weights_oof_log_loss")}}
    return summary


# --------------------------------------------------------------------------- reading a finished run
@dataclasses.dataclass
class Run:
    """Everything a finished run folder holds, images re-loaded from the data it was trained on."""

    run_dir: Path
    config: dict
    data_info: dict
    summary: dict
    rows: np.ndarray           # indices into train.csv of the rows used
    fold_of: np.ndarray        # fold id per used row
    oof: np.ndarray            # (n_used, 10) ensemble OOF probabilities
    test: np.ndarray           # (n_test, 10) ensemble test probabilities
    histories: dict            # model -> list (per fold) of Keras history dicts ({} when missing)
    x: np.ndarray              # (n_used, 28, 28, 1) uint8 training images, in ``rows`` order
    y: np.ndarray              # (n_used,) labels
    x_test: np.ndarray         # (n_test, 28, 28, 1) uint8

    @property
    def models(self) -> list[str]:
        return list(self.summary.get("models", {}))

    @property
    def n_folds(self) -> int:
        return int(self.fold_of.max()) + 1 if len(self.fold_of) else 0

    @property
    def config_text(self) -> str:
        path = self.run_dir / CONFIG
        return path.read_text(encoding="utf-8") if path.is_file() else f"(no {CONFIG})"


def load_run(run_dir: str | os.PathLike, data: Competition | str | os.PathLike | None = None) -> Run:
    """Read ``run_dir``; ``data`` overrides where the images come from (a path or a loaded Competition)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such run folder")
    missing = [name for name in FINISHED if not (run_dir / name).is_file()]
    if missing:
        runs = sorted(p.parent for p in run_dir.glob(f"*/{ENSEMBLE}"))
        hint = (f"; it holds run folders, e.g. {runs[-1]}" if runs else
                "; finish the run with scripts/make_submission.py first")
        raise RunError(f"{run_dir}: not a finished run folder (missing {', '.join(missing)}){hint}")
    try:
        data_info = atomic.read_json(run_dir / DATA_RECORD)
        summary = read_summary(run_dir)
        config = _read_config(run_dir / CONFIG)
        rows, fold_of = read_folds(run_dir)
        oof = np.load(run_dir / OOF_PROBABILITIES, allow_pickle=False)
        test = np.load(run_dir / TEST_PROBABILITIES, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise RunError(f"{run_dir}: cannot read the run files ({exc})") from None
    if not (len(rows) == len(fold_of) == len(oof)) or oof.shape[1:] != (10,) or test.shape[1:] != (10,):
        raise RunError(f"{run_dir}: the run files disagree (train_rows {len(rows)}, folds {len(fold_of)}, "
                       f"OOF probabilities {oof.shape}, test probabilities {test.shape})")

    competition = _load_data(run_dir, data_info, data)
    if rows.size and (rows.max() >= len(competition.x_train) or len(competition.x_test) != len(test)):
        raise DataError(f"{run_dir}: the data at {competition.source} does not fit the run (train rows up to "
                        f"{rows.max()}, {len(test)} test rows)")
    histories = {name: [_read_history(fold_dir(run_dir, name, k)) for k in range(int(fold_of.max()) + 1)]
                 for name in summary.get("models", {})}
    return Run(run_dir=run_dir, config=config, data_info=data_info, summary=summary, rows=rows, fold_of=fold_of,
               oof=oof, test=test, histories=histories, x=competition.x_train[rows], y=competition.y_train[rows],
               x_test=competition.x_test)


def _read_config(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _read_history(folder: Path) -> dict:
    try:
        return atomic.read_json(folder / HISTORY)
    except (OSError, ValueError):
        return {}


def load_run_data(run_dir: str | os.PathLike, data: Competition | str | os.PathLike | None = None) -> Competition:
    """The competition data ``run_dir`` was trained on: data.json's source (or ``data``), SHA-256 checked."""
    run_dir = Path(run_dir)
    return _load_data(run_dir, atomic.read_json(run_dir / DATA_RECORD), data)


def _load_data(run_dir: Path, data_info: dict, data) -> Competition:
    """The competition data the run was trained on, checked against data.json's SHA-256."""
    if isinstance(data, Competition):
        competition = data
    else:
        source = _locate_data(run_dir, data_info) if data is None else Path(data)
        if source is None or not source.exists():
            raise RunError(f"{run_dir}: the run's data ({source or data_info.get('source', 'not recorded')}) "
                           f"is not there any more; pass --data PATH (the folder or digit-recognizer.zip the "
                           f"run was trained on)")
        competition = load_competition(source, use_cache=not data_info.get("is_sample", False))
    expected = data_info.get("sha256")
    if expected and competition.sha256 != expected:
        raise DataError(f"{competition.source} is not the data {run_dir} was trained on (SHA-256 "
                        f"{competition.sha256[:12]}..., the run recorded {expected[:12]}...); pass --data with "
                        f"the original files")
    return competition


def _locate_data(run_dir: Path, data_info: dict) -> Path | None:
    """data.json's source; a relative one is tried from here and from the folder holding submissions/."""
    recorded = data_info.get("source")
    if not recorded:
        return None
    source = Path(recorded)
    if not source.exists() and not source.is_absolute():
        beside = run_dir.resolve().parent.parent / source  # <project>/submissions/<run> -> <project>/data
        source = beside if beside.exists() else source
    if not source.exists() and data_info.get("is_sample"):
        source = BUNDLED_SAMPLE  # the run was made from another checkout's copy of the sample
    return source


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

