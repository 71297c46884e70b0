"""The run report: look at what a run did instead of reading its JSON.

``write_report(run_dir)`` reads a finished run folder -- it never trains -- and writes, next to the
submission:

* ``report/learning_curves.png``   loss and accuracy per epoch, train vs validation, folds overlaid
* ``report/confusion_matrix.png``  the ensemble's out-of-fold confusion matrix with per-class accuracy
* ``report/oof_errors.png``        the misclassified training digits, worst first (+ ``oof_errors.csv``)
* ``report/low_confidence_test.png`` the test predictions to look at before submitting (+ ``.csv``)
* ``report/augmentation.png``      a few digits and random variants: what training saw
* ``report.html``                  one self-contained page (images embedded) with the results table

The images come back from the data the run was trained on (``data.json`` names it and its SHA-256,
which must match). Figures are drawn on ``matplotlib.figure.Figure`` objects rendered by the Agg
canvas, so the report works headless and never touches pyplot's global backend (a notebook that
imports this module keeps its inline plots).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import html
import io
import os
import tomllib
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, PercentFormatter

from kaggle_digits import __version__, atomic
from kaggle_digits.config import AugmentConfig
from kaggle_digits.data import BUNDLED_SAMPLE, Competition, load_competition
from kaggle_digits.errors import DataError, KaggleDigitsError

REPORT_DIR = "report"
REPORT_HTML = "report.html"
FIGURES = {  # file name -> section title, in report order
    "learning_curves.png": "Learning curves",
    "confusion_matrix.png": "Out-of-fold confusion matrix (ensemble)",
    "oof_errors.png": "Misclassified training digits (out-of-fold, worst first)",
    "low_confidence_test.png": "Least confident test predictions",
    "augmentation.png": "Augmentation preview",
}
RUN_FILES = ("data.json", "train_rows.npy", "folds.npy", "ensemble.json", "oof_probabilities.npy",
             "test_probabilities.npy")
GRID_COLUMNS = 10
DPI = 100


class ReportError(KaggleDigitsError):
    """The folder is not a finished run, or its data cannot be found."""


# --------------------------------------------------------------------------- reading the run
@dataclasses.dataclass
class Run:
    """Everything the report draws, read from a run folder (images re-loaded from the data)."""

    run_dir: Path
    config: dict
    data_info: dict
    summary: dict
    rows: np.ndarray           # indices into train.csv of the rows used
    fold_of: np.ndarray        # fold id per used row
    oof: np.ndarray            # (n_used, 10) ensemble OOF probabilities
    test: np.ndarray           # (n_test, 10) ensemble test probabilities
    histories: dict            # model -> list (per fold) of Keras history dicts ({} when missing)
    x: np.ndarray              # (n_used, 28, 28, 1) uint8 training images, in ``rows`` order
    y: np.ndarray              # (n_used,) labels
    x_test: np.ndarray         # (n_test, 28, 28, 1) uint8

    @property
    def models(self) -> list[str]:
        return list(self.summary.get("models", {}))

    @property
    def n_folds(self) -> int:
        return int(self.fold_of.max()) + 1 if len(self.fold_of) else 0


def load_run(run_dir: str | os.PathLike, data: Competition | str | os.PathLike | None = None) -> Run:
    """Read ``run_dir``; ``data`` overrides where the images come from (a path or a loaded Competition)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir}: no such run folder")
    missing = [name for name in RUN_FILES if not (run_dir / name).is_file()]
    if missing:
        runs = sorted(p.parent for p in run_dir.glob("*/ensemble.json"))
        hint = (f"; it holds run folders, e.g. {runs[-1]}" if runs else
                "; finish the run with scripts/make_submission.py first")
        raise ReportError(f"{run_dir}: not a finished run folder (missing {', '.join(missing)}){hint}")
    try:
        data_info = atomic.read_json(run_dir / "data.json")
        summary = atomic.read_json(run_dir / "ensemble.json")
        config = _read_config(run_dir / "config.toml")
        rows = np.load(run_dir / "train_rows.npy", allow_pickle=False)
        fold_of = np.load(run_dir / "folds.npy", allow_pickle=False)
        oof = np.load(run_dir / "oof_probabilities.npy", allow_pickle=False)
        test = np.load(run_dir / "test_probabilities.npy", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ReportError(f"{run_dir}: cannot read the run files ({exc})") from None
    if not (len(rows) == len(fold_of) == len(oof)) or oof.shape[1:] != (10,) or test.shape[1:] != (10,):
        raise ReportError(f"{run_dir}: the run files disagree (train_rows {len(rows)}, folds {len(fold_of)}, "
                          f"OOF probabilities {oof.shape}, test probabilities {test.shape})")

    competition = _load_data(run_dir, data_info, data)
    if rows.size and (rows.max() >= len(competition.x_train) or len(competition.x_test) != len(test)):
        raise DataError(f"{run_dir}: the data at {competition.source} does not fit the run (train rows up to "
                        f"{rows.max()}, {len(test)} test rows)")
    histories = {name: [_read_history(run_dir / name / f"fold{k}") for k in range(int(fold_of.max()) + 1)]
                 for name in summary.get("models", {})}
    return Run(run_dir=run_dir, config=config, data_info=data_info, summary=summary, rows=rows, fold_of=fold_of,
               oof=oof, test=test, histories=histories, x=competition.x_train[rows], y=competition.y_train[rows],
               x_test=competition.x_test)


def _read_config(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _read_history(fold_dir: Path) -> dict:
    try:
        return atomic.read_json(fold_dir / "history.json")
    except (OSError, ValueError):
        return {}


def load_run_data(run_dir: str | os.PathLike, data: Competition | str | os.PathLike | None = None) -> Competition:
    """The competition data ``run_dir`` was trained on: data.json's source (or ``data``), SHA-256 checked."""
    run_dir = Path(run_dir)
    return _load_data(run_dir, atomic.read_json(run_dir / "data.json"), data)


def _load_data(run_dir: Path, data_info: dict, data) -> Competition:
    """The competition data the run was trained on, checked against data.json's SHA-256."""
    if isinstance(data, Competition):
        competition = data
    else:
        source = _locate_data(run_dir, data_info) if data is None else Path(data)
        if source is None or not source.exists():
            raise ReportError(f"{run_dir}: the run's data ({source or data_info.get('source', 'not recorded')}) "
                              f"is not there any more; pass --data PATH (the folder or digit-recognizer.zip the "
                              f"run was trained on)")
        competition = load_competition(source, use_cache=not data_info.get("is_sample", False))
    expected = data_info.get("sha256")
    if expected and competition.sha256 != expected:
        raise DataError(f"{competition.source} is not the data {run_dir} was trained on (SHA-256 "
                        f"{competition.sha256[:12]}..., the run recorded {expected[:12]}...); pass --data with "
                        f"the original files")
    return competition


def _locate_data(run_dir: Path, data_info: dict) -> Path | None:
    """data.json's source; a relative one is tried from here and from the folder holding submissions/."""
    recorded = data_info.get("source")
    if not recorded:
        return None
    source = Path(recorded)
    if not source.exists() and not source.is_absolute():
        beside = run_dir.resolve().parent.parent / source  # <project>/submissions/<run> -> <project>/data
        source = beside if beside.exists() else source
    if not source.exists() and data_info.get("is_sample"):
        source = BUNDLED_SAMPLE  # the run was made from another checkout's copy of the sample
    return source


# --------------------------------------------------------------------------- selections
def select_errors(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the misclassified rows (argmax != label), worst first.

    Worst = the most confident wrong prediction; ties go to the lower probability of the true
    digit, then to the lower index.
    """
    probs, y = np.asarray(probs), np.asarray(y)
    wrong = np.flatnonzero(probs.argmax(axis=1) != y)
    p_true = probs[wrong, y[wrong]]
    p_pred = probs[wrong].max(axis=1)
    return wrong[np.lexsort((wrong, p_true, -p_pred))]


def select_uncertain(probs: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` predictions with the lowest top probability, least confident first."""
    probs = np.asarray(probs)
    top = probs.max(axis=1)
    order = np.lexsort((np.arange(len(top)), top))
    return order[:n]


def confusion_counts(y: np.ndarray, pred: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """counts[true, predicted]."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(y, dtype=np.int64), np.asarray(pred, dtype=np.int64)), 1)
    return counts


# --------------------------------------------------------------------------- figures
def plot_learning_curves(histories: dict[str, list[dict]]) -> Figure:
    """Per model a row of two panels (loss, accuracy); colour = fold, solid/filled = train, dashed/hollow =
    validation."""
    names = list(histories) or ["(no models)"]
    fig = Figure(figsize=(11, 3.3 * len(names) + 0.4), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(names), 2, squeeze=False)
    n_folds = max((len(h) for h in histories.values()), default=0)
    colours = [f"C{k % 10}" for k in range(n_folds)]
    for row, name in enumerate(names):
        folds = histories.get(name, [])
        has_val = False
        for col, metric in enumerate(("loss", "accuracy")):
            ax = axes[row, col]
            drawn, n_epochs = False, 1
            for k, hist in enumerate(folds):
                for key, style, face in ((metric, "-", colours[k]), (f"val_{metric}", "--", "white")):
                    values = hist.get(key) or []
                    if not values:
                        continue
                    epochs = np.arange(1, len(values) + 1)
                    ax.plot(epochs, values, style, color=colours[k], marker="o", markersize=4,
                            markerfacecolor=face, linewidth=1.5)
                    drawn, n_epochs = True, max(n_epochs, len(values))
                    has_val |= key.startswith("val_")
            if not drawn:
                ax.text(0.5, 0.5, "no history saved for this model", ha="center", va="center",
                        transform=ax.transAxes, color="0.4")
            ax.set_title(f"{name}: {metric}", fontsize=11)
            ax.set_xlabel("epoch")
            ax.set_ylabel(metric)
            ax.set_xlim(0.5, n_epochs + 0.5)
            if n_epochs <= 15:
                ax.set_xticks(range(1, n_epochs + 1))
            else:
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
        if row == 0 and n_folds:
            handles = [Line2D([], [], color=colours[k], linewidth=2, label=f"fold {k + 1}") for k in range(n_folds)]
            handles.append(Line2D([], [], color="0.2", linestyle="-", marker="o", markersize=4, label="train"))
            if has_val:
                handles.append(Line2D([], [], color="0.2", linestyle="--", marker="o", markersize=4,
                                      markerfacecolor="white", label="validation"))
            axes[row, 1].legend(handles=handles, fontsize=8, loc="lower right", framealpha=0.85)
    return fig


def plot_confusion(y: np.ndarray, probs: np.ndarray) -> Figure:
    """Counts; correct cells blue, errors red (scaled to the largest error share, so rare mistakes
    still show); the per-class accuracy is printed beside each true digit."""
    pred = probs.argmax(axis=1)
    counts = confusion_counts(y, pred)
    support = counts.sum(axis=1)
    share = counts / np.maximum(support, 1)[:, None]
    per_class = np.diag(counts) / np.maximum(support, 1)
    diagonal = np.eye(10, dtype=bool)
    errors_max = max(float(share[~diagonal].max()), 0.01)
    fig = Figure(figsize=(7.8, 6.6), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    ax.imshow(np.ma.masked_where(~diagonal, share), cmap="Blues", vmin=0, vmax=1.25)
    errors_image = ax.imshow(np.ma.masked_where(diagonal | (counts == 0), share), cmap="Reds", vmin=0,
                             vmax=min(1.0, errors_max * 1.15))
    size = 8 if counts.max() < 10_000 else 7
    for t in range(10):
        for p in range(10):
            if counts[t, p] == 0:
                continue
            dark = share[t, p] > (0.6 if t == p else 0.6 * errors_max)
            ax.text(p, t, f"{counts[t, p]:,}", ha="center", va="center", fontsize=size,
                    color="white" if dark else "black", fontweight="normal" if t == p else "bold")
    ax.set_xticks(range(10), [str(d) for d in range(10)])
    ax.set_yticks(range(10), [f"{d}  {per_class[d]:7.2%}" for d in range(10)], fontfamily="monospace")
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit   (per-class accuracy)")
    ax.tick_params(length=0)
    ax.set_xticks(np.arange(-0.5, 10), minor=True)
    ax.set_yticks(np.arange(-0.5, 10), minor=True)
    ax.grid(which="minor", color="white", linewidth=1)
    ax.tick_params(which="minor", length=0)
    accuracy = float(np.mean(pred == y)) if len(y) else 0.0
    ax.set_title(f"Ensemble OOF: {accuracy:.2%} correct of {len(y):,} rows, "
                 f"{int(np.sum(pred != y)):,} errors (red)", fontsize=11)
    fig.colorbar(errors_image, ax=ax, shrink=0.8, format=PercentFormatter(1.0),
                 label="errors: share of the true digit's rows")
    return fig


def plot_digit_grid(images: np.ndarray, captions: list[tuple[str, str]], title: str,
                    caption_colours: list[str] | None = None, columns: int = GRID_COLUMNS,
                    vmax: float = 255) -> Figure:
    """Digits (dark ink on white) in a grid, each with a two-line caption; a note when empty."""
    n = len(images)
    rows = max(1, -(-n // columns))
    cell_w, cell_h, caption_h, title_h = 1.25, 1.1, 0.42, 0.4  # inches; fixed layout (constrained is slow here)
    width, height = cell_w * columns, rows * (cell_h + caption_h) + title_h
    fig = Figure(figsize=(width, height), dpi=DPI)
    fig.suptitle(title, fontsize=12, y=1 - 0.08 / height, va="top")
    axes = fig.subplots(rows, columns, squeeze=False, gridspec_kw=dict(
        left=0.1 / width, right=1 - 0.1 / width, bottom=0.05 / height, top=1 - (title_h + caption_h) / height,
        hspace=caption_h / cell_h, wspace=0.2))
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        ax.imshow(np.asarray(images[i]).reshape(28, 28), cmap="gray_r", vmin=0, vmax=vmax,
                  interpolation="nearest")
        top, bottom = captions[i]
        colour = caption_colours[i] if caption_colours else "black"
        ax.set_title(f"{top}\n{bottom}", fontsize=8, color=colour, pad=2, linespacing=1.1)
    if n == 0:
        fig.text(0.5, 0.45, "nothing to show", ha="center", va="center", fontsize=12, color="0.4")
    return fig


def plot_errors(run: Run, limit: int) -> tuple[Figure, list[dict]]:
    """The worst ``limit`` OOF errors; also returns a record per error, worst first (for the CSV)."""
    order = select_errors(run.oof, run.y)
    records = []
    for i in order:
        pred = int(run.oof[i].argmax())
        records.append({"train_row": int(run.rows[i]) + 1, "fold": int(run.fold_of[i]) + 1, "true": int(run.y[i]),
                        "predicted": pred, "p_predicted": float(run.oof[i, pred]),
                        "p_true": float(run.oof[i, run.y[i]])})
    shown = order[:limit]
    captions = [(f"true {r['true']} → {r['predicted']}", f"p={r['p_predicted']:.2f}  row {r['train_row']}")
                for r in records[:limit]]
    title = (f"OOF errors, worst first: {len(shown)} of {len(order):,} misclassified "
             f"(of {len(run.y):,} rows); p = probability of the wrong prediction, row = train.csv data row")
    if not len(order):
        title = f"No out-of-fold errors in {len(run.y):,} rows"
    return plot_digit_grid(run.x[shown], captions, title, ["#b00020"] * len(shown)), records


def plot_uncertain(run: Run, limit: int, threshold: float = 0.5) -> tuple[Figure, list[dict]]:
    """The ``limit`` test digits whose top probability is lowest, with the runner-up."""
    shown = select_uncertain(run.test, limit)
    records, captions = [], []
    for i in shown:
        first, second = np.argsort(run.test[i])[::-1][:2]
        record = {"image_id": int(i) + 1, "predicted": int(first), "p_predicted": float(run.test[i, first]),
                  "runner_up": int(second), "p_runner_up": float(run.test[i, second])}
        records.append(record)
        captions.append((f"{first} ({record['p_predicted']:.2f}) or {second} ({record['p_runner_up']:.2f})",
                         f"ImageId {record['image_id']}"))
    n_low = int(np.sum(run.test.max(axis=1) < threshold))
    title = (f"Least confident test predictions: {len(shown)} of {len(run.test):,} "
             f"({n_low:,} have a top probability below {threshold:.0%}); check these before submitting")
    return plot_digit_grid(run.x_test[shown], captions, title), records


def plot_augmentation(run: Run, n_digits: int = 6, n_variants: int = 9) -> Figure | None:
    """A few training digits (left column) and random variants from the run's augmentation settings."""
    known = {f.name for f in dataclasses.fields(AugmentConfig)}
    settings = AugmentConfig(**{k: v for k, v in run.config.get("augment", {}).items() if k in known})
    seed = int(run.config.get("seed", 42))
    from kaggle_digits.augment import build_augmentation  # imports Keras; only this figure needs it

    augmentation = build_augmentation(settings, seed=seed)
    if augmentation is None or not len(run.x):
        return None
    import keras

    rng = np.random.default_rng(seed)
    digits = rng.choice(10, size=min(n_digits, 10), replace=False)
    picks = [int(rng.choice(np.flatnonzero(run.y == d))) for d in digits if np.any(run.y == d)]
    originals = run.x[picks].astype("float32") / 255.0
    batch = np.repeat(originals, n_variants, axis=0)
    variants = keras.ops.convert_to_numpy(augmentation(batch, training=True))
    variants = np.clip(variants.reshape(len(picks), n_variants, 28, 28), 0, 1)
    images, captions = [], []
    for r, i in enumerate(picks):
        images.append(originals[r].reshape(28, 28))
        captions.append(("original", f"digit {int(run.y[i])}"))
        for v in range(n_variants):
            images.append(variants[r, v])
            captions.append(("", f"variant {v + 1}"))
    title = (f"What training saw: random rotation ±{settings.rotation_deg:g}°, zoom ±{settings.zoom:.0%}, "
             f"shift ±{settings.shift:.0%} ({settings.shift * 28:.1f} px); validation and test see the originals")
    return plot_digit_grid(np.stack(images), captions, title, columns=n_variants + 1, vmax=1.0)


# --------------------------------------------------------------------------- tables
def results_rows(summary: dict) -> list[dict]:
    """One row per model plus the ensemble: OOF accuracy, per-fold accuracy, timings."""
    rows = []
    weights = summary.get("ensemble", {}).get("weights", {})
    for name, m in summary.get("models", {}).items():
        rows.append({"model": name, "params": m.get("params"), "epochs": m.get("epochs"),
                     "weight": weights.get(name), "oof_accuracy": m.get("oof_accuracy"),
                     "oof_log_loss": m.get("oof_log_loss"), "fold_accuracy": m.get("fold_accuracy", []),
                     "fold_mean": m.get("fold_accuracy_mean"), "fold_std": m.get("fold_accuracy_std"),
                     "seconds_per_epoch": m.get("seconds_per_epoch"),
                     "images_per_second": m.get("images_per_second"), "fit_seconds": m.get("fit_seconds")})
    e = summary.get("ensemble", {})
    blend = "fitted" if e.get("weights_used") == "oof" else "equal"
    rows.append({"model": f"ensemble ({e.get('weights_used', '?')} weights)", "oof_accuracy": e.get("oof_accuracy"),
                 "oof_log_loss": e.get(f"{blend}_weights_oof_log_loss"),
                 "fit_seconds": sum(r["fit_seconds"] or 0 for r in rows) or None})
    return rows


def _fmt(value, kind: str) -> str:
    if value is None or value == []:
        return "–"
    if kind == "pct":
        return f"{value:.2%}"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "float":
        return f"{value:.3f}"
    if kind == "s":
        return f"{value:,.1f}"
    if kind == "folds":
        return " / ".join(f"{v:.2%}" for v in value)
    return html.escape(str(value))


def results_table_html(summary: dict) -> str:
    columns = [("model", "model", "str"), ("params", "params", "int"), ("epochs", "epochs", "int"),
               ("weight", "weight", "float"), ("OOF accuracy", "oof_accuracy", "pct"),
               ("OOF log loss", "oof_log_loss", "float"), ("per fold", "fold_accuracy", "folds"),
               ("fold mean", "fold_mean", "pct"), ("fold std", "fold_std", "pct"),
               ("s / epoch", "seconds_per_epoch", "s"), ("images / s", "images_per_second", "int"),
               ("fit s (all folds)", "fit_seconds", "s")]
    head = "".join(f"<th>{html.escape(title)}</th>" for title, _, _ in columns)
    body = []
    for row in results_rows(summary):
        cls = ' class="ensemble"' if row["model"].startswith("ensemble") else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_fmt(row.get(key), kind)}</td>" for _, key, kind in columns)
                    + "</tr>")
    e = summary.get("ensemble", {})
    notes = []
    if "equal_weights_oof_accuracy" in e:
        notes.append(f"equal weights {e['equal_weights_oof_accuracy']:.2%}, OOF-fitted weights "
                     f"{e.get('fitted_weights_oof_accuracy', float('nan')):.2%} "
                     f"({', '.join(f'{k} {v:.2f}' for k, v in e.get('fitted_weights', {}).items())})")
    for key, label in (("load_seconds", "data load"), ("wall_seconds", "whole run")):
        if summary.get(key) is not None:
            notes.append(f"{label} {summary[key]:,.1f} s")
    note = f"<p class=\"note\">{html.escape('; '.join(notes))}</p>" if notes else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{note}"


# --------------------------------------------------------------------------- writing
def figure_png(fig: Figure) -> bytes:
    """PNG bytes, rendered by Agg and stored with a 256-colour palette (a third of the RGBA size)."""
    from PIL import Image  # Pillow: a matplotlib dependency

    canvas = FigureCanvasAgg(fig)
    fig.set_facecolor("white")
    canvas.draw()
    rgb = np.asarray(canvas.buffer_rgba())[..., :3]
    image = Image.fromarray(np.ascontiguousarray(rgb)).quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _write_csv(path: Path, records: list[dict], columns: list[str]) -> None:
    lines = [",".join(columns)]
    for r in records:
        lines.append(",".join(f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in columns))
    atomic.write_text(path, "\n".join(lines) + "\n")


def write_report(run_dir: str | os.PathLike, data: Competition | str | os.PathLike | None = None,
                 max_images: int = 50) -> Path:
    """Draw the figures of ``run_dir`` into ``run_dir/report/`` and tie them into ``run_dir/report.html``."""
    if max_images < 1:
        raise ReportError(f"--max-images must be at least 1, got {max_images}")
    run = load_run(run_dir, data)
    out = run.run_dir / REPORT_DIR
    pngs: dict[str, bytes] = {}

    pngs["learning_curves.png"] = figure_png(plot_learning_curves(run.histories))
    pngs["confusion_matrix.png"] = figure_png(plot_confusion(run.y, run.oof))
    fig, errors = plot_errors(run, max_images)
    pngs["oof_errors.png"] = figure_png(fig)
    _write_csv(out / "oof_errors.csv", errors, ["train_row", "fold", "true", "predicted", "p_predicted", "p_true"])
    fig, uncertain = plot_uncertain(run, max_images)
    pngs["low_confidence_test.png"] = figure_png(fig)
    _write_csv(out / "low_confidence_test.csv", uncertain,
               ["image_id", "predicted", "p_predicted", "runner_up", "p_runner_up"])
    fig = plot_augmentation(run)
    if fig is not None:
        pngs["augmentation.png"] = figure_png(fig)
    else:
        (out / "augmentation.png").unlink(missing_ok=True)  # a rerun after turning augmentation off
    for name, png in pngs.items():
        atomic.write_bytes(out / name, png)
    return atomic.write_text(run.run_dir / REPORT_HTML, render_html(run, pngs))


def render_html(run: Run, pngs: dict[str, bytes]) -> str:
    info, summary = run.data_info, run.summary
    esc = html.escape
    accuracy = summary.get("ensemble", {}).get("oof_accuracy")
    facts = [("run folder", str(run.run_dir.resolve())), ("data", str(info.get("source", "?"))),
             ("training rows", f"{info.get('n_train_used', len(run.y)):,} of {info.get('n_train_total', '?'):,}"
              if isinstance(info.get("n_train_total"), int) else f"{len(run.y):,}"),
             ("test rows", f"{len(run.test):,}"), ("folds", str(run.n_folds)), ("models", ", ".join(run.models)),
             ("ensemble OOF accuracy", f"{accuracy:.4%}" if accuracy is not None else "–"),
             ("report written", f"{dt.datetime.now():%Y-%m-%d %H:%M} by kaggle-digits {__version__}")]
    sample_note = ('<p class="warn">Made from the bundled 4,000-row sample: a demo, not a valid Kaggle '
                   'submission.</p>' if info.get("is_sample") else "")
    sections = []
    blurbs = {
        "learning_curves.png": "Train (solid, filled dots) against validation (dashed, hollow dots); one colour "
                               "per fold. Validation far below train means over-fitting; both still improving "
                               "means more epochs would help.",
        "confusion_matrix.png": "Rows are the true digit, columns the ensemble's out-of-fold prediction; "
                                "blue cells are correct, red cells errors (their colour scale stretches to the "
                                "largest error share). The percentage beside each digit is its accuracy.",
        "oof_errors.png": "Every training row was predicted by a model that never saw it. These are the ones it "
                          "got wrong, the most confident mistakes first; some are mislabelled or truly "
                          "ambiguous. All of them, in this order, are listed in <code>report/oof_errors.csv</code> "
                          "(row = data row of train.csv, 1-based).",
        "low_confidence_test.png": "The test digits the ensemble is least sure about, with its top two guesses; "
                                   "the same digits are listed in <code>report/low_confidence_test.csv</code>.",
        "augmentation.png": "The first column is a training digit; the rest are random variants drawn "
                            "with this run's augmentation settings.",
    }
    for name, title in FIGURES.items():
        if name not in pngs:
            if name == "augmentation.png":
                sections.append(f"<h2>{esc(title)}</h2><p>Augmentation was off for this run.</p>")
            continue
        encoded = base64.b64encode(pngs[name]).decode("ascii")
        sections.append(f'<h2 id="{name[:-4]}">{esc(title)}</h2><p>{blurbs[name]}</p>'
                        f'<img src="data:image/png;base64,{encoded}" alt="{esc(title)}">')
    config_text = (run.run_dir / "config.toml").read_text(encoding="utf-8") \
        if (run.run_dir / "config.toml").is_file() else "(no config.toml)"
    facts_html = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>kaggle-digits run report: {esc(run.run_dir.name)}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1280px; margin: 2em auto;
       padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0; font-size: 0.92em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }}
th {{ background: #f3f3f3; }} td:first-child, .facts th, .facts td {{ text-align: left; }}
tr.ensemble td {{ font-weight: bold; background: #eef5ff; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
.warn {{ background: #fff3cd; border: 1px solid #e0c060; padding: 0.5em 1em; }}
.note {{ color: #555; font-size: 0.9em; }} pre {{ background: #f6f6f6; padding: 0.8em; }}
</style></head><body>
<h1>Run report: {esc(run.run_dir.name)}</h1>
{sample_note}
<table class="facts">{facts_html}</table>
<h2 id="results">Results</h2>
<p>OOF = out-of-fold: each training row scored by the fold model that did not train on it.
Seconds per epoch leave out the first epoch (graph compilation).</p>
{results_table_html(summary)}
{''.join(sections)}
<h2 id="config">Configuration</h2>
<details><summary>config.toml</summary><pre>{esc(config_text)}</pre></details>
</body></html>
"""


# --------------------------------------------------------------------------- command line
def report_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="report.py",
        description="Write report.html (learning curves, confusion matrix, misclassified and low-confidence "
                    "digits, augmentation preview, results table) into a finished run folder. Never trains.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by make_submission.py")
    p.add_argument("--data", metavar="PATH", help="where the run's data is now, if it moved (default: the path "
                   "recorded in RUN_DIR/data.json)")
    p.add_argument("--max-images", type=int, default=50, metavar="N", help="digits per grid")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    return p


def report_main(argv: Sequence[str] | None = None) -> int:
    from kaggle_digits.cli import quiet_tensorflow, run_cli

    quiet_tensorflow()

    def main(args: argparse.Namespace) -> int:
        path = write_report(args.run_dir, data=args.data, max_images=args.max_images)
        print(f"report: {path}")
        return 0

    return run_cli(main, report_parser(), argv)
