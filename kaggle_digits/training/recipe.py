"""A model's training recipe -- optimizer, schedule, epochs, batch -- and turning it into Keras objects."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import keras
from keras import ops

from kaggle_digits.errors import ConfigError

OPTIMIZERS = ("adamw", "adam", "rmsprop", "sgd")
SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class Recipe:
    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    schedule: str = "cosine"        # cosine decay after a linear warm-up, or constant
    warmup: float = 0.0             # linear warm-up, as a fraction of all training steps (0 = none)
    weight_decay: float = 1e-4      # adamw only
    momentum: float = 0.0           # sgd only
    label_smoothing: float = 0.0
    epochs: int = 10
    batch_size: int = 128
    early_stopping_patience: int | None = None  # stop when val_loss has not improved for this many epochs
    # train for about this many seconds: ``epochs`` is then the plan's guess, and the fold stretches or shortens its
    # schedule to the epochs that fit (timefit.py); None = exactly ``epochs``
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if not 0 <= self.warmup < 1:
            raise ConfigError(f"warmup is a fraction of the training steps in [0, 1), got {self.warmup}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")

    def override(self, **changes) -> "Recipe":
        """The recipe with every non-None change applied (a kit model's differences from KIT_RECIPE, CLI overrides)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def describe(self) -> str:
        """One line for tables, e.g. "AdamW 2e-3, cosine with a 5% warm-up, label smoothing 0.1, 30 epochs, batch 128"."""
        name = {"adamw": "AdamW", "adam": "Adam", "rmsprop": "RMSprop", "sgd": "SGD"}[self.optimizer]
        parts = [f"{name} {self.learning_rate:.0e}".replace("e-0", "e-")]
        if self.schedule == "cosine":
            parts.append(f"cosine with a {self.warmup:.0%} warm-up" if self.warmup else "cosine")
        if self.label_smoothing:
            parts.append(f"label smoothing {self.label_smoothing:g}")
        parts.append(f"{self.epochs} epochs, batch {self.batch_size}")
        if self.seconds:
            parts.append(f"fitted to {self.seconds:.0f} s")
        return ", ".join(parts)


# The kit's own models train with this recipe, each registering it as is or as KIT_RECIPE.override(...) with only
# what differs (timm's model_args style), so the shared choices are written once.
KIT_RECIPE = Recipe(optimizer="adamw", learning_rate=3e-3, schedule="cosine", warmup=0.05, weight_decay=1e-4,
                    label_smoothing=0.1, epochs=30, batch_size=128)


@keras.saving.register_keras_serializable(package="kaggle_digits")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """A linear warm-up over ``warmup`` of the steps, then cosine decay to ``alpha`` x ``peak`` at ``total_steps``.

    The same curve as Keras' ``CosineDecay`` with ``warmup_target``, except that ``total_steps`` may be an
    optimizer variable: a fold fitted to a time (timefit.py) re-sets it between epochs, and the whole schedule
    -- warm-up included -- stretches or shrinks to the new length. As an optimizer variable it is part of the
    training state on every backend (JAX passes that state into its compiled step), so the new length applies.
    """

    def __init__(self, peak: float, total_steps, warmup: float = 0.0, alpha: float = 0.01):
        self.peak, self.warmup, self.alpha = float(peak), float(warmup), float(alpha)
        self.total_steps = total_steps

    def __call__(self, step):
        step = ops.cast(step, "float32")
        total = ops.maximum(ops.cast(self.total_steps, "float32"), 1.0)
        warm = ops.minimum(ops.floor(self.warmup * total), total - 1.0)
        progress = ops.clip((step - warm) / ops.maximum(total - warm, 1.0), 0.0, 1.0)
        decayed = self.peak * (self.alpha + (1.0 - self.alpha) * 0.5 * (1.0 + ops.cos(math.pi * progress)))
        return ops.where(step < warm, self.peak * step / ops.maximum(warm, 1.0), decayed)

    def get_config(self):
        total = self.total_steps
        total = float(ops.convert_to_numpy(total.value if isinstance(total, keras.Variable) else total))
        return {"peak": self.peak, "total_steps": total, "warmup": self.warmup, "alpha": self.alpha}


def make_optimizer(recipe: Recipe, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The recipe's optimizer; its schedule spans all ``recipe.epochs * steps_per_epoch`` steps.

    Warm-up and decay are fractions of the whole run, so the same recipe is a complete schedule at
    any length: a 2-epoch run warms up for a tenth of an epoch and ends annealed, as a 30-epoch run does.
    A recipe with ``seconds`` gets its length as an optimizer variable, ``optimizer.schedule_steps``, which
    timefit.FitToSeconds re-sets as the fold learns how many epochs fit.
    """
    total = max(1, recipe.epochs * steps_per_epoch)
    schedule = WarmupCosine(recipe.learning_rate, total, recipe.warmup) if recipe.schedule == "cosine" else None
    lr = schedule or recipe.learning_rate
    if recipe.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(lr, weight_decay=recipe.weight_decay)
    elif recipe.optimizer == "adam":
        optimizer = keras.optimizers.Adam(lr)
    elif recipe.optimizer == "rmsprop":
        optimizer = keras.optimizers.RMSprop(lr)
    else:
        optimizer = keras.optimizers.SGD(lr, momentum=recipe.momentum)
    optimizer.schedule_steps = None
    if schedule is not None and recipe.seconds:
        optimizer.schedule_steps = schedule.total_steps = optimizer.add_variable(
            (), initializer=keras.initializers.Constant(float(total)), dtype="float32", name="schedule_steps")
    return optimizer


def make_loss(recipe: Recipe) -> keras.losses.Loss:
    return keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing)
