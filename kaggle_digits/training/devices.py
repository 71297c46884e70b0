"""The devices: the one place that discovers them (all, the GPUs, the first GPU's compute capability), and
data-parallel training when two or more GPUs are present.

Kaggle's "GPU T4 x2" sessions have two GPUs; a plain ``model.fit`` uses one. ``distribution_scope()``
wraps model creation, compile, fit and predict:

- TensorFlow backend, >= 2 GPUs: a ``tf.distribute.MirroredStrategy`` scope (the one place besides an
  optional data pipeline where the kit touches ``tf.`` directly);
- JAX backend, >= 2 GPUs: a ``keras.distribution.DataParallel`` scope;
- one GPU, no GPU, or any other backend: nothing -- Keras places the work as usual.

The batch size stays the recipe's *global* batch (split across the replicas), so a fold trained on two
GPUs follows the same recipe as one trained on one.

``KAGGLE_DIGITS_DISTRIBUTE=off`` turns data parallelism off; ``KAGGLE_DIGITS_DEVICES=/cpu:0,/cpu:1`` names
the replica devices explicitly (used by the tests, which split the CPU into two logical devices).
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

import keras

_STRATEGIES: dict[tuple, object] = {}


def all_devices() -> list[str]:
    """Every device the Keras backend can place work on (``cpu:0``, ``gpu:0``...), for the machine line."""
    try:
        return [str(d) for d in keras.distribution.list_devices()]
    except Exception:  # a backend without device listing
        return []


def gpu_devices() -> list[str]:
    """The GPUs the current Keras backend can use, as device names (empty list when none)."""
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return [d.name for d in tf.config.list_logical_devices("GPU")]
        if backend == "jax":
            return list(keras.distribution.list_devices("gpu"))
        if backend == "torch":
            import torch

            return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    except (RuntimeError, ValueError):
        return []
    return []


def gpu_compute_capability() -> tuple[int, int] | None:
    """(major, minor) of the first GPU the Keras backend sees; None on a CPU-only machine."""
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                return tuple(tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0)))
        elif backend == "jax":
            import jax

            gpus = [d for d in jax.devices() if d.platform == "gpu"]
            if gpus:
                major, minor = str(gpus[0].compute_capability).split(".")[:2]
                return int(major), int(minor)
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                return tuple(torch.cuda.get_device_capability(0))
    except (RuntimeError, ValueError, AttributeError):
        return None
    return None


def replica_devices() -> list[str]:
    """The devices a fold is spread over: ``KAGGLE_DIGITS_DEVICES`` if set, else all GPUs when >= 2."""
    if os.environ.get("KAGGLE_DIGITS_DISTRIBUTE", "auto").lower() in ("off", "0", "no", "false"):
        return []
    explicit = [d.strip() for d in os.environ.get("KAGGLE_DIGITS_DEVICES", "").split(",") if d.strip()]
    devices = explicit or gpu_devices()
    return devices if len(devices) >= 2 else []


def describe() -> str:
    """One line for logs: how training will be placed."""
    devices = replica_devices()
    if devices:
        return f"data-parallel over {len(devices)} devices ({', '.join(devices)}), {keras.backend.backend()} backend"
    gpus = gpu_devices()
    return f"{'1 GPU' if gpus else 'CPU'} ({keras.backend.backend()} backend)"


@contextlib.contextmanager
def distribution_scope() -> Iterator[object | None]:
    """Context in which to build, compile, fit and predict; yields the strategy/distribution or None."""
    devices = replica_devices()
    backend = keras.backend.backend()
    if not devices or backend not in ("tensorflow", "jax"):
        yield None
        return
    key = (backend, tuple(devices))
    if backend == "tensorflow":
        import tensorflow as tf

        strategy = _STRATEGIES.get(key)
        if strategy is None:
            strategy = _STRATEGIES[key] = tf.distribute.MirroredStrategy(devices)
        with strategy.scope():
            yield strategy
    else:
        distribution = _STRATEGIES.get(key)
        if distribution is None:
            distribution = _STRATEGIES[key] = keras.distribution.DataParallel(devices=devices)
        with distribution.scope():
            yield distribution
