"""Ensemble members (--seeds): each (model, seed) trains every fold of its own split, its OOF stays honest, a fold of
another split is never reused, and the planner buys members with the time a GPU has (issue 31)."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import numpy as np
import pytest

from kaggle_digits.competition import folds as folds_module
from kaggle_digits.competition.folds import member_name, member_seed, member_splits, model_of, training_folds
from kaggle_digits.config import RunConfig
from kaggle_digits.kaggle import limits
from kaggle_digits.pipeline import make_submission
from kaggle_digits.planning import budget, curves, probe
from kaggle_digits.training.clock import Deadline
from kaggle_digits.planning.planner import ModelCost, candidate_model_sets, epoch_caps, make_plan, predicted_error
from kaggle_digits.models import get_spec
from kaggle_digits.scoring.summary import summarise
from kaggle_digits.training.train import FoldResult
from conftest import FakeClock

CARD = ("cnn", "cnn_gru")


def test_each_member_has_its_own_stratified_split_and_the_first_is_the_runs():
    y = np.random.default_rng(0).integers(0, 10, 3000)
    splits = member_splits(y, 5, 42, 3)
    assert np.array_equal(splits[0], training_folds(y, 5, 42)[1])
    assert not np.array_equal(splits[0], splits[1]) and not np.array_equal(splits[1], splits[2])
    for split in splits:  # stratified: every fold holds a fifth of every digit
        for digit in range(10):
            counts = np.bincount(split[y == digit], minlength=5)
            assert counts.max() - counts.min() <= 1
    assert [member_seed(42, k) for k in range(3)] == [42, 43, 44]
    assert [member_name("cnn_fast", k) for k in range(3)] == ["cnn_fast", "cnn_fast@2", "cnn_fast@3"]


def _fold_results(y, split, name, right):
    """Per fold, OOF probabilities (rows in increasing order) that are right where ``right`` says."""
    results = []
    for k in range(split.max() + 1):
        held = np.flatnonzero(split == k)
        labels = np.where(right[held], y[held], (y[held] + 1) % 10)
        results.append(FoldResult(name, k, np.eye(10, dtype=np.float32)[labels],
                                  np.full((7, 10), 0.1, dtype=np.float32), metrics={
                                      "val_accuracy": float(right[held].mean()), "fit_seconds": 1.0, "epochs": 1,
                                      "params": 1}))
    return results


def test_each_members_oof_is_put_together_by_its_own_split():
    """Read through the run's split, the second member's predictions land on rows of other labels: it would score
    near chance. Through its own, every row gets the prediction of the model that held it out."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, 2000)
    first, second = member_splits(y, 4, 7, 2)
    right = rng.random(len(y)) < 0.95
    results = {"cnn_fast": _fold_results(y, first, "cnn_fast", right),
               "cnn_fast@2": _fold_results(y, second, "cnn_fast@2", right)}
    scored = summarise(results, y, first, "equal", {"cnn_fast@2": second})
    for member in results:
        assert scored.summary.models[member].oof_accuracy == pytest.approx(right.mean())
    assert scored.summary.ensemble.oof_accuracy == pytest.approx(right.mean())
    wrong = summarise(results, y, first, "equal")  # as if every member were on the run's split
    assert wrong.summary.models["cnn_fast@2"].oof_accuracy < 0.3


def test_a_run_of_members_trains_every_fold_of_each_members_split(tmp_path, fake_training):
    clock, trained = fake_training
    cfg = RunConfig(max_train_rows=400, folds=2, seeds=3, models=("cnn_fast",), epochs=1, report=False, verbose=0,
                    workers=1, submissions_dir=str(tmp_path / "subs"), run_dir=str(tmp_path / "run"))
    result = make_submission(cfg, Deadline.none(clock=clock))
    assert sorted((t.member, t.fold) for t in trained) == [(m, k) for m in ("cnn_fast", "cnn_fast@2", "cnn_fast@3")
                                                          for k in (0, 1)]
    prints = {}
    for member in ("cnn_fast", "cnn_fast@2", "cnn_fast@3"):
        for k in (0, 1):
            fp = json.loads((result.run_dir / member / f"fold{k}" / "fingerprint.json").read_text())
            prints[member, k] = (fp["seed"], fp["split_sha256"])
    assert {prints[m, 0][0] for m in ("cnn_fast", "cnn_fast@2", "cnn_fast@3")} == {cfg.seed, cfg.seed + 1, cfg.seed + 2}
    assert len({sha for _, sha in prints.values()}) == 3  # one split per member, shared by its folds
    summary = json.loads((result.run_dir / "ensemble.json").read_text())
    assert set(summary["models"]) == {"cnn_fast", "cnn_fast@2", "cnn_fast@3"} and not summary["partial"]
    assert result.submission_path.is_file()


def test_a_fold_of_another_split_is_retrained_not_reused(tmp_path, fake_training, monkeypatch, caplog):
    """scikit-learn splitting differently after an update (here: a shifted split) must not mix two splits' folds."""
    clock, trained = fake_training
    cfg = RunConfig(max_train_rows=400, folds=2, models=("cnn_fast",), epochs=1, report=False, verbose=0, workers=1,
                    submissions_dir=str(tmp_path / "subs"), run_dir=str(tmp_path / "run"))
    make_submission(cfg, Deadline.none(clock=clock))
    assert len(trained) == 2
    make_submission(cfg, Deadline.none(clock=clock))
    assert len(trained) == 2  # the same split: both folds reused
    real = folds_module.assign_folds
    monkeypatch.setattr(folds_module, "assign_folds", lambda y, n, seed: (real(y, n, seed) + 1) % n)
    monkeypatch.setattr("kaggle_digits.pipeline.training_folds", folds_module.training_folds)
    monkeypatch.setattr("kaggle_digits.pipeline.member_splits", folds_module.member_splits)
    with caplog.at_level(logging.INFO, logger="kaggle_digits.pipeline"):
        make_submission(cfg, Deadline.none(clock=clock))
    assert len(trained) == 4  # another split: retrained, saying why
    assert sum("not reused: it was trained on another split" in r.message for r in caplog.records) == 2


# --------------------------------------------------------------------------- the planner buys members
def _costs(train_ips: float, overhead: float = 8.0):
    models = ("cnn", "cnn_gru", "cnn_fast")
    # the pace between the models as measured on the H200 (benchmarks/gpu): cnn_fast fastest, cnn slowest
    share = {"cnn_fast": 1.0, "cnn_gru": 0.6, "cnn": 0.45}
    return {m: ModelCost(m, train_ips * share[m], 5 * train_ips, overhead) for m in models}


def _plan(minutes: float, train_ips: float, workers: int = 1):
    candidates = candidate_model_sets(CARD)
    caps = epoch_caps({m: get_spec(m).recipe.epochs for c in candidates for m in c})
    return make_plan(minutes * 60, _costs(train_ips), candidates, n_rows=42_000, n_test=28_000, max_epochs=caps,
                     workers=workers)


def test_members_grow_with_a_gpus_budget_and_the_predicted_error_falls():
    plans = [_plan(minutes, 12_000, workers=2) for minutes in (5, 15, 30, 60, 120)]
    seeds = [p.seeds for p in plans]
    assert seeds == sorted(seeds) and seeds[0] == 1 and seeds[-1] > 2
    errors = [predicted_error(p) for p in plans]
    assert errors == sorted(errors, reverse=True)
    for p in plans:  # every plan fits its budget
        assert p.estimate_seconds <= p.budget_seconds


@pytest.mark.parametrize("train_ips", [700, 1800])  # about cnn_fast's per worker on 2 cores: float32, bf16 units
@pytest.mark.parametrize("minutes", [budget.CPU_DEFAULT_MINUTES, 60])
def test_a_cpus_budgets_stay_one_member_with_every_epoch(train_ips, minutes):
    """The no-flag CPU run is not made worse, and --minutes 60 is planned by the same member planner: at a 2-core
    CPU's speed more members would cost the epochs that pay."""
    plan = _plan(minutes, train_ips, workers=2)
    assert plan.seeds == 1 and not plan.holdout


def test_the_gain_curve_is_one_for_one_member_and_falls_toward_its_floor():
    assert curves.gain(("cnn_fast",), 1) == 1.0
    floor = curves.member_floor(("cnn_fast",))
    assert 0 < floor < 1
    gains = [curves.gain(("cnn_fast",), n) for n in range(1, 9)]
    assert gains == sorted(gains, reverse=True) and gains[-1] > floor
    # a model without its own measured curve uses the fallback model's
    assert curves.member_floor(("cnn_gru",)) == pytest.approx(floor)


# --------------------------------------------------------------------------- a GPU kernel plans from inside
def test_a_gpu_kernel_without_flags_probes_and_plans_members_inside_its_deadline(monkeypatch, tmp_path):
    """Two GPUs, a fake clock: the default budget, capped by the kernel's deadline, less what the probe took."""
    clock = FakeClock()
    monkeypatch.setattr(budget, "gpu_devices", lambda: ["gpu:0", "gpu:1"])
    monkeypatch.setenv("KAGGLE_DIGITS_CACHE", str(tmp_path / "cache"))
    probed = []

    def fake_probe(models, augment, precision, cache_root=None, log=None, n_workers=1):
        probed.append((tuple(models), n_workers))
        clock.now += 30.0  # what timing them took
        return {m: c for m, c in _costs(30_000).items() if m in models}  # an H200 ran cnn_fast at 65,000+

    monkeypatch.setattr(probe, "measure_costs", fake_probe)
    data = SimpleNamespace(is_sample=False, sha256="0" * 64, n_test=28_000)
    assert budget.default_minutes(RunConfig(), data) == budget.GPU_DEFAULT_MINUTES
    kernel_limit = 45 * 60  # the kernel's own deadline (push -t less its reserve): shorter than the default
    planned = budget.plan_run(RunConfig(), data, 42_000, "float16", Deadline(kernel_limit, start=0.0, clock=clock))
    cfg = planned.config
    assert probed, "the kernel timed its models"
    assert cfg.minutes is None and cfg.seeds > 1 and cfg.model_seconds
    assert planned.training_end is not None and planned.training_end < kernel_limit
    plan = json.loads(next((tmp_path / "cache" / "plans").glob("plan-*.json")).read_text())
    assert plan["budget_seconds"] <= kernel_limit - clock.now + 1e-6  # the probe's time is spent from the budget
    assert plan["estimate_seconds"] <= plan["budget_seconds"]


def test_the_push_estimate_of_a_default_gpu_kernel_is_its_budget():
    settings = RunConfig().kernel_settings()
    estimate = limits.kernel_estimate(settings, lambda m: 30)
    assert estimate.seconds == budget.GPU_DEFAULT_MINUTES * 60 + limits.STARTUP_SECONDS
    full = limits.kernel_estimate({**settings, "full": True}, lambda m: 30)
    assert "full recipe" in full.basis


def test_a_fold_trained_by_other_code_is_retrained_and_never_gathered(tmp_path, fake_training, monkeypatch, caplog):
    """A resume, or --ensemble-only over folds gathered from kernels, never mixes in folds of other code."""
    import dataclasses

    from kaggle_digits.errors import DataError
    from kaggle_digits.training import train

    clock, trained = fake_training
    cfg = RunConfig(max_train_rows=400, folds=2, models=("cnn_fast",), epochs=1, report=False, verbose=0, workers=1,
                    submissions_dir=str(tmp_path / "subs"), run_dir=str(tmp_path / "run"))
    make_submission(cfg, Deadline.none(clock=clock))
    monkeypatch.setattr(train, "code_version", lambda model: "9.9.9+other")
    with pytest.raises(DataError, match="trained by other code"):
        make_submission(dataclasses.replace(cfg, ensemble_only=True), Deadline.none(clock=clock))
    caplog.clear()  # the refused --ensemble-only run's lines too are caught where an earlier test set INFO (logs.setup)
    with caplog.at_level(logging.INFO, logger="kaggle_digits.pipeline"):
        make_submission(cfg, Deadline.none(clock=clock))
    assert len(trained) == 4
    assert sum("not reused: it was trained by other code" in r.message for r in caplog.records) == 2


def test_the_ledger_counts_a_models_members_as_one_entry():
    from kaggle_digits.kaggle.ledger import _folds_epochs
    from kaggle_digits.scoring.summary import ModelScore

    def score(epochs):
        return ModelScore(0.99, 0.05, [0.99] * 5, 0.99, 0.0, 1.0, 1.0, 1.0, epochs, 1)

    members = {member_name(m, k): score(e) for k in range(3) for m, e in (("cnn", 48), ("cnn_gru", 49))}
    assert _folds_epochs(members) == "5 x cnn 48, cnn_gru 49 x 3 members"
    assert _folds_epochs({"cnn_fast": score(23)}) == "5 x 23"
    assert [model_of(n) for n in ("cnn_fast", "cnn_fast@2", "cnn_fast@2+pl", "cnn_fast+pl")] == ["cnn_fast"] * 4
