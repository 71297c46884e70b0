"""A model's training recipe -- optimizer, schedule, epochs, batch -- and turning it into Keras objects."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import keras

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
        return ", ".join(parts)


# The kit's own models train with this recipe, each registering it as is or as KIT_RECIPE.override(...) with only
# what differs (timm's model_args style), so the shared choices are written once.
KIT_RECIPE = Recipe(optimizer="adamw", learning_rate=3e-3, schedule="cosine", warmup=0.05, weight_decay=1e-4,
                    label_smoothing=0.1, epochs=30, batch_size=128)


def make_optimizer(recipe: Recipe, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The recipe's optimizer; its schedule spans all ``recipe.epochs * steps_per_epoch`` steps.

    Warm-up and decay are fractions of the whole run, so the same recipe is a complete schedule at
    any length: a 2-epoch run warms up for a tenth of an epoch and ends annealed, as a 30-epoch run does.
    """
    total = max(1, recipe.epochs * steps_per_epoch)
    if recipe.schedule == "cosine":
        warmup = min(int(recipe.warmup * total), total - 1)
        lr = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else recipe.learning_rate, decay_steps=total - warmup,
            warmup_target=recipe.learning_rate if warmup else None, warmup_steps=warmup, alpha=0.01)
    else:
        lr = recipe.learning_rate
    if recipe.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adam":
        return keras.optimizers.Adam(lr)
    if recipe.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(lr)
    return keras.optimizers.SGD(lr, momentum=recipe.momentum)


def make_loss(recipe: Recipe) -> keras.losses.Loss:
    return keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing)
