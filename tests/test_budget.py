"""The time budget as a run sees it: the CPU default, the plan written into the config, a planned run."""

from __future__ import annotations

import dataclasses
import math
import tomllib
from types import SimpleNamespace

import pytest

from kaggle_digits.planning import budget, probe
from kaggle_digits.training.clock import Deadline
from kaggle_digits.config import RunConfig
from kaggle_digits.pipeline import make_submission
from kaggle_digits.planning.planner import ModelCost, Plan
from kaggle_digits.runs.runload import read_summary


@pytest.fixture
def cpu_only(monkeypatch):
    monkeypatch.setattr(budget, "gpu_devices", lambda: [])


@pytest.mark.parametrize("settings, is_sample, expected", [
    ({}, True, budget.SAMPLE_DEFAULT_MINUTES),
    ({}, False, budget.CPU_DEFAULT_MINUTES),
    ({"minutes": 7.0}, False, 7.0),
    ({"epochs": 3}, False, None),
    ({"model_epochs": {"cnn": 3}}, False, None),
    ({"full": True}, False, None),
])
def test_cpu_default_budget(cpu_only, settings, is_sample, expected):
    assert budget.default_minutes(RunConfig(**settings), SimpleNamespace(is_sample=is_sample)) == expected


def test_a_gpu_plans_its_default_budget_and_full_trains_the_recipe(monkeypatch):
    monkeypatch.setattr(budget, "gpu_devices", lambda: ["/gpu:0"])
    assert budget.default_minutes(RunConfig(), SimpleNamespace(is_sample=False)) == budget.GPU_DEFAULT_MINUTES
    assert budget.default_minutes(RunConfig(full=True), SimpleNamespace(is_sample=False)) is None


def test_a_plan_becomes_the_runs_settings():
    plan = Plan(folds=3, epochs={"cnn": 9, "cnn_gru": 6}, augment=False, estimate_seconds=570, budget_seconds=600)
    cfg = budget.planned_config(RunConfig(minutes=10), plan)
    assert (cfg.minutes, cfg.folds, cfg.models, cfg.model_epochs) == (None, 3, ("cnn", "cnn_gru"), {"cnn": 9, "cnn_gru": 6})
    assert cfg.augment.enabled is False and cfg.validate_each_epoch is False
    again = RunConfig(**tomllib.loads(cfg.to_toml()))  # config.toml reproduces the plan without planning
    assert budget.default_minutes(again, SimpleNamespace(is_sample=False)) is None
    assert again.training_fingerprint() == cfg.training_fingerprint()


@pytest.mark.slow
def test_a_planned_run_records_its_plan(tmp_path, monkeypatch, cpu_only, fake_training):
    """Made-up speeds so slow that the plan is the smallest run there is: a holdout (fold 0 of 5)."""
    slow = {m: ModelCost(m, 40.0, 400.0, 1.0) for m in ("cnn", "cnn_gru", "cnn_fast")}  # made-up speeds
    monkeypatch.setattr(probe, "measure_costs", lambda models, *a, **k: {m: slow[m] for m in models})
    monkeypatch.chdir(tmp_path)
    result = make_submission(RunConfig(data=None, max_train_rows=200, minutes=0.5, verbose=0, report=False,
                                       submissions_dir=str(tmp_path / "subs")))
    config = tomllib.loads((result.run_dir / "config.toml").read_text())
    assert config["folds"] == 5 and config["holdout"] and sum(config["model_epochs"].values()) >= 1
    assert "minutes" not in config and [t.fold for t in fake_training[1]] == [0]
    summary = read_summary(result.run_dir)
    assert summary.plan.folds == 5 and summary.plan.holdout and summary.holdout
    assert summary.plan.epochs == config["model_epochs"]
    # each planned model's folds train for the seconds the plan gave them, recorded beside its epochs
    assert set(config["model_seconds"]) == set(config["model_epochs"]) and min(config["model_seconds"].values()) > 0
    assert summary.plan.fold_seconds == config["model_seconds"]


def test_what_the_data_refuses_is_refused_before_the_speed_probe(monkeypatch, cpu_only, tmp_path):
    """--max-train-rows 5 with a budget used to be refused only after the probe had timed the models."""
    from kaggle_digits.errors import ConfigError

    def probed(*args, **kwargs):
        raise AssertionError("the probe ran before the data checks")

    monkeypatch.setattr(probe, "measure", probed)
    cfg = RunConfig(minutes=1, max_train_rows=5, report=False, submissions_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="--max-train-rows 5 is too small"):
        make_submission(cfg)


def test_a_budget_below_the_smallest_run_says_it_will_finish_late(monkeypatch, cpu_only, tmp_path, caplog):
    import logging

    from kaggle_digits.competition.data import load_competition

    slow = {m: ModelCost(m, 40.0, 400.0, 1.0) for m in ("cnn", "cnn_gru", "cnn_fast")}  # made-up speeds
    monkeypatch.setattr(probe, "measure_costs", lambda models, *a, **k: {m: slow[m] for m in models})
    monkeypatch.setenv("KAGGLE_DIGITS_CACHE", str(tmp_path / "cache"))
    data = load_competition(None)
    with caplog.at_level(logging.INFO, logger="kaggle_digits.planning.budget"):
        cfg = budget.apply_budget(RunConfig(minutes=0.2, report=False), data, 4000, "float32", Deadline.none())
    # the smallest run there is: one fold of five (a holdout) of one epoch
    assert cfg.holdout and cfg.folds == 5 and cfg.model_epochs == {"cnn_fast": 1}
    assert any("smallest run there is" in r.message and "finish late" in r.message for r in caplog.records)


def test_a_fold_trains_at_its_precision_although_clear_session_resets_the_policy(tmp_path, eager_folds):
    """keras.backend.clear_session() sets the global policy back to float32; train_fold must set it again."""
    import keras
    import numpy as np

    from kaggle_digits.config import AugmentConfig
    from kaggle_digits.models import get_spec
    from kaggle_digits.training.train import FoldTask, train_fold

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(64, 28, 28, 1), dtype=np.uint8)
    y = rng.integers(0, 10, size=64)
    task = FoldTask(model="cnn_fast", hp=dict(get_spec("cnn_fast").hp), recipe=get_spec("cnn_fast").recipe.override(
        epochs=1, batch_size=32), augment=AugmentConfig(enabled=False), fold=0, n_folds=2, seed=1, data_sha256="d",
        rows_sha256="r", validate_each_epoch=False, precision="bfloat16")
    keras.mixed_precision.set_global_policy("float32")
    try:
        result = train_fold(task, x[:48], y[:48], x[48:], y[48:], x[:8], tmp_path)
        model = keras.saving.load_model(tmp_path / "model.keras")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(layer.dtype_policy.name == "mixed_bfloat16" for layer in convs)
    assert result.oof.dtype == np.float32 and np.allclose(result.oof.sum(axis=1), 1.0, atol=1e-3)


def test_a_trained_fold_replaces_the_probed_speed_in_the_cache(tmp_path, monkeypatch):
    from kaggle_digits.config import AugmentConfig

    monkeypatch.setattr(probe, "measure", lambda name, augment, precision: ModelCost(name, 5000.0, 9000.0, 3.0))
    first = probe.measure_costs(("cnn_fast",), AugmentConfig(), "bfloat16", tmp_path)["cnn_fast"]
    assert first.train_images_per_second == 5000.0 and not first.sustained
    probe.record_sustained("cnn_fast", AugmentConfig(), "bfloat16", 3900.0, tmp_path)
    again = probe.measure_costs(("cnn_fast",), AugmentConfig(), "bfloat16", tmp_path)["cnn_fast"]
    assert (again.train_images_per_second, again.predict_images_per_second, again.sustained) == (3900.0, 9000.0, True)
    # another augmentation setting is another entry: not touched
    other = probe.measure_costs(("cnn_fast",), AugmentConfig(enabled=False), "bfloat16", tmp_path)["cnn_fast"]
    assert other.train_images_per_second == 5000.0


def test_the_real_probe_gives_positive_finite_speeds_and_caches_them(tmp_path, monkeypatch):
    """probe.measure itself, through measure_costs, on fewer timed batches than a run uses: positive, finite speeds,
    written to the cache and read back without timing again (how fast is not asserted: this is a test machine).
    It builds, places and compiles through train.compile_for_training (the folds' function, with their jit
    setting) inside distribution_scope, so a --minutes plan times what the folds will run."""
    from kaggle_digits.config import AugmentConfig

    for name, value in (("SHORT_FIT", 1), ("LONG_FIT", 3), ("REPEATS", 1)):
        monkeypatch.setattr(probe, name, value)
    calls, scopes = [], []
    compile_for_training, distribution_scope = probe.compile_for_training, probe.distribution_scope
    monkeypatch.setattr(probe, "compile_for_training", lambda *a, **k: calls.append((a, k)) or compile_for_training(
        *a, **k))
    monkeypatch.setattr(probe, "distribution_scope", lambda: scopes.append(True) or distribution_scope())
    augment = AugmentConfig(enabled=False)
    cost = probe.measure_costs(("cnn_fast",), augment, "float32", tmp_path)["cnn_fast"]
    assert cost.model == "cnn_fast" and not cost.sustained
    (args, kwargs), = calls
    assert args[0] == "cnn_fast" and "jit_compile" not in kwargs and scopes == [True]  # train.JIT_COMPILE, as folds
    for value in (cost.train_images_per_second, cost.predict_images_per_second, cost.fold_overhead_seconds):
        assert math.isfinite(value) and value > 0
    assert len(list(tmp_path.glob("speed-*.json"))) == 1
    monkeypatch.setattr(probe, "measure", lambda *args: pytest.fail("timed again although cached"))
    assert probe.measure_costs(("cnn_fast",), augment, "float32", tmp_path)["cnn_fast"] == cost
    assert probe.cached_cost("cnn_fast", augment, "float32", tmp_path) == cost


def test_the_same_command_gets_the_same_plan_so_its_finished_run_is_reused(tmp_path, monkeypatch, cpu_only, caplog,
                                                                          fake_training):
    """Folds by conftest's fake_training: what is tested is the plan kept and the run folder found again."""
    import logging

    speeds = iter([8000.0, 2000.0])  # the machine seems 4x slower the second time: a fresh plan would differ
    monkeypatch.setattr(probe, "measure_costs", lambda models, *a, **k: {
        m: ModelCost(m, s, 9000.0, 1.0) for m, s in zip(models, [next(speeds)] * len(models))})
    monkeypatch.chdir(tmp_path)
    cfg = dict(data=None, max_train_rows=200, minutes=0.5, verbose=0, report=False,
               submissions_dir=str(tmp_path / "subs"))
    first = make_submission(RunConfig(**cfg))
    assert fake_training[1]  # it trained (fake) folds
    caplog.set_level(logging.INFO, logger="kaggle_digits")
    caplog.clear()
    again = make_submission(RunConfig(**cfg))
    assert again.run_dir == first.run_dir
    assert any("as this command planned it before here" in m for m in caplog.messages)
    assert any("identical to finished run" in m for m in caplog.messages)


@pytest.mark.parametrize("sustained, planned_again", [(4000.0, True), (7200.0, False)])
def test_a_kept_plan_is_made_again_when_the_speed_measured_since_differs_by_a_quarter(
        monkeypatch, cpu_only, tmp_path, caplog, sustained, planned_again):
    """The same command reuses its kept plan, unless a fold since sustained a speed more than a quarter off the
    one the plan was made with (a probe taken while the machine was busy): then it plans again, once."""
    import logging

    from kaggle_digits.config import AugmentConfig
    from kaggle_digits.competition.data import load_competition

    monkeypatch.setenv("KAGGLE_DIGITS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(probe, "measure", lambda name, augment, precision: ModelCost(name, 8000.0, 9000.0, 3.0))
    data = load_competition(None)
    cfg = RunConfig(minutes=1.0, report=False)
    first = budget.apply_budget(cfg, data, 4000, "float32", Deadline.none())
    augment = dataclasses.replace(AugmentConfig(), enabled=first.augment.enabled)
    for model in first.models:
        probe.record_sustained(model, augment, "float32", sustained, budget.cache_root())
    caplog.set_level(logging.INFO, logger="kaggle_digits.planning.budget")
    again = budget.apply_budget(cfg, data, 4000, "float32", Deadline.none())
    assert any("planning again" in m for m in caplog.messages) == planned_again
    assert any("as this command planned it before" in m for m in caplog.messages) != planned_again
    assert (again.model_seconds != first.model_seconds or again.model_epochs != first.model_epochs) == planned_again


def test_a_holdout_keeps_no_seconds_for_a_report_it_does_not_write(cpu_only):
    """A holdout writes no report (its figures need every row out of fold): its fold gets those seconds."""
    data, cfg = SimpleNamespace(is_sample=False), RunConfig(minutes=1.0)
    assert budget.training_end(cfg, data, holdout=True) - budget.training_end(cfg, data) == \
        pytest.approx(budget.REPORT_SECONDS)
