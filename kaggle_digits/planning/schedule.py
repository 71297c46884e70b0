"""A run's folds in time, one owner: which fold may start, the seconds of training each gets, when the rest ends.

In the spirit of Lightning's ``Timer``: made once per round of folds from the run's ``Deadline`` (the run's one
clock), asked ``admit(label)`` just before a fold would start, told ``finished(label, ...)`` or ``cut(label)`` when
it ends, and asked ``eta()``. Every answer comes from one pace estimate (``Pace``), learnt from the folds done.

A fold's plan (``FoldPlan``) is its fixed costs (building, tracing, predicting, saving) and its seconds of training,
both estimated from the speeds measured on this machine (foldtime.py). ``Pace`` keeps how far the folds done were
off: one ratio for the fixed costs, one for training counted in epochs (a fold fitted to seconds trains what it is
given: timefit.py), and one for folds whose model was never measured here (their plans are only ratios).

Re-planning (a ``--minutes`` run: ``end`` given, every fold fitted to seconds and measured): before a fold starts,
the waiting folds' planned seconds are scaled by the one factor that makes their schedule -- beside the folds still
running, with the fixed costs at the pace -- end at ``end``, and the fold gets its share. A fold that predicted
slower than planned, or stopped early at its epoch cap, so moves the time of the folds after it, not the budget.
The seconds a fold is given are not part of its fingerprint (train.FoldTask.given_seconds).

The deadline's gate: a fold starts only if its expected wall time fits in what is left before the deadline; one
whose length nothing tells (a model never measured, before any fold finished) starts, since a fold still running
at the deadline is stopped anyway (cutoff.py). Once the deadline has passed nothing starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from kaggle_digits.logs import format_minutes
from kaggle_digits.training.clock import Deadline, limited

# a fold's seconds stay within these multiples of the plan's: a wildly wrong clock reading (a suspended laptop)
# must not give one fold the whole budget or nothing
MIN_SHARE, MAX_SHARE = 0.25, 4.0
FIXED_PACE = (0.5, 3.0)  # the fixed costs' pace is kept within these: one odd fold must not starve the rest
FIT_PACE = (0.25, 4.0)


@dataclass(frozen=True)
class FoldPlan:
    """One fold's estimated seconds: ``fixed`` outside training, ``fit`` of training. ``fitted``: it trains to
    seconds (its recipe's, or those it is given), not to a count of epochs; ``measured``: its model's speed was
    measured here (else the figures are only ratios between folds)."""
    fixed: float
    fit: float
    fitted: bool = False
    measured: bool = True

    @property
    def seconds(self) -> float:
        return self.fixed + self.fit


@dataclass(frozen=True)
class Admission:
    """``admit``'s answer: ``refusal`` (None: the fold starts) and the seconds of training it is given (None: its
    plan's)."""
    refusal: str | None = None
    seconds: float | None = None

    @property
    def admitted(self) -> bool:
        return self.refusal is None


class Pace:
    """How long folds take against their plans, from those finished: sums of planned and actual seconds."""

    def __init__(self) -> None:
        self._planned: dict[str, float] = {}
        self._actual: dict[str, float] = {}

    def observe(self, plan: FoldPlan, given: float | None, wall: float, training: float) -> None:
        """A fold finished after ``wall`` seconds, ``training`` of them training (``given``: its seconds)."""
        if not plan.measured:
            self._add("guess", plan.fixed + (plan.fit if given is None else given), wall)
            return
        self._add("fixed", plan.fixed, max(0.0, wall - training))
        if not plan.fitted:
            self._add("fit", plan.fit, training)

    def knows(self, plan: FoldPlan) -> bool:
        """Whether ``expect`` is a figure in seconds for ``plan`` (not only a ratio)."""
        return plan.measured or self._ratio("guess") is not None

    def expect(self, plan: FoldPlan, given: float | None = None) -> float:
        """The seconds ``plan``'s fold should take at the pace so far (given ``given`` seconds of training)."""
        fit = plan.fit if given is None else given
        if not plan.measured:
            return (plan.fixed + fit) * (self._ratio("guess") or 1.0)
        fixed = plan.fixed * _within(self._ratio("fixed"), FIXED_PACE)
        return fixed + (fit if plan.fitted else fit * _within(self._ratio("fit"), FIT_PACE))

    def _add(self, kind: str, planned: float, actual: float) -> None:
        self._planned[kind] = self._planned.get(kind, 0.0) + planned
        self._actual[kind] = self._actual.get(kind, 0.0) + actual

    def _ratio(self, kind: str) -> float | None:
        planned = self._planned.get(kind, 0.0)
        return self._actual[kind] / planned if planned > 0 else None


class FoldSchedule:
    """The folds of one round: ``plans`` (label -> FoldPlan), the run's ``deadline`` (its clock), ``end`` (the run
    clock's reading by which training should be over: re-plan to it; None: the plans stand), ``workers`` folds at
    once, each worker's process taking ``worker_start`` seconds before its first fold (not a fold's cost)."""

    def __init__(self, plans: dict[str, FoldPlan], deadline: Deadline, *, end: float | None = None, workers: int = 1,
                 worker_start: float = 0.0):
        self.plans = dict(plans)
        self.deadline = deadline
        self.end = end
        self.workers = max(1, workers)
        self.worker_start = worker_start if self.workers > 1 else 0.0
        self.pace = Pace()
        self.replans = end is not None and bool(plans) and all(p.fitted and p.measured for p in plans.values())
        self.waiting = list(plans)
        self.given: dict[str, float | None] = {}
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}  # label -> clock reading it finished or was stopped
        self._start = self._now()

    def admit(self, label: str) -> Admission:
        """May ``label`` start now, and with what seconds of training: it starts when admitted, else never."""
        self.waiting.remove(label)
        now = self._now()
        given = self.plans[label].fit * self._share(now, label) if self.replans else None
        refusal = self._refusal(label, given)
        if refusal is None:
            self.started[label], self.given[label] = now, given
        return Admission(refusal, given)

    def finished(self, label: str, training_seconds: float) -> str:
        """``label`` ended now after ``training_seconds`` of training; the progress line (elapsed, ETA)."""
        now = self._now()
        self.ended[label] = now
        wall = now - self.started[label]
        if list(self.started).index(label) < self.workers:  # a worker's first fold also waited for its process
            wall -= self.worker_start
        self.pace.observe(self.plans[label], self.given[label], wall, training_seconds)
        return f"{label} done: elapsed {format_minutes(now - self._start)}, ETA {format_minutes(self.eta())}"

    def cut(self, label: str) -> None:
        """``label`` was stopped (the deadline came while it trained): it takes no more time."""
        self.ended[label] = self._now()

    def eta(self) -> float:
        """Seconds until the last fold of the round should end, at the pace so far."""
        now = self._now()
        share = self._share(now) if self.replans else None  # once: a bisection over every waiting fold
        loads = [self.pace.expect(self.plans[label], None if share is None else self.plans[label].fit * share)
                 for label in self.waiting]
        busy = self._busy(now)
        return _makespan(busy, loads, self.workers) if loads or busy else 0.0

    def beside(self, label: str) -> list[str]:
        """The folds of the round that trained beside ``label`` for some of its time."""
        start, end = self.started[label], self.ended.get(label, self._now())
        return [other for other, s in self.started.items()
                if other != label and s < end and self.ended.get(other, end) > start]

    def shared(self, label: str) -> float:
        """The share of ``label``'s time during which another fold of the round trained beside it (1: all of it)."""
        start, end = self.started[label], self.ended.get(label, self._now())
        spans = sorted((max(start, self.started[other]), min(end, self.ended.get(other, end)))
                       for other in self.beside(label))
        covered, reach = 0.0, start
        for s, e in spans:
            if e > max(s, reach):
                covered += e - max(s, reach)
                reach = e
        return covered / (end - start) if end > start else 1.0

    def _refusal(self, label: str, given: float | None) -> str | None:
        if not limited(self.deadline):
            return None
        if self.deadline.expired():
            return "the deadline has passed"
        plan = self.plans[label]
        if not self.pace.knows(plan):
            return None
        need, left = self.pace.expect(plan, given), self.deadline.remaining()
        return f"it needs about {need:.0f} s and {left:.0f} s are left before the deadline" if need > left else None

    def _share(self, now: float, label: str | None = None) -> float:
        """The largest share of the plans' training seconds whose schedule of the waiting folds (and ``label``)
        ends by ``end``, within MIN_SHARE..MAX_SHARE (bisection: the schedule's length grows with the share)."""
        busy = self._busy(now)
        waiting = self.waiting + ([label] if label is not None else [])

        def makespan(share: float) -> float:
            return _makespan(busy, [self.pace.expect(self.plans[lb], self.plans[lb].fit * share) for lb in waiting],
                             self.workers)

        left = self.end - now
        if makespan(MAX_SHARE) <= left:
            return MAX_SHARE
        if makespan(MIN_SHARE) > left:
            return MIN_SHARE
        low, high = MIN_SHARE, MAX_SHARE
        for _ in range(40):
            mid = (low + high) / 2
            low, high = (mid, high) if makespan(mid) <= left else (low, mid)
        return low

    def _busy(self, now: float) -> list[float]:
        """The seconds each fold running now should still take, at the pace."""
        return [max(0.0, self.pace.expect(self.plans[label], self.given[label]) - (now - start))
                for label, start in self.started.items() if label not in self.ended]

    def _now(self) -> float:
        return self.deadline.elapsed()


def _within(ratio: float | None, bounds: tuple[float, float]) -> float:
    return 1.0 if ratio is None else min(bounds[1], max(bounds[0], ratio))


def _makespan(busy: list[float], loads: list[float], workers: int) -> float:
    """When the last of ``loads`` ends, each given to the least busy of ``workers`` longest first (as the run
    schedules folds), the workers busy for ``busy`` seconds with the folds running now."""
    lanes = (list(busy) + [0.0] * max(1, workers))[:max(1, workers)]  # a fold running now fills a worker
    for load in sorted(loads, reverse=True):
        lanes[lanes.index(min(lanes))] += load
    return max(lanes)
