"""Reading a finished run folder back: its records, predictions and histories, with the images re-loaded from
the data it was trained on (found again where it moved, and checked against the recorded SHA-256); and its
ensemble.json as the typed summary (``read_summary``)."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path

import numpy as np

from kaggle_digits import atomic
from kaggle_digits.competition.data import BUNDLED_SAMPLE, Competition, load_competition
from kaggle_digits.competition.digits import N_CLASSES
from kaggle_digits.errors import DataError
from kaggle_digits.runs.rundir import (CONFIG, DATA_RECORD, ENSEMBLE, FINISHED, HISTORY, OOF_PROBABILITIES,
                                  TEST_PROBABILITIES, RunError, fold_dir, read_ensemble, read_folds)
from kaggle_digits.scoring.summary import RunSummary


def read_summary(run_dir: str | os.PathLike) -> RunSummary:
    """The run's ensemble.json as a RunSummary (OSError, or ValueError when it is not one)."""
    return RunSummary.from_json(read_ensemble(Path(run_dir)))


@dataclasses.dataclass
class Run:
    """Everything a finished run folder holds, images re-loaded from the data it was trained on."""

    run_dir: Path
    config: dict
    data_info: dict
    summary: RunSummary
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
        return list(self.summary.models)

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
    if not (len(rows) == len(fold_of) == len(oof)) or oof.shape[1:] != (N_CLASSES,) or test.shape[1:] != (N_CLASSES,):
        raise RunError(f"{run_dir}: the run files disagree (train_rows {len(rows)}, folds {len(fold_of)}, "
                       f"OOF probabilities {oof.shape}, test probabilities {test.shape})")

    competition = _load_data(run_dir, data_info, data)
    if rows.size and (rows.max() >= len(competition.x_train) or len(competition.x_test) != len(test)):
        raise DataError(f"{run_dir}: the data at {competition.source} does not fit the run (train rows up to "
                        f"{rows.max()}, {len(test)} test rows)")
    histories = {name: [_read_history(fold_dir(run_dir, name, k)) for k in range(int(fold_of.max()) + 1)]
                 for name in summary.models}
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


