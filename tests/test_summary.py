"""The typed run summary (summary.RunSummary): what ensemble.json holds, written and read back unchanged, its
keys those of every release, and the files of older releases read with defaults. No training: fold results
are made by hand."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from kaggle_digits import atomic
from kaggle_digits.runs import rundir
from kaggle_digits.runs.runload import read_summary
from kaggle_digits.scoring.summary import BlendScore, RunPlan, RunSummary, summarise
from kaggle_digits.training.train import FoldResult

# ensemble.json's keys, as every release since the blend registry, --blend auto and partial ensembles wrote them
TOP_KEYS = {"models", "ensemble", "error_overlap", "folds", "scored_folds", "partial", "left_out", "holdout",
            "precision", "trained_folds", "load_seconds", "wall_seconds", "is_sample", "n_train",
            "n_test"}  # and plan, if planned
MODEL_KEYS = {"oof_accuracy", "oof_log_loss", "fold_accuracy", "fold_accuracy_mean", "fold_accuracy_std",
              "seconds_per_epoch", "images_per_second", "fit_seconds", "epochs", "params"}
ENSEMBLE_KEYS = {"weights_used", "blend_requested", "blend", "weights", "oof_accuracy", "oof_log_loss", "blends",
                 "best_member", "gain_over_best_member"}
BLEND_KEYS = {"description", "weights", "fitted", "oof_accuracy", "oof_log_loss"}
OVERLAP_KEYS = {"model", "other", "errors", "other_right"}
PLAN = RunPlan(folds=3, epochs={"a": 2, "b": 3}, augment=False, fold_seconds={"a": 12.5}, holdout=True, seeds=2)
PLAN_JSON = {"folds": 3, "seeds": 2, "epochs": {"a": 2, "b": 3}, "holdout": True, "augment": False,
             "fold_seconds": {"a": 12.5}}  # its keys: tests/test_records.py


def _fold(model: str, fold: int, n_held: int, rng: np.random.Generator, speed: bool = True) -> FoldResult:
    metrics = {"val_accuracy": float(rng.random()), "fit_seconds": float(rng.random() * 10), "epochs": 2,
               "params": 1234}
    if speed:
        metrics |= {"seconds_per_epoch": float(rng.random()), "images_per_second": float(rng.random() * 1e3)}
    probabilities = lambda n: rng.dirichlet(np.ones(10), size=n).astype(np.float32)  # noqa: E731
    return FoldResult(model, fold, probabilities(n_held), probabilities(7), metrics=metrics)


def _run_summary(plan: RunPlan | None = PLAN) -> RunSummary:
    """A two-model, three-fold run's summary with the facts pipeline adds (b recorded no speed)."""
    rng = np.random.default_rng(0)
    fold_of, y = np.repeat(np.arange(3), 30), rng.integers(0, 10, 90)
    results = {"a": [_fold("a", k, 30, rng) for k in range(3)], "b": [_fold("b", k, 30, rng, speed=False)
                                                                     for k in range(3)]}
    scored = summarise(results, y, fold_of, "auto")
    return dataclasses.replace(scored.summary, plan=plan, precision="float32", trained_folds=6, load_seconds=0.25,
                               wall_seconds=30.5, is_sample=True, n_train=90, n_test=7)


def test_a_summary_written_to_ensemble_json_reads_back_equal(tmp_path):
    for plan in (PLAN, None):
        summary = _run_summary(plan)
        rundir.record_ensemble(tmp_path, summary.to_json(), np.zeros((90, 10)), np.zeros((7, 10)))
        assert read_summary(tmp_path) == summary
        assert RunSummary.from_json(json.loads(json.dumps(summary.to_json()))) == summary
    assert [(p.model, p.other) for p in summary.error_overlap] == [("a", "b"), ("b", "a")]


def test_ensemble_json_has_the_keys_it_always_had(tmp_path):
    summary = _run_summary()
    rundir.record_ensemble(tmp_path, summary.to_json(), np.zeros((90, 10)), np.zeros((7, 10)))
    written = atomic.read_json(tmp_path / rundir.ENSEMBLE)
    assert set(written) == TOP_KEYS | {"plan"} and written["plan"] == PLAN_JSON
    assert {name: set(m) for name, m in written["models"].items()} == {"a": MODEL_KEYS, "b": MODEL_KEYS}
    assert written["models"]["b"]["seconds_per_epoch"] is None  # a value not recorded is written as null
    assert set(written["ensemble"]) == ENSEMBLE_KEYS
    assert set(written["ensemble"]["blends"]) == {"calibrated", "equal", "weighted", "oof"}
    assert all(set(b) == BLEND_KEYS for b in written["ensemble"]["blends"].values())
    assert [set(p) for p in written["error_overlap"]] == [OVERLAP_KEYS, OVERLAP_KEYS]
    assert written["folds"] == {"a": [0, 1, 2], "b": [0, 1, 2]} and written["n_test"] == 7
    assert set(_run_summary(plan=None).to_json()) == TOP_KEYS  # no plan: no key, as before


def first_release_summary() -> dict:
    """ensemble.json as the first release wrote it: flat equal_/fitted_ blend keys, no later key."""
    member = {"oof_accuracy": 0.98, "oof_log_loss": 0.07, "fold_accuracy": [0.97, 0.99], "fold_accuracy_mean": 0.98,
              "fold_accuracy_std": 0.01, "seconds_per_epoch": 3.0, "images_per_second": 9000.0, "fit_seconds": 60.0,
              "epochs": 5, "params": 100_000}
    return {"models": {"cnn": member, "cnn_gru": member}, "ensemble": {
        "weights_used": "oof", "weights": {"cnn": 0.8, "cnn_gru": 0.2}, "oof_accuracy": 0.99,
        "equal_weights_oof_accuracy": 0.98, "equal_weights_oof_log_loss": 0.1,
        "fitted_weights": {"cnn": 1.4, "cnn_gru": 0.4}, "fitted_weights_oof_accuracy": 0.99,
        "fitted_weights_oof_log_loss": 0.05},
        "load_seconds": 1.5, "wall_seconds": 300.0, "is_sample": False, "n_train": 42_000, "n_test": 28_000}


def test_a_first_release_file_reads_with_its_blends_and_defaults(tmp_path):
    atomic.write_json(tmp_path / rundir.ENSEMBLE, first_release_summary())
    old = read_summary(tmp_path)
    e = old.ensemble
    assert e.blends == {"equal": BlendScore(weights={"cnn": 0.5, "cnn_gru": 0.5}, oof_accuracy=0.98, oof_log_loss=0.1),
                        "oof": BlendScore(weights={"cnn": 1.4, "cnn_gru": 0.4}, oof_accuracy=0.99, oof_log_loss=0.05)}
    assert e.blend_requested == "oof" and e.oof_log_loss == 0.05  # the blend used: its log loss is the ensemble's
    assert e.blend is None and e.best_member is None and e.gain_over_best_member is None
    assert old.models["cnn"].fold_accuracy == [0.97, 0.99] and old.models["cnn_gru"].params == 100_000
    assert old.folds == {"cnn": [0, 1], "cnn_gru": [0, 1]} and old.scored_folds == [0, 1]
    assert old.error_overlap == [] and old.partial is False and old.left_out == []
    assert (old.holdout, old.plan, old.precision, old.trained_folds) == (False, None, None, None)
    assert (old.load_seconds, old.wall_seconds, old.is_sample, old.n_train, old.n_test) == (1.5, 300.0, False,
                                                                                         42_000, 28_000)


def test_a_file_from_before_auto_and_partial_ensembles_reads_with_defaults():
    """The blend registry's files (blends with a description, no fitted values), before --blend auto and
    partial ensembles and --holdout: no blend_requested, folds, scored_folds, partial, left_out or holdout."""
    content = _run_summary().to_json()
    for key in ("folds", "scored_folds", "partial", "left_out", "holdout"):
        del content[key]
    del content["ensemble"]["blend_requested"]
    content["ensemble"]["weights_used"] = "oof"
    for blend in content["ensemble"]["blends"].values():
        del blend["fitted"]
    old = RunSummary.from_json(content)
    assert old.ensemble.blend_requested == "oof"  # before auto, the blend asked for was the one used
    assert all(b.fitted is None and b.description for b in old.ensemble.blends.values())
    assert old.folds == {"a": [0, 1, 2], "b": [0, 1, 2]} and old.scored_folds == [0, 1, 2]
    assert old.partial is False and old.left_out == [] and old.holdout is False and old.plan == PLAN


@pytest.mark.parametrize("content", [{"models": {}}, [], {"models": {"cnn": {"oof_accuracy": 0.9}}, "ensemble": {}}])
def test_what_is_not_a_summary_is_a_value_error(content):
    with pytest.raises(ValueError, match="not a run summary"):
        RunSummary.from_json(content)


def test_a_summary_whose_plan_is_not_one_is_a_value_error():
    content = {**_run_summary().to_json(), "plan": {"folds": 3}}
    with pytest.raises(ValueError, match="not a run plan"):
        RunSummary.from_json(content)
