"""The devices: the one place that discovers them (all, the GPUs, the first GPU's compute capability), how
several GPUs are used, and the optional data-parallel scope.

Kaggle's "GPU T4 x2" sessions have two GPUs; a plain ``model.fit`` uses one. By default the kit uses them as
it uses a CPU's cores: folds train side by side, **one worker process per GPU**, each process seeing only its
own GPU (``worker_devices``; workers.py sets ``CUDA_VISIBLE_DEVICES`` in each worker before its framework
loads). Why not data parallelism by default: the models are small, so per-step dispatch and the all-reduce,
not arithmetic, set the pace (MirroredStrategy is often slower on two GPUs than on one, tensorflow#35095),
batch-norm statistics become per-replica, an NCCL hang needs the watchdog, and the TensorFlow
MirroredStrategy/float16 path never ran on a real GPU, while one fold on one device is what ran end to end on
an H100/H200.

Data parallelism stays an option: ``KAGGLE_DIGITS_DISTRIBUTE=mirrored`` (or ``on``) makes
``distribution_scope()`` -- which wraps model creation, compile, fit and predict -- spread one fold over the
devices:

- TensorFlow backend: a ``tf.distribute.MirroredStrategy`` scope (the one place besides an optional data
  pipeline where the kit touches ``tf.`` directly);
- JAX backend: a ``keras.distribution.DataParallel`` scope;
- otherwise (the default, one device, any other backend): nothing -- Keras places the work as usual.

The batch size stays the recipe's *global* batch (split across the replicas), so a fold trained on two
GPUs follows the same recipe as one trained on one.

``KAGGLE_DIGITS_DEVICES=/gpu:0,/gpu:1`` names the devices explicitly: the workers' devices by default, the
replicas under ``KAGGLE_DIGITS_DISTRIBUTE=mirrored`` (the tests name two logical CPUs, or fake GPUs).
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

# Keras is imported inside the functions, not here: workers.py imports this module in a fresh worker process
# before that worker has been given its device (CUDA_VISIBLE_DEVICES) and its backend (KERAS_BACKEND)
_STRATEGIES: dict[tuple, object] = {}
DISTRIBUTE_ENV = "KAGGLE_DIGITS_DISTRIBUTE"
DEVICES_ENV = "KAGGLE_DIGITS_DEVICES"
WORKER_DEVICE_ENV = "KAGGLE_DIGITS_WORKER_DEVICE"  # set in a worker process: the one device it was given
_DATA_PARALLEL = ("mirrored", "on", "1", "true", "yes", "data-parallel")


def _backend() -> str:
    import keras

    return keras.backend.backend()


def all_devices() -> list[str]:
    """Every device the Keras backend can place work on (``cpu:0``, ``gpu:0``...), for the machine line."""
    import keras

    try:
        return [str(d) for d in keras.distribution.list_devices()]
    except Exception:  # a backend without device listing
        return []


def gpu_devices() -> list[str]:
    """The GPUs the current Keras backend can use, as device names (empty list when none)."""
    import keras

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
    backend = _backend()
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


def data_parallel() -> bool:
    """Whether one fold is spread over the devices (``KAGGLE_DIGITS_DISTRIBUTE=mirrored``); off by default."""
    return os.environ.get(DISTRIBUTE_ENV, "off").strip().lower() in _DATA_PARALLEL


def _explicit_devices() -> list[str]:
    return [d.strip() for d in os.environ.get(DEVICES_ENV, "").split(",") if d.strip()]


def replica_devices() -> list[str]:
    """The devices one fold is spread over: with ``KAGGLE_DIGITS_DISTRIBUTE=mirrored``, ``KAGGLE_DIGITS_DEVICES``
    if set, else all GPUs, when >= 2; otherwise none (the default: a fold trains on one device)."""
    if not data_parallel():
        return []
    devices = _explicit_devices() or gpu_devices()
    return devices if len(devices) >= 2 else []


def worker_devices(query_gpus: bool = True) -> list[str]:
    """The devices folds are spread over, one worker process each: ``KAGGLE_DIGITS_DEVICES`` if set, else the
    GPUs (asked of the backend only when ``query_gpus``), when >= 2 and data parallelism is off; else none (a
    CPU-only machine: workers.py's one worker per core, unchanged). Inside a worker: none (it has its one)."""
    if data_parallel() or os.environ.get(WORKER_DEVICE_ENV):
        return []
    devices = _explicit_devices() or (gpu_devices() if query_gpus else [])
    return devices if len(devices) >= 2 else []


def cuda_index(device: str, visible: str | None = None) -> str | None:
    """The ``CUDA_VISIBLE_DEVICES`` entry of a GPU named as the backends name them (``gpu:1``, ``/device:GPU:1``,
    ``cuda:1``), through the parent's own ``CUDA_VISIBLE_DEVICES`` (``visible``) when that is set -- a GPU the
    parent does not see stays hidden (``""``); None for a device that is not a GPU (a logical CPU in the tests)."""
    kind, _, number = device.strip().rstrip("/").rpartition(":")
    if not number.isdigit() or kind.replace("/", ":").rpartition(":")[2].lower() not in ("gpu", "cuda"):
        return None
    if visible is None:
        return number
    listed = [v.strip() for v in visible.split(",") if v.strip()]
    return listed[int(number)] if int(number) < len(listed) else ""


def describe() -> str:
    """One line for logs: how training will be placed."""
    devices = replica_devices()
    if devices:
        return f"data-parallel over {len(devices)} devices ({', '.join(devices)}), {_backend()} backend"
    own = os.environ.get(WORKER_DEVICE_ENV)
    if own:
        return f"worker on {own} ({_backend()} backend)"
    spread = worker_devices()
    if spread:
        return (f"{len(spread)} devices, one worker process each ({', '.join(spread)}), "
                f"{_backend()} backend")
    gpus = gpu_devices()
    return f"{'1 GPU' if gpus else 'CPU'} ({_backend()} backend)"


@contextlib.contextmanager
def distribution_scope() -> Iterator[object | None]:
    """Context in which to build, compile, fit and predict; yields the strategy/distribution or None."""
    import keras

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
