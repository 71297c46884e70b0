"""Write and validate submission.csv (``ImageId,Label``, ids 1..N in order, labels 0..9).

Kaggle accepts a malformed file, marks it ERROR later and still counts it against the daily quota,
so everything is validated before it is written -- and files are re-validated before upload.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd

from kaggle_digits import atomic
from kaggle_digits.errors import DataError

HEADER = ("ImageId", "Label")
KAGGLE_TEST_ROWS = 28_000


def make_frame(test_probabilities: np.ndarray) -> pd.DataFrame:
    labels = np.asarray(test_probabilities).argmax(axis=1)
    return pd.DataFrame({"ImageId": np.arange(1, len(labels) + 1), "Label": labels})


def validate_frame(frame: pd.DataFrame, *, n_rows: int | None = KAGGLE_TEST_ROWS,
                   sample_ids: np.ndarray | None = None, name: str = "submission") -> None:
    """Raise DataError unless ``frame`` is a valid submission for ``n_rows`` test images.

    ``sample_ids`` (the competition's sample_submission.csv ImageId column) takes precedence over
    ``n_rows`` when given.
    """
    if tuple(frame.columns) != HEADER:
        raise DataError(f"{name}: header must be 'ImageId,Label', got {','.join(map(str, frame.columns))!r}")
    expected_ids = np.asarray(sample_ids) if sample_ids is not None else (
        np.arange(1, n_rows + 1) if n_rows is not None else np.arange(1, len(frame) + 1))
    if len(frame) != len(expected_ids):
        raise DataError(f"{name}: has {len(frame)} rows, expected {len(expected_ids)} (one per test image)")
    for column, lo, hi in (("ImageId", None, None), ("Label", 0, 9)):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() | (values != values.round())
        if lo is not None:
            bad |= (values < lo) | (values > hi)
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            what = "a digit 0..9" if column == "Label" else "an integer id"
            raise DataError(f"{name}, row {row + 1} (line {row + 2}), column {column}: expected {what}, "
                            f"got {frame[column].iloc[row]!r}")
    ids = frame["ImageId"].to_numpy(dtype=np.int64)
    mismatch = ids != expected_ids
    if mismatch.any():
        row = int(np.argmax(mismatch))
        raise DataError(f"{name}, row {row + 1} (line {row + 2}), column ImageId: expected {expected_ids[row]}, "
                        f"got {ids[row]} (ids must run 1..{len(expected_ids)} in order, as in sample_submission.csv)")


def read_submission(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such submission file") from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if not raw.strip():
        raise DataError(f"{path}: the file is empty; expected a header 'ImageId,Label' and one row per test image")
    try:
        return pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc})") from None


def validate_file(path: str | os.PathLike, *, n_rows: int | None = KAGGLE_TEST_ROWS,
                  sample_ids: np.ndarray | None = None) -> pd.DataFrame:
    frame = read_submission(path)
    validate_frame(frame, n_rows=n_rows, sample_ids=sample_ids, name=str(path))
    return frame


def write(frame: pd.DataFrame, path: str | os.PathLike, *, overwrite: bool = False, **validation) -> Path:
    """Validate, then write atomically; an existing file is refused unless ``overwrite``."""
    validate_frame(frame, **validation, name=str(path))
    return atomic.write_text(path, frame.to_csv(index=False, lineterminator="\n"), overwrite=overwrite)
