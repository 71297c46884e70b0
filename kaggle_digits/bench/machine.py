"""Where the figures were measured: CPU model and count, OS, Keras backend and its devices."""

from __future__ import annotations

import os
import platform

from kaggle_digits.precision import cpu_model


def describe_machine() -> dict:
    """``short`` (for a table cell), ``full`` (for a footnote) and the Keras ``backend``."""
    import keras

    cpu = cpu_model()
    try:
        n_cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        n_cpus = os.cpu_count() or 0
    try:
        devices = [str(d) for d in keras.distribution.list_devices()]
    except Exception:  # a backend without device listing
        devices = []
    accelerators = sorted({d.split(":")[0].upper() for d in devices if not d.lower().startswith("cpu")})
    backend = keras.backend.backend()
    short = f"{'+'.join(accelerators)} " if accelerators else ""
    short += f"{n_cpus}-core CPU, {backend}"
    full = (f"{cpu}, {n_cpus} CPU cores available, {platform.system()} {platform.machine()}, "
            f"Python {platform.python_version()}, Keras {keras.__version__} ({backend} backend), "
            f"devices: {', '.join(devices) or 'unknown'}")
    return {"short": short, "full": full, "backend": backend}
