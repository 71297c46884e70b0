"""A model's training recipe (models/recipe.py: ``Recipe``, the data) turned into Keras objects: its optimizer,
learning-rate schedule and loss."""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
from keras import ops

from kaggle_digits.models.recipe import Recipe


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


@dataclass(frozen=True)
class Optimization:
    """What ``make_optimizer`` makes: the recipe's optimizer and, for a recipe fitted to seconds, the optimizer
    variable holding its schedule's length in steps (timefit.FitToSeconds re-sets it between epochs; None
    otherwise). Returned beside the optimizer, never pinned on it as an attribute."""
    optimizer: keras.optimizers.Optimizer
    schedule_length: object | None = None  # a keras.Variable


def make_optimizer(recipe: Recipe, steps_per_epoch: int) -> Optimization:
    """The recipe's optimizer; its schedule spans all ``recipe.epochs * steps_per_epoch`` steps.

    Warm-up and decay are fractions of the whole run, so the same recipe is a complete schedule at
    any length: a 2-epoch run warms up for a tenth of an epoch and ends annealed, as a 30-epoch run does.
    A recipe with ``seconds`` gets its length as an optimizer variable (``Optimization.schedule_length``), which
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
    if schedule is None or not recipe.seconds:
        return Optimization(optimizer)
    # an optimizer variable: part of the training state on every backend (JAX passes it into its compiled step)
    schedule.total_steps = optimizer.add_variable(
        (), initializer=keras.initializers.Constant(float(total)), dtype="float32", name="schedule_length")
    return Optimization(optimizer, schedule.total_steps)


def make_loss(recipe: Recipe) -> keras.losses.Loss:
    return keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing)
