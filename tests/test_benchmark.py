"""The benchmark: kit vs plain-Keras baseline on the same folds, and the TTA gain of a finished run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kaggle_digits.runs import rundir
from kaggle_digits.bench import baseline as benchmark
from kaggle_digits.config import RunConfig


@pytest.mark.slow
def test_benchmark_compares_kit_and_baseline_on_the_same_folds(tmp_path, monkeypatch, eager_folds):
    monkeypatch.chdir(tmp_path)  # no ./data: the bundled sample
    cfg = RunConfig(data=None, max_train_rows=200, folds=2, epochs=1, verbose=0, models=("cnn_fast",),
                    report=False, submissions_dir=str(tmp_path / "runs"))
    report = benchmark.run(cfg, tmp_path / "out")
    run_dir = Path(report["run_dir"])
    run_summary = json.loads((run_dir / "ensemble.json").read_text())
    rows, fold_of = rundir.read_folds(run_dir)
    assert report["n_train"] == len(rows) == 200 and report["folds"] == 2

    # the kit rows are the run's own figures, unchanged
    kit, ensemble_row, baseline = report["table"]
    assert [kit["name"], ensemble_row["name"], baseline["name"]] == ["cnn_fast", "ensemble", benchmark.BASELINE_MODEL]
    m = run_summary["models"]["cnn_fast"]
    assert (kit["oof_accuracy"], kit["params"], kit["epochs"], kit["fit_seconds"]) == \
        (m["oof_accuracy"], m["params"], 1, m["fit_seconds"])
    assert ensemble_row["oof_accuracy"] == run_summary["ensemble"]["oof_accuracy"]

    # the baseline: seed 003's CNN, one model per fold of the run's own folds, every row scored once
    assert baseline["kind"] == "plain Keras baseline" and baseline["params"] == 42_530 and baseline["epochs"] == 1
    fold_accuracy = report["baseline"]["fold_accuracy"]
    sizes = np.bincount(fold_of)
    assert len(fold_accuracy) == 2
    # the OOF accuracy is the row-weighted mean of the fold accuracies: every row was held out exactly once
    assert baseline["oof_accuracy"] == pytest.approx(float(np.dot(fold_accuracy, sizes) / sizes.sum()))
    # images/s is the training rows of a fold (fold 0 held out) per steady-state epoch second
    assert baseline["images_per_second"] == pytest.approx(np.sum(fold_of != 0) / baseline["seconds_per_epoch"])
    assert report["ratios"]["load_speedup"] == pytest.approx(
        report["baseline"]["load_seconds"] / report["kit"]["load_seconds"])

    # the three files say the same
    table = pd.read_csv(tmp_path / "out" / "benchmark.csv")
    assert list(table.columns) == list(benchmark.COLUMNS) and table["name"].tolist() == [r["name"] for r in
                                                                                          report["table"]]
    assert f"\ncnn_fast,kit,{m['params']},1,128," in (tmp_path / "out" / "benchmark.csv").read_text()  # an int, not 1234.0
    np.testing.assert_allclose(table["oof_accuracy"], [r["oof_accuracy"] for r in report["table"]])
    assert json.loads((tmp_path / "out" / "benchmark.json").read_text())["table"] == report["table"]
    md = (tmp_path / "out" / "benchmark.md").read_text()
    assert "| seed003_cnn | plain Keras baseline | 42,530 | 1 | 32 |" in md
    assert f"{baseline['oof_accuracy']:.2%} |" in md

    gain = benchmark.tta_gain(run_dir)
    assert set(gain) == {"cnn_fast", "ensemble (equal weights)"}
    # without TTA the reloaded fold models reproduce the run's own OOF accuracy
    assert abs(gain["cnn_fast"]["oof_accuracy"] - m["oof_accuracy"]) < 1e-9
    assert json.loads((run_dir / rundir.TTA).read_text())["models"]["cnn_fast"] == gain["cnn_fast"]


def test_budget_table_renders_without_optional_packages():
    """The time-to-accuracy table is plain Markdown (bench.tables), also when the notebook had no epoch in time."""
    import pandas as pd

    from kaggle_digits.bench.time_to_accuracy import render_markdown

    table = pd.DataFrame([
        {"budget_min": 1.0, "kit_plan": "2 folds x cnn_small 1 ep", "kit_oof_accuracy": 0.97, "kit_wall_s": 70.4,
         "notebook_holdout_accuracy": None, "notebook_epochs": 0},
        {"budget_min": 3.0, "kit_plan": "2 folds x cnn 3 ep", "kit_trained": "cnn 3, 4", "kit_oof_accuracy": 0.985,
         "kit_wall_s": 190.0, "notebook_holdout_accuracy": 0.99, "notebook_epochs": 5}])
    lines = render_markdown(table, {"full": "test machine"}).splitlines()
    assert lines[0] == "Machine: test machine"
    assert lines[4] == "| 1 min | 2 folds x cnn_small 1 ep |  | 97.00% | 70 s | no epoch in time | 0 |"
    assert lines[5] == "| 3 min | 2 folds x cnn 3 ep | cnn 3, 4 | 98.50% | 190 s | 99.00% | 5 |"
