"""The k-fold story, top to bottom: load -> folds -> train each (model, fold) -> ensemble -> submission.

Everything after training is a pure function of the fold results in the run folder, so a rerun
reuses finished folds (resume) and folds trained elsewhere (e.g. on Kaggle kernels) can be copied in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kaggle_digits import __version__, atomic, ensemble, submission
from kaggle_digits.config import RunConfig
from kaggle_digits.data import Competition, load_competition
from kaggle_digits.errors import DataError, OutputError
from kaggle_digits.folds import training_folds
from kaggle_digits.models import get_spec
from kaggle_digits.train import FoldResult, FoldTask, load_fold, train_fold

LATEST = "submission.csv"  # convenience copy of the newest run's submission, in the submissions folder
MB = 1024 * 1024


@dataclass
class RunResult:
    run_dir: Path
    submission_path: Path | None  # None when --only-folds left folds untrained (no ensemble yet)
    summary: dict
    copies: list[Path] = field(default_factory=list)
    report_path: Path | None = None  # run_dir/report.html, unless --no-report


def make_submission(cfg: RunConfig, log=print) -> RunResult:
    cfg.validate()
    started = time.perf_counter()
    data = load_competition(cfg.data)
    load_seconds = time.perf_counter() - started
    log(f"data: {data.source} -- train {len(data.x_train):,} rows, test {data.n_test:,} rows "
        f"(loaded in {load_seconds:.2f} s)")
    if data.is_sample:
        log("NOTE: no competition data found (looked for --data, ./data, ./digit-recognizer.zip); running on the "
            "bundled 4,000-row sample. The result is a demo, NOT a valid Kaggle submission. Get the real data with "
            "`kaggle competitions download -c digit-recognizer -p data/`.")

    rows, fold_of = training_folds(data.y_train, cfg.folds, cfg.seed, cfg.max_train_rows)
    x, y = data.x_train[rows], data.y_train[rows]
    run_dir = open_run_dir(cfg, data)
    log(f"run folder: {run_dir}")
    _check_free_space(run_dir, cfg, data)
    _record_inputs(run_dir, cfg, data, rows, fold_of)

    rows_sha = hashlib.sha256(rows.tobytes()).hexdigest()
    results: dict[str, list[FoldResult]] = {}
    for name in cfg.models:
        results[name] = [_fold(cfg, data, name, fold, x, y, fold_of, run_dir, rows_sha, log)
                         for fold in range(cfg.folds)]
    missing = [f"{name}/fold{k}" for name, folds in results.items() for k, r in enumerate(folds) if r is None]
    if missing:  # --only-folds: the ensemble waits until every fold of every model is in the run folder
        log(f"not trained yet: {', '.join(missing)}; no ensemble or submission until they are in {run_dir} "
            f"(train them with --only-folds and the same --run-dir, or gather them from Kaggle kernels)")
        return RunResult(run_dir, None, {"missing_folds": missing})

    summary = summarise(results, y, fold_of, cfg.weights)
    test_probs = summary.pop("_test_probabilities")
    oof_probs = summary.pop("_oof_probabilities")
    summary.update({"load_seconds": load_seconds, "wall_seconds": time.perf_counter() - started,
                    "is_sample": data.is_sample, "n_train": int(len(y)), "n_test": int(data.n_test)})
    atomic.save_npy(run_dir / "test_probabilities.npy", test_probs)
    atomic.save_npy(run_dir / "oof_probabilities.npy", oof_probs)
    atomic.write_json(run_dir / "ensemble.json", summary)

    frame = submission.make_frame(test_probs)
    validation = {"n_rows": data.n_test, "sample_ids": data.sample_ids}
    run_submission = run_dir / "submission.csv"
    if run_submission.exists() and run_submission.read_text() == frame.to_csv(index=False, lineterminator="\n"):
        pass  # rerun of a finished run: same result, nothing to write
    else:
        submission.write(frame, run_submission, overwrite=False, **validation)
    copies = [submission.write(frame, Path(cfg.submissions_dir) / LATEST, overwrite=True, **validation)]
    if cfg.out:
        if Path(cfg.out).exists() and not cfg.force:
            raise OutputError(f"--out {cfg.out} exists already; choose another path or add --force to replace it")
        copies.append(submission.write(frame, cfg.out, overwrite=True, **validation))
    report_path = _write_report(cfg, run_dir, data, log) if cfg.report else None
    _log_summary(summary, log)
    log(f"submission: {run_submission} ({data.n_test:,} rows)" + "".join(f"\n  copied to {c}" for c in copies))
    if report_path is not None:
        log(f"report: {report_path}")
    if data.is_sample:
        log("NOTE: made from the bundled sample -- do not upload it to Kaggle.")
    return RunResult(run_dir, run_submission, summary, copies, report_path=report_path)


def _write_report(cfg: RunConfig, run_dir: Path, data: Competition, log) -> Path | None:
    """report.html and its figures; a failure is a warning, since the submission is written already."""
    from kaggle_digits.report import write_report  # imported here: matplotlib loads only when wanted

    try:
        return write_report(run_dir, data=data)
    except Exception as exc:  # noqa: BLE001 -- any figure failure; --debug shows the traceback
        if cfg.debug:
            raise
        log(f"warning: the report could not be written ({type(exc).__name__}: {exc}); the submission is "
            f"fine. Retry with `python scripts/report.py {run_dir} --debug`")
        return None


def _fold(cfg, data: Competition, name, fold, x, y, fold_of, run_dir, rows_sha, log) -> FoldResult | None:
    spec = get_spec(name)
    recipe = spec.recipe.override(epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate)
    task = FoldTask(model=name, hp=dict(spec.hp), recipe=recipe, augment=cfg.augment, fold=fold,
                    n_folds=cfg.folds, seed=cfg.seed, data_sha256=data.sha256, rows_sha256=rows_sha,
                    validate_each_epoch=cfg.validate_each_epoch, tta=cfg.tta)
    fold_dir = run_dir / name / f"fold{fold}"
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
        log(f"[{name}] fold {fold + 1}/{cfg.folds}: training on {int(np.sum(fold_of != fold)):,} rows, "
            f"{recipe.epochs} epochs, batch {recipe.batch_size}, {recipe.optimizer} lr {recipe.learning_rate:g}")
        held = fold_of == fold
        result = train_fold(task, x[~held], y[~held], x[held], y[held], data.x_test, fold_dir, verbose=cfg.verbose)
    m = result.metrics
    log(f"[{name}] fold {fold + 1}/{cfg.folds}: val accuracy {m['val_accuracy']:.4f}"
        + (" (reused from an earlier run)" if result.reused else
           f", {m['seconds_per_epoch']:.1f} s/epoch, {m['fit_seconds']:.0f} s fit"))
    return result


def summarise(results: dict[str, list[FoldResult]], y: np.ndarray, fold_of: np.ndarray, weights: str) -> dict:
    """OOF accuracy per model and fold, and for the equal and the OOF-fitted blends."""
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
    equal = ensemble.average(oof_by_model)
    fitted_w = ensemble.fit_weights(oof_by_model, y)
    fitted = ensemble.log_blend(oof_by_model, fitted_w)
    if weights == "oof":  # log-probability blend with fitted weights
        chosen_w, oof_blend = fitted_w, fitted
        test_blend = ensemble.log_blend(test_by_model, fitted_w)
    else:  # plain probability average
        chosen_w, oof_blend = np.full(len(oof_by_model), 1 / len(oof_by_model)), equal
        test_blend = ensemble.average(test_by_model)
    return {
        "models": per_model,
        "ensemble": {
            "weights_used": weights, "weights": dict(zip(results, map(float, chosen_w))),
            "blend": "log-probability (geometric) with fitted weights" if weights == "oof" else "probability average",
            "oof_accuracy": ensemble.accuracy(oof_blend, y),
            "equal_weights_oof_accuracy": ensemble.accuracy(equal, y),
            "equal_weights_oof_log_loss": ensemble.log_loss(equal, y),
            "fitted_weights": dict(zip(results, map(float, fitted_w))),
            "fitted_weights_oof_accuracy": ensemble.accuracy(fitted, y),
            "fitted_weights_oof_log_loss": ensemble.log_loss(fitted, y),
        },
        "_test_probabilities": test_blend,
        "_oof_probabilities": oof_blend,
    }


# --------------------------------------------------------------------------- run folder
def open_run_dir(cfg: RunConfig, data: Competition) -> Path:
    """The explicit --run-dir, else an unfinished run of the same config to resume, else a new folder."""
    run_key = {"training_fingerprint": cfg.training_fingerprint(), "data_sha256": data.sha256}
    if cfg.run_dir:
        run_dir = Path(cfg.run_dir)
        if cfg.fresh and (run_dir / "run.json").exists():
            raise OutputError(f"--fresh with --run-dir {run_dir}: that folder holds a run already; "
                              f"give a new --run-dir (runs are never deleted by the kit)")
    else:
        run_dir = None if cfg.fresh else _unfinished_run(Path(cfg.submissions_dir), run_key)
        if run_dir is None:
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            suffix = "-sample" if data.is_sample else ""
            run_dir = atomic.unique_path(Path(cfg.submissions_dir) / f"{stamp}-{'+'.join(cfg.models)}{suffix}")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        if not (run_dir / "run.json").exists():
            atomic.write_json(run_dir / "run.json", {**run_key, "created": dt.datetime.now().isoformat(),
                                                     "kit_version": __version__})
    except OSError as exc:
        raise OutputError(f"cannot write the run folder {run_dir}: {exc.strerror or exc}") from None
    return run_dir


def _unfinished_run(root: Path, run_key: dict) -> Path | None:
    if not root.is_dir():
        return None
    for candidate in sorted(root.iterdir(), reverse=True):
        record = candidate / "run.json"
        if record.is_file() and not (candidate / "submission.csv").exists():
            try:
                saved = atomic.read_json(record)
            except (OSError, ValueError):
                continue
            if all(saved.get(k) == v for k, v in run_key.items()):
                return candidate
    return None


def _record_inputs(run_dir: Path, cfg: RunConfig, data: Competition, rows: np.ndarray, fold_of: np.ndarray) -> None:
    atomic.write_text(run_dir / "config.toml", cfg.to_toml())
    atomic.write_json(run_dir / "data.json", {"source": data.source, "sha256": data.sha256,
                                              "is_sample": data.is_sample, "n_train_total": int(len(data.x_train)),
                                              "n_train_used": int(len(rows)), "n_test": int(data.n_test)})
    atomic.save_npy(run_dir / "train_rows.npy", rows.astype(np.int64))
    atomic.save_npy(run_dir / "folds.npy", fold_of)


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


def _log_summary(summary: dict, log) -> None:
    for name, m in summary["models"].items():
        spe = f", {m['seconds_per_epoch']:.1f} s/epoch" if m["seconds_per_epoch"] else ""
        log(f"{name:>14}: OOF accuracy {m['oof_accuracy']:.4%} (folds {m['fold_accuracy_mean']:.4%} "
            f"± {m['fold_accuracy_std']:.4%}){spe}")
    e = summary["ensemble"]
    log(f"{'ensemble':>14}: OOF accuracy {e['oof_accuracy']:.4%} ({e['weights_used']} weights; "
        f"equal {e['equal_weights_oof_accuracy']:.4%}, OOF-fitted {e['fitted_weights_oof_accuracy']:.4%})")
    log(f"total wall time {summary['wall_seconds']:.0f} s")
