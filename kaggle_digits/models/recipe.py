"""A model's training recipe -- optimizer, schedule, epochs, batch -- as data: the ``Recipe`` every model registers
(models/__init__.py) and ``KIT_RECIPE``, the kit models' shared one. No Keras here: training/recipe.py turns a
recipe into Keras objects (optimizer, schedule, loss)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

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
