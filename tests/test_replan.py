"""Plans that learn while they run (schedule.py) and the holdout plan, on a fake clock with a fake fold trainer:
no model trains here, so the seconds each fold is given are exact."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kaggle_digits import atomic
from kaggle_digits.planning import budget, probe
from kaggle_digits.runs import rundir
from kaggle_digits.training.clock import Deadline
from kaggle_digits.config import RunConfig
from kaggle_digits.pipeline import make_submission
from kaggle_digits.planning.planner import ModelCost
from kaggle_digits.planning.schedule import MAX_SHARE, MIN_SHARE, FoldPlan, FoldSchedule

from conftest import FakeClock
from kaggle_digits.runs.runload import read_summary


def three_folds(end: float, clock: FakeClock, workers: int = 1, deadline: float | None = None) -> FoldSchedule:
    """Three folds of 100 s of training and 10 s of fixed costs (build, tracing, predictions) each."""
    plans = {f"cnn_fast/fold{k}": FoldPlan(fixed=10.0, fit=100.0, fitted=True) for k in range(3)}
    return FoldSchedule(plans, Deadline(deadline, clock=clock), end=end, workers=workers)


def finish(schedule: FoldSchedule, clock: FakeClock, label: str, at: float, training: float) -> str:
    clock.now = at
    return schedule.finished(label, training)


def test_when_the_plan_was_right_every_fold_gets_its_planned_seconds():
    clock = FakeClock()
    s = three_folds(330.0, clock)
    for k in range(3):
        assert s.admit(f"cnn_fast/fold{k}").seconds == pytest.approx(100.0)
        finish(s, clock, f"cnn_fast/fold{k}", clock.now + 110.0, 100.0)


def test_a_fold_that_ended_early_leaves_its_time_to_the_folds_after_it():
    """Fold 0 stopped at its epoch cap after 50 of its 100 s: the 50 s left go to folds 1 and 2."""
    clock = FakeClock()
    s = three_folds(330.0, clock)
    s.admit("cnn_fast/fold0")
    finish(s, clock, "cnn_fast/fold0", 60.0, 50.0)
    assert s.admit("cnn_fast/fold1").seconds == pytest.approx(125.0)  # (330 - 60 - 2 x 10) / 2


def test_a_fold_that_overran_takes_its_time_from_the_folds_after_it():
    """Fold 0 predicted slower than planned: 40 s of fixed costs instead of 10. The next folds get less training,
    and their own fixed costs are expected to be as slow (the measured 4x, capped at 3x)."""
    clock = FakeClock()
    s = three_folds(330.0, clock)
    s.admit("cnn_fast/fold0")
    finish(s, clock, "cnn_fast/fold0", 140.0, 100.0)
    assert s.admit("cnn_fast/fold1").seconds == pytest.approx((330 - 140 - 2 * 30) / 2)


def test_a_fold_the_deadline_refuses_leaves_its_time_to_the_folds_after_it():
    """Fold 0 is refused by the deadline's gate (a deadline already passed): it must not wait forever, squeezing
    folds 1 and 2 -- whose share is then the whole end."""
    clock = FakeClock()
    s = three_folds(330.0, clock, deadline=0.0)
    assert s.admit("cnn_fast/fold0").refusal == "the deadline has passed"
    assert s._share(0.0) * 100 == pytest.approx((330 - 2 * 10) / 2)  # the share of the two folds waiting


def test_a_workers_start_up_is_not_read_as_a_fixed_cost_of_the_folds_to_come():
    """Two workers: each one's first fold also waited 8 s for its process to start. Those 8 s are the worker's,
    not the folds': the next folds' fixed costs are expected as planned."""
    clock = FakeClock()
    plans = {f"cnn_fast/fold{k}": FoldPlan(fixed=10.0, fit=100.0, fitted=True) for k in range(4)}
    s = FoldSchedule(plans, Deadline(None, clock=clock), end=440.0, workers=2, worker_start=8.0)
    s.admit("cnn_fast/fold0"), s.admit("cnn_fast/fold1")
    finish(s, clock, "cnn_fast/fold0", 118.0, 100.0)
    finish(s, clock, "cnn_fast/fold1", 118.0, 100.0)
    assert s.pace.expect(plans["cnn_fast/fold2"], 0.0) == pytest.approx(10.0)  # the fixed costs as planned
    assert s.admit("cnn_fast/fold2").seconds == pytest.approx(100.0 * (440 - 118 - 10) / 100, rel=0.05)


def test_the_seconds_given_stay_within_bounds():
    clock = FakeClock()
    late, early = three_folds(330.0, clock), three_folds(10_000.0, clock)
    clock.now = 400.0  # past the end already (a suspended machine): the fold still gets a share, not nothing
    assert late.admit("cnn_fast/fold0").seconds == pytest.approx(100.0 * MIN_SHARE)
    clock.now = 0.0  # a budget far beyond the plan: never the whole budget to one fold
    assert early.admit("cnn_fast/fold0").seconds == pytest.approx(100.0 * MAX_SHARE)


def test_with_two_workers_the_schedule_not_the_sum_of_seconds_must_fit():
    """Two workers, three folds: two run side by side, then one alone (one worker idle), so the folds get the
    share whose schedule ends on time -- not the workers' summed seconds, which would overrun by a fold."""
    clock = FakeClock()
    s = three_folds(220.0, clock, workers=2)
    first, second = s.admit("cnn_fast/fold0").seconds, s.admit("cnn_fast/fold1").seconds
    assert first == pytest.approx(second) == pytest.approx(100.0)  # 2 x (10 + 100) = 220
    finish(s, clock, "cnn_fast/fold0", 60.0, 50.0)  # fold 0 ended early: fold 1 still needs 50 s, the other is free
    assert s.admit("cnn_fast/fold2").seconds == pytest.approx(220 - 60 - 10)


def test_one_pace_for_the_gate_the_re_plan_and_the_eta():
    """The folds' fixed costs ran twice the plan: the ETA, the seconds the next fold gets and the gate's estimate all
    read that one pace."""
    clock = FakeClock()
    s = three_folds(330.0, clock, deadline=340.0)
    s.admit("cnn_fast/fold0")
    line = finish(s, clock, "cnn_fast/fold0", 120.0, 100.0)  # 20 s of fixed costs, not 10
    given = s._share(120.0) * 100
    assert given == pytest.approx((330 - 120 - 2 * 20) / 2)
    assert s.eta() == pytest.approx(2 * (20 + given)) == pytest.approx(210.0)  # the two folds left, one at a time
    assert line.endswith("elapsed 2.0 min, ETA 3.5 min")
    assert s.admit("cnn_fast/fold1").seconds == pytest.approx(given)
    finish(s, clock, "cnn_fast/fold1", 330.0, given)  # ran long: 210 s, not 105
    # fold 2 would need its fixed costs at the pace (still 2x: 10 s planned, 20 + 85 s seen) and its share
    assert "needs about" in s.admit("cnn_fast/fold2").refusal


def test_a_fold_whose_model_was_never_measured_starts_until_a_fold_tells_the_pace():
    """Unmeasured plans are ratios: before any fold finished the gate knows nothing and lets the fold start; after one
    took twice its ratio, the next is expected at twice its own."""
    clock = FakeClock()
    plans = {"cnn/fold0": FoldPlan(5.0, 45.0, measured=False), "cnn/fold1": FoldPlan(5.0, 45.0, measured=False),
             "cnn/fold2": FoldPlan(5.0, 45.0, measured=False)}
    s = FoldSchedule(plans, Deadline(170.0, clock=clock))
    assert s.admit("cnn/fold0").admitted
    finish(s, clock, "cnn/fold0", 100.0, 90.0)
    assert s.eta() == pytest.approx(200.0)  # two folds of 50 at the pace of 2
    assert s.admit("cnn/fold1").refusal == "it needs about 100 s and 70 s are left before the deadline"


def test_folds_that_trained_side_by_side_are_told_from_one_that_trained_alone():
    """Five folds on two workers: the fifth trains alone for most of its time (its speed is not a two-worker one)."""
    clock = FakeClock()
    plans = {f"m/fold{k}": FoldPlan(0.0, 100.0) for k in range(3)}
    s = FoldSchedule(plans, Deadline(None, clock=clock), workers=2)
    s.admit("m/fold0"), s.admit("m/fold1")
    finish(s, clock, "m/fold0", 100.0, 100.0)
    s.admit("m/fold2")
    finish(s, clock, "m/fold1", 110.0, 110.0)
    finish(s, clock, "m/fold2", 200.0, 100.0)
    assert s.shared("m/fold0") == pytest.approx(1.0) and s.shared("m/fold1") == pytest.approx(1.0)
    assert s.shared("m/fold2") == pytest.approx(0.1)  # 10 of its 100 s beside fold 1
    assert s.beside("m/fold2") == ["m/fold1"] and sorted(s.beside("m/fold1")) == ["m/fold0", "m/fold2"]


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


def test_a_kept_plan_is_made_again_for_the_budget_left_now_until_a_fold_of_it_trained(fake_machine, tmp_path, caplog):
    """A first --minutes 1 run spent 33 s timing the models; the same command again starts in 3 s: it plans its 57 s
    (fold count and all) instead of keeping the 27-s plan. Once a fold of a plan trained, the plan is kept (a
    resume reuses its folds and continues its budget)."""
    import logging

    from kaggle_digits.competition.data import load_competition

    clock, _ = fake_machine
    caplog.set_level(logging.INFO, logger="kaggle_digits")
    cfg = RunConfig(minutes=1.0, report=False, verbose=0, submissions_dir=str(tmp_path / "subs"))
    data = load_competition(cfg.data)

    def plan_with(startup: float) -> RunConfig:
        return budget.apply_budget(cfg, data, len(data.y_train), "float32", Deadline.none(clock, start=clock.now - startup))

    plan_with(33.0)
    caplog.clear()
    plan_with(3.0)
    assert "planning again: 57 s of the budget are left now, the plan was made for 27 s" in caplog.text
    caplog.clear()
    plan_with(4.0)  # within a quarter of the kept plan's 57 s
    assert "as this command planned it before here" in caplog.text
    make_submission(cfg, Deadline.none(clock=clock, start=clock.now - 33.0))  # re-planned for 27 s, and trained
    caplog.clear()
    plan_with(3.0)
    assert "as this command planned it before here" in caplog.text and "planning again" not in caplog.text


# ------------------------------------------------------------------------------- speeds from runs shaped like it
def test_folds_a_plan_trains_without_augmentation_read_and_feed_the_probed_entry(tmp_path, monkeypatch):
    """A short budget turns augmentation off: its folds are planned from the entry the probe wrote (with the
    augmentation the user configured) -- before, they found no entry of their own, so a --minutes 1 run's fold was
    neither re-planned nor gated -- and the plain speed they sustain is kept beside the probe's, not over it."""
    from kaggle_digits.config import AugmentConfig
    from kaggle_digits.planning import foldtime
    from kaggle_digits.planning.costs import AUGMENTED_SPEED, train_speed

    on, off = AugmentConfig(), AugmentConfig(enabled=False)
    monkeypatch.setattr(probe, "measure", lambda name, augment, precision: ModelCost(name, 5000.0, 9000.0, 3.0))
    probe.measure_costs(("cnn_fast",), on, "bfloat16", tmp_path)
    probed = probe.cached_cost("cnn_fast", off, "bfloat16", tmp_path)
    assert probed is not None and train_speed(probed, augment=False) == 5000.0  # as the planner counted
    monkeypatch.setattr(foldtime, "cache_root", lambda: tmp_path)
    task = _fold_task(off)
    fold_of = np.arange(42_000) % 5
    plans = foldtime.fold_plans([task], fold_of, 28_000, 1)
    assert plans["cnn_fast/fold0"].measured and plans["cnn_fast/fold0"].fitted
    foldtime.record_speed(task, _fold_result(7000.0), 1)
    cost = probe.cached_cost("cnn_fast", off, "bfloat16", tmp_path)
    assert train_speed(cost, augment=False) == 7000.0  # the plain speed, for the next plain plan
    assert train_speed(cost, augment=True) == 5000.0 * AUGMENTED_SPEED  # the augmented plans' speed untouched
    assert len(list(tmp_path.glob("speed-*.json"))) == 1
    # a run with augmentation off by the user's choice left a plain entry: the planner (the augmented entry, as
    # measure_costs reads it) and the folds (a plain one) count with its speed alike, so a kept plan stays kept
    atomic.write_json(probe._cache_path(tmp_path, "cnn_fast", off, "bfloat16", 1),
                      vars(ModelCost("cnn_fast", 9000.0, 9000.0, 3.0, sustained=True)))
    planner_cost = probe.measure_costs(("cnn_fast",), on, "bfloat16", tmp_path)["cnn_fast"]
    assert train_speed(planner_cost, augment=False) == 9000.0
    assert train_speed(probe.cached_cost("cnn_fast", off, "bfloat16", tmp_path), augment=False) == 9000.0
    assert train_speed(planner_cost, augment=True) == 5000.0 * AUGMENTED_SPEED


def test_a_fold_that_trained_alone_or_beside_another_model_does_not_set_the_two_worker_speed(tmp_path, monkeypatch):
    from kaggle_digits.config import AugmentConfig
    from kaggle_digits.planning import foldtime

    monkeypatch.setattr(foldtime, "cache_root", lambda: tmp_path)
    # the two-worker probe's entry (measure_costs would time two worker processes)
    atomic.write_json(probe._cache_path(tmp_path, "cnn_fast", AugmentConfig(), "bfloat16", 2),
                      vars(ModelCost("cnn_fast", 5000.0, 9000.0, 3.0)))
    task = _fold_task(AugmentConfig())
    foldtime.record_speed(task, _fold_result(9000.0), 2, shared=0.3)  # the last fold, alone for 70% of its time
    assert probe.cached_cost("cnn_fast", AugmentConfig(), "bfloat16", tmp_path, 2).train_images_per_second == 5000.0
    foldtime.record_speed(task, _fold_result(3000.0), 2, shared=1.0, beside={"cnn_gru"})  # beside another model
    assert probe.cached_cost("cnn_fast", AugmentConfig(), "bfloat16", tmp_path, 2).train_images_per_second == 5000.0
    foldtime.record_speed(task, _fold_result(4000.0), 2, shared=1.0, beside={"cnn_fast"})  # its own shape
    assert probe.cached_cost("cnn_fast", AugmentConfig(), "bfloat16", tmp_path, 2).train_images_per_second == 4000.0
    short = _fold_result(1000.0)
    short.metrics["steps"] = 263 + 100  # one whole epoch (tracing included) and part of a second: not a speed
    foldtime.record_speed(task, short, 2, shared=1.0, beside={"cnn_fast"})
    assert probe.cached_cost("cnn_fast", AugmentConfig(), "bfloat16", tmp_path, 2).train_images_per_second == 4000.0


def _fold_task(augment):
    from kaggle_digits.models import get_spec
    from kaggle_digits.training.train import FoldTask

    recipe = get_spec("cnn_fast").recipe.override(epochs=2, seconds=30.0)
    return FoldTask(model="cnn_fast", hp={}, recipe=recipe, augment=augment, fold=0, n_folds=5, seed=42,
                    data_sha256="d", rows_sha256="r", precision="bfloat16")


def _fold_result(images_per_second):
    from kaggle_digits.training.train import FoldResult

    # 2.5 epochs: two whole ones (a speed to keep) and a last one ended part-way
    return FoldResult("cnn_fast", 0, np.zeros((1, 10)), np.zeros((1, 10)),
                      metrics={"epochs": 3, "steps": 5 * 132, "steps_per_epoch": 263, "n_train": 33_600,
                               "images_per_second": images_per_second})


def test_fewer_folds_than_planned_workers_plan_from_the_planned_workers_speed(tmp_path, monkeypatch):
    """3 folds on a 4-worker plan run 3 workers, an entry no probe wrote: their plans read the 4-worker speed (they
    were unmeasured before: no re-plan, no gate)."""
    from kaggle_digits.config import AugmentConfig
    from kaggle_digits.planning import foldtime

    monkeypatch.setattr(foldtime, "cache_root", lambda: tmp_path)
    atomic.write_json(probe._cache_path(tmp_path, "cnn_fast", AugmentConfig(), "bfloat16", 4),
                      vars(ModelCost("cnn_fast", 5000.0, 9000.0, 3.0)))
    fold_of = np.arange(42_000) % 3
    task = _fold_task(AugmentConfig())
    assert not foldtime.fold_plans([task], fold_of, 28_000, 3)["cnn_fast/fold0"].measured
    assert foldtime.fold_plans([task], fold_of, 28_000, 3, planned_workers=4)["cnn_fast/fold0"].measured
