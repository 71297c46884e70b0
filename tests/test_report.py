"""The run report: the session's real tiny run (bundled sample, 300 rows, 2 folds, 1 epoch), then its files."""

from __future__ import annotations

import base64
import csv
import dataclasses
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_summary import first_release_summary

from kaggle_digits import atomic, cli
from kaggle_digits.config import RunConfig
from kaggle_digits.errors import ConfigError, DataError
from kaggle_digits.report import FIGURES, write_report
from kaggle_digits.report.curves import (ERROR_FLOOR, FINAL, TRAIN, VALIDATION, drawn_kinds, fold_final_scores,
                                         learning_curves_caption)
from kaggle_digits.report.figures import (plot_augmentation, plot_confusion, plot_errors, plot_learning_curves,
                                          select_errors, select_uncertain)
from kaggle_digits.report.page import results_rows, results_table_html
from kaggle_digits.runs.rundir import REPORT_DIR, RunError
from kaggle_digits.runs.runload import load_run, read_summary

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="session")
def report_run(sample_run):
    """The session's tiny finished run (conftest.sample_run): make_submission wrote its report."""
    return sample_run


@pytest.fixture(scope="module")
def run(report_run):
    return load_run(report_run.run_dir)


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_MAGIC, f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# --------------------------------------------------------------------------- the files
def test_make_submission_writes_the_report(report_run):
    assert report_run.report_path == report_run.run_dir / "report.html"
    assert report_run.report_path.is_file()
    for name in FIGURES:  # augmentation is on by default, so every figure is there
        path = report_run.run_dir / REPORT_DIR / name
        width, height = png_size(path)
        assert 500 <= width <= 2000 and 300 <= height <= 2000, f"{name}: {width}x{height}"
        pixels = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3).astype(np.int32)
        assert len(np.unique(pixels @ [65536, 256, 1])) > 16, f"{name}: hardly any colours"
        assert np.mean(pixels.min(axis=1) < 200) > 0.01, f"{name}: nearly blank"
    for name in ("oof_errors.csv", "low_confidence_test.csv"):
        assert (report_run.run_dir / REPORT_DIR / name).stat().st_size > 30


def test_html_is_self_contained(report_run, run):
    text = report_run.report_path.read_text(encoding="utf-8")
    # the learning curves' caption is the one written from the figure drawn (this run validated every epoch)
    caption = learning_curves_caption(plot_learning_curves(run.histories, fold_final_scores(run.summary)))
    assert f"<p>{caption}</p>" in text and "Dashed lines" in caption
    images = re.findall(r'<img src="([^"]+)"', text)
    assert len(images) == len(FIGURES)
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG_MAGIC
    assert "bundled 4,000-row sample" in text  # the sample warning
    assert "<td>cnn_fast</td>" in text and "ensemble (calibrated weights)" in text  # the results table
    accuracy = atomic.read_json(report_run.run_dir / "ensemble.json")["ensemble"]["oof_accuracy"]
    assert f"{accuracy:.2%}" in text


# --------------------------------------------------------------------------- the error grid
def test_select_errors_matches_brute_force_on_the_run(run):
    order = select_errors(run.oof, run.y)
    wrong = [i for i in range(len(run.y)) if int(np.argmax(run.oof[i])) != int(run.y[i])]
    assert wrong, "a 1-epoch run on 300 rows should get some digits wrong"
    assert sorted(order.tolist()) == wrong
    confidence = run.oof[order].max(axis=1)
    assert np.all(np.diff(confidence) <= 0), "worst (most confident mistake) first"


def test_error_grid_shows_only_misclassified_rows(report_run, run):
    wrong = {i for i in range(len(run.y)) if int(np.argmax(run.oof[i])) != int(run.y[i])}
    fig, _ = plot_errors(run, limit=50)
    panels = [ax for ax in fig.axes if ax.images]
    shown = select_errors(run.oof, run.y)[:50]
    assert len(panels) == len(shown) == min(50, len(wrong))
    for ax, i in zip(panels, shown):
        assert i in wrong
        np.testing.assert_array_equal(ax.images[0].get_array(), run.x[i].reshape(28, 28))
        true, pred = map(int, re.match(r"true (\d) → (\d)", ax.get_title()).groups())
        assert true == run.y[i] != pred == int(np.argmax(run.oof[i]))
    # the CSV lists every error, in the grid's order
    records = read_csv(report_run.run_dir / REPORT_DIR / "oof_errors.csv")
    position = {int(r): i for i, r in enumerate(run.rows)}
    assert [position[int(r["train_row"]) - 1] for r in records] == select_errors(run.oof, run.y).tolist()
    assert {position[int(r["train_row"]) - 1] for r in records} == wrong


def test_select_errors_order_and_no_errors():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.45, 0.55]])
    y = np.array([0, 0, 1, 0, 0])
    assert select_errors(probs, y).tolist() == [1, 3, 2, 4]  # most confident mistake first
    assert select_errors(probs, probs.argmax(1)).size == 0


def test_select_uncertain():
    probs = np.array([[0.9, 0.1], [0.5, 0.5], [0.3, 0.7], [0.6, 0.4]])
    assert select_uncertain(probs, 2).tolist() == [1, 3]
    assert select_uncertain(probs, 10).tolist() == [1, 3, 2, 0]


# --------------------------------------------------------------------------- figure corner cases
def without_validation(histories: dict) -> dict:
    """The histories as a run without per-epoch validation (--minutes, --no-val-curves) saves them: no val_*."""
    return {name: [{k: v for k, v in h.items() if not k.startswith("val_")} for h in folds]
            for name, folds in histories.items()}


def test_learning_curves_draw_every_fold_train_and_validation_as_log_error(run):
    fig = plot_learning_curves(run.histories, fold_final_scores(run.summary))
    assert len(fig.axes) == 2  # one model: loss and error
    loss_ax, error_ax = fig.axes
    for ax in fig.axes:
        assert len(ax.lines) == 2 * run.n_folds  # train + validation per fold: no final markers beside curves
        assert all(len(line.get_xdata()) == 1 for line in ax.lines)  # the quick run has 1 epoch
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1"]
    assert loss_ax.get_yscale() == "linear" and error_ax.get_yscale() == "log"
    train = [line for line in error_ax.lines if line.get_gid() == TRAIN]
    for line, hist in zip(train, run.histories["cnn_fast"]):  # error = 1 - accuracy, as saved
        np.testing.assert_allclose(line.get_ydata(), np.maximum(1 - np.asarray(hist["accuracy"]), ERROR_FLOOR))
    assert {line.get_linestyle() for line in error_ax.lines if line.get_gid() == VALIDATION} == {"--"}
    assert drawn_kinds(fig) == {"loss": {TRAIN, VALIDATION}, "error": {TRAIN, VALIDATION}}
    caption = learning_curves_caption(fig)
    assert "Dashed lines, hollow dots" in caption and "log scale" in caption and "diamond" not in caption


def test_without_per_epoch_validation_each_fold_shows_its_final_score_and_the_caption_says_so(run):
    finals = fold_final_scores(run.summary)
    assert finals == {"cnn_fast": dict(enumerate(run.summary.models["cnn_fast"].fold_accuracy))}
    fig = plot_learning_curves(without_validation(run.histories), finals)
    loss_ax, error_ax = fig.axes
    assert {line.get_gid() for line in loss_ax.lines} == {TRAIN}  # no held-out loss was recorded
    markers = [line for line in error_ax.lines if line.get_gid() == FINAL]
    assert len(markers) == run.n_folds
    for k, line in enumerate(markers):  # one point per fold, at its last epoch, at its held-out error
        epochs = len(run.histories["cnn_fast"][k]["accuracy"])
        (x,) = line.get_xdata()
        assert abs(x - epochs) < 0.3 and line.get_linestyle() == "None"  # at its last epoch, folds side by side
        np.testing.assert_allclose(line.get_ydata(), [max(1 - finals["cnn_fast"][k], ERROR_FLOOR)])
    legend = [t.get_text() for t in error_ax.get_legend().get_texts()]
    assert all(any(f"fold {k + 1}: {acc:.2%}" in t for t in legend) for k, acc in finals["cnn_fast"].items())
    assert "held-out, per epoch" not in legend and "held-out, after training" in legend
    caption = learning_curves_caption(fig)
    assert "dashed" not in caption.lower() and "scored after every epoch" not in caption
    assert "held-out accuracy after training is one point at its last epoch" in caption
    assert "The loss panel shows training only." in caption
    # a partial run: only the folds it trained get a marker, in their own colour
    partial = dataclasses.replace(run.summary, folds={"cnn_fast": [1]},
                                  models={"cnn_fast": dataclasses.replace(run.summary.models["cnn_fast"],
                                                                          fold_accuracy=[0.99])})
    fig = plot_learning_curves(without_validation(run.histories), fold_final_scores(partial))
    (marker,) = [line for line in fig.axes[1].lines if line.get_gid() == FINAL]
    assert marker.get_color() == "C1" and np.isclose(marker.get_ydata()[0], 0.01)


def test_the_error_axis_tells_99_3_from_99_7_percent_apart():
    """On a linear accuracy axis from 0.84 to 1 these two folds were 2.5% of the panel apart; on the log error
    axis they are a good part of it."""
    history = {"accuracy": [0.84, 0.95, 0.98, 0.99, 0.995]}
    fig = plot_learning_curves({"cnn": [history, history]}, {"cnn": {0: 0.993, 1: 0.997}})
    ax = fig.axes[1]
    fig.canvas.draw()
    low, high = ax.transData.transform([(5, 0.007), (5, 0.003)])[:, 1]
    assert (low - high) / ax.bbox.height > 0.15
    assert any(t.get_text() in ("0.3%", "0.5%", "0.7%") for t in ax.get_yticklabels())  # labelled where it matters


def test_learning_curves_without_history_still_draw():
    fig = plot_learning_curves({"cnn": [{}, {"loss": [1.0, 0.5], "accuracy": [0.5, 1.0]}]})
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert not texts  # fold 2 has a history, so both panels have lines
    caption = learning_curves_caption(fig)
    assert "No held-out score was recorded" in caption and "0.01% means no errors" in caption  # accuracy 1.0
    assert "dashed" not in caption.lower() and "diamond" not in caption.lower()
    fig = plot_learning_curves({"cnn": [{}, {}]})
    assert any("no history" in t.get_text() for ax in fig.axes for t in ax.texts)
    assert learning_curves_caption(fig) == "No training history was saved for these models."


def test_augmentation_preview_is_skipped_when_augmentation_is_off(run):
    off = dataclasses.replace(run, config={**run.config, "augment": {"enabled": False}})
    assert plot_augmentation(off) is None


# --------------------------------------------------------------------------- command line and errors
@pytest.mark.slow
def test_cli_rerun_and_one_line_errors(report_run, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(report_run.run_dir, copy, ignore=shutil.ignore_patterns("*.keras", "report*"))
    assert cli.main(["report", str(copy), "--max-images", "10"]) == 0
    assert capsys.readouterr().out.strip() == f"report: {copy / 'report.html'}"
    assert len(read_csv(copy / REPORT_DIR / "low_confidence_test.csv")) == 10

    assert cli.main(["report", str(tmp_path / "nowhere")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    assert cli.run_script("report", [str(copy), "--max-images", "0"]) == 2  # the path a scripts/ file takes
    assert "--max-images must be at least 1" in capsys.readouterr().err
    (copy / "ensemble.json").unlink()
    assert cli.main(["report", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "missing ensemble.json" in err and err.count("\n") == 1


def test_a_two_model_report_shows_both_members_and_the_ensemble_against_them(pair_run, tmp_path, capsys):
    """`report` on a finished two-model run (conftest.pair_run): both members in the results and the
    ensemble-vs-members section, with every scored blend against the best member."""
    copy = tmp_path / "run"
    shutil.copytree(pair_run.run_dir, copy, ignore=shutil.ignore_patterns("*.keras", "report*"))
    assert cli.main(["report", str(copy)]) == 0
    assert capsys.readouterr().out.strip() == f"report: {copy / 'report.html'}"
    page = (copy / "report.html").read_text(encoding="utf-8")
    assert page.count("<h2>Ensemble vs members</h2>") == 1
    section = page[page.index("<h2>Ensemble vs members</h2>"):]
    section = section[:section.index("</ul>")]
    summary = atomic.read_json(copy / "ensemble.json")
    assert sorted(summary["models"]) == ["cnn_fast", "cnn_small"]
    best = max(summary["models"], key=lambda m: summary["models"][m]["oof_accuracy"])
    for model in summary["models"]:
        assert f"<td>{model}</td>" in section, model
    for blend in summary["ensemble"]["blends"]:
        assert f"ensemble: {blend}" in section, blend
    assert section.count(f" pts vs {best}</td>") == len(summary["ensemble"]["blends"])
    results = page[page.index('<h2 id="results">'):page.index("<h2>Ensemble vs members</h2>")]
    assert all(f"<tr><td>{model}</td>" in results for model in summary["models"])  # a results row each


def test_data_that_does_not_match_the_run_is_refused(report_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(report_run.run_dir, copy, ignore=shutil.ignore_patterns("*.keras", "report*"))
    info = atomic.read_json(copy / "data.json")
    atomic.write_json(copy / "data.json", {**info, "sha256": "0" * 64})
    with pytest.raises(DataError, match="not the data"):
        write_report(copy)
    atomic.write_json(copy / "data.json", {**info, "source": str(tmp_path / "moved.zip"), "is_sample": False})
    with pytest.raises(RunError, match="--data"):
        write_report(copy)
    assert len(load_run(copy, data=info["source"]).y) == 300  # --data points at where it is now


def test_relative_data_path_is_found_from_the_project_folder(report_run, tmp_path, monkeypatch):
    """A run made with ./data records the relative path; the report finds it from <project>/submissions/<run>."""
    project = tmp_path / "project"
    copy = project / "submissions" / "run"
    shutil.copytree(report_run.run_dir, copy, ignore=shutil.ignore_patterns("*.keras", "report*"))
    shutil.copytree(Path(atomic.read_json(copy / "data.json")["source"]), project / "data")
    info = atomic.read_json(copy / "data.json")
    atomic.write_json(copy / "data.json", {**info, "source": "data", "is_sample": False})
    monkeypatch.chdir(tmp_path)  # not the project folder
    assert len(load_run(copy).y) == 300


def test_no_report_flag():
    from kaggle_digits.config import from_args

    assert from_args(cli.build_parser().parse_args(["make", "--no-report"])).report is False
    assert from_args(cli.build_parser().parse_args(["make"])).report is True
    with pytest.raises(ConfigError, match="--max-images"):
        write_report("anywhere", max_images=0)


def test_confusion_matrix_cells_count_the_oof_predictions(run):
    ax = plot_confusion(run.y, run.oof).axes[0]
    predicted = run.oof.argmax(axis=1)
    cells = {}
    for text in ax.texts:  # one label per non-empty cell, at (column = predicted, row = true digit)
        column, row = text.get_position()
        cells[int(round(row)), int(round(column))] = int(text.get_text().replace(",", ""))
    assert sum(cells.values()) == len(run.y)
    for (true, pred), count in cells.items():
        assert count == int(np.sum((run.y == true) & (predicted == pred))), (true, pred)
    assert f"{np.mean(predicted == run.y):.2%} correct of {len(run.y):,} rows" in ax.get_title()


def test_results_table_follows_the_blend_used_and_reads_old_runs(run, tmp_path):
    rows = results_rows(run.summary)
    assert [r["model"] for r in rows] == ["cnn_fast", "ensemble (calibrated weights)"]  # the default blend
    e = run.summary.ensemble
    assert rows[-1]["oof_accuracy"] == e.oof_accuracy == e.blends["calibrated"].oof_accuracy
    assert rows[-1]["oof_log_loss"] == e.blends["calibrated"].oof_log_loss
    # an ensemble.json written before the blend registry (flat equal_/fitted_ keys) still reads (test_summary.py)
    atomic.write_json(tmp_path / "ensemble.json", first_release_summary())
    old = read_summary(tmp_path)
    assert [r["model"] for r in results_rows(old)] == ["cnn", "cnn_gru", "ensemble (oof weights)"]
    assert results_rows(old)[-1]["oof_log_loss"] == 0.05  # the oof blend's: the first release scored only blends
    assert "equal weights 98.00% (cnn 0.50, cnn_gru 0.50), oof weights 99.00% (cnn 1.40, cnn_gru 0.40)" in (
        results_table_html(old))
