"""A run's time limit: one ``Deadline``, made once per run and passed down, asked what is left.

In the spirit of Lightning's ``Timer`` callback: made from a limit in seconds and a start time, it answers
``elapsed()``, ``remaining()`` and ``expired()``; ``Deadline.none()`` (or passing None) means no limit. Its
clock is injectable, so the rules below are tested with a fake one. The default clock is
``time.monotonic``: one system-wide clock on Linux, so a deadline pickled into a worker process (workers.py)
still means the same moment there.

A Kaggle kernel gets its deadline from the session limit it was pushed with (kaggle/bundle.py); the run
then plans a ``--minutes`` budget inside it, starts a fold only if it can finish before it (planning/schedule.py),
and stops a fold still running when it comes (cutoff.py), so a kernel that is slower than guessed ends on
its own with the folds it finished instead of being killed with nothing written.
"""

from __future__ import annotations

import math
import time
from typing import Callable


class DeadlineReached(Exception):
    """Raised inside a fold's training when the run's deadline comes: the fold is abandoned, not saved."""


class Deadline:
    """``limit_seconds`` from ``start`` (a reading of ``clock``; default: now); None: no limit."""

    def __init__(self, limit_seconds: float | None, start: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.limit = None if limit_seconds is None else max(0.0, float(limit_seconds))
        self.clock = clock
        self.start = clock() if start is None else float(start)

    @classmethod
    def none(cls, clock: Callable[[], float] = time.monotonic, start: float | None = None) -> "Deadline":
        """No limit: the run's clock alone (``elapsed()`` from ``start``, default now)."""
        return cls(None, start=start, clock=clock)

    @property
    def limited(self) -> bool:
        return self.limit is not None

    def elapsed(self) -> float:
        return self.clock() - self.start

    def remaining(self) -> float:
        """Seconds left (``math.inf`` without a limit; never below 0)."""
        return math.inf if self.limit is None else max(0.0, self.limit - self.elapsed())

    def expired(self) -> bool:
        return self.limit is not None and self.elapsed() >= self.limit

    def describe(self) -> str:
        if self.limit is None:
            return "no deadline"
        return f"deadline {self.limit:.0f} s after the start, {self.remaining():.0f} s left"

    def __repr__(self) -> str:
        return f"Deadline(limit={self.limit}, elapsed={self.elapsed():.1f})"


def limited(deadline: Deadline | None) -> bool:
    """True when ``deadline`` is a real limit (None and ``Deadline.none()`` are not)."""
    return deadline is not None and deadline.limited
