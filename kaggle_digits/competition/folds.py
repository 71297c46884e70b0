"""Fold assignment: a fold id per training row, from a seeded StratifiedKFold."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from kaggle_digits.errors import ConfigError


def assign_folds(y: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """fold id (0..k-1) per row; every row is held out exactly once."""
    counts = np.bincount(y, minlength=10)
    if counts[counts > 0].min() < n_folds:
        raise ConfigError(f"--folds {n_folds} needs at least {n_folds} rows of every digit; the smallest "
                          f"class has {counts[counts > 0].min()} (raise --max-train-rows or lower --folds)")
    fold_of = np.empty(len(y), dtype=np.int8)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for fold, (_, held_out) in enumerate(splitter.split(np.zeros(len(y)), y)):
        fold_of[held_out] = fold
    return fold_of


def training_folds(y: np.ndarray, n_folds: int, seed: int,
                   max_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The rows a run trains on (all, or a stratified subset) and the fold id of each.

    The one definition shared by local runs and by the check on folds gathered from Kaggle kernels.
    """
    rows = stratified_subset(y, max_rows or len(y), seed)
    return rows, assign_folds(y[rows], n_folds, seed)


def stratified_subset(y: np.ndarray, n_rows: int, seed: int) -> np.ndarray:
    """Sorted indices of a class-stratified random subset of ``n_rows`` rows (all rows if fewer)."""
    if n_rows >= len(y):
        return np.arange(len(y))
    if n_rows < 10:
        raise ConfigError(f"--max-train-rows {n_rows} is too small: need at least one row per digit (10)")
    keep, _ = train_test_split(np.arange(len(y)), train_size=n_rows, stratify=y, random_state=seed)
    return np.sort(keep)
