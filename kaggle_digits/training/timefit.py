"""A fold that trains for the seconds its plan gave it, whatever this machine's speed turns out to be.

A ``--minutes`` plan turns measured speeds into epochs, and the measurement is rough: a short probe, or a
speed recorded while something else shared the CPU, is off by a fifth or more, so a plan finishes early
(budget unspent) or late. A fold whose recipe has ``seconds`` therefore re-fits its own length as it goes:
after every epoch it takes the seconds its epochs have cost (the first, which pays for tracing, only
until a steadier one is in, and never as slower than the plan's own pace), counts the optimizer steps that still
fit in what is left of its seconds -- the last epoch may end part-way: whole epochs left up to an epoch of a
fold's seconds unused (a sixth of a --minutes 1 run's) -- and re-sets its learning-rate schedule
(recipe.WarmupCosine, through the variable recipe.make_optimizer returns) to end annealed exactly then. Its
epochs stay between one and the model's epoch cap (``epochs.epoch_cap``: the one cap, which the planner's epochs
obey too).

The first epoch of a fit pays for graph tracing (and XLA compiling): ``steady_epochs`` is the one rule that
leaves it out (epochs.py), for this fit and for the speeds a fold reports (train.py), which count whole epochs only.
"""

from __future__ import annotations

import time
from typing import Callable

import keras

from kaggle_digits.training.epochs import steady_epochs



def epochs_that_fit(done: int, elapsed: float, epoch_seconds: list[float], seconds: float, cap: int,
                    planned_pace: float | None = None) -> float:
    """The epochs a fold should train in all: those done, plus those that fit in ``seconds - elapsed`` (the last
    one maybe in part).

    ``epoch_seconds``: what each epoch done so far took. The first one includes graph tracing, which the plan
    counts in the fold's overhead, not in its seconds: once a second epoch is in, the pace is the mean of the
    later ones and the first epoch's excess over that pace is not charged. With the first epoch alone the pace
    is unknown: it is that epoch's time, but no slower than ``planned_pace`` (the plan's seconds per epoch) --
    on a GPU the first epoch is mostly XLA compiling (8 s, then 0.6 s epochs, for cnn_fast on an H200:
    benchmarks/gpu/README.md), and taken as the pace it stopped a 27-epoch fold after one. Never fewer than
    ``done`` (at least one) nor more than ``cap``.
    """
    steady = steady_epochs(epoch_seconds)
    pace = sum(steady) / len(steady) if steady else 0.0
    if len(epoch_seconds) == 1 and planned_pace:
        pace = min(pace, planned_pace)
    if pace <= 0:
        return max(done, 1)
    tracing = max(0.0, epoch_seconds[0] - pace) if epoch_seconds else 0.0
    more = max(0.0, seconds - (elapsed - tracing)) / pace
    return float(max(done, min(cap, done + more), 1))


class EpochTimer(keras.callbacks.Callback):
    """The one clock of a fold's epochs: wall seconds per epoch (the first includes graph compilation), kept in
    ``epoch_seconds`` and added to the history (``logs["epoch_seconds"]``), and the optimizer steps of each
    (``epoch_steps``: an epoch that ended part-way has fewer than a whole one)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter):
        super().__init__()
        self.clock = clock
        self.epoch_seconds: list[float] = []
        self.epoch_steps: list[int] = []
        self.steps = 0

    def on_train_begin(self, logs=None):
        self.start = self.clock()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start, self._epoch_first_step = self.clock(), self.steps

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1

    def on_epoch_end(self, epoch, logs=None):
        self.now = self.clock()
        self.epoch_seconds.append(self.now - self._epoch_start)
        self.epoch_steps.append(self.steps - self._epoch_first_step)
        if logs is not None:
            logs["epoch_seconds"] = self.epoch_seconds[-1]


class FitToSeconds(EpochTimer):
    """Stretches or shortens the fold's schedule to ``seconds`` of training, epoch by epoch, from the epochs it
    times (it is the fold's ``EpochTimer``: each epoch is timed once).

    ``fit`` is called with ``epochs=cap`` (``epochs.epoch_cap``); this callback stops it at the step that fits: at an
    epoch's end, or inside the last epoch. ``schedule_length`` (recipe.make_optimizer's ``Optimization``) holds the
    schedule's length in steps; it is re-set between epochs, where every backend reads optimizer variables back
    into its training state.
    """

    def __init__(self, seconds: float, steps_per_epoch: int, planned_epochs: int, schedule_length, cap: int,
                 clock: Callable[[], float] = time.perf_counter, planned_seconds: float | None = None):
        super().__init__(clock)
        self.seconds, self.steps_per_epoch = float(seconds), int(steps_per_epoch)
        self.planned = int(planned_epochs)
        # the plan's pace (its seconds over its epochs), not the seconds this fold was given over them: a fold
        # re-planned to fewer seconds than its plan would read a faster pace off its first epoch and overrun
        self.planned_pace = float(planned_seconds if planned_seconds is not None else seconds) / max(self.planned, 1)
        self.cap = int(cap)
        self.schedule_length = schedule_length
        self.target = float(self.planned)
        self.stop_at: int | None = None  # the step the fold ends on, once it is known to end inside an epoch

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if self.stop_at is not None and self.steps >= self.stop_at:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if self.stop_at is not None and self.steps >= self.stop_at:
            return  # it ended inside this epoch, annealed: the schedule stays as it ran
        self.target = epochs_that_fit(epoch + 1, self.now - self.start, self.epoch_seconds, self.seconds, self.cap,
                                      planned_pace=self.planned_pace)
        target_steps = max(self.steps, int(self.target * self.steps_per_epoch + 1e-6))
        if self.schedule_length is not None:
            self.schedule_length.assign(float(target_steps))
        if target_steps <= self.steps:
            self.model.stop_training = True
        else:
            self.stop_at = target_steps
