"""Training speed of a kit model with the default augmentation: the gather warp (augment.warp_affine) against
TensorFlow's ImageProjectiveTransformV3 (keras.ops.image.affine_transform), with and without XLA.

    python benchmarks/xla/warp.py cnn_fast cnn_gru      # N=6400 images per timed epoch, ROUNDS=2

Each configuration is built as a fold builds it (train.compile_for_training), warmed up on one epoch, then
timed on ROUNDS epochs of N random digits, configurations interleaved so that a noisy machine hurts them alike.
Prints one JSON line per (model, warp, jit): the best round's images per second.
"""
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from kaggle_digits.models import augment
from kaggle_digits.config import AugmentConfig  # noqa: E402
from kaggle_digits.models import get_spec  # noqa: E402
from kaggle_digits.training.precision import fresh_session  # noqa: E402
from kaggle_digits.training.train import compile_for_training  # noqa: E402

GATHER = augment.warp_affine


def projective(images, transform):  # what RandomAffine called before: ImageProjectiveTransformV3 on TensorFlow
    return ops.image.affine_transform(images, transform, interpolation="bilinear", fill_mode="constant",
                                      fill_value=0.0, data_format="channels_last")


def main(models):
    n, rounds = int(os.environ.get("N", "6400")), int(os.environ.get("ROUNDS", "2"))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, n)]
    configs = [(m, w, j) for m in models for w, j in (("projective", False), ("gather", False), ("gather", True))]
    best = {c: 0.0 for c in configs}
    for _ in range(rounds):
        for model_name, warp, jit in configs:
            augment.warp_affine = GATHER if warp == "gather" else projective
            fresh_session("float32")
            recipe = get_spec(model_name).recipe
            model = compile_for_training(model_name, {}, AugmentConfig(), recipe, n // recipe.batch_size, seed=1,
                                         jit_compile=jit)
            model.fit(x[:1024], y[:1024], batch_size=recipe.batch_size, epochs=1, verbose=0)
            start = time.perf_counter()
            model.fit(x, y, batch_size=recipe.batch_size, epochs=1, verbose=0)
            best[(model_name, warp, jit)] = max(best[(model_name, warp, jit)], n / (time.perf_counter() - start))
    for (model_name, warp, jit), ips in best.items():
        print(json.dumps({"model": model_name, "warp": warp, "jit_compile": jit, "backend": keras.backend.backend(),
                          "train_images_per_second": round(ips)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["cnn_fast"])
