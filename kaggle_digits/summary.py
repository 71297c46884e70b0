"""A run's scores from its fold results: each member's OOF accuracy, every blend (cross-fitted), the blend
that makes the submission (``--blend auto``: the best of the blends and each member alone), error overlap;
and the lines that summarise them in the log."""

from __future__ import annotations

import logging

import numpy as np

from kaggle_digits import ensemble
from kaggle_digits.digits import N_CLASSES
from kaggle_digits.errors import DataError
from kaggle_digits.train import FoldResult

log = logging.getLogger(__name__)


def summarise(results: dict[str, list[FoldResult | None]], y: np.ndarray, fold_of: np.ndarray, blend: str) -> dict:
    """OOF scores per model and fold, and for every registered blend (cross-fitted); ``blend`` names the blend
    that makes the submission, or ``auto``: the best on OOF rows of the blends and each model alone.

    Folds may be missing (None: gathered kernels stopped at their deadline): then each model's test probabilities
    are the mean of its folds present, and OOF rows are scored (and blends fitted) on the folds present for every
    model -- a model without any is left out; ``folds``, ``scored_folds`` and ``partial`` say what was used."""
    n_folds = len(next(iter(results.values()), []))
    present, scored = _present(results)
    partial = len(present) < len(results) or any(len(folds) < n_folds for folds in present.values())
    rows, all_fold_of = np.isin(fold_of, scored), fold_of  # every row when no fold is missing
    y, fold_of = y[rows], fold_of[rows]
    per_model, oof_by_model, test_by_model = {}, {}, {}
    for name, folds in present.items():
        oof = np.zeros((len(all_fold_of), N_CLASSES), dtype=np.float32)
        for r in folds:
            oof[all_fold_of == r.fold] = r.oof
        oof = oof[rows]
        fold_acc = [r.metrics["val_accuracy"] for r in folds]
        per_model[name] = {
            "oof_accuracy": ensemble.accuracy(oof, y), "oof_log_loss": ensemble.log_loss(oof, y),
            "fold_accuracy": fold_acc, "fold_accuracy_mean": float(np.mean(fold_acc)),
            "fold_accuracy_std": float(np.std(fold_acc)),
            "seconds_per_epoch": _mean([r.metrics.get("seconds_per_epoch") for r in folds]),
            "images_per_second": _mean([r.metrics.get("images_per_second") for r in folds]),
            "fit_seconds": float(sum(r.metrics["fit_seconds"] for r in folds)),
            "epochs": folds[0].metrics["epochs"], "params": folds[0].metrics["params"],
        }
        oof_by_model[name] = oof
        test_by_model[name] = ensemble.average([r.test for r in folds])
    oofs, tests = list(oof_by_model.values()), list(test_by_model.values())
    blends, fitted, oof_blended, test_blended = {}, {}, {}, {}
    for name, b in ensemble.BLENDS.items():
        fitted[name] = b.fit(oofs, y)
        oof_blended[name] = b.oof_probabilities(oofs, y, fold_of)
        test_blended[name] = b.apply(tests, fitted[name])
        blends[name] = {"description": b.description, "weights": dict(zip(present, map(float, fitted[name]))),
                        "fitted": [float(v) for v in fitted[name]],
                        "oof_accuracy": ensemble.accuracy(oof_blended[name], y),
                        "oof_log_loss": ensemble.log_loss(oof_blended[name], y)}
    candidates = dict(blends)
    for name, m in per_model.items():  # each model alone is a candidate too: auto never loses to a member
        key = f"model:{name}"
        candidates[key] = {"oof_accuracy": m["oof_accuracy"], "oof_log_loss": m["oof_log_loss"],
                           "weights": {n: float(n == name) for n in present}}
        oof_blended[key], test_blended[key] = oof_by_model[name], test_by_model[name]
    chosen = ensemble.choose(candidates) if blend == ensemble.AUTO else blend
    description = blends[chosen]["description"] if chosen in blends else f"{chosen[len('model:'):]} alone"
    best = max(per_model, key=lambda m: per_model[m]["oof_accuracy"])
    return {
        "models": per_model,
        "ensemble": {"weights_used": chosen, "blend_requested": blend, "blend": description,
                     "weights": candidates[chosen]["weights"], "oof_accuracy": candidates[chosen]["oof_accuracy"],
                     "oof_log_loss": candidates[chosen]["oof_log_loss"], "blends": blends, "best_member": best,
                     "gain_over_best_member": candidates[chosen]["oof_accuracy"] - per_model[best]["oof_accuracy"]},
        "error_overlap": ensemble.error_overlap(oof_by_model, y),
        "folds": {name: [r.fold for r in folds] for name, folds in present.items()}, "scored_folds": scored,
        "partial": partial, "left_out": [name for name in results if name not in present],
        "_test_probabilities": test_blended[chosen],
        # the rows of folds not scored (a partial ensemble's, a holdout's) stay NaN: the array keeps the run's row order
        "_oof_probabilities": _expand(oof_blended[chosen], rows) if not rows.all() else oof_blended[chosen],
    }


def _present(results: dict[str, list[FoldResult | None]]) -> tuple[dict[str, list[FoldResult]], list[int]]:
    """Each model's folds present (models with none left out) and the folds every one of them has; when no fold
    is shared, the model with the most folds alone. DataError when there is no fold at all."""
    present = {name: [r for r in folds if r is not None] for name, folds in results.items()}
    present = {name: folds for name, folds in present.items() if folds}
    if not present:
        raise DataError("no fold result at all to make an ensemble of (every kernel stopped before finishing one?)")
    shared = set.intersection(*({r.fold for r in folds} for folds in present.values()))
    if not shared:
        best = max(present, key=lambda name: len(present[name]))
        present, shared = {best: present[best]}, {r.fold for r in present[best]}
    return present, sorted(shared)


def _expand(probabilities: np.ndarray, rows: np.ndarray) -> np.ndarray:
    full = np.full((len(rows), probabilities.shape[1]), np.nan, dtype=np.float32)
    full[rows] = probabilities
    return full


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def log_summary(summary: dict) -> None:
    for name, m in summary["models"].items():
        spe = f", {m['seconds_per_epoch']:.1f} s/epoch" if m["seconds_per_epoch"] else ""
        log.info(f"{name:>14}: OOF accuracy {m['oof_accuracy']:.4%} (folds {m['fold_accuracy_mean']:.4%} "
                 f"± {m['fold_accuracy_std']:.4%}){spe}")
    e = summary["ensemble"]
    scores = ", ".join(f"{name} {b['oof_accuracy']:.4%}" for name, b in e["blends"].items())
    chosen = (f"--blend auto chose {e['weights_used']}" if e.get("blend_requested") == ensemble.AUTO
              else f"{e['weights_used']} blend")
    log.info(f"{'ensemble':>14}: OOF accuracy {e['oof_accuracy']:.4%} ({chosen}; {scores})")
    if summary.get("partial"):
        held = "; ".join(f"{name} folds {', '.join(str(k + 1) for k in folds)}"
                         for name, folds in summary["folds"].items())
        log.info(f"{'partial':>14}: made of {held}" + (f"; left out {', '.join(summary['left_out'])} (no fold)"
                 if summary["left_out"] else "") + f"; OOF scored on the rows of folds "
                 f"{', '.join(str(k + 1) for k in summary['scored_folds'])}")
    if len(summary["models"]) > 1:
        for pair in summary["error_overlap"]:
            log.info(f"{'errors':>14}: {pair['model']} gets {pair['errors']} OOF rows wrong; {pair['other']} gets "
                     f"{pair['other_right']} of them right")
        if e["gain_over_best_member"] < 0:
            log.warning(f"the {e['weights_used']} ensemble is {-e['gain_over_best_member']:.4%} BELOW its best member "
                        f"{e['best_member']} on OOF rows; consider --models {e['best_member']}")
    if summary.get("trained_folds") == 0:
        log.info("nothing trained: every fold was reused from the run folder")
    else:
        log.info(f"total wall time {summary['wall_seconds']:.0f} s")
