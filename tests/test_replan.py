"""Plans that learn while they run (replan.py) and the holdout plan, on a fake clock with a fake fold trainer:
no model trains here, so the seconds each fold is given are exact."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kaggle_digits.planning import budget, probe
from kaggle_digits.runs import rundir
from kaggle_digits.training.clock import Deadline
from kaggle_digits.config import RunConfig
from kaggle_digits.pipeline import make_submission
from kaggle_digits.planning.planner import ModelCost
from kaggle_digits.planning.replan import MAX_SHARE, MIN_SHARE, Replanner

from conftest import FakeClock
from kaggle_digits.runs.runload import read_summary


def three_folds(end: float, clock: FakeClock, workers: int = 1) -> Replanner:
    """Three folds of 100 s of training and 10 s of fixed costs (build, tracing, predictions) each."""
    labels = [f"cnn_fast/fold{k}" for k in range(3)]
    return Replanner(end, {lb: 110.0 for lb in labels}, {lb: 100.0 for lb in labels}, clock, workers)


def test_when_the_plan_was_right_every_fold_gets_its_planned_seconds():
    clock = FakeClock()
    r = three_folds(330.0, clock)
    for k in range(3):
        assert r.seconds_for(f"cnn_fast/fold{k}") == pytest.approx(100.0)
        clock.now += 110.0
        r.done(f"cnn_fast/fold{k}", 100.0)


def test_a_fold_that_ended_early_leaves_its_time_to_the_folds_after_it():
    """Fold 0 stopped at its epoch cap after 50 of its 100 s: the 50 s left go to folds 1 and 2."""
    clock = FakeClock()
    r = three_folds(330.0, clock)
    r.seconds_for("cnn_fast/fold0")
    clock.now = 60.0
    r.done("cnn_fast/fold0", 50.0)
    assert r.seconds_for("cnn_fast/fold1") == pytest.approx(125.0)  # (330 - 60 - 2 x 10) / 2


def test_a_fold_that_overran_takes_its_time_from_the_folds_after_it():
    """Fold 0 predicted slower than planned: 40 s of fixed costs instead of 10. The next folds get less training,
    and their own fixed costs are expected to be as slow (the measured 4x, capped at 3x)."""
    clock = FakeClock()
    r = three_folds(330.0, clock)
    r.seconds_for("cnn_fast/fold0")
    clock.now = 140.0
    r.done("cnn_fast/fold0", 100.0)
    assert r.seconds_for("cnn_fast/fold1") == pytest.approx((330 - 140 - 2 * 30) / 2)


def test_a_fold_the_gate_refused_leaves_its_time_to_the_folds_after_it():
    """Fold 0 was not started (the deadline's gate): it must not wait forever, squeezing folds 1 and 2."""
    clock = FakeClock()
    r = three_folds(330.0, clock)
    r.refused("cnn_fast/fold0")
    assert r.seconds_for("cnn_fast/fold1") == pytest.approx((330 - 2 * 10) / 2)


def test_a_workers_start_up_is_not_read_as_a_fixed_cost_of_the_folds_to_come():
    """Two workers: each one's first fold also waited 8 s for its process to start. Those 8 s are the worker's,
    not the folds': the next folds' fixed costs are expected as planned."""
    clock = FakeClock()
    labels = [f"cnn_fast/fold{k}" for k in range(4)]
    r = Replanner(440.0, {lb: 110.0 for lb in labels}, {lb: 100.0 for lb in labels}, clock, 2, worker_start=8.0)
    r.seconds_for(labels[0]), r.seconds_for(labels[1])
    clock.now = 118.0
    r.done(labels[0], 100.0)
    r.done(labels[1], 100.0)
    assert r._fixed_correction() == pytest.approx(1.0)
    assert r.seconds_for(labels[2]) == pytest.approx(100.0 * (440 - 118 - 10) / 100 / 1.0, rel=0.05)


def test_the_seconds_given_stay_within_bounds():
    clock = FakeClock()
    late = three_folds(330.0, clock)
    clock.now = 400.0  # past the end already (a suspended machine): the fold still gets a share, not nothing
    assert late.seconds_for("cnn_fast/fold0") == pytest.approx(100.0 * MIN_SHARE)
    clock.now = 0.0
    early = three_folds(10_000.0, clock)  # a budget far beyond the plan: never the whole budget to one fold
    assert early.seconds_for("cnn_fast/fold0") == pytest.approx(100.0 * MAX_SHARE)


def test_with_two_workers_the_schedule_not_the_sum_of_seconds_must_fit():
    """Two workers, three folds: two run side by side, then one alone (one worker idle), so the folds get the
    share whose schedule ends on time -- not the workers' summed seconds, which would overrun by a fold."""
    clock = FakeClock()
    r = three_folds(220.0, clock, workers=2)
    first, second = r.seconds_for("cnn_fast/fold0"), r.seconds_for("cnn_fast/fold1")
    assert first == pytest.approx(second) == pytest.approx(100.0)  # 2 x (10 + 100) = 220
    clock.now = 60.0
    r.done("cnn_fast/fold0", 50.0)  # fold 0 ended early: fold 1 still needs 50 s, the other worker is free
    assert r.seconds_for("cnn_fast/fold2") == pytest.approx(220 - 60 - 10)


# --------------------------------------------------------------------------------------------- in a real run
COSTS = {m: ModelCost(m, 2000.0, 20_000.0, 2.0, sustained=True) for m in ("cnn", "cnn_gru", "cnn_fast")}


@pytest.fixture
def fake_machine(monkeypatch, tmp_path, fake_training):
    """Measured speeds without a probe, no GPU, and folds 'trained' by conftest's fake_training on a fake clock."""
    monkeypatch.setattr(probe, "measure_costs", lambda models, *a, **k: {m: COSTS[m] for m in models})
    monkeypatch.setattr(probe, "cached_cost", lambda name, *a, **k: COSTS[name])
    monkeypatch.setattr(budget, "gpu_devices", lambda: [])
    monkeypatch.chdir(tmp_path)
    return fake_training


def test_a_budgeted_run_re_plans_each_fold_from_the_time_the_folds_before_it_took(fake_machine, tmp_path):
    clock, calls = fake_machine
    cfg = RunConfig(minutes=3.0, report=False, verbose=0, submissions_dir=str(tmp_path / "subs"))
    result = make_submission(cfg, Deadline.none(clock=clock))
    assert result.submission_path is not None and len(calls) == len(result.summary.folds["cnn_fast"]) >= 2
    planned = calls[0].recipe.seconds
    assert all(t.recipe.seconds == planned for t in calls)  # the plan identifies every fold (its fingerprint)
    assert calls[0].given_seconds == pytest.approx(planned, rel=0.05)
    # the first fold used half its seconds: the time it left is shared by the folds after it
    assert calls[1].given_seconds > 1.05 * planned


def test_a_holdout_run_trains_fold_0_and_submits_its_model(fake_machine, tmp_path):
    clock, calls = fake_machine
    cfg = RunConfig(holdout=True, models=("cnn_fast",), epochs=1, verbose=0, submissions_dir=str(tmp_path / "subs"))
    result = make_submission(cfg, Deadline.none(clock=clock))
    assert [(t.model, t.fold, t.n_folds) for t in calls] == [("cnn_fast", 0, 5)]
    assert result.submission_path is not None and result.submission_path.is_file()
    assert result.report_path is None  # its figures need every row scored out of fold
    summary = read_summary(result.run_dir)
    assert summary.holdout and not summary.partial and summary.scored_folds == [0]
    oof = np.load(result.run_dir / rundir.OOF_PROBABILITIES)
    scored = ~np.isnan(oof).any(axis=1)
    assert 0.15 < scored.mean() < 0.25  # a fifth of the rows: fold 0's


def test_a_resumed_run_finishes_inside_the_budget_the_first_run_started_with(fake_machine, tmp_path, monkeypatch):
    """The first invocation is interrupted after two folds; the resume shares what is left of the budget among the
    folds left instead of granting the whole budget again."""
    from kaggle_digits.training import cutoff

    clock, calls = fake_machine
    cfg = RunConfig(minutes=3.0, report=False, verbose=0, submissions_dir=str(tmp_path / "subs"),
                    run_dir=str(tmp_path / "run"))
    fake = cutoff.train_until

    def interrupted(job):
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C (or a lost session) after two folds
        return fake(job)

    monkeypatch.setattr(cutoff, "train_until", interrupted)
    with pytest.raises(KeyboardInterrupt):
        make_submission(cfg, Deadline.none(clock=clock))
    assert len(calls) == 2 and rundir.read_budget_spent(tmp_path / "run") == pytest.approx(clock.now)
    monkeypatch.setattr(cutoff, "train_until", fake)
    result = make_submission(cfg, Deadline.none(clock=clock))  # its own clock starts where the first stopped
    assert result.submission_path is not None and len(calls) > 2
    # both invocations together end inside the budget (3 min), as one uninterrupted run does
    assert clock.now <= 3.0 * 60
