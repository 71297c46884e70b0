"""Where and from what code figures were measured: the machine (CPU, its speed flags, cores, OS, Keras backend,
devices) and the git commit of the kit. Keras is imported only inside describe_machine: the command line imports
this module before it quiets TensorFlow. A leaf: the devices are the caller's to list (training/devices.py), so
training can read the CPU's flags here (precision.py) without this module reaching back into training/."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from pathlib import Path

# the CPU features that change training speed (bf16 units above all); the machine line names those present
SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    return frozenset(_cpuinfo().get("flags", "").split())


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what ``platform`` knows."""
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} where there is none)."""
    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def describe_machine(devices: list[str]) -> dict:
    """``short`` (for a table cell), ``full`` (for a footnote) and the Keras ``backend``; ``devices``: what the
    backend can place work on (``training.devices.all_devices()``)."""
    import keras

    cpu = cpu_model()
    try:
        n_cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        n_cpus = os.cpu_count() or 0
    accelerators = sorted({d.split(":")[0].upper() for d in devices if not d.lower().startswith("cpu")})
    backend = keras.backend.backend()
    short = f"{'+'.join(accelerators)} " if accelerators else ""
    short += f"{n_cpus}-core CPU, {backend}"
    flags = [f for f in SPEED_FLAGS if f in cpu_flags()]
    full = (f"{cpu} ({' '.join(flags) or 'no avx2/avx512/amx'}), {n_cpus} CPU cores available, "
            f"{platform.system()} {platform.machine()}, "
            f"Python {platform.python_version()}, Keras {keras.__version__} ({backend} backend), "
            f"devices: {', '.join(devices) or 'unknown'}")
    return {"short": short, "full": full, "backend": backend}


def git_commit(repo: Path = Path(__file__).resolve().parents[1]) -> str | None:
    """Short commit of the kit's checkout, with +dirty when tracked files changed; None outside git."""
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None
