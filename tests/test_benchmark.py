"""The benchmark: kit vs plain-Keras baseline on the same folds, and the TTA gain of a finished run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from kaggle_digits import benchmark
from kaggle_digits.config import RunConfig


def test_benchmark_compares_kit_and_baseline_on_the_same_folds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./data: the bundled sample
    cfg = RunConfig(data=None, max_train_rows=200, folds=2, epochs=1, verbose=0, models=("cnn_gru",),
                    report=False, submissions_dir=str(tmp_path / "runs"))
    report = benchmark.run(cfg, tmp_path / "out", log=lambda _: None)
    names = [row["name"] for row in report["table"]]
    assert names == ["cnn_gru", "ensemble", benchmark.BASELINE_MODEL]
    baseline = report["table"][-1]
    assert baseline["kind"] == "plain Keras baseline" and baseline["params"] == 42_530
    assert 0 <= baseline["oof_accuracy"] <= 1 and baseline["seconds_per_epoch"] > 0
    assert len(report["baseline"]["fold_accuracy"]) == 2 and report["n_train"] == 200
    table = pd.read_csv(tmp_path / "out" / "benchmark.csv")
    assert list(table.columns) == list(benchmark.COLUMNS) and len(table) == 3
    assert json.loads((tmp_path / "out" / "benchmark.json").read_text())["ratios"]["load_speedup"] > 0
    assert "| seed003_cnn | plain Keras baseline |" in (tmp_path / "out" / "benchmark.md").read_text()

    gain = benchmark.tta_gain(Path(report["run_dir"]), log=lambda _: None)
    assert set(gain) == {"cnn_gru", "ensemble (equal weights)"}
    run_summary = json.loads((Path(report["run_dir"]) / "ensemble.json").read_text())
    # without TTA the reloaded fold models reproduce the run's own OOF accuracy
    assert abs(gain["cnn_gru"]["oof_accuracy"] - run_summary["models"]["cnn_gru"]["oof_accuracy"]) < 1e-9
