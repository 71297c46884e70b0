"""What a kernel checks about its machine before it trains, so Kaggle's GPU hours are never spent by mistake.

- A kernel pushed with a GPU whose framework sees none (an image whose TensorFlow lacks CUDA, a session Kaggle
  started on a CPU) stops in seconds with one line. Without this it would silently plan and train a CPU run
  (the kit's default without a GPU), for hours, and its submission would be worse than the one asked for.
- A fold that makes no progress (a hung all-reduce between the two T4s) ends the kernel: watchdog.py.

``KAGGLE_DIGITS_KERNEL_CPU_OK=1`` lets a GPU bundle run on a CPU on purpose (the tests run every kernel so).
"""

from __future__ import annotations

import os

from kaggle_digits.training import devices, watchdog

CPU_OK = "KAGGLE_DIGITS_KERNEL_CPU_OK"


class NoAccelerator(SystemExit):
    """The kernel was pushed with a GPU and sees none (a one-line exit, as the image check's)."""


def require_gpu(info: dict, backend: str) -> None:
    """Stop (one line) when ``info`` says the kernel was pushed with a GPU and ``backend`` sees none."""
    if not info.get("gpu") or os.environ.get(CPU_OK, "").lower() in ("1", "true", "yes"):
        return
    if devices.gpu_devices():
        return
    shape = info.get("accelerator") or "a GPU"
    raise NoAccelerator(f"kaggle-digits kernel: pushed with {shape}, but {backend} sees no GPU on this session; "
                        f"stopping before any training (a CPU run here would spend the session on a far slower "
                        f"plan). Check the kernel's accelerator setting on Kaggle, or push with --cpu for a CPU run")


def start_guards(info: dict, backend: str) -> None:
    """Everything a kernel checks or starts before training: the GPU it was pushed with, the watchdog."""
    require_gpu(info, backend)
    watchdog.arm(float(info.get("stall_seconds") or watchdog.DEFAULT_STALL_SECONDS))
