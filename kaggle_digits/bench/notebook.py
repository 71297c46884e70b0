"""The 20-line public notebook, as a process: ``python -m kaggle_digits.bench.notebook DATA MINUTES [SEED]``.

pandas read_csv, float32 / 255, a 90/10 stratified holdout, seed 003's CNN with its recipe (Adam 1e-3,
batch 32), ``model.fit`` one epoch at a time while the last epoch's duration still fits in MINUTES.
Prints one JSON line: a list of {epoch, seconds (since process start), accuracy (holdout)}.
"""

from __future__ import annotations

import time

START = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402


def main(data: str, minutes: float, seed: int = 42) -> list[dict]:
    import keras
    from sklearn.model_selection import train_test_split

    from kaggle_digits.bench.baseline import pandas_load
    from kaggle_digits.models import get_spec

    pixels, labels, _ = pandas_load(data)
    x = (pixels.reshape(-1, 28, 28, 1) / 255.0).astype("float32")
    x_tr, x_ho, y_tr, y_ho = train_test_split(x, labels, test_size=0.1, stratify=labels, random_state=seed)
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, get_spec("seed003_cnn").builder(inputs))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    budget, curve, last = minutes * 60, [], 0.0
    while True:
        elapsed = time.perf_counter() - START
        if curve and elapsed + last > budget:
            break
        began = time.perf_counter()
        model.fit(x_tr, y_tr, batch_size=32, epochs=1, verbose=0)
        accuracy = float(model.evaluate(x_ho, y_ho, batch_size=1024, verbose=0)[1])
        last = time.perf_counter() - began
        curve.append({"epoch": len(curve) + 1, "seconds": time.perf_counter() - START, "accuracy": accuracy})
    return curve


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 42)))
