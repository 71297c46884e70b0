"""The report's figures, drawn on ``matplotlib.figure.Figure`` objects rendered by the Agg canvas, so they
work headless and never touch pyplot's global backend (a notebook that imports this keeps its inline plots).

``FIGURES`` lists what the report shows, in order; a new figure is one ``@report_figure`` function here.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Callable

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from sklearn.metrics import confusion_matrix

from kaggle_digits.config import AugmentConfig
from kaggle_digits.competition.digits import IMAGE_SIDE, N_CLASSES
from kaggle_digits.report.curves import fold_final_scores, learning_curves_caption, plot_learning_curves
from kaggle_digits.runs.runload import Run

GRID_COLUMNS = 10
DPI = 100


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


# --------------------------------------------------------------------------- figures
def plot_confusion(y: np.ndarray, probs: np.ndarray) -> Figure:
    """Counts; correct cells blue, errors red (scaled to the largest error share, so rare mistakes
    still show); the per-class accuracy is printed beside each true digit."""
    pred = probs.argmax(axis=1)
    counts = confusion_matrix(y, pred, labels=range(N_CLASSES))
    support = counts.sum(axis=1)
    share = counts / np.maximum(support, 1)[:, None]
    per_class = np.diag(counts) / np.maximum(support, 1)
    diagonal = np.eye(N_CLASSES, dtype=bool)
    errors_max = max(float(share[~diagonal].max()), 0.01)
    fig = Figure(figsize=(7.8, 6.6), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    ax.imshow(np.ma.masked_where(~diagonal, share), cmap="Blues", vmin=0, vmax=1.25)
    errors_image = ax.imshow(np.ma.masked_where(diagonal | (counts == 0), share), cmap="Reds", vmin=0,
                             vmax=min(1.0, errors_max * 1.15))
    size = 8 if counts.max() < 10_000 else 7
    for t in range(N_CLASSES):
        for p in range(N_CLASSES):
            if counts[t, p] == 0:
                continue
            dark = share[t, p] > (0.6 if t == p else 0.6 * errors_max)
            ax.text(p, t, f"{counts[t, p]:,}", ha="center", va="center", fontsize=size,
                    color="white" if dark else "black", fontweight="normal" if t == p else "bold")
    ax.set_xticks(range(N_CLASSES), [str(d) for d in range(N_CLASSES)])
    ax.set_yticks(range(N_CLASSES), [f"{d}  {per_class[d]:7.2%}" for d in range(N_CLASSES)], fontfamily="monospace")
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit   (per-class accuracy)")
    ax.tick_params(length=0)
    ax.set_xticks(np.arange(-0.5, N_CLASSES), minor=True)
    ax.set_yticks(np.arange(-0.5, N_CLASSES), minor=True)
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
        ax.imshow(np.asarray(images[i]).reshape(IMAGE_SIDE, IMAGE_SIDE), cmap="gray_r", vmin=0, vmax=vmax,
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
    from kaggle_digits.models.augment import build_augmentation  # imports Keras; only this figure needs it

    augmentation = build_augmentation(settings, seed=seed)
    if augmentation is None or not len(run.x):
        return None
    import keras

    rng = np.random.default_rng(seed)
    digits = rng.choice(N_CLASSES, size=min(n_digits, N_CLASSES), replace=False)
    picks = [int(rng.choice(np.flatnonzero(run.y == d))) for d in digits if np.any(run.y == d)]
    originals = run.x[picks].astype("float32") / 255.0
    batch = np.repeat(originals, n_variants, axis=0)
    variants = keras.ops.convert_to_numpy(augmentation(batch, training=True))
    variants = np.clip(variants.reshape(len(picks), n_variants, IMAGE_SIDE, IMAGE_SIDE), 0, 1)
    images, captions = [], []
    for r, i in enumerate(picks):
        images.append(originals[r].reshape(IMAGE_SIDE, IMAGE_SIDE))
        captions.append(("original", f"digit {int(run.y[i])}"))
        for v in range(n_variants):
            images.append(variants[r, v])
            captions.append(("", f"variant {v + 1}"))
    title = (f"What training saw: random rotation ±{settings.rotation_deg:g}°, zoom ±{settings.zoom:.0%}, "
             f"shift ±{settings.shift:.0%} ({settings.shift * IMAGE_SIDE:.1f} px); validation and test see the originals")
    return plot_digit_grid(np.stack(images), captions, title, columns=n_variants + 1, vmax=1.0)


# --------------------------------------------------------------------------- rendering
def figure_png(fig: Figure) -> bytes:
    """PNG bytes, rendered by Agg and stored with a 256-colour palette: flat-colour plots lose nothing visible
    and report.html, which embeds them, stays small."""
    from PIL import Image  # Pillow: a matplotlib dependency

    canvas = FigureCanvasAgg(fig)
    fig.set_facecolor("white")
    canvas.draw()
    rgb = np.asarray(canvas.buffer_rgba())[..., :3]
    image = Image.fromarray(np.ascontiguousarray(rgb)).quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


# --------------------------------------------------------------------------- the report's figures, in order
@dataclasses.dataclass(frozen=True)
class ReportFigure:
    name: str                   # report/<name> (.png); its records, if any, go to report/<stem>.csv
    title: str
    blurb: str                  # HTML shown above the image
    draw: Callable[[Run, int], tuple[Figure | None, list[dict]]]  # (run, max images) -> (None: not drawn, records)
    columns: tuple[str, ...] = ()  # the CSV's columns; none: no CSV
    absent: str = ""            # shown instead when it is not drawn
    caption: Callable[[Figure], str] | None = None  # the blurb written from the figure drawn (None: ``blurb``)

    def describe(self, fig: Figure) -> str:
        """The HTML shown above ``fig``: what it draws, when that depends on the run."""
        return self.caption(fig) if self.caption else self.blurb


FIGURES: dict[str, ReportFigure] = {}


def report_figure(name: str, title: str, blurb: str = "", columns: tuple[str, ...] = (), absent: str = "",
                  caption: Callable[[Figure], str] | None = None) -> Callable:
    def decorate(draw: Callable) -> Callable:
        FIGURES[name] = ReportFigure(name, title, blurb, draw, columns, absent, caption)
        return draw
    return decorate


# the caption depends on what the run recorded (per-epoch validation or not): it is read from the lines drawn
@report_figure("learning_curves.png", "Learning curves", caption=learning_curves_caption)
def _learning_curves(run: Run, max_images: int) -> tuple[Figure, list[dict]]:
    return plot_learning_curves(run.histories, fold_final_scores(run.summary)), []


@report_figure("confusion_matrix.png", "Out-of-fold confusion matrix (ensemble)",
               "Rows are the true digit, columns the ensemble's out-of-fold prediction; blue cells are correct, red "
               "cells errors (their colour scale stretches to the largest error share). The percentage beside each "
               "digit is its accuracy.")
def _confusion(run: Run, max_images: int) -> tuple[Figure, list[dict]]:
    return plot_confusion(run.y, run.oof), []


@report_figure("oof_errors.png", "Misclassified training digits (out-of-fold, worst first)",
               "Every training row was predicted by a model that never saw it. These are the ones it got wrong, the "
               "most confident mistakes first; some are mislabelled or truly ambiguous. All of them, in this order, "
               "are listed in <code>report/oof_errors.csv</code> (row = data row of train.csv, 1-based).",
               columns=("train_row", "fold", "true", "predicted", "p_predicted", "p_true"))
def _errors(run: Run, max_images: int) -> tuple[Figure, list[dict]]:
    return plot_errors(run, max_images)


@report_figure("low_confidence_test.png", "Least confident test predictions",
               "The test digits the ensemble is least sure about, with its top two guesses; the same digits are "
               "listed in <code>report/low_confidence_test.csv</code>.",
               columns=("image_id", "predicted", "p_predicted", "runner_up", "p_runner_up"))
def _uncertain(run: Run, max_images: int) -> tuple[Figure, list[dict]]:
    return plot_uncertain(run, max_images)


@report_figure("augmentation.png", "Augmentation preview",
               "The first column is a training digit; the rest are random variants drawn with this run's "
               "augmentation settings.", absent="Augmentation was off for this run.")
def _augmentation(run: Run, max_images: int) -> tuple[Figure | None, list[dict]]:
    return plot_augmentation(run), []
