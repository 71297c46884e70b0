"""How fast and how accurate a kit run is, next to a plain-Keras baseline measured in the same process.

The baseline is what the seed write-ups and most public notebooks do: ``pd.read_csv``, float32
arrays divided by 255, and ``model.fit`` on NumPy with the seed's own recipe -- here seed 003's CNN
(Adam 1e-3, batch 32), on the same rows and folds as the kit, so every figure is comparable and the
speed-up is a ratio of two measurements on one machine.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from kaggle_digits import atomic, portable
from kaggle_digits.runs import rundir, runload
from kaggle_digits.scoring import ensemble
from kaggle_digits.training import tta
from kaggle_digits.bench.tables import markdown_table, write_csv
from kaggle_digits.config import RunConfig
from kaggle_digits.competition.data import BUNDLED_SAMPLE, CompetitionSource, find_data, load_competition
from kaggle_digits.competition.digits import IMAGE_SHAPE, N_CLASSES
from kaggle_digits.machine import describe_machine
from kaggle_digits.training.devices import all_devices
from kaggle_digits.models import get_spec
from kaggle_digits.pipeline import make_submission

log = logging.getLogger(__name__)

BASELINE_MODEL = "seed003_cnn"
COLUMNS = ("name", "kind", "params", "epochs", "batch_size", "seconds_per_epoch", "images_per_second",
           "fit_seconds", "oof_accuracy")


@dataclass
class BaselineResult:
    load_seconds: float
    seconds_per_epoch: float
    images_per_second: float
    fit_seconds: float
    wall_seconds: float
    oof_accuracy: float
    fold_accuracy: list[float]
    params: int


def pandas_load(path: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """train.csv the notebook way (``pd.read_csv``, C engine); returns images, labels and seconds."""
    source = CompetitionSource(Path(path))
    start = time.perf_counter()
    frames = []
    for name in ("train.csv", "test.csv"):
        member = source.member(name)
        frames.append(pd.read_csv(io.BytesIO(source.read(member)),
                                  compression="gzip" if member.endswith(".gz") else None))
    seconds = time.perf_counter() - start
    return frames[0].drop(columns="label").to_numpy(), frames[0]["label"].to_numpy(), seconds


def plain_images(pixels: np.ndarray) -> np.ndarray:
    """CSV pixel rows as the notebooks feed them: float32 images divided by 255."""
    return (pixels.reshape((-1,) + IMAGE_SHAPE) / 255.0).astype("float32")


def baseline_batch() -> int:
    """The baseline's batch size: seed 003's own recipe, as the notebooks run it."""
    return get_spec(BASELINE_MODEL).recipe.batch_size


def plain_model(seed: int) -> keras.Model:
    """Seed 003's CNN as the notebooks build it: a plain keras.Model, Adam 1e-3, integer labels, no kit wrapper
    (no augmentation, no schedule). The one plain-Keras baseline: this benchmark and the notebook process."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(IMAGE_SHAPE)
    model = keras.Model(inputs, get_spec(BASELINE_MODEL).builder(inputs))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def plain_keras_baseline(data_path: Path, rows: np.ndarray, fold_of: np.ndarray, epochs: int,
                         seed: int, verbose: int = 0) -> BaselineResult:
    started = time.perf_counter()
    pixels, labels, load_seconds = pandas_load(data_path)
    x, y = plain_images(pixels[rows]), labels[rows]
    oof = np.zeros((len(y), N_CLASSES), dtype=np.float32)
    fit_seconds, steady_epoch_seconds, params = 0.0, [], 0
    for fold in range(int(fold_of.max()) + 1):
        keras.backend.clear_session()
        model = plain_model(seed * 1000 + fold)
        held = fold_of == fold
        epoch_times = []
        timer = keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda e, logs: epoch_times.append(-time.perf_counter()),
            on_epoch_end=lambda e, logs: epoch_times.__setitem__(-1, epoch_times[-1] + time.perf_counter()))
        start = time.perf_counter()
        model.fit(x[~held], y[~held], batch_size=baseline_batch(), epochs=epochs, verbose=verbose,
                  callbacks=[timer])
        fit_seconds += time.perf_counter() - start
        steady_epoch_seconds += epoch_times[1:] or epoch_times
        oof[held] = model.predict(x[held], batch_size=tta.PREDICT_BATCH, verbose=0)
        params = model.count_params()
    per_epoch = float(np.mean(steady_epoch_seconds))
    return BaselineResult(
        load_seconds=load_seconds, seconds_per_epoch=per_epoch,
        images_per_second=float(np.sum(fold_of != 0) / per_epoch), fit_seconds=fit_seconds,
        wall_seconds=time.perf_counter() - started, oof_accuracy=ensemble.accuracy(oof, y),
        fold_accuracy=[ensemble.accuracy(oof[fold_of == k], y[fold_of == k]) for k in range(int(fold_of.max()) + 1)],
        params=params)


def run(cfg: RunConfig, out_dir: Path, baseline_epochs: int | None = None) -> dict:
    """Train ``cfg`` through the kit, then the baseline on the same rows and folds; save JSON/CSV/Markdown."""
    data_path = find_data(cfg.data) or BUNDLED_SAMPLE
    result = make_submission(cfg)
    summary = result.summary
    rows, fold_of = rundir.read_folds(result.run_dir)
    epochs = baseline_epochs or max(m.epochs for m in summary.models.values())
    log.info(f"baseline: {BASELINE_MODEL} with plain model.fit on NumPy float32, {epochs} epochs, same folds")
    base = plain_keras_baseline(data_path, rows, fold_of, epochs, cfg.seed, verbose=min(cfg.verbose, 2))

    table = [{"name": name, "kind": "kit", "params": m.params, "epochs": m.epochs,
              "batch_size": get_spec(name).recipe.override(batch_size=cfg.batch_size).batch_size,
              "seconds_per_epoch": m.seconds_per_epoch, "images_per_second": m.images_per_second,
              "fit_seconds": m.fit_seconds, "oof_accuracy": m.oof_accuracy}
             for name, m in summary.models.items()]
    table.append({"name": "ensemble", "kind": "kit", "params": None, "epochs": None, "batch_size": None,
                  "seconds_per_epoch": None, "images_per_second": None,
                  "fit_seconds": sum(m.fit_seconds for m in summary.models.values()),
                  "oof_accuracy": summary.ensemble.oof_accuracy})
    table.append({"name": BASELINE_MODEL, "kind": "plain Keras baseline", "params": base.params, "epochs": epochs,
                  "batch_size": baseline_batch(),
                  "seconds_per_epoch": base.seconds_per_epoch, "images_per_second": base.images_per_second,
                  "fit_seconds": base.fit_seconds, "oof_accuracy": base.oof_accuracy})
    report = {
        "machine": describe_machine(all_devices()), "config": portable.values(cfg.to_dict()),
        "run_dir": portable.path(result.run_dir),
        "n_train": summary.n_train, "folds": int(fold_of.max()) + 1,
        "kit": {"load_seconds": summary.load_seconds, "wall_seconds": summary.wall_seconds},
        "baseline": vars(base),
        "ratios": {"load_speedup": base.load_seconds / max(summary.load_seconds, 1e-9),
                   "wall_seconds_kit_over_baseline": summary.wall_seconds / base.wall_seconds},
        "table": table,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_json(out_dir / "benchmark.json", report)
    write_csv(out_dir / "benchmark.csv", table, COLUMNS)
    atomic.write_text(out_dir / "benchmark.md", render_markdown(report))
    log.info(render_markdown(report))
    return report


def render_markdown(report: dict) -> str:
    def fmt(value, spec):
        return "" if value is None else format(value, spec)

    lines = [f"Machine: {report['machine']['full']}",
             f"Rows: {report['n_train']:,} of train.csv, {report['folds']}-fold. Load: kit "
             f"{report['kit']['load_seconds']:.2f} s vs pandas {report['baseline']['load_seconds']:.2f} s "
             f"(×{report['ratios']['load_speedup']:.1f}). Wall: kit {report['kit']['wall_seconds']:.0f} s, "
             f"baseline {report['baseline']['wall_seconds']:.0f} s.", ""]
    header = ("model", "kind", "params", "epochs", "batch", "s/epoch", "images/s", "fit s (all folds)", "OOF accuracy")
    rows = [(r["name"], r["kind"], fmt(r["params"], ","), fmt(r["epochs"], "d"), fmt(r["batch_size"], "d"),
             fmt(r["seconds_per_epoch"], ".1f"), fmt(r["images_per_second"], ",.0f"), fmt(r["fit_seconds"], ",.0f"),
             fmt(r["oof_accuracy"], ".2%")) for r in report["table"]]
    return "\n".join(lines) + "\n" + markdown_table(header, rows, "llrrrrrrr") + "\n"


def tta_gain(run_dir: Path) -> dict:
    """OOF accuracy of a finished run's saved fold models without and with TTA (no retraining)."""
    data = runload.load_run_data(run_dir)  # finds moved/relative data and checks its SHA-256
    rows, fold_of = rundir.read_folds(run_dir)
    x, y = data.x_train[rows], data.y_train[rows]
    result, plain_all, tta_all = {}, [], []
    for model_dir in rundir.model_dirs(run_dir):
        plain, shifted = np.zeros((len(y), N_CLASSES), np.float32), np.zeros((len(y), N_CLASSES), np.float32)
        for fold in range(int(fold_of.max()) + 1):
            model = keras.saving.load_model(rundir.fold_dir(run_dir, model_dir.name, fold) / rundir.MODEL)
            held = fold_of == fold
            plain[held] = tta.predict(model, x[held])
            shifted[held] = tta.predict(model, x[held], tta=True)
        result[model_dir.name] = {"oof_accuracy": ensemble.accuracy(plain, y),
                                  "oof_accuracy_tta": ensemble.accuracy(shifted, y)}
        log.info(f"{model_dir.name}: OOF {result[model_dir.name]['oof_accuracy']:.4%} -> with TTA "
            f"{result[model_dir.name]['oof_accuracy_tta']:.4%}")
        plain_all.append(plain)
        tta_all.append(shifted)
    result["ensemble (equal weights)"] = {"oof_accuracy": ensemble.accuracy(ensemble.average(plain_all), y),
                                          "oof_accuracy_tta": ensemble.accuracy(ensemble.average(tta_all), y)}
    log.info(f"ensemble: OOF {result['ensemble (equal weights)']['oof_accuracy']:.4%} -> with TTA "
        f"{result['ensemble (equal weights)']['oof_accuracy_tta']:.4%}")
    atomic.write_json(run_dir / rundir.TTA, {"shifts": tta.SHIFTS, "models": result})
    return result


def load_times(path: str | Path, repeats: int = 3) -> dict:
    """Best-of-``repeats`` seconds: plain pd.read_csv vs the kit's first (cache cold) and later loads."""
    import shutil
    import tempfile

    def timed(fn) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    cold = []
    for _ in range(repeats):
        cache = tempfile.mkdtemp(prefix="kd-cache-")
        try:
            cold.append(timed(lambda: load_competition(path, cache_root=cache)))
            warm = min(timed(lambda: load_competition(path, cache_root=cache)) for _ in range(repeats))
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    return {"pandas_read_csv": min(pandas_load(Path(path))[2] for _ in range(repeats)), "kit_cold": min(cold),
            "kit_warm": warm, "source": portable.path(path)}
