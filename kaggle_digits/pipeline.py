"""The k-fold story, top to bottom: load -> folds -> train each (model, fold) -> ensemble -> submission.

Everything after training is a pure function of the fold results in the run folder, so a rerun
reuses finished folds (resume) and folds trained elsewhere (e.g. on Kaggle kernels) can be copied in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kaggle_digits import budget, ensemble, probe, rundir, runlock, submission
from kaggle_digits.config import RunConfig
from kaggle_digits.data import Competition, cache_root, load_competition
from kaggle_digits.errors import DataError, OutputError
from kaggle_digits.folds import training_folds
from kaggle_digits.machine import describe_machine, git_commit
from kaggle_digits.models import get_spec
from kaggle_digits.planner import Progress
from kaggle_digits.train import FoldResult, FoldTask, load_fold, train_fold

log = logging.getLogger(__name__)
MB = 1024 * 1024
SUSTAINED_MIN_ROWS = 10_000  # folds on fewer rows are dominated by per-epoch overhead: not a speed to plan with


@dataclass
class RunResult:
    run_dir: Path
    submission_path: Path | None  # None when --only-folds left folds untrained (no ensemble yet)
    summary: dict
    copies: list[Path] = field(default_factory=list)
    report_path: Path | None = None  # run_dir/report.html, unless --no-report


def make_submission(cfg: RunConfig) -> RunResult:
    cfg.validate()
    started = time.perf_counter()
    _refuse_existing_out(cfg)
    data = load_competition(cfg.data)
    load_seconds = time.perf_counter() - started
    log.info(f"data: {data.source} -- train {len(data.x_train):,} rows, test {data.n_test:,} rows "
             f"(loaded in {load_seconds:.2f} s)")
    if data.is_sample:
        log.info("NOTE: no competition data found (looked for --data, ./data, ./digit-recognizer.zip); running on "
                 "the bundled 4,000-row sample. The result is a demo, NOT a valid Kaggle submission. Get the real data "
                 "with `kaggle competitions download -c digit-recognizer -p data/`.")

    precision = budget.resolve_precision(cfg)
    n_rows = min(cfg.max_train_rows or len(data.y_train), len(data.y_train))
    cfg = budget.apply_budget(cfg, data, n_rows, precision.name, started).validate()
    rows, fold_of = training_folds(data.y_train, cfg.folds, cfg.seed, cfg.max_train_rows)
    run_dir = rundir.open_run(cfg, data)
    log.info(f"run folder: {run_dir}")
    with runlock.lock(run_dir):  # a second process on this folder is refused, naming this one
        return _run(cfg, data, run_dir, rows, fold_of, precision.name, started, load_seconds)


def _run(cfg: RunConfig, data: Competition, run_dir: Path, rows: np.ndarray, fold_of: np.ndarray, precision: str,
         started: float, load_seconds: float) -> RunResult:
    """Train what the run folder lacks, then the ensemble, the submission and the report."""
    x, y = data.x_train[rows], data.y_train[rows]
    _check_free_space(run_dir, cfg, data)
    rundir.record_inputs(run_dir, cfg, data, rows, fold_of)

    rows_sha = hashlib.sha256(rows.tobytes()).hexdigest()
    tasks = {(name, fold): _task(cfg, data, name, fold, rows_sha, precision)
             for name in cfg.models for fold in range(cfg.folds)}
    progress = Progress({rundir.fold_name(n, k): t.recipe.epochs * np.sum(fold_of != k) / len(y)
                         for (n, k), t in tasks.items()}, clock=time.perf_counter)
    results: dict[str, list[FoldResult]] = {}
    for name in cfg.models:
        results[name] = [_fold(cfg, data, tasks[name, fold], x, y, fold_of, run_dir, progress)
                         for fold in range(cfg.folds)]
    missing = [rundir.fold_name(name, k) for name, folds in results.items() for k, r in enumerate(folds) if r is None]
    if missing:  # --only-folds: the ensemble waits until every fold of every model is in the run folder
        log.info(f"not trained yet: {', '.join(missing)}; no ensemble or submission until they are in {run_dir} "
                 f"(train them with --only-folds and the same --run-dir, or gather them from Kaggle kernels)")
        return RunResult(run_dir, None, {"missing_folds": missing})

    summary = summarise(results, y, fold_of, cfg.blend)
    if cfg.model_epochs:  # what --minutes planned (or --model-epochs asked for)
        summary["plan"] = {"folds": cfg.folds, "epochs": dict(cfg.model_epochs),
                           "augment": cfg.augment.enabled}
    summary["precision"] = precision
    summary["trained_folds"] = sum(not r.reused for folds in results.values() for r in folds)
    test_probs = summary.pop("_test_probabilities")
    oof_probs = summary.pop("_oof_probabilities")
    summary.update({"load_seconds": load_seconds, "wall_seconds": time.perf_counter() - started,
                    "is_sample": data.is_sample, "n_train": int(len(y)), "n_test": int(data.n_test)})
    rundir.record_ensemble(run_dir, summary, oof_probs, test_probs)
    rundir.record_invocation(run_dir, {
        "command": command_line(), "commit": git_commit(),
        "machine": describe_machine()["full"], "precision": precision, "finished": dt.datetime.now().isoformat(),
        "wall_seconds": summary["wall_seconds"], "trained_folds": summary["trained_folds"]})

    frame = submission.make_frame(test_probs)
    validation = {"n_rows": data.n_test, "sample_ids": data.sample_ids}
    run_submission = run_dir / rundir.SUBMISSION
    if run_submission.exists() and run_submission.read_text() == frame.to_csv(index=False, lineterminator="\n"):
        pass  # rerun of a finished run: same result, nothing to write
    else:
        submission.write(frame, run_submission, overwrite=False, **validation)
    copies = []
    if data.is_sample or cfg.max_train_rows:  # the file `submit` uploads is only ever a full-data run's
        log.info(f"not copied to {Path(cfg.submissions_dir) / rundir.SUBMISSION}: this run trained on "
                 f"{'the bundled sample' if data.is_sample else f'{len(y):,} of {len(data.y_train):,} rows'}")
    else:
        copies.append(submission.write(frame, Path(cfg.submissions_dir) / rundir.SUBMISSION, overwrite=True,
                                       **validation))
        rundir.record_latest(cfg.submissions_dir, run_dir)  # `submit` shows this run's OOF for the copy
    if cfg.out:
        copies.append(submission.write(frame, cfg.out, overwrite=True, **validation))
    report_path = _write_report(cfg, run_dir, data) if cfg.report else None
    _log_summary(summary)
    log.info(f"submission: {run_submission} ({data.n_test:,} rows)" + "".join(f"\n  copied to {c}" for c in copies))
    if report_path is not None:
        log.info(f"report: {report_path}")
    if data.is_sample:
        log.info("NOTE: made from the bundled sample -- do not upload it to Kaggle.")
    return RunResult(run_dir, run_submission, summary, copies, report_path=report_path)


def command_line(argv: list[str] | None = None) -> str:
    """The command that is running, as a user would type it (``python -m kaggle_digits`` for ``__main__.py``)."""
    argv = sys.argv if argv is None else argv
    program = Path(argv[0]).name if argv else "python"
    program = "python -m kaggle_digits" if program == "__main__.py" else program
    return " ".join([program, *map(shlex.quote, argv[1:])])


def _write_report(cfg: RunConfig, run_dir: Path, data: Competition) -> Path | None:
    """report.html and its figures; a failure is a warning, since the submission is written already."""
    from kaggle_digits.report import write_report  # imported here: matplotlib loads only when wanted

    try:
        return write_report(run_dir, data=data)
    except Exception as exc:  # noqa: BLE001 -- any figure failure; --debug shows the traceback
        if cfg.debug:
            raise
        log.warning(f"the report could not be written ({type(exc).__name__}: {exc}); the submission is "
                    f"fine. Retry with `kaggle-digits report {run_dir} --debug`")
        return None


def _refuse_existing_out(cfg: RunConfig) -> None:
    """An --out that would be refused is refused now, before any data is read or any model trained."""
    if cfg.out and Path(cfg.out).exists() and not cfg.force:
        raise OutputError(f"--out {cfg.out} exists already; choose another path or add --force to replace it")
    if cfg.out and not Path(cfg.out).resolve().parent.is_dir():
        raise OutputError(f"--out {cfg.out}: the folder {Path(cfg.out).resolve().parent} does not exist")


def _task(cfg: RunConfig, data: Competition, name: str, fold: int, rows_sha: str, precision: str) -> FoldTask:
    spec = get_spec(name)
    epochs = (cfg.model_epochs or {}).get(name, cfg.epochs)
    recipe = spec.recipe.override(epochs=epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate)
    return FoldTask(model=name, hp=dict(spec.hp), recipe=recipe, augment=cfg.augment, fold=fold,
                    n_folds=cfg.folds, seed=cfg.seed, data_sha256=data.sha256, rows_sha256=rows_sha,
                    validate_each_epoch=cfg.validate_each_epoch, tta=cfg.tta, precision=precision,
                    settings=cfg.fold_settings())


def _fold(cfg, data: Competition, task: FoldTask, x, y, fold_of, run_dir, progress: Progress) -> FoldResult | None:
    name, fold, recipe = task.model, task.fold, task.recipe
    fold_dir = rundir.fold_dir(run_dir, name, fold)
    result = load_fold(fold_dir, task)
    if result is None and cfg.ensemble_only:  # folds trained elsewhere (Kaggle kernels): code/backend may differ
        result = load_fold(fold_dir, task, ignore=("code", "backend"))
        if result is None:
            raise DataError(f"{fold_dir}: no finished fold result for this configuration (--ensemble-only trains "
                            f"nothing; the fold must come from a run with the same data, models, folds, seed and "
                            f"recipe)")
    if result is None and cfg.only_folds is not None and fold not in cfg.only_folds:
        return None
    if result is None:
        log.info(f"[{name}] fold {fold + 1}/{cfg.folds}: training on {int(np.sum(fold_of != fold)):,} rows, "
                 f"{recipe.epochs} epochs, batch {recipe.batch_size}, {recipe.optimizer} lr {recipe.learning_rate:g}")
        held = fold_of == fold
        result = train_fold(task, x[~held], y[~held], x[held], y[held], data.x_test, fold_dir, verbose=cfg.verbose)
        if result.metrics["epochs"] > 1 and result.metrics["n_train"] >= SUSTAINED_MIN_ROWS:  # long enough epochs:
            # the next plan on this machine uses the speed this fold sustained
            probe.record_sustained(name, task.augment, task.precision, result.metrics["images_per_second"],
                                   cache_root())
    m = result.metrics
    label = rundir.fold_name(name, fold)
    if result.reused:
        progress.remaining.pop(label, None)  # not part of this run's time
        log.info(f"[{name}] fold {fold + 1}/{cfg.folds}: val accuracy {m['val_accuracy']:.4f} (reused from an "
                 f"earlier run)")
    else:
        log.info(f"[{name}] fold {fold + 1}/{cfg.folds}: val accuracy {m['val_accuracy']:.4f}, "
                 f"{m['seconds_per_epoch']:.1f} s/epoch, {m['fit_seconds']:.0f} s fit; {progress.fold_done(label)}")
    return result


def summarise(results: dict[str, list[FoldResult]], y: np.ndarray, fold_of: np.ndarray, weights: str) -> dict:
    """OOF scores per model and fold, and for every registered blend; ``weights`` names the blend used."""
    per_model, oof_by_model, test_by_model = {}, [], []
    for name, folds in results.items():
        oof = np.zeros((len(y), 10), dtype=np.float32)
        for r in folds:
            oof[fold_of == r.fold] = r.oof
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
        oof_by_model.append(oof)
        test_by_model.append(ensemble.average([r.test for r in folds]))
    blends, fitted = {}, {}
    for name, blend in ensemble.BLENDS.items():
        fitted[name] = blend.fit(oof_by_model, y)
        oof_blend = blend.oof_probabilities(oof_by_model, y, fold_of, fitted[name])
        blends[name] = {"description": blend.description, "weights": dict(zip(results, map(float, fitted[name]))),
                        "oof_accuracy": ensemble.accuracy(oof_blend, y),
                        "oof_log_loss": ensemble.log_loss(oof_blend, y)}
        if name == weights:
            chosen_oof = oof_blend
    chosen = ensemble.get_blend(weights)
    best = max(per_model, key=lambda m: per_model[m]["oof_accuracy"])
    return {
        "models": per_model,
        "ensemble": {"weights_used": weights, "blend": chosen.description, "weights": blends[weights]["weights"],
                     "oof_accuracy": blends[weights]["oof_accuracy"], "oof_log_loss": blends[weights]["oof_log_loss"],
                     "blends": blends, "best_member": best,
                     "gain_over_best_member": blends[weights]["oof_accuracy"] - per_model[best]["oof_accuracy"]},
        "error_overlap": ensemble.error_overlap(dict(zip(results, oof_by_model)), y),
        "_test_probabilities": chosen.apply(test_by_model, fitted[weights]),
        "_oof_probabilities": chosen_oof,
    }


def _check_free_space(run_dir: Path, cfg: RunConfig, data: Competition) -> None:
    # per fold: test + OOF probabilities (float32) and a model file of a few MB
    need = len(cfg.models) * cfg.folds * (data.n_test * 40 + 30 * MB) + 10 * MB
    free = shutil.disk_usage(run_dir).free
    if free < need:
        raise OutputError(f"only {free / MB:.0f} MB free under {run_dir}; this run needs about {need / MB:.0f} MB "
                          f"(free some space or pass --run-dir on another disk)")


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _log_summary(summary: dict) -> None:
    for name, m in summary["models"].items():
        spe = f", {m['seconds_per_epoch']:.1f} s/epoch" if m["seconds_per_epoch"] else ""
        log.info(f"{name:>14}: OOF accuracy {m['oof_accuracy']:.4%} (folds {m['fold_accuracy_mean']:.4%} "
                 f"± {m['fold_accuracy_std']:.4%}){spe}")
    e = summary["ensemble"]
    scores = ", ".join(f"{name} {b['oof_accuracy']:.4%}" for name, b in e["blends"].items())
    log.info(f"{'ensemble':>14}: OOF accuracy {e['oof_accuracy']:.4%} ({e['weights_used']} blend; {scores})")
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
