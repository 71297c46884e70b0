"""Time a few training and prediction steps of each model on this machine, for the planner.

A measurement is cached per (model, batch, augmentation, backend, precision, CPU, cores) in the kit's
cache folder, so only the first ``--minutes`` run on a machine pays for it. A short probe is a rough guess
(off either way on a shared machine; benchmarks/planner/README.md), so every trained fold then writes the
speed it really sustained into the same cache entry (``record_sustained``): later plans on the machine use
what whole epochs took.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import keras
import numpy as np

from kaggle_digits import atomic
from kaggle_digits.training import workers
from kaggle_digits.config import AugmentConfig
from kaggle_digits.training.devices import distribution_scope, replica_devices
from kaggle_digits.competition.digits import IMAGE_SHAPE, N_CLASSES
from kaggle_digits.fingerprint import digest
from kaggle_digits.machine import cpu_model
from kaggle_digits.models import get_spec
from kaggle_digits.planning.costs import ModelCost
from kaggle_digits.training.precision import fresh_session
from kaggle_digits.training.train import compile_for_training
from kaggle_digits.training.tta import PREDICT_BATCH

SHORT_FIT, LONG_FIT = 4, 24  # batches in two timed ``fit`` calls; their difference is the cost of a step
REPEATS = 2                  # each timed twice, the faster kept (a shared machine is noisy)
# 2: at the asked precision (1 timed float32 whatever it said); 3: fit differences; 4: built, placed and compiled
# as the folds are (train.compile_for_training in distribution_scope: XLA and MirroredStrategy as theirs); 5: with
# several GPUs one worker per GPU, each timed on its own device (workers.py), mirrored placement only as an option
PROBE_FORMAT = 5


def measure_costs(models: tuple[str, ...], augment: AugmentConfig, precision: str,
                  cache_root: Path | None = None, log=None, n_workers: int = 1) -> dict[str, ModelCost]:
    """A ``ModelCost`` for each model: from the cache, else measured now (and cached).

    With ``n_workers`` > 1 the speeds are what one of that many worker processes gets while the others train
    too (workers.py): the models are timed side by side, one per worker (repeated to keep every worker
    busy), and the mean of a model's timings kept.
    """
    costs = {name: _read_entry(cache_root, name, augment, precision, n_workers) for name in models}
    missing = [name for name, cost in costs.items() if cost is None]
    if missing and log:
        log(f"timing a few training steps of {', '.join(missing)} on this machine"
            + (f" ({n_workers} workers at once)..." if n_workers > 1 else "..."))
    # every worker busy while timing (as in a run): the models side by side, repeated to fill the workers
    names = list(missing)
    while names and len(names) % n_workers:
        names.append(missing[len(names) % len(missing)])
    jobs = [(name, augment, precision) for name in names]
    measured: dict[str, list[ModelCost]] = {}
    for i, cost in workers.run_all(measure, jobs, n_workers):
        measured.setdefault(jobs[i][0], []).append(cost)
    for name, runs in measured.items():
        cost = ModelCost(name, *(float(np.mean([getattr(r, f) for r in runs])) for f in
                                 ("train_images_per_second", "predict_images_per_second", "fold_overhead_seconds")))
        path = _cache_path(cache_root, name, augment, precision, n_workers)
        if path is not None:
            atomic.write_json(path, vars(cost))
        costs[name] = _read_entry(cache_root, name, augment, precision, n_workers) or cost
    return costs


def measure(name: str, augment: AugmentConfig, precision: str = "float32", seed: int = 0) -> ModelCost:
    """Time ``fit`` on random digits: a first call (tracing), then 4 and 24 batches (twice); 1 then 2 predict batches.

    The speed is the difference of the two timed fits, so what ``fit`` pays once per call (iterators,
    callbacks) does not count as training time: for a small model, a short probe that timed whole calls
    overestimated the seconds per epoch.
    """
    fresh_session(precision)
    recipe = get_spec(name).recipe
    b = recipe.batch_size
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(b * LONG_FIT, *IMAGE_SHAPE), dtype=np.uint8)
    y = np.eye(N_CLASSES, dtype=np.float32)[rng.integers(0, N_CLASSES, size=b * LONG_FIT)]
    start = time.perf_counter()
    with distribution_scope():  # the folds' placement: this worker's own device (KAGGLE_DIGITS_DISTRIBUTE=mirrored: both)
        model = compile_for_training(name, dict(get_spec(name).hp), augment, recipe, 2 * LONG_FIT, seed)
        model.fit(x[:b], y[:b], batch_size=b, epochs=1, verbose=0)  # traces and compiles the training step
        first = time.perf_counter() - start
        seconds = {SHORT_FIT: float("inf"), LONG_FIT: float("inf")}
        for steps in (SHORT_FIT, LONG_FIT) * REPEATS:
            start = time.perf_counter()
            model.fit(x[:steps * b], y[:steps * b], batch_size=b, epochs=1, verbose=0)
            seconds[steps] = min(seconds[steps], time.perf_counter() - start)
        step_seconds = max(seconds[LONG_FIT] - seconds[SHORT_FIT], 1e-6) / (LONG_FIT - SHORT_FIT)
        train_ips = b / step_seconds
        batch = np.resize(x, (PREDICT_BATCH, *IMAGE_SHAPE))
        start = time.perf_counter()
        model.predict(batch, batch_size=PREDICT_BATCH, verbose=0)  # traces the prediction step
        predict_trace = time.perf_counter() - start
        start = time.perf_counter()
        model.predict(np.concatenate([batch, batch]), batch_size=PREDICT_BATCH, verbose=0)
        predict_ips = 2 * PREDICT_BATCH / (time.perf_counter() - start)
    fresh_session(precision)
    overhead = first + max(0.0, predict_trace - PREDICT_BATCH / predict_ips) + 1.0  # +1 s: saving the fold
    return ModelCost(name, float(train_ips), float(predict_ips), float(overhead))


def cached_cost(name: str, augment: AugmentConfig, precision: str, cache_root: Path | None,
                n_workers: int = 1) -> ModelCost | None:
    """The model's cached speed on this machine, or None if it was never measured here (nothing is timed).

    Folds a plan trains without augmentation (a short budget turns it off) read the entry the planner read: the
    probe's, made with the augmentation the user configured, whose plain speed (``plain_images_per_second``) their
    own epochs then sustain -- not an entry of their own, which no probe ever writes."""
    if augment.enabled:
        return _read_entry(cache_root, name, augment, precision, n_workers)
    return _read(_entry_path(cache_root, name, augment, precision, n_workers))  # the plain entry, else the augmented


def record_sustained(name: str, augment: AugmentConfig, precision: str, images_per_second: float | None,
                     cache_root: Path | None, n_workers: int = 1) -> None:
    """Store the training speed a fold sustained (steady epochs) as the model's cached speed on this machine: its
    training speed, or its plain speed when the fold trained without the augmentation the entry was probed with."""
    path = _entry_path(cache_root, name, augment, precision, n_workers)
    cost = _read(path)
    if cost is None or not images_per_second:
        return
    if augment.enabled or path == _cache_path(cache_root, name, augment, precision, n_workers):
        update = {"train_images_per_second": float(images_per_second), "sustained": True}
    else:
        update = {"plain_images_per_second": float(images_per_second)}
    atomic.write_json(path, {**vars(cost), **update})  # the probe's prediction speed and per-fold overhead kept


def _entry_path(cache_root: Path | None, name: str, augment: AugmentConfig, precision: str,
                n_workers: int) -> Path | None:
    """The cache entry a fold with ``augment`` reads and writes: its own, else (augmentation off) the augmented
    probe's."""
    own = _cache_path(cache_root, name, augment, precision, n_workers)
    if own is None or augment.enabled or own.is_file():
        return own
    return _cache_path(cache_root, name, dataclasses.replace(augment, enabled=True), precision, n_workers)


def _read_entry(cache_root: Path | None, name: str, augment: AugmentConfig, precision: str,
                n_workers: int) -> ModelCost | None:
    """The entry of ``augment`` (on), its plain speed read where folds without augmentation read and write it
    (``_entry_path``): a plain entry's speed where one exists (a run with augmentation off by the user's choice),
    so the planner and the folds never count with two different plain speeds."""
    cost = _read(_cache_path(cache_root, name, augment, precision, n_workers))
    if cost is None or not augment.enabled:
        return cost
    plain = _read(_cache_path(cache_root, name, dataclasses.replace(augment, enabled=False), precision, n_workers))
    if plain is None:
        return cost
    return dataclasses.replace(cost, plain_images_per_second=plain.train_images_per_second)


def machine_key() -> list:
    """What makes one machine's speeds another's: backend, CPU model, cores."""
    return [keras.backend.backend(), cpu_model(), os.cpu_count()]


def _cache_path(cache_root: Path | None, name: str, augment: AugmentConfig, precision: str,
                n_workers: int = 1) -> Path | None:
    """The cache file of (model, batch, augmentation, precision, workers) on this machine; None without a cache."""
    if cache_root is None:
        return None
    identity = [PROBE_FORMAT, name, get_spec(name).recipe.batch_size, augment.enabled, augment.kind, precision,
                *machine_key(), len(replica_devices())] + ([n_workers] if n_workers > 1 else [])
    return cache_root / f"speed-{digest(identity, 16)}.json"


def _read(path: Path | None) -> ModelCost | None:
    if path is None or not path.is_file():
        return None
    try:
        return ModelCost(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
