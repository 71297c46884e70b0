"""The Keras backend a kernel trains with, chosen before Keras is imported (standard library only).

Why JAX on a GPU kernel: the kit's JAX path is the one that ran end to end on a real GPU (an H100 and an H200,
benchmarks/gpu), while its TensorFlow GPU path (MirroredStrategy in float16 on a T4 x2) never has. Kaggle's
GPU image keeps its Colab base's jax with the CUDA plugin (jax 0.7.2, jax-cuda12-plugin; .ci/kaggle-image.txt),
so a GPU kernel uses JAX when jax imports and sees a GPU, and TensorFlow otherwise: a CPU kernel, an image
without jax, a plugin that finds no GPU or fails in any way. TensorFlow is then what a kernel has always run.

An explicit choice wins: ``KERAS_BACKEND`` in the kernel's environment, or ``"keras_backend"`` in the
script's KERNEL_INFO (edit that line of a pushed script to force one).

The check runs in a thread that is given ``PROBE_SECONDS``: a jax that hangs while it looks for GPUs (a
driver that does not answer) costs the kernel that long and it trains with TensorFlow. Before jax looks,
``XLA_PYTHON_CLIENT_PREALLOCATE=false``: jax otherwise reserves 75% of every GPU it initialises, in this
parent process that only plans and blends, leaving the worker processes that train (one per GPU,
training/workers.py) a quarter. For the same reason a TensorFlow GPU kernel sets ``TF_FORCE_GPU_ALLOW_GROWTH``
(TensorFlow otherwise maps all of a GPU's memory when it first lists the devices).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Callable, MutableMapping

PROBE_SECONDS = 20.0  # jax's import plus CUDA's start on two T4s takes a few seconds; a hang costs this much
SETTING = "keras_backend"  # KERNEL_INFO's explicit choice


@dataclass(frozen=True)
class Choice:
    backend: str
    reason: str

    def line(self) -> str:
        """The kernel's first printed line."""
        return f"kaggle-digits kernel: Keras backend {self.backend} ({self.reason})"


def probe_jax(timeout: float = PROBE_SECONDS) -> tuple[int, str]:
    """(the number of GPUs jax sees, what it said); (0, why) when jax is missing, raises, or takes too long.

    jax is imported in a daemon thread: an exception never reaches the kernel, and a hang is left behind."""
    answer: list[tuple[int, str]] = []

    def look() -> None:
        try:
            import jax

            gpus = list(jax.devices("gpu"))  # raises RuntimeError where no GPU platform (CUDA plugin) is present
            kinds = sorted({str(getattr(d, "device_kind", "GPU")) for d in gpus})
            answer.append((len(gpus), f"jax {getattr(jax, '__version__', '?')} sees {len(gpus)} GPU"
                                      f"{'s' if len(gpus) != 1 else ''}" + (f" ({', '.join(kinds)})" if kinds else "")))
        except ModuleNotFoundError as exc:
            answer.append((0, "jax is not installed" if exc.name == "jax" else f"jax does not import ({exc})"))
        except BaseException as exc:  # noqa: BLE001 -- whatever a plugin raises, the kernel trains on
            first = (str(exc).strip().splitlines() or [""])[0][:160]
            answer.append((0, f"jax sees no GPU ({type(exc).__name__}: {first})"))

    thread = threading.Thread(target=look, name="kaggle-digits-jax-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return answer[0] if answer else (0, f"jax did not list its GPUs within {timeout:g} s")


def choose(info: dict, environ: MutableMapping[str, str] | None = None,
           probe: Callable[[], tuple[int, str]] = probe_jax) -> Choice:
    """The backend for a kernel with KERNEL_INFO ``info`` (``apply`` sets it); on a GPU kernel it first sets
    ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` in ``environ`` unless set, since jax reserves memory as it looks."""
    environ = os.environ if environ is None else environ
    if environ.get("KERAS_BACKEND"):
        return Choice(environ["KERAS_BACKEND"], "KERAS_BACKEND set in the environment")
    if info.get(SETTING):
        return Choice(str(info[SETTING]), f"KERNEL_INFO {SETTING}")
    if not info.get("gpu"):
        return Choice("tensorflow", "a CPU kernel")
    environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # before jax starts, even only to look
    count, said = probe()
    if count:
        return Choice("jax", f"{said}; JAX is the backend the kit ran end to end on a GPU")
    return Choice("tensorflow", f"{said}; TensorFlow")


def apply(choice: Choice, info: dict, environ: MutableMapping[str, str] | None = None) -> None:
    """Set ``KERAS_BACKEND`` (and, on a GPU kernel, each framework's GPU memory sharing) before Keras loads."""
    environ = os.environ if environ is None else environ
    environ["KERAS_BACKEND"] = choice.backend
    if info.get("gpu"):
        environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")


def choose_backend(info: dict) -> Choice:
    """What the generated script calls first: choose, set, print the choice; returns it (for the manifest)."""
    try:
        choice = choose(info)
    except Exception as exc:  # noqa: BLE001 -- the choice itself must never end a kernel
        choice = Choice(os.environ.get("KERAS_BACKEND") or "tensorflow", f"the backend check failed ({exc!r})")
    apply(choice, info)
    print(choice.line(), flush=True)
    return choice
