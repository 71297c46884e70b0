"""A run's time limit: one ``Deadline``, made once per run and passed down, asked what is left.

In the spirit of Lightning's ``Timer`` callback: made from a limit in seconds and a start time, it answers
``elapsed()``, ``remaining()`` and ``expired()``; ``Deadline.none()`` (or passing None) means no limit. Its
clock is injectable, so the rules below are tested with a fake one. The default clock is
``time.monotonic``: one system-wide clock on Linux, so a deadline pickled into a worker process (workers.py)
still means the same moment there.

A Kaggle kernel gets its deadline from the session limit it was pushed with (kaggle/bundle.py); the run
then plans a ``--minutes`` budget inside it, starts a fold only if it can finish before it (``FoldGate``),
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


class FoldGate:
    """Which fold may start before the deadline: one that can finish before it, or whose length is unknown.

    A fold's length is estimated from the folds of the same member already trained in this run (their mean
    wall time), else from ``probe_seconds[label]`` (the model's speed cached on this machine, probe.py),
    rescaled by how long this run's finished folds took against their own probe estimates; with neither it is
    unknown and the fold starts (the running fold is stopped at the deadline anyway). A guess that is wrong
    can therefore only shorten training. Once the deadline has passed no fold starts.
    """

    def __init__(self, deadline: Deadline | None, probe_seconds: dict[str, float | None] | None = None):
        self.deadline = deadline
        self.probe = dict(probe_seconds or {})
        self.walls: dict[str, list[float]] = {}  # member -> wall seconds of its folds trained in this run
        self._started: dict[str, float] = {}
        self._done_probe = self._done_wall = 0.0  # folds finished that had a probe estimate: pace = wall / probe

    def estimate(self, label: str) -> float | None:
        """Seconds ``label`` (``member/foldK``) should take, or None when nothing says."""
        own = self.walls.get(_member(label))
        if own:
            return sum(own) / len(own)
        probe = self.probe.get(label)
        if probe is None:
            return None
        return probe * (self._done_wall / self._done_probe if self._done_probe > 0 else 1.0)

    def refusal(self, label: str) -> str | None:
        """Why ``label`` must not start now (None: start it)."""
        if not limited(self.deadline):
            return None
        if self.deadline.expired():
            return "the deadline has passed"
        need, left = self.estimate(label), self.deadline.remaining()
        if need is not None and need > left:
            return f"it needs about {need:.0f} s and {left:.0f} s are left before the deadline"
        return None

    def started(self, label: str) -> None:
        self._started[label] = self._clock()

    def finished(self, label: str) -> float:
        """Record ``label`` as trained now; returns its wall seconds."""
        wall = self._clock() - self._started.pop(label, self._clock())
        self.walls.setdefault(_member(label), []).append(wall)
        if self.probe.get(label) is not None:
            self._done_probe += self.probe[label]
            self._done_wall += wall
        return wall

    def _clock(self) -> float:
        return self.deadline.clock() if self.deadline is not None else time.monotonic()


def _member(label: str) -> str:
    return label.rpartition("/fold")[0] or label
