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

import logging
from dataclasses import dataclass

import keras

from kaggle_digits.training.devices import gpu_compute_capability
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


def use(requested: str = "auto") -> Precision:
    """The precision to train with (``resolve``), applied as the global Keras policy and logged."""
    chosen = resolve(requested)
    apply(chosen)
    logging.getLogger(__name__).info(chosen.describe())
    return chosen


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


@keras.saving.register_keras_serializable(package="kaggle_digits")
class ReplicaSafeLossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """Keras' LossScaleOptimizer, skipping a step when any replica's gradients overflowed, not only the first's.

    Under a tf.distribute strategy Keras (3.13.2 to 3.15.1 at least) tests the gradients of the first replica
    alone before applying them -- its comment says they are all-reduced by then, but the inner optimizer
    all-reduces them only when it applies. So an overflow on the second of two T4s went through: the summed
    gradient was inf and the weights NaN. Seen on two logical CPUs in mixed_float16: the second fold's first
    step made cnn's first conv kernel NaN while the loss scale halved (tests/test_mirrored_float16.py). Here
    the step is applied only when every replica's gradients are finite; everything else is Keras' own.
    """

    def _tf_apply(self, grads, trainable_variables=None):
        import tensorflow as tf

        if tf.distribute.in_cross_replica_context() or tf.__internal__.distribute.strategy_supports_no_merge_call():
            return super()._tf_apply(grads, trainable_variables)

        def handle_cross_replica(distribution, grads, trainable_variables):
            per_replica = distribution.extended.call_for_each_replica(self.check_finite, args=(grads,))
            finite = keras.ops.all(keras.ops.stack(distribution.experimental_local_results(per_replica)))

            def apply_fn():
                distribution.extended.call_for_each_replica(self._stateful_handle_finite_grads,
                                                            args=(grads, trainable_variables))

            keras.ops.cond(finite, apply_fn, self._stateful_handle_non_finite_grads)

        tf.distribute.get_replica_context().merge_call(handle_cross_replica, args=(grads, trainable_variables))


def loss_scaled(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """``optimizer`` as ``compile`` should get it under the global policy: wrapped in ReplicaSafeLossScaleOptimizer
    under mixed_float16 on TensorFlow (Keras would wrap it in its own), else as is."""
    if keras.mixed_precision.global_policy().name == "mixed_float16" and keras.backend.backend() == "tensorflow":
        return ReplicaSafeLossScaleOptimizer(optimizer)
    return optimizer


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
