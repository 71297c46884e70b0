"""How many epochs a model trains, stated once: the cap every plan and every fold fitted to seconds obeys, and
which epochs measure the training speed. No Keras here: the planner (pure arithmetic) reads it too."""

from __future__ import annotations

# a model trains at most this multiple of its recipe's epochs: the schedules anneal fully at any length, so a
# longer one is a better model while time is left, and the cap keeps an estimate of speed that was too low
# from stretching a fold without end. Plans (planner.epoch_caps) and folds fitted to seconds (timefit.py) both
# obey it; before issue 24 a fold's own cap was twice its *planned* epochs, up to 4x the recipe.
MAX_EPOCHS_FACTOR = 2


def epoch_cap(recipe_epochs: int, planned_epochs: int = 0) -> int:
    """The most epochs a model trains: ``MAX_EPOCHS_FACTOR`` times its recipe's (never below a plan's own)."""
    return max(1, int(MAX_EPOCHS_FACTOR * recipe_epochs), planned_epochs)


def steady_epochs(epoch_seconds: list[float]) -> list[float]:
    """The epochs whose time is the training speed: all but the first, which pays for tracing (when there
    are others)."""
    return epoch_seconds[1:] or epoch_seconds


def tracing_seconds(epoch_seconds: list[float], epoch_steps: list[int]) -> float:
    """What the first epoch took beyond the steady pace: the tracing a fit pays once (0 with one epoch).
    ``epoch_steps``: each epoch's optimizer steps -- the last epoch may have ended part-way (timefit.py), so the
    steady pace is per step, and a fold of 1.7 epochs still tells its tracing."""
    steps = sum(epoch_steps[1:])
    return max(0.0, epoch_seconds[0] - sum(epoch_seconds[1:]) / steps * epoch_steps[0]) if steps else 0.0
