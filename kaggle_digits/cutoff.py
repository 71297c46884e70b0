"""A fold still training when the run's deadline comes is stopped and not saved (clock.py has the deadline).

``train_until`` is what pipeline.py runs for each fold (in this process or a worker process): ``train_fold``
with a ``StopAtDeadline`` callback when the run has a deadline. The callback checks before every batch --
``on_*_batch_begin``, which Keras calls synchronously and without logs, so it neither waits for the device
nor turns off Keras' asynchronous batch-end dispatch -- and raises ``DeadlineReached`` out of ``fit``: the
fold then never writes its done.json, so nothing reuses it, and ``train_until`` returns None.
"""

from __future__ import annotations

import keras

from kaggle_digits import watchdog
from kaggle_digits.clock import Deadline, DeadlineReached, limited
from kaggle_digits.train import FoldResult, train_fold


class StopAtDeadline(keras.callbacks.Callback):
    """Raises ``DeadlineReached`` at the first batch (training or validation) that begins after the deadline."""

    def __init__(self, deadline: Deadline):
        super().__init__()
        self.deadline = deadline

    def _check(self, *_args, **_kwargs):
        if self.deadline.expired():
            raise DeadlineReached(f"deadline reached after {self.deadline.elapsed():.0f} s")

    on_epoch_begin = on_train_batch_begin = on_test_batch_begin = _check


def train_until(deadline: Deadline | None, *fold_args) -> FoldResult | None:
    """``train_fold(*fold_args)``, stopped at ``deadline``: its result, or None when the deadline stopped it."""
    if not limited(deadline):
        return train_fold(*fold_args)
    try:
        return train_fold(*fold_args, extra_callbacks=(StopAtDeadline(deadline),))
    except DeadlineReached:
        watchdog.rest()  # no fold trains now: a kernel's watchdog must not take the stop for a hang
        return None
