"""A fold still training when the run's deadline comes is stopped and not saved (clock.py has the deadline).

``train_until`` is what pipeline.py runs for each fold (in this process or a worker process): ``train_fold``
with a ``StopAtDeadline`` callback when the run has a deadline. The callback checks before every batch --
``on_*_batch_begin``, which Keras calls synchronously and without logs, so it neither waits for the device
nor turns off Keras' asynchronous batch-end dispatch -- and raises ``DeadlineReached`` out of ``fit``: the
fold then never writes its done.json, so nothing reuses it, and ``train_until`` returns None.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from kaggle_digits.training import watchdog
from kaggle_digits.training.clock import Deadline, DeadlineReached, limited
from kaggle_digits.training.train import FoldResult, FoldTask, train_fold


class StopAtDeadline(keras.callbacks.Callback):
    """Raises ``DeadlineReached`` at the first batch (training or validation) that begins after the deadline."""

    def __init__(self, deadline: Deadline):
        super().__init__()
        self.deadline = deadline

    def _check(self, *_args, **_kwargs):
        if self.deadline.expired():
            raise DeadlineReached(f"deadline reached after {self.deadline.elapsed():.0f} s")

    on_epoch_begin = on_train_batch_begin = on_test_batch_begin = _check


@dataclass(frozen=True)
class FoldJob:
    """One fold to train, as a worker process gets it (pickled): its task, its arrays, its folder, its deadline."""
    deadline: Deadline | None
    task: FoldTask
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    fold_dir: Path
    verbose: int = 0


def train_until(job: FoldJob) -> FoldResult | None:
    """``train_fold`` of ``job``, stopped at its deadline: its result, or None when the deadline stopped it."""
    fold_args = (job.task, job.x_train, job.y_train, job.x_val, job.y_val, job.x_test, job.fold_dir, job.verbose)
    if not limited(job.deadline):
        return train_fold(*fold_args)
    try:
        return train_fold(*fold_args, extra_callbacks=(StopAtDeadline(job.deadline),))
    except DeadlineReached:
        watchdog.rest()  # no fold trains now: a kernel's watchdog must not take the stop for a hang
        return None
