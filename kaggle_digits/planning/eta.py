"""The run's ETA after each fold (``Progress``) and how the kit writes a duration (``format_minutes``)."""

from __future__ import annotations


def format_minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


class Progress:
    """Elapsed time and the run's ETA after each fold, in seconds from each model's measured speed.

    ``planned`` maps each fold still to train (a label) to its estimated seconds (``fold_seconds`` from each
    model's measured speed, so a slow model's folds weigh what they cost); ``workers`` folds train at once;
    ``clock`` returns seconds (time.perf_counter in a run, a fake clock in tests). The ETA is the whole
    run's estimate, rescaled by how long the finished folds really took against their estimates, spread
    over the workers, minus the time elapsed.
    """

    def __init__(self, planned: dict[str, float], clock, workers: int = 1):
        self.remaining = dict(planned)
        self.total_planned = sum(planned.values())
        self.clock = clock
        self.workers = max(1, workers)
        self.start = self.last = clock()
        self.done_estimate = self.done_actual = 0.0

    def fold_done(self, label: str, seconds: float | None = None) -> str:
        """Mark ``label`` finished, after ``seconds`` of its own work (default: the time since the last fold
        finished, which is that only with one worker); returns a line with the elapsed time and the ETA."""
        now = self.clock()
        self.done_estimate += self.remaining.pop(label, 0.0)
        self.done_actual += (now - self.last) if seconds is None else seconds
        self.last = now
        elapsed = now - self.start
        pace = self.done_actual / self.done_estimate if self.done_estimate > 0 else 1.0
        left = max(0.0, pace * self.total_planned / self.workers - elapsed) if self.remaining else 0.0
        return f"{label} done: elapsed {format_minutes(elapsed)}, ETA {format_minutes(left)}"
