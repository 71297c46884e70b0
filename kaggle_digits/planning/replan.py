"""Plans that learn while they run: each fold, as it starts, gets the seconds of training the budget has left.

A ``--minutes`` plan gives every fold the same seconds of training (``Plan.fit_seconds``), from a measured
speed and estimated fixed costs (building, tracing, predicting). Both are estimates: a fold that predicted
slower than planned, or a model capped at its epochs that finished early, leaves the later folds too little or
too much time. So before each fold starts, the run's clock is read and the waiting folds' planned seconds are
scaled by the one factor that makes their schedule -- beside the folds still running, with the fixed costs
scaled by how far the finished folds' own were off -- end when the budget does.
The fold then fits its epochs to those seconds (timefit.py), within its model's epoch cap.

The seconds a fold is given are not part of its fingerprint (train.FoldTask.given_seconds): the plan's seconds
identify the fold, the epochs it trained are in its metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

# a fold's seconds stay within these multiples of the plan's: a wildly wrong clock reading (a suspended laptop)
# must not give one fold the whole budget or nothing
MIN_SHARE, MAX_SHARE = 0.25, 4.0


@dataclass
class Replanner:
    """``end``: the run clock's reading by which training should be over (the budget less the finish).
    ``planned``: each fold's (label's) estimated seconds in all; ``fit``: the part of them that is training
    (the plan's seconds for the fold); ``clock``: the run's elapsed seconds; ``workers``: folds trained at once."""

    end: float
    planned: dict[str, float]
    fit: dict[str, float]
    clock: Callable[[], float]
    workers: int = 1
    worker_start: float = 0.0  # what a worker process takes to start before its first fold (planner's estimate)
    given: dict[str, float] = field(default_factory=dict)
    started_at: dict[str, float] = field(default_factory=dict)
    finished: set = field(default_factory=set)
    fixed_ratios: list[float] = field(default_factory=list)

    def seconds_for(self, label: str) -> float:
        """The seconds of training ``label`` gets, starting now; recorded as started."""
        now = self.clock()
        waiting = [lb for lb in self.planned if lb not in self.started_at]
        correction = self._fixed_correction()
        # the folds running now are expected to take what they were given, plus their fixed costs
        busy = [max(0.0, self._fixed(lb) * correction + self.given[lb] - (now - self.started_at[lb]))
                for lb in self.started_at if lb not in self.finished]

        def makespan(share: float) -> float:
            return _makespan(busy, [self._fixed(lb) * correction + self.fit[lb] * share for lb in waiting],
                             self.workers)

        # the largest share of the plan's seconds whose schedule ends by ``end`` (bisection: makespan grows with it)
        left = self.end - now
        if makespan(MAX_SHARE) <= left:
            share = MAX_SHARE
        elif makespan(MIN_SHARE) > left:
            share = MIN_SHARE
        else:
            share, high = MIN_SHARE, MAX_SHARE
            for _ in range(40):
                mid = (share + high) / 2
                share, high = (mid, high) if makespan(mid) <= left else (share, mid)
        seconds = self.fit[label] * share
        self.given[label], self.started_at[label] = seconds, now
        return seconds

    def refused(self, label: str) -> None:
        """``label`` will not train (the deadline's gate refused it): it no longer waits, so the time it was planned
        to take goes to the folds after it instead of squeezing every later share."""
        self.planned.pop(label, None)

    def done(self, label: str, training_seconds: float) -> None:
        """``label`` finished now, ``training_seconds`` of its time since it started spent training."""
        self.finished.add(label)
        wall = self.clock() - self.started_at[label]
        if self.workers > 1 and label in list(self.started_at)[:self.workers]:
            # a worker's first fold also waited for the worker process to start and import its framework: not a
            # fixed cost of the folds to come (it inflated the first correction)
            wall -= self.worker_start
        if self._fixed(label) > 0:
            self.fixed_ratios.append(max(0.0, wall - training_seconds) / self._fixed(label))

    def _fixed(self, label: str) -> float:
        return max(0.0, self.planned[label] - self.fit[label])

    def _fixed_correction(self) -> float:
        """How far the finished folds' fixed costs were from the plan's (1 before any finished), within 0.5-3x."""
        if not self.fixed_ratios:
            return 1.0
        return min(3.0, max(0.5, sum(self.fixed_ratios) / len(self.fixed_ratios)))


def _makespan(busy: list[float], loads: list[float], workers: int) -> float:
    """When the last of ``loads`` ends, each given to the least busy of ``workers`` longest first (as the run
    schedules folds), the workers busy for ``busy`` seconds with the folds running now."""
    lanes = (list(busy) + [0.0] * max(1, workers))[:max(1, workers)]  # a fold running now fills a worker
    for load in sorted(loads, reverse=True):
        lanes[lanes.index(min(lanes))] += load
    return max(lanes)
