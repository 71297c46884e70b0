"""Training speed of every kit model on this machine's accelerator, per precision, as the folds run it.

    KERAS_BACKEND=jax python benchmarks/gpu/speeds.py --out speeds.json [--models cnn,cnn_gru] [--seconds 180]

Two figures per (model, precision), each from a model built as a fold builds it (train.compile_for_training
inside devices.distribution_scope(), the default augmentation, the recipe's batch):
- ``probe``: what the ``--minutes`` planner measures (probe.measure: the difference of a 4- and a 24-batch fit);
- ``epoch``: a whole epoch of a fold (33,600 images) after a warm-up epoch -- the speed a fold sustains.
JAX always compiles with XLA, so a model whose training step XLA cannot compile fails here. Stops starting new
configurations after --seconds (a lent GPU's minutes are few); writes what it measured after each one.
"""
import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402
import numpy as np  # noqa: E402

from kaggle_digits.planning import probe
from kaggle_digits.training import devices
from kaggle_digits.config import AugmentConfig  # noqa: E402
from kaggle_digits.models import get_spec  # noqa: E402
from kaggle_digits.training.precision import fresh_session, resolve  # noqa: E402
from kaggle_digits.training.timefit import EpochTimer  # noqa: E402
from kaggle_digits.training.train import compile_for_training, one_hot  # noqa: E402

FOLD_IMAGES = 33_600  # a 5-fold training split of the 42,000 competition rows


def epoch_speed(name: str, precision: str, n: int = FOLD_IMAGES) -> float:
    """Images per second of the second of two epochs over ``n`` random digits (the first pays for compiling)."""
    fresh_session(precision)
    recipe = get_spec(name).recipe
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)
    y = one_hot(rng.integers(0, 10, n))
    with devices.distribution_scope():
        model = compile_for_training(name, dict(get_spec(name).hp), AugmentConfig(), recipe,
                                     steps_per_epoch=-(-n // recipe.batch_size), seed=0)
        history = model.fit(x, y, batch_size=recipe.batch_size, epochs=2, verbose=0, callbacks=[EpochTimer()])
    return n / history.history["epoch_seconds"][-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--models", default="cnn_fast,cnn_gru,cnn,cnn_gru_deep,cnn_small")
    parser.add_argument("--precisions", default="auto,float32,float16")
    parser.add_argument("--seconds", type=float, default=180)
    args = parser.parse_args()
    started = time.monotonic()
    record = {"backend": keras.backend.backend(), "keras": keras.__version__, "devices": devices.describe(),
              "auto_precision": resolve("auto").describe(), "results": []}
    for precision in args.precisions.split(","):
        name_of = resolve(precision).name
        for name in args.models.split(","):
            if time.monotonic() - started > args.seconds:
                record["stopped"] = f"after {time.monotonic() - started:.0f} s (--seconds)"
                break
            t0 = time.monotonic()
            row = {"model": name, "precision": name_of}
            try:
                cost = probe.measure(name, AugmentConfig(), name_of)
                row |= {"probe_train_ips": round(cost.train_images_per_second),
                        "probe_predict_ips": round(cost.predict_images_per_second),
                        "fold_overhead_s": round(cost.fold_overhead_seconds, 1),
                        "epoch_train_ips": round(epoch_speed(name, name_of))}
            except Exception as exc:  # noqa: BLE001 -- recorded: a model that fails to compile is a finding
                row["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            row["seconds"] = round(time.monotonic() - t0, 1)
            print(json.dumps(row), flush=True)
            record["results"].append(row)
            with open(args.out, "w") as f:
                json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
