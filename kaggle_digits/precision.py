"""Numeric precision: ``--precision auto|float32|bfloat16|float16`` to a Keras mixed-precision policy.

``auto`` uses the fastest precision the hardware computes natively:

- a GPU with bf16 units (compute capability >= 8.0: Ampere, Hopper...): ``mixed_bfloat16``;
- an older GPU with fast float16 (T4, P100, V100: 6.0 <= cc < 8.0): ``mixed_float16``;
- a CPU with AMX or AVX512_BF16 instructions: ``mixed_bfloat16``;
- anything else: ``float32`` (emulated bf16 is slower than float32).

Every model's softmax output is float32 (``dtype="float32"`` on the last layer), so probabilities,
the loss and the ensemble stay in full precision whatever the policy.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from kaggle_digits.devices import gpu_compute_capability
from kaggle_digits.machine import cpu_flags

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@dataclass(frozen=True)
class Precision:
    name: str      # float32 | bfloat16 | float16
    reason: str    # why: what was detected, or "asked for"

    @property
    def policy(self) -> str:
        return POLICIES[self.name]

    def describe(self) -> str:
        return f"precision {self.name} ({self.policy}; {self.reason})"


def resolve(requested: str = "auto") -> Precision:
    """The precision to train with: ``requested`` as is, or what ``auto`` detects on this machine."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested != "auto":
        return Precision(requested, "asked for")
    gpu = gpu_compute_capability()
    if gpu is not None:
        if gpu >= (8, 0):
            return Precision("bfloat16", f"GPU compute capability {gpu[0]}.{gpu[1]} has bf16 units")
        if gpu >= (6, 0):
            return Precision("float16", f"GPU compute capability {gpu[0]}.{gpu[1]}: fast float16, no bf16")
        return Precision("float32", f"GPU compute capability {gpu[0]}.{gpu[1]}: no fast half precision")
    flags = cpu_flags()
    found = [f for f in CPU_BF16_FLAGS if f in flags]
    if found:
        return Precision("bfloat16", f"CPU has {', '.join(found)}")
    return Precision("float32", "no GPU and the CPU has no bf16 instructions (AMX / AVX512_BF16)")


def apply(precision: Precision) -> None:
    """Set the global Keras dtype policy (call before building models)."""
    keras.mixed_precision.set_global_policy(precision.policy)


def fresh_session(name: str = "float32") -> None:
    """``keras.backend.clear_session()``, then the dtype policy of precision ``name`` again.

    clear_session resets the global policy to float32, so every model built after it would silently
    train in float32 whatever --precision said: whoever clears the session sets the policy back.
    """
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(POLICIES[name])
