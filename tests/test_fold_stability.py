"""Fold assignment is the same in every environment the kit runs in (issue 23).

Kernels on Kaggle (scikit-learn 1.6 in its image) and the local machine (whatever scikit-learn is newest)
must split the same rows into the same folds: gather checks kernels' folds against local ones, and a fold
trained on Kaggle is reused locally only if its rows match. ``folds.training_folds`` is seeded
StratifiedKFold / train_test_split; a scikit-learn (or NumPy RNG) change could split differently. The
digests below were recorded with scikit-learn 1.9.1 / NumPy 2.4.6 and this file runs in both of CI's
environments (.ci/run: the latest versions, and .ci/kaggle-image.txt's pins), so either one drifting fails.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from kaggle_digits.competition.folds import training_folds

SAMPLE_TRAIN = Path(__file__).resolve().parents[1] / "kaggle_digits" / "sample" / "train.csv.gz"


def sample_labels() -> np.ndarray:
    """The bundled sample's 4,000 labels, read with the standard library (no CSV parser version involved)."""
    lines = gzip.decompress(SAMPLE_TRAIN.read_bytes()).decode().splitlines()
    assert lines[0].startswith("label,")
    return np.array([int(line.partition(",")[0]) for line in lines[1:]], dtype=np.int64)


def digest(rows: np.ndarray, fold_of: np.ndarray) -> str:
    """sha256 of the rows used and their fold ids, in a fixed byte layout (little-endian int64, int8)."""
    return hashlib.sha256(np.asarray(rows, dtype="<i8").tobytes() + np.asarray(fold_of, dtype="<i1").tobytes()
                          ).hexdigest()


def labels(which: str) -> np.ndarray:
    y = sample_labels()
    # "full": Kaggle's 42,000 rows in size (the sample repeated): the subset path is skipped there, as in a
    # run on all of train.csv
    return y if which == "sample" else np.resize(y, 42_000)


# (labels, folds, seed, max_rows) -> digest of training_folds(...)
RECORDED = {
    ("sample", 5, 42, None):
        "725090a35224cbf0229c0398aea9e3ff5fde061868d0d080a76d6a8c914c8514",
    ("sample", 2, 42, 200):
        "6598a45bcf7307d51bf821c7959b0f3a74ce197f853d992a24e8f879615c992e",
    ("sample", 3, 7, 1000):
        "d9c6732c935d03d02b8c7ee551cbc4e82d7637607aefdfcc4436d500168762df",
    ("full", 5, 42, None):
        "2b54fc411aa3b9428ad6383b7d2da1b39806eb51c43adb6d84bfe6264588e523",
    ("full", 5, 42, 10_000):
        "eaf5ecfae4873bf9f6cbc59b915beb7200feb79f8a5fa9ddb565b6b6f82ae9e1",
}


@pytest.mark.parametrize("which, n_folds, seed, max_rows", list(RECORDED))
def test_fold_assignment_is_the_recorded_one(which, n_folds, seed, max_rows):
    y = labels(which)
    rows, fold_of = training_folds(y, n_folds, seed, max_rows)
    assert len(rows) == len(fold_of) == min(max_rows or len(y), len(y))
    assert sorted(set(fold_of.tolist())) == list(range(n_folds))
    assert digest(rows, fold_of) == RECORDED[which, n_folds, seed, max_rows], (
        "the rows or folds training_folds() chooses differ from the recorded ones: a kernel on Kaggle's image and "
        "a local run would split differently (gather would refuse the kernels' folds)")
