"""Fold assignment and probability averaging."""

from __future__ import annotations

import numpy as np
import pytest

from kaggle_digits import ensemble
from kaggle_digits.errors import ConfigError
from kaggle_digits.folds import assign_folds, stratified_subset


def test_every_row_is_held_out_exactly_once_and_folds_are_stratified():
    y = np.repeat(np.arange(10), 50)
    fold_of = assign_folds(y, 5, seed=3)
    assert sorted(np.unique(fold_of)) == [0, 1, 2, 3, 4]
    for fold in range(5):
        counts = np.bincount(y[fold_of == fold], minlength=10)
        assert counts.tolist() == [10] * 10
    np.testing.assert_array_equal(fold_of, assign_folds(y, 5, seed=3))
    assert not np.array_equal(fold_of, assign_folds(y, 5, seed=4))


def test_too_few_rows_per_class_is_a_clear_error():
    with pytest.raises(ConfigError, match="needs at least 5 rows of every digit"):
        assign_folds(np.array([0, 0, 1, 1, 1, 1, 1]), 5, seed=0)


def test_stratified_subset_keeps_class_balance():
    y = np.repeat(np.arange(10), [100, 200, 100, 100, 100, 100, 100, 100, 100, 100])
    keep = stratified_subset(y, 550, seed=0)
    assert len(keep) == 550 and len(np.unique(keep)) == 550
    assert np.bincount(y[keep])[1] == 100  # the double-sized class keeps its share
    np.testing.assert_array_equal(stratified_subset(y, 5000, seed=0), np.arange(len(y)))


def test_average_and_fitted_weights():
    y = np.array([0, 1, 2, 3])
    good = np.eye(10)[y] * 0.9 + 0.01
    bad = np.full((4, 10), 0.1)
    np.testing.assert_allclose(ensemble.average([good, bad]), (good + bad) / 2, rtol=1e-6)
    np.testing.assert_allclose(ensemble.average([good, bad], np.array([3.0, 1.0])), 0.75 * good + 0.25 * bad,
                               rtol=1e-6)
    weights = ensemble.fit_weights([good, bad], y)
    assert weights.sum() == pytest.approx(1.0)
    assert weights[0] > 0.95  # the informative model takes the weight
    assert ensemble.accuracy(good, y) == 1.0
    assert ensemble.log_loss(good, y) < ensemble.log_loss(bad, y)
