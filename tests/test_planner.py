"""The time-budget planner and the ETA, with made-up step times and a fake clock (no timings measured)."""

from __future__ import annotations

import pytest

from kaggle_digits.models import error_curves
from kaggle_digits.planning.schedule import FoldPlan, FoldSchedule
from kaggle_digits.training.clock import Deadline
from kaggle_digits.planning.planner import (CHOSEN_MIN_EPOCHS, FINISH_SECONDS, HOLDOUT_FOLDS, MIN_EPOCHS_FOR_FOLDS, PAIR_MIN_EPOCHS, TARGET_FILL,
                                   WORKER_START_SECONDS, ModelCost, candidate_model_sets,
                                   users_models_may_win, epoch_caps, estimate_seconds, fold_seconds, make_plan,
                                   Request, plan_budget, plannable_seconds, predicted_error,
                                   train_speed)

from conftest import FakeClock

COSTS = {"cnn": ModelCost("cnn", 2000, 6000, 5), "cnn_gru": ModelCost("cnn_gru", 3000, 8000, 6),
         "cnn_fast": ModelCost("cnn_fast", 6000, 9000, 4)}
CAPS = epoch_caps({"cnn": 30, "cnn_gru": 30, "cnn_fast": 30})
SETS = candidate_model_sets(("cnn", "cnn_gru"))


def plan(minutes: float, workers: int = 1):
    return make_plan(minutes * 60, COSTS, SETS, 42_000, 28_000, CAPS, workers=workers)


def test_the_candidates_are_the_users_models_their_fast_stand_ins_then_the_fast_model():
    assert SETS == [("cnn", "cnn_gru"), ("cnn_fast", "cnn_gru"), ("cnn_fast",)]
    assert candidate_model_sets(("cnn_fast",)) == [("cnn_fast",)]
    assert candidate_model_sets(("cnn_gru",)) == [("cnn_gru",), ("cnn_fast",)]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("minutes", [1, 3, 10, 15, 20, 30, 60, 120])
def test_every_plan_fits_its_budget_or_is_the_smallest_run(minutes, workers):
    p = plan(minutes, workers)
    smallest = p.holdout and sum(p.epochs.values()) == 1
    assert p.estimate_seconds <= minutes * 60 or smallest
    assert p.estimate_seconds == pytest.approx(
        estimate_seconds(COSTS, p.epochs, p.folds, 42_000, 28_000, p.augment, workers=p.workers, holdout=p.holdout))
    # what a kept plan is checked against: the speeds it counted with
    assert p.speeds == {m: pytest.approx(train_speed(COSTS[m], p.augment), abs=0.05) for m in p.epochs}


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("minutes", [10, 20, 30, 60, 120])
def test_the_budget_is_filled_not_left_idle(minutes, workers):
    """Nothing stops at the recipe's epoch count while time is left: 90-100% of the budget is planned."""
    p = plan(minutes, workers)
    capped = all(e == CAPS[m] for m, e in p.epochs.items())  # every schedule at twice its recipe: nothing to buy
    assert 0.90 * minutes * 60 <= p.estimate_seconds <= minutes * 60 or capped


def test_more_time_never_buys_a_worse_plan():
    plans = [plan(m) for m in (1, 3, 10, 20, 30, 60, 120, 600, 6000)]
    spent = [p.estimate_seconds for p in plans]
    assert spent == sorted(spent)
    assert plans[-1].folds == 5 and plans[-1].epochs == {"cnn": 60, "cnn_gru": 60}  # twice the recipe, capped
    assert plans[-1].augment


def test_the_ensemble_by_budget_users_models_then_the_fast_pair_then_the_fast_model():
    for minutes in (1, 3, 5, 10, 15, 20, 30, 45, 60, 90, 120, 240):
        p = plan(minutes)
        if p.models == ("cnn", "cnn_gru"):  # the curves put the user's pair ahead of what the stand-ins make
            without = make_plan(minutes * 60, COSTS, SETS[1:], 42_000, 28_000, CAPS)
            assert p.folds == 5 and predicted_error(p) < predicted_error(without)
        elif p.models == ("cnn_fast", "cnn_gru"):
            assert p.folds == 5 and p.augment
        else:
            assert p.models == ("cnn_fast",)
    assert plan(3).models == ("cnn_fast",)
    assert plan(30).models == ("cnn_fast",)  # one model with all the epochs: the curves put it ahead at 30 min
    assert plan(60).models == ("cnn_fast", "cnn_gru")  # the pair, once its members near their floors
    assert plan(240).models == ("cnn", "cnn_gru")


def test_the_users_models_without_a_curve_are_chosen_by_the_epoch_threshold(monkeypatch):
    """Every choice goes through the curves where the models have them; a user's model without one (registered
    without a curve) is planned once 5 folds give it ``CHOSEN_MIN_EPOCHS``."""
    from kaggle_digits import models

    curves = {m: c for m, c in models.error_curves().items() if m != "cnn"}
    monkeypatch.setattr(models, "error_curves", lambda: curves)
    for minutes in (60, 90, 120, 240):
        p = plan(minutes)
        threshold = make_plan(minutes * 60, COSTS, SETS[:1] + SETS[2:], 42_000, 28_000, CAPS)
        assert (p.models == ("cnn", "cnn_gru")) == (min(threshold.epochs.values()) >= CHOSEN_MIN_EPOCHS
                                                     and threshold.models == ("cnn", "cnn_gru"))
    assert plan(90).models == ("cnn", "cnn_gru")  # by the threshold: with cnn's curve the stand-ins' pair wins
    monkeypatch.undo()
    assert plan(90).models == ("cnn_fast", "cnn_gru")


@pytest.mark.parametrize("minutes", [5, 10, 20, 30, 40, 45, 60, 75])
def test_the_pair_is_planned_only_where_the_curves_put_it_ahead_of_one_model(minutes):
    """The fast pair against cnn_fast alone in the same budget: the lower predicted OOF error wins."""
    untimed = {m: c for m, c in COSTS.items() if m != "cnn"}  # the user's models ruled out: stand-ins or one model
    p = make_plan(minutes * 60, untimed, SETS, 42_000, 28_000, CAPS)
    alone = make_plan(minutes * 60, untimed, SETS[2:], 42_000, 28_000, CAPS)
    if p.models == ("cnn_fast", "cnn_gru"):
        assert p.folds == 5 and predicted_error(p) < predicted_error(alone)
    else:
        assert p == alone
    assert make_plan(30 * 60, untimed, SETS, 42_000, 28_000, CAPS).models == ("cnn_fast",)
    assert make_plan(60 * 60, untimed, SETS, 42_000, 28_000, CAPS).models == ("cnn_fast", "cnn_gru")


def test_a_slower_cnn_gru_moves_the_pair_to_longer_budgets():
    """On a CPU without bf16 the GRU runs at a third of cnn_fast's speed: 60 minutes buy one model there."""
    untimed = {m: c for m, c in COSTS.items() if m != "cnn"}
    slow_gru = {**untimed, "cnn_gru": ModelCost("cnn_gru", 1200, 8000, 6)}
    assert make_plan(3600, untimed, SETS, 42_000, 28_000, CAPS).models == ("cnn_fast", "cnn_gru")
    assert make_plan(3600, slow_gru, SETS, 42_000, 28_000, CAPS).models == ("cnn_fast",)


def test_a_model_without_a_curve_pairs_by_the_epoch_threshold():
    costs = {"cnn_fast": COSTS["cnn_fast"], "cnn_small": ModelCost("cnn_small", 3000, 8000, 6)}
    assert "cnn_small" not in error_curves()
    p = make_plan(30 * 60, costs, [("cnn", "cnn_small"), ("cnn_fast", "cnn_small"), ("cnn_fast",)], 42_000, 28_000,
                  {**CAPS, "cnn_small": 60})
    assert p.models == ("cnn_fast", "cnn_small") and min(p.epochs.values()) >= PAIR_MIN_EPOCHS


@pytest.mark.parametrize("minutes", [3, 10, 20, 60])
def test_fold_seconds_stretch_the_planned_epochs_to_fill_the_budget(minutes):
    """Whole epochs leave part of the budget unplanned; the folds' seconds take it (one factor for every model)."""
    p = plan(minutes, workers=2)
    speed = {m: COSTS[m].train_images_per_second * (0.78 if p.augment else 1.0) for m in p.epochs}
    at_speed = {m: e * 42_000 * (p.folds - 1) / p.folds / speed[m] for m, e in p.epochs.items()}
    stretch = {m: p.fit_seconds[m] / at_speed[m] for m in p.epochs}
    # (fit_seconds are rounded to 0.1 s)
    assert all(s >= 1.0 - 1e-3 for s in stretch.values()) and max(stretch.values()) - min(stretch.values()) < 1e-2
    # at the stretched seconds the run's estimate is the budget's target share (or a model is at its cap)
    stretched = {m: p.epochs[m] * stretch[m] for m in p.epochs}
    estimate = estimate_seconds(COSTS, stretched, p.folds, 42_000, 28_000, p.augment, workers=2)
    capped = any(p.epochs[m] * stretch[m] >= CAPS[m] - 1e-6 for m in p.epochs)
    assert estimate == pytest.approx(TARGET_FILL * minutes * 60, rel=0.01) or capped


def test_schedules_lengthen_past_the_recipe_when_time_is_left():
    p = plan(60)
    assert p.models == ("cnn_fast", "cnn_gru") and min(p.epochs.values()) > 30


def test_a_capped_model_leaves_its_time_to_the_others():
    caps = {"cnn_fast": 4, "cnn_gru": 60, "cnn": 60}
    p = make_plan(3600, COSTS, SETS[1:], 42_000, 28_000, caps)
    assert p.epochs["cnn_fast"] == 4 and p.epochs["cnn_gru"] > plan(60).epochs["cnn_gru"]


SLOW = {m: ModelCost(m, c.train_images_per_second / 8, c.predict_images_per_second / 8, 6.0) for m, c in COSTS.items()}


def test_a_budget_too_short_for_two_folds_is_a_holdout_of_one_fold():
    """On a machine 8x slower than COSTS, 2 minutes give 2 folds fewer than MIN_EPOCHS_FOR_FOLDS[2] epochs: the
    plan trains fold 0 of HOLDOUT_FOLDS alone, in one process (fit to the seconds two folds would have had)."""
    minutes = 2
    two = _fit_epochs(SLOW, 2, minutes, workers=2)
    assert two < MIN_EPOCHS_FOR_FOLDS[2]
    p = make_plan(minutes * 60, SLOW, SETS, 42_000, 28_000, CAPS, workers=2)
    assert p.holdout and p.folds == HOLDOUT_FOLDS and p.models == ("cnn_fast",) and p.workers == 1
    assert p.epochs["cnn_fast"] >= max(1, two) and "1 of 5 folds (holdout)" in p.shape()
    assert p.estimate_seconds <= minutes * 60
    # one fold's time, not five: the estimate is a single fold plus the finish, with no worker start-up
    one = fold_seconds(SLOW["cnn_fast"], p.epochs["cnn_fast"], 42_000 * 4 / 5, 42_000 / 5 + 28_000, p.augment)
    assert p.estimate_seconds == pytest.approx(one + FINISH_SECONDS)


def test_two_folds_where_they_get_their_minimum_epochs():
    p = make_plan(6 * 60, SLOW, SETS, 42_000, 28_000, CAPS, workers=2)
    assert not p.holdout and p.folds >= 2 and min(p.epochs.values()) >= MIN_EPOCHS_FOR_FOLDS[p.folds]


def _fit_epochs(costs, folds: int, minutes: float, workers: int) -> int:
    """The epochs cnn_fast gets at ``folds`` folds in ``minutes`` (unaugmented)."""
    e = 0
    while estimate_seconds(costs, {"cnn_fast": e + 1}, folds, 42_000, 28_000,
                           workers=workers) <= minutes * 60 * TARGET_FILL:
        e += 1
    return e


def test_folds_need_their_minimum_epochs():
    for minutes in (5, 15, 30, 45, 90):
        p = plan(minutes)
        if p.models == ("cnn_fast",) and p.folds > 2:
            assert min(p.epochs.values()) >= MIN_EPOCHS_FOR_FOLDS[p.folds]


def test_workers_share_the_folds_longest_first():
    """Two workers: the run's wall is the busier worker's folds (5 equal folds: 3 on one, 2 on the other)."""
    one = fold_seconds(COSTS["cnn_fast"], 10, 42_000 * 4 / 5, 42_000 / 5 + 28_000, augment=False)
    alone = estimate_seconds(COSTS, {"cnn_fast": 10}, 5, 42_000, 28_000, finish=0)
    shared = estimate_seconds(COSTS, {"cnn_fast": 10}, 5, 42_000, 28_000, finish=0, workers=2)
    assert alone == pytest.approx(5 * one)
    assert shared == pytest.approx(3 * one + WORKER_START_SECONDS)
    # ten folds of two models balance: each worker gets five
    pair = estimate_seconds(COSTS, {"cnn_fast": 10, "cnn_gru": 10}, 5, 42_000, 28_000, finish=0, workers=2)
    assert pair < 0.6 * estimate_seconds(COSTS, {"cnn_fast": 10, "cnn_gru": 10}, 5, 42_000, 28_000, finish=0)


def test_more_workers_buy_more_epochs_in_the_same_budget():
    assert sum(plan(30, workers=2).epochs.values()) > sum(plan(30).epochs.values())


def test_the_users_slower_models_are_timed_only_where_at_their_stand_ins_speed_they_would_be_chosen():
    untimed = {m: c for m, c in COSTS.items() if m != "cnn"}
    for minutes in (20, 60, 240, 1200):
        as_fast = {**COSTS, "cnn": ModelCost("cnn", *[getattr(COSTS["cnn_fast"], f) for f in (
            "train_images_per_second", "predict_images_per_second", "fold_overhead_seconds")])}
        chosen = make_plan(minutes * 60, as_fast, SETS, 42_000, 28_000, CAPS).models == ("cnn", "cnn_gru")
        assert users_models_may_win(minutes * 60, untimed, SETS, 42_000, 28_000, CAPS) == chosen
        if not chosen:  # then the real, slower cnn is not chosen either
            assert make_plan(minutes * 60, COSTS, SETS, 42_000, 28_000, CAPS).models != ("cnn", "cnn_gru")
    assert users_models_may_win(60, {"cnn_fast": COSTS["cnn_fast"]}, [("tiny",), ("cnn_fast",)], 42_000, 28_000,
                                CAPS)  # no stand-in timed: only timing it can tell


def test_a_non_positive_budget_is_refused():
    with pytest.raises(ValueError, match="positive"):
        plan(0)


def test_the_eta_rescales_the_estimate_by_the_pace_so_far():
    clock = FakeClock()
    plans = {"cnn/fold0": FoldPlan(0.0, 100.0), "cnn/fold1": FoldPlan(0.0, 100.0), "cnn_gru/fold0": FoldPlan(0.0, 200.0)}
    schedule = FoldSchedule(plans, Deadline.none(clock))
    schedule.admit("cnn/fold0")
    clock.now = 150.0  # the first fold took 1.5x its estimate
    line = schedule.finished("cnn/fold0", 150.0)
    assert "elapsed 2.5 min" in line and "ETA 7.5 min" in line  # (100 + 200) * 1.5 = 450 s
    schedule.admit("cnn/fold1")
    clock.now = 300.0
    assert "ETA 5.0 min" in schedule.finished("cnn/fold1", 150.0)  # 200 * (300 / 200)


def test_the_eta_weighs_folds_by_their_seconds_not_their_epochs():
    """A slow model's fold of the same epochs weighs what it costs: after a fast fold, the ETA is in seconds."""
    clock = FakeClock()
    fast = fold_seconds(COSTS["cnn_fast"], 10, 33_600, 36_400, augment=False)
    slow = fold_seconds(COSTS["cnn"], 10, 33_600, 36_400, augment=False)
    schedule = FoldSchedule({"cnn_fast/fold0": FoldPlan(0.0, fast), "cnn/fold0": FoldPlan(0.0, slow)},
                            Deadline.none(clock))
    schedule.admit("cnn_fast/fold0")
    clock.now = fast  # the fast fold took exactly its estimate
    assert f"ETA {slow / 60:.1f} min" in schedule.finished("cnn_fast/fold0", fast)


def test_the_eta_with_two_workers_counts_two_folds_per_wall_second():
    clock = FakeClock()
    schedule = FoldSchedule({f"m/fold{k}": FoldPlan(0.0, 100.0) for k in range(4)}, Deadline.none(clock), workers=2)
    schedule.admit("m/fold0"), schedule.admit("m/fold1")
    clock.now = 100.0  # two folds ran side by side and finished together
    schedule.finished("m/fold0", 100.0)
    assert "ETA 1.7 min" in schedule.finished("m/fold1", 100.0)  # 2 folds left x 100 s, 2 at a time


def test_the_eta_with_two_workers_is_not_doubled_by_the_fold_still_running_beside_the_first():
    """The first of two side-by-side folds finishes: the other one is half done, not still to start."""
    clock = FakeClock()
    schedule = FoldSchedule({f"m/fold{k}": FoldPlan(0.0, 100.0) for k in range(4)}, Deadline.none(clock), workers=2)
    schedule.admit("m/fold0"), schedule.admit("m/fold1")
    clock.now = 100.0
    assert "ETA 1.7 min" in schedule.finished("m/fold0", 100.0)  # fold 1 ends now, folds 2 and 3 side by side


def test_a_sustained_speed_is_planned_as_is_and_a_probed_one_with_the_augmentation_margin():
    probed = ModelCost("cnn_fast", 6000, 9000, 4)
    sustained = ModelCost("cnn_fast", 6000, 9000, 4, sustained=True)
    slow = estimate_seconds({"cnn_fast": probed}, {"cnn_fast": 10}, 5, 42_000, 28_000, augment=True)
    as_is = estimate_seconds({"cnn_fast": sustained}, {"cnn_fast": 10}, 5, 42_000, 28_000, augment=True)
    plain = estimate_seconds({"cnn_fast": probed}, {"cnn_fast": 10}, 5, 42_000, 28_000, augment=False)
    assert as_is == pytest.approx(plain) and slow > as_is


def test_untimed_user_models_are_skipped_and_the_fast_pair_is_judged_as_a_pair():
    untimed = {m: c for m, c in COSTS.items() if m != "cnn"}  # budget.py does not time cnn when it cannot fit
    p = make_plan(60 * 60, untimed, SETS, 42_000, 28_000, CAPS)
    assert p.models == ("cnn_fast", "cnn_gru")


# --------------------------------------------------------------------------- plan_budget: the run's one call
class Probe:
    """A fake probe: each call's (models, workers) recorded; every call moves the fake clock on by ``seconds``."""

    def __init__(self, seconds: float = 10.0):
        self.calls, self.now, self.seconds = [], 0.0, seconds

    def __call__(self, models, workers):
        self.calls.append((tuple(models), workers))
        self.now += self.seconds
        return {m: COSTS[m] for m in models}


def test_one_call_times_the_stand_ins_first_and_the_users_models_only_where_they_may_fit():
    short, probe = Request(("cnn", "cnn_gru"), 20, 42_000, 28_000), Probe()
    planned = plan_budget(short, probe, lambda: probe.now)
    assert probe.calls == [(("cnn_fast", "cnn_gru"), 1)]  # cnn untimed: its stand-in cannot reach the threshold
    assert planned.recipe_seconds is None and planned.spent == 10.0
    assert planned.plan == make_plan(20 * 60 - 10, COSTS, SETS, 42_000, 28_000, CAPS)
    long, probe = Request(("cnn", "cnn_gru"), 240, 42_000, 28_000), Probe()
    planned = plan_budget(long, probe, lambda: probe.now)
    assert probe.calls == [(("cnn_fast", "cnn_gru"), 1), (("cnn", "cnn_gru", "cnn_fast"), 1)]
    assert planned.spent == 20.0  # the plan is made for what the probes left of the budget
    assert planned.recipe_seconds == pytest.approx(
        estimate_seconds(COSTS, {"cnn": 30, "cnn_gru": 30}, 5, 42_000, 28_000, True))


def test_one_call_re_times_a_holdout_as_one_process_on_every_core():
    probe = Probe(seconds=1.0)
    planned = plan_budget(Request(("cnn_fast",), 0.5, 42_000, 28_000, workers=2), probe, lambda: probe.now)
    assert planned.plan.holdout and planned.plan.workers == 1
    assert probe.calls == [(("cnn_fast",), 2), (("cnn_fast",), 1)]
    assert planned.spent == 2.0


def test_with_pseudo_labels_the_plan_gets_only_the_first_rounds_share():
    """The second round trains every fold again on its rows plus up to every test row: the plan leaves it that."""
    assert plannable_seconds(Request(("cnn_fast",), 10, 42_000, 28_000), 30.0) == 570
    share = plannable_seconds(Request(("cnn_fast",), 10, 42_000, 28_000, pseudo_label=True), 30.0)
    assert share == pytest.approx(570 / (1 + (33_600 + 28_000) / 33_600))
    assert plannable_seconds(Request(("cnn_fast",), 1, 42_000, 28_000), 120.0) == 1.0  # over budget: the smallest plan
