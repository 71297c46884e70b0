"""Fold assignment and probability averaging."""

from __future__ import annotations

import numpy as np
import pytest

from kaggle_digits.scoring import ensemble
from kaggle_digits.errors import ConfigError
from kaggle_digits.competition.folds import assign_folds, stratified_subset


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
    assert (weights >= 0).all() and weights[0] > weights[1]  # the informative model takes the weight
    assert ensemble.accuracy(good, y) == 1.0
    assert ensemble.log_loss(good, y) < ensemble.log_loss(bad, y)


def test_log_blend_undoes_an_under_confident_model():
    """A label-smoothed (flattened) but more accurate model must not lose to a sharp, less accurate one."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 2000)
    logits = rng.normal(0, 1, (2000, 10))
    accurate = logits.copy()
    accurate[np.arange(2000), y] += 3.0           # right more often...
    sharp = logits.copy()
    sharp[np.arange(2000), y] += 2.0              # ...than this one,
    soft = lambda z, t: np.exp(z / t) / np.exp(z / t).sum(1, keepdims=True)  # noqa: E731
    flat, peaked = soft(accurate, 4.0), soft(sharp, 0.5)  # but flattened, and this one over-sharpened
    assert ensemble.accuracy(flat, y) > ensemble.accuracy(peaked, y)
    weights = ensemble.fit_weights([flat, peaked], y)
    blended = ensemble.log_blend([flat, peaked], weights)
    assert ensemble.accuracy(blended, y) >= ensemble.accuracy(flat, y) - 0.005
    np.testing.assert_allclose(blended.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(ensemble.log_blend([flat], np.ones(1)), flat, rtol=1e-4)


def test_blend_registry_drives_the_pipeline_and_the_cli(monkeypatch):
    """A new blend is one registered function: pipeline.summarise scores it, --blend offers it."""
    from kaggle_digits import cli
    from kaggle_digits.config import RunConfig, from_args
    from kaggle_digits.pipeline import summarise
    from kaggle_digits.training.train import FoldResult

    assert list(ensemble.BLENDS) == ["calibrated", "equal", "weighted", "oof"]
    monkeypatch.setitem(ensemble.BLENDS, "first", ensemble.Blend(  # what @register_blend adds
        "first", fit=lambda oof, y: np.eye(len(oof))[0], apply=ensemble.average, description="the first model"))
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 4)
    fold_of = np.tile([0, 1], 20)
    probs = {m: rng.dirichlet(np.ones(10), len(y)).astype(np.float32) for m in ("a", "b")}
    results = {m: [FoldResult(m, k, p[fold_of == k], p[:5], metrics={"val_accuracy": 0.5, "fit_seconds": 1.0,
                                                                       "epochs": 1, "params": 10})
                   for k in (0, 1)] for m, p in probs.items()}
    scored = summarise(results, y, fold_of, "first")
    e = scored.summary.ensemble
    assert set(e.blends) == {"calibrated", "equal", "weighted", "oof", "first"}
    assert e.weights == {"a": 1.0, "b": 0.0}
    assert e.oof_accuracy == ensemble.accuracy(probs["a"], y) == e.blends["first"].oof_accuracy
    np.testing.assert_allclose(scored.test_probabilities, probs["a"][:5], rtol=1e-6)
    cfg = from_args(cli.build_parser().parse_args(["make", "--blend", "first"]))
    assert cfg.blend == "first" and cfg.validate() is cfg
    with pytest.raises(ConfigError, match="--blend is 'nope'; expected one of auto, calibrated, equal, weighted, oof, first"):
        RunConfig(blend="nope").validate()


def test_weights_the_blends_name_before_0_1_0_is_gone(capsys, tmp_path):
    """--weights and a TOML ``weights =`` were read for the 0.1.0 release only (CHANGELOG): now --blend alone."""
    from kaggle_digits import cli
    from kaggle_digits.config import from_args
    from kaggle_digits.errors import ConfigError

    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["make", "--weights", "equal"])
    assert "--weights" in capsys.readouterr().err
    (tmp_path / "old.toml").write_text('weights = "oof"\n')
    with pytest.raises(ConfigError, match="weights"):
        from_args(cli.build_parser().parse_args(["make", "--config", str(tmp_path / "old.toml")]))
    assert from_args(cli.build_parser().parse_args(["make", "--blend", "equal"])).blend == "equal"


def test_scores_are_sklearn_metrics():
    y = np.array([0, 1, 2, 2])
    p = np.full((4, 10), 0.05)
    p[[0, 1, 2, 3], [0, 1, 2, 5]] = 0.55
    assert ensemble.accuracy(p, y) == 0.75
    assert ensemble.log_loss(p, y) == pytest.approx(-(3 * np.log(0.55) + np.log(0.05)) / 4)


def test_the_calibrated_average_scores_oof_rows_with_cross_fitted_temperatures():
    """Its OOF figure uses, for each fold, temperatures fitted on the other folds; test rows use all rows."""
    from kaggle_digits.scoring import calibration

    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, 600)
    fold_of = np.repeat([0, 1, 2], 200)
    logits = rng.normal(0, 1, (2, 600, 10))
    logits[:, np.arange(600), y] += 2.0
    oof = [np.exp(l / t) / np.exp(l / t).sum(1, keepdims=True) for l, t in zip(logits, (0.3, 3.0))]
    blend = ensemble.get_blend("calibrated")
    temps = blend.fit(oof, y)
    assert temps[0] > 1 > temps[1]  # the over-confident model is softened, the under-confident sharpened
    scored = blend.oof_probabilities(oof, y, fold_of, temps)
    by_hand = ensemble.average([calibration.cross_fitted(p, y, fold_of)[0] for p in oof])
    np.testing.assert_allclose(scored, by_hand, rtol=1e-6)
    assert not np.allclose(scored, blend.apply(oof, temps))  # not the all-rows temperatures


def _results(probs: dict, fold_of: np.ndarray) -> dict:
    from kaggle_digits.training.train import FoldResult

    return {m: [FoldResult(m, k, p[fold_of == k], p[:5], metrics={"val_accuracy": 0.5, "fit_seconds": 1.0,
                                                                   "epochs": 1, "params": 10})
                for k in np.unique(fold_of)] for m, p in probs.items()}


def test_auto_blend_is_never_below_the_best_member():
    """A strong model beside a near-random one: any average loses to the strong one, so auto takes it alone."""
    from kaggle_digits.pipeline import summarise

    rng = np.random.default_rng(3)
    y = rng.integers(0, 10, 1000)
    fold_of = np.arange(1000) % 5
    strong = np.full((1000, 10), 0.02, dtype=np.float32)
    strong[np.arange(1000), y] = 0.82
    wrong = rng.random(1000) < 0.03  # 3% errors
    strong[wrong] = np.roll(strong[wrong], 1, axis=1)
    noise = rng.dirichlet(np.full(10, 0.1), 1000).astype(np.float32) * 0.999 + 1e-4
    scored = summarise(_results({"strong": strong, "noise": noise}, fold_of), y, fold_of, "auto")
    e, members = scored.summary.ensemble, scored.summary.models
    assert e.oof_accuracy >= members["strong"].oof_accuracy == pytest.approx(0.97, abs=0.02)
    assert e.gain_over_best_member >= 0
    assert e.blends["equal"].oof_accuracy < members["strong"].oof_accuracy  # a plain average loses
    assert ensemble.accuracy(scored.oof_probabilities, y) == e.oof_accuracy


def test_every_blend_is_scored_with_weights_fitted_on_the_other_folds(monkeypatch):
    seen = []

    def fit(oof, y):
        seen.append(len(y))
        return np.full(len(oof), 1 / len(oof))

    blend = ensemble.Blend("probe", fit=fit, apply=ensemble.average, description="records its fitting rows")
    rng = np.random.default_rng(0)
    oof = [rng.dirichlet(np.ones(10), 90).astype(np.float32) for _ in range(2)]
    fold_of = np.repeat([0, 1, 2], 30)
    blend.oof_probabilities(oof, rng.integers(0, 10, 90), fold_of)
    assert seen == [60, 60, 60]  # each fold's rows blended with weights from the 60 rows of the other two folds


def test_the_weighted_blend_fits_temperatures_then_convex_weights():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, 600)
    good = np.full((600, 10), 0.01, dtype=np.float32)
    good[np.arange(600), y] = 0.91
    bad = rng.dirichlet(np.ones(10), 600).astype(np.float32)
    fitted = ensemble.get_blend("weighted").fit([good, bad], y)
    temperatures, weights = fitted[:2], fitted[2:]
    assert weights.sum() == pytest.approx(1.0) and weights[0] > 0.9  # nearly all weight on the good model
    assert all(0.05 <= t <= 20 for t in temperatures)
