"""The time-budget planner and the ETA, with made-up step times and a fake clock (no timings measured)."""

from __future__ import annotations

import pytest

from kaggle_digits.planner import (CHOSEN_MIN_EPOCHS, MIN_EPOCHS_FOR_FOLDS, ModelCost, Progress, candidate_model_sets, estimate_seconds,
                                   make_plan)

COSTS = {"cnn": ModelCost("cnn", 2000, 6000, 5), "cnn_gru": ModelCost("cnn_gru", 1000, 3000, 6),
         "cnn_fast": ModelCost("cnn_fast", 6000, 9000, 4)}
CAPS = {"cnn": 30, "cnn_gru": 30, "cnn_fast": 30}
SETS = candidate_model_sets(("cnn", "cnn_gru"))


def plan(minutes: float):
    return make_plan(minutes * 60, COSTS, SETS, 42_000, 28_000, CAPS)


@pytest.mark.parametrize("minutes", [1, 3, 10, 15, 20, 30, 60, 120])
def test_every_plan_fits_its_budget_or_is_the_smallest_run(minutes):
    p = plan(minutes)
    smallest = p.folds == 2 and sum(p.epochs.values()) == 1
    assert p.estimate_seconds <= minutes * 60 or smallest
    assert p.estimate_seconds == pytest.approx(estimate_seconds(COSTS, p.epochs, p.folds, 42_000, 28_000, p.augment))


def test_more_time_never_buys_a_worse_plan():
    plans = [plan(m) for m in (1, 3, 10, 20, 30, 60, 120, 600)]
    spent = [p.estimate_seconds for p in plans]  # a longer budget is used, not left idle
    assert spent == sorted(spent)
    assert plans[-1].folds == 5 and plans[-1].epochs == {"cnn": 30, "cnn_gru": 30}  # the full recipe, capped
    assert plans[-1].augment


def test_short_budgets_drop_models_then_fall_back_to_the_fast_one():
    assert plan(120).models == ("cnn", "cnn_gru")
    tiny = make_plan(40, COSTS, SETS, 42_000, 28_000, CAPS)
    assert tiny.models == ("cnn_fast",) and tiny.folds == 2
    assert not tiny.augment  # short runs train without augmentation


def test_the_chosen_models_only_at_five_folds_with_enough_epochs():
    for minutes in (1, 3, 5, 10, 15, 20, 30, 45, 60, 90, 120):
        p = plan(minutes)
        assert p.models == ("cnn_fast",) or (p.folds == 5 and min(p.epochs.values()) >= CHOSEN_MIN_EPOCHS)
    assert plan(3).models == ("cnn_fast",) and plan(3).folds == 3  # 3 folds x 6+ epochs beat 2 folds x more


def test_folds_need_their_minimum_epochs():
    for minutes in (5, 15, 30, 45, 90):
        p = plan(minutes)
        if p.folds > 2:
            assert min(p.epochs.values()) >= MIN_EPOCHS_FOR_FOLDS[p.folds]


def test_a_non_positive_budget_is_refused():
    with pytest.raises(ValueError, match="positive"):
        plan(0)


def test_progress_rescales_the_estimate_by_the_pace_so_far():
    now = [0.0]
    progress = Progress({"cnn/fold0": 100.0, "cnn/fold1": 100.0, "cnn_gru/fold0": 200.0}, clock=lambda: now[0])
    now[0] = 150.0  # the first fold took 1.5x its estimate
    line = progress.fold_done("cnn/fold0")
    assert "elapsed 2.5 min" in line and "ETA 7.5 min" in line  # (100 + 200) * 1.5 = 450 s
    now[0] = 300.0
    assert "ETA 5.0 min" in progress.fold_done("cnn/fold1")  # 200 * (300 / 200)


def test_a_sustained_speed_is_planned_as_is_and_a_probed_one_with_the_augmentation_margin():
    probed = ModelCost("cnn_fast", 6000, 9000, 4)
    sustained = ModelCost("cnn_fast", 6000, 9000, 4, sustained=True)
    slow = estimate_seconds({"cnn_fast": probed}, {"cnn_fast": 10}, 5, 42_000, 28_000, augment=True)
    as_is = estimate_seconds({"cnn_fast": sustained}, {"cnn_fast": 10}, 5, 42_000, 28_000, augment=True)
    plain = estimate_seconds({"cnn_fast": probed}, {"cnn_fast": 10}, 5, 42_000, 28_000, augment=False)
    assert as_is == pytest.approx(plain) and slow > as_is
