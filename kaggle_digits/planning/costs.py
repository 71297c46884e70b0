"""What a model costs on this machine (``ModelCost``: its measured speeds) and what one fold of it takes: the
arithmetic the planner and the run's schedule share."""

from __future__ import annotations

from dataclasses import dataclass

# Whole augmented epochs sustain less than the probe's short timed fits, so a probe-only speed with augmentation
# is scaled by this share (measured in planned runs: benchmarks/planner/README.md). Once a run has trained the
# model here, its sustained speed replaces the probe's (probe.record_sustained).
AUGMENTED_SPEED = 0.78


@dataclass(frozen=True)
class ModelCost:
    """Measured speed of one model on this machine (batch of its recipe, current backend and precision)."""

    model: str
    train_images_per_second: float
    predict_images_per_second: float
    fold_overhead_seconds: float = 5.0  # build, compile, first-step tracing, saving
    sustained: bool = False  # train_images_per_second is what whole epochs of a real run took, not the probe's
    # what whole epochs without augmentation sustained here (a plan that turned augmentation off), None until a
    # fold trained so: the probe times the model as the user configured it (with augmentation, by default)
    plain_images_per_second: float | None = None


def train_speed(cost: ModelCost, augment: bool) -> float:
    """The training speed a plan counts with: without augmentation, what plain epochs sustained here if a fold
    trained so, else the probe's figure (conservative: the probe's model ran its augmentation layers); with it,
    the sustained speed, or the probe's less ``AUGMENTED_SPEED``."""
    if not augment and cost.plain_images_per_second:
        return cost.plain_images_per_second
    return cost.train_images_per_second * (AUGMENTED_SPEED if augment and not cost.sustained else 1.0)


def fold_seconds(cost: ModelCost, epochs: int, n_train: int, n_predict: int, augment: bool) -> float:
    """Estimated seconds of one fold of one model: overhead, ``epochs`` over ``n_train`` rows, predictions."""
    return (cost.fold_overhead_seconds + epochs * n_train / train_speed(cost, augment)
            + n_predict / cost.predict_images_per_second)
