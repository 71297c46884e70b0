"""Jobs that tests hand to spawned worker processes (training/workers.py): standard library only, so a worker
runs them without importing Keras or TensorFlow."""

from __future__ import annotations

import os
import time
from pathlib import Path


def device_seen(rendezvous: str, n_workers: int, timeout: float = 60.0) -> dict:
    """What this worker was given (its pid, device, CUDA_VISIBLE_DEVICES, KAGGLE_DIGITS_DEVICES), returned once
    ``n_workers`` distinct workers have each run this job, so that every worker of the pool gets one (a
    worker that started first cannot take them all)."""
    folder = Path(rendezvous)
    (folder / str(os.getpid())).touch()
    end = time.monotonic() + timeout
    while len(list(folder.iterdir())) < n_workers and time.monotonic() < end:
        time.sleep(0.05)
    return {"pid": os.getpid(), "device": os.environ.get("KAGGLE_DIGITS_WORKER_DEVICE"),
            "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "devices": os.environ.get("KAGGLE_DIGITS_DEVICES"),
            "backend": os.environ.get("KERAS_BACKEND"), "preallocate": os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE")}
