"""The learning curves: each fold's history drawn as it was saved, and a caption read back from the lines drawn.

Accuracy is drawn as error (1 - accuracy) on a log axis: on a linear axis spanning 0.84-1.0 the runs every
decision is made between (99.3-99.7%) are one flat line at the top, on a log axis 0.7% and 0.3% error lie as far
apart as 7% and 3%. A run trained without per-epoch validation (a --minutes budget, --no-val-curves) has no
held-out curves to draw: each fold's held-out score after training (its done.json val_accuracy, kept in the
summary's fold_accuracy) is drawn as one marker at the fold's last epoch instead.

Every line carries its kind (train, per-epoch validation, final score) as its matplotlib gid, and
``learning_curves_caption`` writes the caption from those, so the caption cannot promise a line that is not there.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from kaggle_digits.scoring.summary import RunSummary

DPI = 100
DODGE = 0.08  # epochs between the final-score markers of neighbouring folds
ERROR_FLOOR = 1e-4  # no errors at all has no place on a log axis: drawn at 0.01%, and the caption says so
TRAIN, VALIDATION, FINAL = "train", "validation", "final"  # the gid of each kind of line
STYLE = {TRAIN: dict(linestyle="-", marker="o", markersize=4),
         VALIDATION: dict(linestyle="--", marker="o", markersize=4, markerfacecolor="white"),
         FINAL: dict(linestyle="none", marker="D", markersize=8, markerfacecolor="white", markeredgewidth=2)}
LEGEND = {TRAIN: "train, per epoch", VALIDATION: "held-out, per epoch", FINAL: "held-out, after training"}


def fold_final_scores(summary: RunSummary) -> dict[str, dict[int, float]]:
    """Per model, each trained fold's held-out accuracy after training, by fold index."""
    return {name: dict(zip(summary.folds.get(name, range(len(m.fold_accuracy))), m.fold_accuracy))
            for name, m in summary.models.items()}


def _percent(value: float, _position=None) -> str:
    return f"{value * 100:.3g}%"


def _error(values) -> np.ndarray:
    return np.maximum(1.0 - np.asarray(values, dtype=float), ERROR_FLOOR)


def _log_error_axis(ax, errors: list[float]) -> None:
    """Log scale labelled in percent; more labelled ticks where the data spans under two decades (a 99% run's
    0.3-3% would otherwise show one or two labels)."""
    ax.set_yscale("log")
    span = np.log10(max(errors) / min(errors)) if errors else 3.0
    subs = (1.0, 2.0, 5.0) if span > 2 else (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs, numticks=30))
    ax.yaxis.set_major_formatter(FuncFormatter(_percent))
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=np.arange(1.0, 10.0), numticks=30))
    ax.yaxis.set_minor_formatter(NullFormatter())


def plot_learning_curves(histories: dict[str, list[dict]],
                         final_scores: dict[str, dict[int, float]] | None = None) -> Figure:
    """Per model a row of two panels: loss, and error (1 - accuracy) on a log axis. Colour = fold; solid = train,
    dashed = held-out rows per epoch where the history has them (val_*), else a hollow diamond at the fold's last
    epoch for its held-out accuracy after training (``final_scores``: model -> fold -> accuracy)."""
    final_scores = final_scores or {}
    names = list(histories) or ["(no models)"]
    fig = Figure(figsize=(11, 3.5 * len(names) + 0.4), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(names), 2, squeeze=False)
    n_folds = max([len(h) for h in histories.values()] + [max(f, default=-1) + 1 for f in final_scores.values()],
                  default=0)
    colours = [f"C{k % 10}" for k in range(n_folds)]
    for row, name in enumerate(names):
        folds, finals = histories.get(name, []), final_scores.get(name, {})
        loss_ax, error_ax = axes[row]
        kinds: set[str] = set()
        errors: list[float] = []
        n_epochs = 1
        for k, hist in enumerate(folds):
            for ax, metric, as_error in ((loss_ax, "loss", False), (error_ax, "accuracy", True)):
                for kind, key in ((TRAIN, metric), (VALIDATION, f"val_{metric}")):
                    values = hist.get(key) or []
                    if not values:
                        continue
                    y = _error(values) if as_error else np.asarray(values, dtype=float)
                    ax.plot(np.arange(1, len(values) + 1), y, color=colours[k], linewidth=1.5, gid=kind,
                            **STYLE[kind])
                    kinds.add(kind)
                    errors += list(y) if as_error else []
                    n_epochs = max(n_epochs, len(values))
        for k, accuracy in sorted(finals.items()):
            hist = folds[k] if k < len(folds) else {}
            if hist.get("val_accuracy"):
                continue  # its dashed curve ends at this score already
            last = len(hist.get("accuracy") or hist.get("loss") or []) or n_epochs
            y = _error([accuracy])
            # folds a few hundredths of a percent apart would hide each other: each fold a little to the side
            error_ax.plot([last + DODGE * (k - (n_folds - 1) / 2)], y, color=colours[k], gid=FINAL, **STYLE[FINAL])
            kinds.add(FINAL)
            errors += list(y)
        for ax, label in ((loss_ax, "loss"), (error_ax, "error = 1 − accuracy (log scale)")):
            if not ax.lines:
                ax.text(0.5, 0.5, "no history saved for this model", ha="center", va="center",
                        transform=ax.transAxes, color="0.4")
            ax.set_title(f"{name}: {label.split(' (')[0]}", fontsize=11)
            ax.set_xlabel("epoch")
            ax.set_ylabel(label)
            ax.set_xlim(0.5, n_epochs + max(0.5, DODGE * n_folds / 2 + 0.2))
            if n_epochs <= 15:
                ax.set_xticks(range(1, n_epochs + 1))
            else:
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
        _log_error_axis(error_ax, errors)
        error_ax.grid(which="minor", alpha=0.12)
        if kinds:
            error_ax.legend(handles=_legend(colours, finals, kinds), fontsize=8, loc="upper right", framealpha=0.85)
    return fig


def _legend(colours: list[str], finals: dict[int, float], kinds: set[str]) -> list[Line2D]:
    """A colour per fold (with its held-out accuracy where that was drawn as a marker), then the line kinds."""
    handles = [Line2D([], [], color=c, linewidth=2, label=f"fold {k + 1}" + (
        f": {finals[k]:.2%} ({_percent(1 - finals[k])} error)" if FINAL in kinds and k in finals else ""))
        for k, c in enumerate(colours)]
    return handles + [Line2D([], [], color="0.2", label=LEGEND[kind], **STYLE[kind])
                      for kind in (TRAIN, VALIDATION, FINAL) if kind in kinds]


def drawn_kinds(fig: Figure) -> dict[str, set[str]]:
    """The kinds of line drawn on each kind of panel: {"loss": {...}, "error": {...}} (read from the figure)."""
    drawn: dict[str, set[str]] = {"loss": set(), "error": set()}
    for ax in fig.axes:
        if ax.lines:
            drawn["error" if ax.get_yscale() == "log" else "loss"].update(line.get_gid() for line in ax.lines)
    return drawn


def learning_curves_caption(fig: Figure) -> str:
    """The caption of a learning-curve figure, from the lines it holds (HTML)."""
    drawn = drawn_kinds(fig)
    every = drawn["loss"] | drawn["error"]
    if not every:
        return "No training history was saved for these models."
    parts = ["One row per model: the loss (left) and the error, 1 − accuracy, on a log scale (right), where "
             "99.3% and 99.7% accuracy (0.7% and 0.3% error) lie far apart; lower is better on both. One colour "
             "per fold."]
    if TRAIN in every:
        parts.append("Solid lines, filled dots: the training rows, per epoch.")
    if VALIDATION in every:
        where = ("" if VALIDATION in drawn["loss"] and VALIDATION in drawn["error"] else
                 " (error panel only)" if VALIDATION in drawn["error"] else " (loss panel only)")
        parts.append(f"Dashed lines, hollow dots: the fold's held-out rows, scored after every epoch{where}. "
                     "Held-out error far above training error means over-fitting; both still falling means more "
                     "epochs would help.")
    if FINAL in every:
        parts.append("Hollow diamonds: " + ("the folds whose held-out rows were not scored after every epoch: "
                                            if VALIDATION in every else
                                            "this run did not score the held-out rows after every epoch, so ")
                     + "each fold's held-out accuracy after training is one point at its last epoch (folds side by side), its value "
                       "in the legend.")
        if VALIDATION not in drawn["loss"]:
            parts.append("The loss panel shows training only.")
    if not drawn["error"] - {TRAIN}:
        parts.append("No held-out score was recorded per epoch or per fold.")
    if any(np.any(np.asarray(line.get_ydata()) <= ERROR_FLOOR) for ax in fig.axes if ax.get_yscale() == "log"
           for line in ax.lines):
        parts.append(f"A point at {_percent(ERROR_FLOOR)} means no errors (a log axis has no 0).")
    return " ".join(parts)
