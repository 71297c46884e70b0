"""A second, semi-supervised round (``--pseudo-label P``): every fold also learns from test images.

The competition gives everyone its 28,000 test images. After the first round, each fold k trains once more
on its own training rows plus the test images that the first round labelled with probability >= P -- and the
labels come only from the first round's fold-k models (every model's fold k, averaged). Those models never
saw fold k's labels, so the second round's fold-k model learns nothing about fold k's rows either: its OOF
predictions stay as honest as the first round's. The second round's models join the ensemble as their own
members (``cnn_fast+pl``...), so ``--blend auto`` keeps them only where OOF says they pay.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from kaggle_digits.training.train import PSEUDO_SUFFIX, FoldResult, FoldTask


def pseudo_rows(results: dict[str, list[FoldResult]], n_folds: int,
                threshold: float) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """fold -> (test row ids, pseudo-labels): where the average of every model's fold-k test probabilities
    reaches ``threshold``. Only first-round members count (a second round never labels for another)."""
    first = {name: folds for name, folds in results.items() if not name.endswith(PSEUDO_SUFFIX)}
    by_fold = {}
    for k in range(n_folds):
        probs = np.mean([folds[k].test for folds in first.values()], axis=0)
        keep = np.flatnonzero(probs.max(axis=1) >= threshold)
        by_fold[k] = (keep, probs[keep].argmax(axis=1).astype(np.uint8))
    return by_fold


def second_round(task: FoldTask, rows: np.ndarray, labels: np.ndarray, threshold: float) -> FoldTask:
    """``task`` trained again with the pseudo-labelled test rows: its fingerprint names them by hash."""
    digest = hashlib.sha256(rows.astype(np.int64).tobytes() + labels.astype(np.uint8).tobytes()).hexdigest()
    return dataclasses.replace(task, pseudo={"threshold": threshold, "rows": int(len(rows)), "labels_sha256": digest})


def describe(rows_by_fold: dict[int, tuple[np.ndarray, np.ndarray]], threshold: float, n_test: int) -> str:
    counts = [len(rows) for rows, _ in rows_by_fold.values()]
    return (f"second round (--pseudo-label {threshold:g}): each fold adds the {min(counts):,}-{max(counts):,} of "
            f"{n_test:,} test images its own first-round models labelled with p >= {threshold:g}")
