"""A run's scores from its fold results: each member's OOF accuracy, every blend (cross-fitted), the blend
that makes the submission (``--blend auto``: the best of the blends and each member alone), error overlap;
the typed summary that holds them (``RunSummary``, what ensemble.json says) with its one JSON reader and
writer; and the lines that summarise them in the log.

rundir.py owns ensemble.json's name and writes/reads its JSON (runs/runload.read_summary reads it typed); this
module owns its shape: ``to_json`` and ``from_json`` are the only code that knows the keys, and ``from_json`` reads
every older format too. It imports nothing of runs/ or training/: scoring sits below both (tests/test_structure.py).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from kaggle_digits.scoring import ensemble
from kaggle_digits.competition.digits import N_CLASSES
from kaggle_digits.errors import DataError

log = logging.getLogger(__name__)
MAX_OVERLAP_LINES = 4  # members up to which the log names every pair's error overlap (4 members: 12 lines)


class FoldPredictions(Protocol):
    """What scoring reads of a fold's result (training.train.FoldResult is one; not imported: scoring stays below
    training, and the readers of a summary -- ledger, submit -- need no Keras)."""
    fold: int
    oof: np.ndarray  # (n_held_out, 10), rows in increasing train-row order
    test: np.ndarray  # (n_test, 10)
    metrics: dict  # val_accuracy, fit_seconds, epochs, params, seconds_per_epoch, images_per_second


# --------------------------------------------------------------------------- the summary
@dataclass(frozen=True)
class ModelScore:
    """One member's out-of-fold scores and training speed over its folds."""
    oof_accuracy: float
    oof_log_loss: float
    fold_accuracy: list[float]  # each fold's validation accuracy, in fold order
    fold_accuracy_mean: float
    fold_accuracy_std: float
    seconds_per_epoch: float | None  # None: no fold recorded it
    images_per_second: float | None
    fit_seconds: float  # all its folds together
    epochs: int  # its first fold's
    params: int


@dataclass(frozen=True)
class BlendScore:
    """One registered blend (or, as a candidate of --blend auto, one member alone), scored on OOF rows."""
    weights: dict[str, float]  # per member, fitted on every OOF row (what test rows get)
    oof_accuracy: float
    oof_log_loss: float
    description: str | None = None  # None: a member alone, or a file from before the blend registry
    fitted: list[float] | None = None  # the raw fitted values in member order (None in files before --blend auto)


@dataclass(frozen=True)
class EnsembleScore:
    """The blend that made the submission, against every blend and the best member."""
    weights_used: str  # a blend's name, or model:NAME when --blend auto chose a member alone
    blend_requested: str  # --blend: a blend's name or auto
    blend: str | None  # weights_used in words (None: files from before it was recorded)
    weights: dict[str, float]
    oof_accuracy: float
    oof_log_loss: float | None
    blends: dict[str, BlendScore]  # every registered blend, used or not
    best_member: str | None  # None: files from before it was recorded
    gain_over_best_member: float | None  # the ensemble's OOF accuracy minus best_member's

    def to_json(self) -> dict:
        """As ensemble.json's ``ensemble`` (a kernel's manifest holds it too: kaggle/outputs.py)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ErrorOverlap:
    """``model`` gets ``errors`` OOF rows wrong, of which ``other`` gets ``other_right`` right."""
    model: str
    other: str
    errors: int
    other_right: int

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RunPlan:
    """What a --minutes plan chose (or --model-epochs asked for), as ensemble.json's ``plan`` holds it: the run's
    folds and members, each model's epochs and fitted seconds per fold, a holdout (fold 0 alone) or not, and
    augmentation. Here beside the summary that holds it, not beside planning's Plan: scoring sits below planning,
    and the summary's readers (ledger, submit, benchmarks) need no planner."""
    folds: int
    epochs: dict[str, int]  # per model
    augment: bool
    # added since the first plans were recorded: their defaults are what those runs did
    fold_seconds: dict[str, float] = dataclasses.field(default_factory=dict)  # per model; {}: epochs not fitted
    holdout: bool = False
    seeds: int = 1  # members per model (--seeds)

    def to_json(self) -> dict:
        """ensemble.json's ``plan``: the keys it always had."""
        return {"folds": self.folds, "seeds": self.seeds, "epochs": dict(self.epochs), "holdout": self.holdout,
                "augment": self.augment, "fold_seconds": dict(self.fold_seconds)}

    @classmethod
    def from_json(cls, content: dict) -> RunPlan:
        """A plan written by this release or an earlier one: ``fold_seconds``, ``holdout`` and ``seeds`` came later,
        and the first plans' ``description`` (the plan in words, made from these values) is not kept. ValueError
        when ``content`` is not a plan."""
        try:
            plan = cls(folds=content["folds"], epochs=dict(content["epochs"]), augment=content["augment"],
                       fold_seconds=dict(content.get("fold_seconds") or {}), holdout=content.get("holdout", False),
                       seeds=content.get("seeds", 1))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a run plan ({type(exc).__name__}: {exc})") from None
        if not (isinstance(plan.folds, int) and isinstance(plan.seeds, int) and isinstance(plan.augment, bool)
                and isinstance(plan.holdout, bool)):
            raise ValueError(f"not a run plan: folds {plan.folds!r}, seeds {plan.seeds!r}, augment {plan.augment!r}, "
                             f"holdout {plan.holdout!r}")
        return plan


@dataclass(frozen=True)
class RunSummary:
    """What ensemble.json holds: the scores summarise makes, then the run's facts pipeline adds."""
    models: dict[str, ModelScore]
    ensemble: EnsembleScore
    error_overlap: list[ErrorOverlap]  # every ordered pair of members
    folds: dict[str, list[int]]  # the folds of each member the ensemble is made of
    scored_folds: list[int]  # the folds whose rows are scored: those every member has
    partial: bool  # some folds (or members) missing: kernels stopped at their deadline
    left_out: list[str]  # members without any fold
    # the run's facts (pipeline); None where an older file did not record one
    holdout: bool = False  # --holdout: fold 0 alone was meant to train (False in files from before --holdout)
    plan: RunPlan | None = None  # what --minutes planned or --model-epochs asked for; None: neither
    precision: str | None = None
    trained_folds: int | None = None  # by the invocation that wrote the file (0: every fold reused)
    load_seconds: float | None = None
    wall_seconds: float | None = None
    is_sample: bool = False
    n_train: int | None = None
    n_test: int | None = None

    def to_json(self) -> dict:
        """ensemble.json's content: every field under its own name; ``plan`` only when there is one, as always."""
        content = dataclasses.asdict(self)
        if self.plan is None:
            del content["plan"]
        else:
            content["plan"] = self.plan.to_json()  # its own keys, not asdict's
        return content

    @classmethod
    def from_json(cls, content: dict) -> RunSummary:
        """The summary in ensemble.json's ``content``, written by this release or an earlier one: keys added since
        the first release get defaults (below), the first releases' flat blend keys become ``blends``.
        ValueError when ``content`` is not a summary."""
        try:
            return _summary_from_json(content)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a run summary ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True)
class Scored:
    """summarise's result: the summary, and the chosen blend's probabilities (the run folder's .npy files)."""
    summary: RunSummary
    test_probabilities: np.ndarray
    oof_probabilities: np.ndarray  # in the run's row order; a partial ensemble's rows not scored are NaN


# --------------------------------------------------------------------------- reading ensemble.json
def _fields(cls, content: dict) -> dict:
    """``content``'s value of each field of ``cls`` (KeyError when one is missing)."""
    return {f.name: content[f.name] for f in dataclasses.fields(cls)}


def _summary_from_json(content: dict) -> RunSummary:
    models = {name: ModelScore(**_fields(ModelScore, m)) for name, m in content["models"].items()}
    # before partial ensembles (kernels stopped at their deadline) every member had every fold
    folds = content.get("folds", {name: list(range(len(m.fold_accuracy))) for name, m in models.items()})
    shared = set.intersection(*map(set, folds.values())) if folds else set()
    facts = {f.name: content[f.name] for f in dataclasses.fields(RunSummary)
             if f.default is not dataclasses.MISSING and f.name in content}
    if facts.get("plan") is not None:
        facts["plan"] = RunPlan.from_json(facts["plan"])
    return RunSummary(
        models=models, ensemble=_ensemble_from_json(content["ensemble"], list(models)),
        error_overlap=[ErrorOverlap(**_fields(ErrorOverlap, p)) for p in content.get("error_overlap", [])],
        folds=folds, scored_folds=content.get("scored_folds", sorted(shared)),
        partial=content.get("partial", False), left_out=content.get("left_out", []), **facts)


def _ensemble_from_json(e: dict, members: list[str]) -> EnsembleScore:
    blends = _blends_from_json(e, members)
    used = e["weights_used"]
    return EnsembleScore(
        weights_used=used,
        blend_requested=e.get("blend_requested", used),  # before --blend auto, the blend asked for was the one used
        blend=e.get("blend"), weights=e["weights"], oof_accuracy=e["oof_accuracy"],
        # the first files scored the ensemble's log loss only as its blend's
        oof_log_loss=e.get("oof_log_loss", blends[used].oof_log_loss if used in blends else None),
        blends=blends, best_member=e.get("best_member"), gain_over_best_member=e.get("gain_over_best_member"))


def _blends_from_json(e: dict, members: list[str]) -> dict[str, BlendScore]:
    if "blends" in e:
        return {name: BlendScore(weights=b["weights"], oof_accuracy=b["oof_accuracy"],
                                 oof_log_loss=b["oof_log_loss"], description=b.get("description"),
                                 fitted=b.get("fitted")) for name, b in e["blends"].items()}
    if "equal_weights_oof_accuracy" not in e:
        return {}
    # written before the blend registry: the equal and the OOF-fitted average, as flat keys
    return {"equal": BlendScore(weights={m: 1 / (len(members) or 1) for m in members},
                                oof_accuracy=e["equal_weights_oof_accuracy"],
                                oof_log_loss=e["equal_weights_oof_log_loss"]),
            "oof": BlendScore(weights=e["fitted_weights"], oof_accuracy=e["fitted_weights_oof_accuracy"],
                              oof_log_loss=e["fitted_weights_oof_log_loss"])}


# --------------------------------------------------------------------------- scoring
def summarise(results: dict[str, list[FoldPredictions | None]], y: np.ndarray, fold_of: np.ndarray, blend: str,
              splits: dict[str, np.ndarray] | None = None) -> Scored:
    """OOF scores per member and fold, and for every registered blend (cross-fitted); ``blend`` names the blend
    that makes the submission, or ``auto``: the best on OOF rows of the blends and each member alone.

    ``splits``: member -> its own fold id per row (--seeds: each member's split, competition/folds.py); a member
    not named there is on ``fold_of``, the run's split, which also cross-fits the blends. Every member predicts
    every row out of fold, so the members' average is scored on rows none of its models saw.

    Folds may be missing (None: gathered kernels stopped at their deadline): then each member's test probabilities
    are the mean of its folds present, and OOF rows are scored (and blends fitted) on the rows every member has
    predicted -- a member without any fold is left out; ``folds``, ``scored_folds`` and ``partial`` say what was
    used."""
    n_folds = len(next(iter(results.values()), []))
    splits = splits or {}
    present, scored = _present(results)
    partial = len(present) < len(results) or any(len(folds) < n_folds for folds in present.values())
    split_of = {name: splits.get(name, fold_of) for name in present}
    rows = _rows_scored(present, split_of)
    if not rows.any():  # the members' folds cover no row together (other splits): the one with most folds alone
        best = max(present, key=lambda name: len(present[name]))
        present, scored = {best: present[best]}, sorted(r.fold for r in present[best])
        rows = _rows_scored(present, split_of)
    y, scored_fold_of = y[rows], fold_of[rows]
    per_model, oof_by_model, test_by_model = {}, {}, {}
    for name, folds in present.items():
        oof = np.zeros((len(fold_of), N_CLASSES), dtype=np.float32)
        for r in folds:
            oof[split_of[name] == r.fold] = r.oof
        oof_by_model[name] = oof[rows]
        per_model[name] = _model_score(folds, oof_by_model[name], y)
        test_by_model[name] = ensemble.average([r.test for r in folds])
    blends, oof_blended, test_blended = _score_blends(oof_by_model, test_by_model, y, scored_fold_of)
    candidates = dict(blends)
    for name, m in per_model.items():  # each model alone is a candidate too: auto never loses to a member
        key = f"model:{name}"
        candidates[key] = BlendScore(weights={n: float(n == name) for n in present}, oof_accuracy=m.oof_accuracy,
                                     oof_log_loss=m.oof_log_loss)
        oof_blended[key], test_blended[key] = oof_by_model[name], test_by_model[name]
    chosen = _choose(candidates) if blend == ensemble.AUTO else blend
    summary = RunSummary(
        models=per_model, ensemble=_ensemble_score(chosen, blend, candidates, blends, per_model),
        error_overlap=[ErrorOverlap(**pair) for pair in ensemble.error_overlap(oof_by_model, y)],
        folds={name: [r.fold for r in folds] for name, folds in present.items()}, scored_folds=scored,
        partial=partial, left_out=[name for name in results if name not in present])
    # the rows of folds not scored (a partial ensemble's, a holdout's) stay NaN: the array keeps the run's row order
    oof_chosen = _expand(oof_blended[chosen], rows) if not rows.all() else oof_blended[chosen]
    return Scored(summary, test_blended[chosen], oof_chosen)


def _model_score(folds: list[FoldPredictions], oof: np.ndarray, y: np.ndarray) -> ModelScore:
    fold_acc = [r.metrics["val_accuracy"] for r in folds]
    return ModelScore(
        oof_accuracy=ensemble.accuracy(oof, y), oof_log_loss=ensemble.log_loss(oof, y), fold_accuracy=fold_acc,
        fold_accuracy_mean=float(np.mean(fold_acc)), fold_accuracy_std=float(np.std(fold_acc)),
        seconds_per_epoch=_mean([r.metrics.get("seconds_per_epoch") for r in folds]),
        images_per_second=_mean([r.metrics.get("images_per_second") for r in folds]),
        fit_seconds=float(sum(r.metrics["fit_seconds"] for r in folds)),
        epochs=folds[0].metrics["epochs"], params=folds[0].metrics["params"])


def _score_blends(oof_by_model: dict[str, np.ndarray], test_by_model: dict[str, np.ndarray], y: np.ndarray,
                  fold_of: np.ndarray) -> tuple[dict[str, BlendScore], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Every registered blend's score (cross-fitted on OOF rows), and its OOF and test probabilities."""
    members, oofs, tests = list(oof_by_model), list(oof_by_model.values()), list(test_by_model.values())
    blends, oof_blended, test_blended = {}, {}, {}
    for name, b in ensemble.BLENDS.items():
        fitted = b.fit(oofs, y)
        oof_blended[name] = b.oof_probabilities(oofs, y, fold_of)
        test_blended[name] = b.apply(tests, fitted)
        blends[name] = BlendScore(weights=dict(zip(members, map(float, fitted))),
                                  oof_accuracy=ensemble.accuracy(oof_blended[name], y),
                                  oof_log_loss=ensemble.log_loss(oof_blended[name], y),
                                  description=b.description, fitted=[float(v) for v in fitted])
    return blends, oof_blended, test_blended


def _choose(candidates: dict[str, BlendScore]) -> str:
    return ensemble.choose({name: {"oof_accuracy": c.oof_accuracy, "oof_log_loss": c.oof_log_loss}
                            for name, c in candidates.items()})


def _ensemble_score(chosen: str, requested: str, candidates: dict[str, BlendScore], blends: dict[str, BlendScore],
                    per_model: dict[str, ModelScore]) -> EnsembleScore:
    description = blends[chosen].description if chosen in blends else f"{chosen[len('model:'):]} alone"
    best = max(per_model, key=lambda m: per_model[m].oof_accuracy)
    used = candidates[chosen]
    return EnsembleScore(weights_used=chosen, blend_requested=requested, blend=description, weights=used.weights,
                         oof_accuracy=used.oof_accuracy, oof_log_loss=used.oof_log_loss, blends=blends,
                         best_member=best, gain_over_best_member=used.oof_accuracy - per_model[best].oof_accuracy)


def _present(results: dict[str, list[FoldPredictions | None]]) -> tuple[dict[str, list[FoldPredictions]], list[int]]:
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


def _rows_scored(present: dict[str, list[FoldPredictions]], split_of: dict[str, np.ndarray]) -> np.ndarray:
    """The rows every member in ``present`` has an out-of-fold prediction for (all rows when no fold is missing)."""
    rows = np.ones(len(next(iter(split_of.values()))), dtype=bool)
    for name, folds in present.items():
        rows &= np.isin(split_of[name], [r.fold for r in folds])
    return rows


def _expand(probabilities: np.ndarray, rows: np.ndarray) -> np.ndarray:
    full = np.full((len(rows), probabilities.shape[1]), np.nan, dtype=np.float32)
    full[rows] = probabilities
    return full


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


# --------------------------------------------------------------------------- the log
def log_summary(summary: RunSummary) -> None:
    for name, m in summary.models.items():
        spe = f", {m.seconds_per_epoch:.1f} s/epoch" if m.seconds_per_epoch else ""
        log.info(f"{name:>14}: OOF accuracy {m.oof_accuracy:.4%} (folds {m.fold_accuracy_mean:.4%} "
                 f"± {m.fold_accuracy_std:.4%}){spe}")
    e = summary.ensemble
    scores = ", ".join(f"{name} {b.oof_accuracy:.4%}" for name, b in e.blends.items())
    chosen = (f"--blend auto chose {e.weights_used}" if e.blend_requested == ensemble.AUTO
              else f"{e.weights_used} blend")
    log.info(f"{'ensemble':>14}: OOF accuracy {e.oof_accuracy:.4%} ({chosen}; {scores})")
    if summary.partial:
        held = "; ".join(f"{name} folds {', '.join(str(k + 1) for k in folds)}" for name, folds in summary.folds.items())
        log.info(f"{'partial':>14}: made of {held}" + (f"; left out {', '.join(summary.left_out)} (no fold)"
                 if summary.left_out else "") + f"; OOF scored on the rows of folds "
                 f"{', '.join(str(k + 1) for k in summary.scored_folds)}")
    if 1 < len(summary.models) <= MAX_OVERLAP_LINES:  # many members (--seeds): the pairs stay in ensemble.json
        for pair in summary.error_overlap:
            log.info(f"{'errors':>14}: {pair.model} gets {pair.errors} OOF rows wrong; {pair.other} gets "
                     f"{pair.other_right} of them right")
        if e.gain_over_best_member is not None and e.gain_over_best_member < 0:
            log.warning(f"the {e.weights_used} ensemble is {-e.gain_over_best_member:.4%} BELOW its best member "
                        f"{e.best_member} on OOF rows; consider --models {e.best_member}")
    if summary.trained_folds == 0:
        log.info("nothing trained: every fold was reused from the run folder")
    else:
        log.info(f"total wall time {summary.wall_seconds:.0f} s")
