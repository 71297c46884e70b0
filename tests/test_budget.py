"""The time budget as a run sees it: the CPU default, the plan written into the config, a planned run."""

from __future__ import annotations

import json
import tomllib
from types import SimpleNamespace

import pytest

from kaggle_digits import budget, probe
from kaggle_digits.config import RunConfig
from kaggle_digits.pipeline import make_submission
from kaggle_digits.planner import ModelCost, Plan


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


def test_a_gpu_trains_the_full_recipe_by_default(monkeypatch):
    monkeypatch.setattr(budget, "gpu_devices", lambda: ["/gpu:0"])
    assert budget.default_minutes(RunConfig(), SimpleNamespace(is_sample=False)) is None


def test_a_plan_becomes_the_runs_settings():
    plan = Plan(folds=3, epochs={"cnn": 9, "cnn_gru": 6}, augment=False, estimate_seconds=570, budget_seconds=600)
    cfg = budget.planned_config(RunConfig(minutes=10), plan)
    assert (cfg.minutes, cfg.folds, cfg.models, cfg.model_epochs) == (None, 3, ("cnn", "cnn_gru"), {"cnn": 9, "cnn_gru": 6})
    assert cfg.augment.enabled is False and cfg.validate_each_epoch is False
    again = RunConfig(**tomllib.loads(cfg.to_toml()))  # config.toml reproduces the plan without planning
    assert budget.default_minutes(again, SimpleNamespace(is_sample=False)) is None
    assert again.training_fingerprint() == cfg.training_fingerprint()


def test_a_planned_run_records_its_plan(tmp_path, monkeypatch, cpu_only):
    slow = {m: ModelCost(m, 40.0, 400.0, 1.0) for m in ("cnn", "cnn_gru", "cnn_fast")}  # made-up speeds
    monkeypatch.setattr(probe, "measure_costs", lambda models, *a, **k: {m: slow[m] for m in models})
    monkeypatch.chdir(tmp_path)
    result = make_submission(RunConfig(data=None, max_train_rows=200, minutes=0.5, verbose=0, report=False,
                                       submissions_dir=str(tmp_path / "subs")))
    config = tomllib.loads((result.run_dir / "config.toml").read_text())
    assert config["folds"] == 2 and sum(config["model_epochs"].values()) >= 1 and "minutes" not in config
    summary = json.loads((result.run_dir / "ensemble.json").read_text())
    assert summary["plan"]["folds"] == 2 and summary["plan"]["epochs"] == config["model_epochs"]
