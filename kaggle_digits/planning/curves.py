"""What the measured curves predict of a plan: its OOF error from each model's error-against-epochs curve, the pair
factor, and how much more members buy -- the ensemble-gain curve the planner weighs against longer training.

A member is a (model, seed) trained on every fold of its own split (competition/folds.py). Averaging ``n``
members of OOF error ``e`` each leaves ``e * gain(n)``, with

    gain(n) = f + (1 - f) / n

the shape of averaging partly independent errors: ``1 - f`` of the error is what members disagree on and
averaging removes, ``f`` the part every member gets wrong (the floor, ``n`` -> infinity). ``f`` is each model's
registered ``member_floor`` (models/), least squares over the measured OOF error of 1..n members
(benchmarks/planner/README.md, "Members"); a model without its own uses the fallback model's, the one measured.
For several models the floor is their mean, applied on top of the pair's own factor.

No Keras here: the planner (pure arithmetic) reads it.
"""

from __future__ import annotations

from kaggle_digits import models as registry

# the pair's OOF error over the mean of its members' (cnn_fast 11 + cnn_gru 9 epochs, 5 folds: 0.467 / 0.5345)
PAIR_ERROR_FACTOR = 0.874

MAX_SEEDS = 16          # members per model a plan may have: 16 x 5 folds x 2 models = 160 fold trainings
# a member shorter than this is not planned: its curve is measured from 10 epochs up, and below it one model with
# every epoch is ahead on every curve measured so far
MIN_MEMBER_EPOCHS = 10


def member_floor(models: tuple[str, ...]) -> float | None:
    """The floor ``f`` of ``models`` averaged as members (their registered floors' mean); None: none measured."""
    floors = registry.member_floors()
    if not floors:
        return None
    fallback = floors.get(registry.fallback_model())
    values = [floors.get(m, fallback) for m in models]
    if any(v is None for v in values):
        return None
    return sum(values) / len(values)


def gain(models: tuple[str, ...], seeds: int) -> float:
    """The share of one member's OOF error left after averaging ``seeds`` members of each of ``models``."""
    if seeds <= 1:
        return 1.0
    floor = member_floor(models)
    return 1.0 if floor is None else floor + (1 - floor) / seeds


def predicted_error(plan) -> float | None:
    """The OOF error (percent) the models' registered error curves predict for an augmented plan (planner.Plan), its
    members (``seeds``) counted; None without a curve for a model."""
    curves = registry.error_curves()
    if not plan.augment or any(m not in curves for m in plan.epochs):
        return None
    errors = [curves[m][0] + curves[m][1] / e for m, e in plan.epochs.items()]
    one = errors[0] if len(errors) == 1 else PAIR_ERROR_FACTOR * sum(errors) / len(errors)
    return one * gain(plan.models, plan.seeds)


def ahead(plan, best, max_epochs: dict[str, int], threshold: int) -> bool:
    """Whether ``plan`` (a set of several models, or the user's) ends with a lower predicted OOF error than ``best``
    in the same time. Without a curve for a model of either, whether each of its models gets ``threshold`` epochs
    (or its cap): ``CHOSEN_MIN_EPOCHS`` for the user's own set, ``PAIR_MIN_EPOCHS`` for the others."""
    if not plan.augment:
        return False  # too short to augment: the curves do not hold, one model with all the epochs
    ours, theirs = predicted_error(plan), predicted_error(best)
    if ours is not None and theirs is not None:
        return ours < theirs
    return min(plan.epochs.values()) >= min(threshold, *(max_epochs[m] for m in plan.epochs))
