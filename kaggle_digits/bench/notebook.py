"""The 20-line public notebook, as a process: ``python -m kaggle_digits.bench.notebook DATA MINUTES [SEED]``.

pandas read_csv, float32 / 255, a 90/10 stratified holdout, seed 003's CNN as bench/baseline.py's
plain_model builds it, ``model.fit`` one epoch at a time while the last epoch's duration still fits in MINUTES.
Prints one JSON line: a list of {epoch, seconds (since process start), accuracy (holdout)}.
"""

from __future__ import annotations

import time

START = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402


def main(data: str, minutes: float, seed: int = 42) -> list[dict]:
    from sklearn.model_selection import train_test_split

    from kaggle_digits.bench.baseline import baseline_batch, pandas_load, plain_images, plain_model
    from kaggle_digits.training.tta import PREDICT_BATCH

    pixels, labels, _ = pandas_load(data)
    x = plain_images(pixels)
    x_tr, x_ho, y_tr, y_ho = train_test_split(x, labels, test_size=0.1, stratify=labels, random_state=seed)
    model = plain_model(seed)
    budget, curve, last = minutes * 60, [], 0.0
    while True:
        elapsed = time.perf_counter() - START
        if curve and elapsed + last > budget:
            break
        began = time.perf_counter()
        model.fit(x_tr, y_tr, batch_size=baseline_batch(), epochs=1, verbose=0)
        accuracy = float(model.evaluate(x_ho, y_ho, batch_size=PREDICT_BATCH, verbose=0)[1])
        last = time.perf_counter() - began
        curve.append({"epoch": len(curve) + 1, "seconds": time.perf_counter() - START, "accuracy": accuracy})
    return curve


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 42)))
