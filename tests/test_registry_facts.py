"""The planner's facts about a model live on its registry entry: a new model with its accuracy curve is a change
under models/ only. Pure arithmetic with made-up step times, as in test_planner.py: nothing is built or trained."""

from __future__ import annotations

import contextlib

import pytest
from keras import layers

from kaggle_digits.models import (error_curves, fallback_model, get_spec, list_models, stand_ins,
                                  temporary_model)
from kaggle_digits.planning.planner import (PAIR_ERROR_FACTOR, ModelCost, candidate_model_sets, epoch_caps, make_plan,
                                   predicted_error)
from kaggle_digits.models.recipe import KIT_RECIPE

COSTS = {"cnn_fast": ModelCost("cnn_fast", 6000, 9000, 4), "tiny": ModelCost("tiny", 3000, 8000, 6)}  # made up
CAPS = epoch_caps({"cnn": 30, "cnn_fast": 30, "tiny": 30, "tiny_deep": 30})


def tiny(x):
    """A tiny test model: flatten, Dense 10 (never built here)."""
    return layers.Dense(10, activation="softmax", dtype="float32")(layers.Flatten()(x))


@contextlib.contextmanager
def tiny_family(curve):
    """A new family for the with-block: ``tiny`` with the error curve ``curve``, and ``tiny_deep``, its slower
    sibling, which ``tiny`` stands in for when a budget is short."""
    with temporary_model("tiny", tiny, recipe=KIT_RECIPE, error_curve=curve), \
            temporary_model("tiny_deep", tiny, recipe=KIT_RECIPE.override(learning_rate=2e-3), stand_in="tiny"):
        yield


def test_the_kit_models_carry_the_facts_the_planner_used_to_key_by_name():
    assert error_curves() == {"cnn": (0.264, 3.62), "cnn_fast": (0.341, 2.11), "cnn_gru": (0.335, 1.81)}
    assert stand_ins() == {"cnn": "cnn_fast", "cnn_small": "cnn_fast", "cnn_gru_deep": "cnn_gru"}
    assert fallback_model() == "cnn_fast" and get_spec("cnn_fast").fallback
    assert get_spec("cnn_gru").error_curve == (0.335, 1.81) and get_spec("cnn").stand_in == "cnn_fast"


def test_a_new_model_plans_by_its_own_curve_and_stand_in():
    """Registered with a curve that beats cnn_gru's, the new model pairs with cnn_fast at 30 minutes, where
    cnn_gru's curve keeps cnn_fast alone; the plan's predicted error is the new curve's."""
    with tiny_family((0.2, 1.0)):
        sets = candidate_model_sets(("cnn", "tiny_deep"))
        assert sets == [("cnn", "tiny_deep"), ("cnn_fast", "tiny"), ("cnn_fast",)]
        p = make_plan(30 * 60, COSTS, sets, 42_000, 28_000, CAPS)  # cnn, tiny_deep untimed: the stand-ins plan
        assert p.folds == 5 and p.augment and p.models == ("cnn_fast", "tiny")
        member = {"cnn_fast": 0.341 + 2.11 / p.epochs["cnn_fast"], "tiny": 0.2 + 1.0 / p.epochs["tiny"]}
        assert predicted_error(p) == pytest.approx(PAIR_ERROR_FACTOR * sum(member.values()) / 2)
    with tiny_family(get_spec("cnn_gru").error_curve):
        assert make_plan(30 * 60, COSTS, candidate_model_sets(("cnn", "tiny_deep")), 42_000, 28_000,
                         CAPS).models == ("cnn_fast",)
    with tiny_family((0.5, 3.0)):  # a worse curve: not even 60 minutes make the pair pay
        assert make_plan(60 * 60, COSTS, candidate_model_sets(("cnn", "tiny_deep")), 42_000, 28_000,
                         CAPS).models == ("cnn_fast",)
    assert "tiny" not in list_models() and "tiny_deep" not in list_models()  # the registry is as it was


def test_a_temporary_model_is_removed_even_when_the_block_fails():
    with pytest.raises(RuntimeError), temporary_model("tiny", tiny, recipe=KIT_RECIPE):
        assert "tiny" in list_models()
        raise RuntimeError
    assert "tiny" not in list_models()


def test_the_registry_refuses_facts_the_planner_could_not_use():
    with pytest.raises(ValueError, match="already the fallback model"):
        with temporary_model("tiny", tiny, fallback=True):
            pass
    with pytest.raises(ValueError, match="error_curve"):
        with temporary_model("tiny", tiny, error_curve=(0.3,)):
            pass
    with pytest.raises(ValueError, match="itself"):
        with temporary_model("tiny", tiny, stand_in="tiny"):
            pass
    with temporary_model("tiny", tiny, stand_in="nowhere"), pytest.raises(ValueError, match="not a registered"):
        stand_ins()
    with temporary_model("tiny", tiny, stand_in="cnn"), pytest.raises(ValueError, match="has a stand-in itself"):
        stand_ins()
    assert "tiny" not in list_models() and fallback_model() == "cnn_fast"
