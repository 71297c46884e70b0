"""Fold assignment: a fold id per training row, from a seeded StratifiedKFold; one split per ensemble member.

An ensemble member is a (model, seed) trained on every fold of its own split (repeated stratified k-fold):
member k of a run seeded ``seed`` splits with ``member_seed(seed, k)``. Every training row is then held out
once by every member, so each member's out-of-fold predictions, and their average, come from models that
never saw the row -- the OOF of the ensemble stays honest however many members it has.
"""

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


MEMBER_SEP = "@"  # a model's further members (--seeds): cnn_fast@2 is cnn_fast's second, on its own split


def member_name(model: str, index: int) -> str:
    """The ensemble member ``index`` (0-based) of ``model``: the model's own name for the first, so a one-member
    run's folders and summaries are what they always were; ``model@2``, ``model@3``... for the others."""
    return model if index == 0 else f"{model}{MEMBER_SEP}{index + 1}"


def model_of(member: str) -> str:
    """The model a member (``cnn_fast@2``, or a pseudo-labelled round's ``cnn_fast@2+pl``) trains."""
    return member.split(MEMBER_SEP)[0].split("+")[0]


def member_seed(seed: int, member: int) -> int:
    """The seed of member ``member`` (0-based) of a run seeded ``seed``: its split, weights and augmentation.
    Member 0 is the run's own seed, so a one-member run is the run it always was."""
    return seed + member


def member_splits(y: np.ndarray, n_folds: int, seed: int, n_members: int) -> list[np.ndarray]:
    """The fold id per row of each member's own split (``y``: the rows the run trains on)."""
    return [assign_folds(y, n_folds, member_seed(seed, k)) for k in range(n_members)]


def planned_folds(models, n_folds: int, seeds: int, holdout: bool) -> list[tuple[str, int, int]]:
    """(model, member index, fold) of every fold a run trains: each member of each model (members one after
    another, so the first members of every model are done first), fold 0 alone for a holdout."""
    return [(model, member, fold) for member in range(seeds) for model in models
            for fold in ((0,) if holdout else range(n_folds))]


def stratified_subset(y: np.ndarray, n_rows: int, seed: int) -> np.ndarray:
    """Sorted indices of a class-stratified random subset of ``n_rows`` rows (all rows if fewer)."""
    if n_rows >= len(y):
        return np.arange(len(y))
    if n_rows < 10:
        raise ConfigError(f"--max-train-rows {n_rows} is too small: need at least one row per digit (10)")
    keep, _ = train_test_split(np.arange(len(y)), train_size=n_rows, stratify=y, random_state=seed)
    return np.sort(keep)
