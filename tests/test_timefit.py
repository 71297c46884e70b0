"""A fold fitted to seconds (timefit.py): the epochs it trains and the schedule it anneals, on a fake clock."""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import pytest

from kaggle_digits.training import epochs
from kaggle_digits.models.recipe import KIT_RECIPE
from kaggle_digits.training.recipe import WarmupCosine, make_optimizer
from kaggle_digits.training.epochs import epoch_cap, tracing_seconds
from kaggle_digits.training.timefit import FitToSeconds, epochs_that_fit


def test_the_epochs_that_fit_follow_the_pace_of_the_epochs_done():
    assert epochs_that_fit(1, 10.0, [10.0], 100.0, cap=40) == 10      # 90 s left at 10 s an epoch
    assert epochs_that_fit(1, 10.0, [10.0], 100.0, cap=6) == 6        # never past the cap
    assert epochs_that_fit(3, 90.0, [30.0] * 3, 60.0, cap=20) == 3    # over time: stop now, never fewer than done
    assert epochs_that_fit(0, 0.0, [], 60.0, cap=20) == 1             # at least one epoch


def test_the_first_epoch_s_tracing_is_not_charged_once_a_steady_epoch_is_in():
    # 14 s first epoch (4 s of it tracing), then 10 s: 20 s of the 100 are charged, 80 s buy 8 more epochs
    assert epochs_that_fit(2, 24.0, [14.0, 10.0], 100.0, cap=40) == 10
    # with one epoch only, its whole time is the pace: the guess errs short, not long
    assert epochs_that_fit(1, 14.0, [14.0], 100.0, cap=40) == pytest.approx(1 + 86 / 14)  # the last one in part
    # ... but no slower than the plan's pace: on an H200 cnn_fast's first epoch took 8 s (XLA compiling), the
    # next ones 0.6 s, and a fold planned at 27 epochs in 14 s stopped after that one epoch
    assert epochs_that_fit(1, 8.0, [8.0], 14.0, cap=54, planned_pace=14 / 27) == 27
    assert epochs_that_fit(1, 14.0, [14.0], 100.0, cap=40, planned_pace=20.0) == pytest.approx(1 + 86 / 14)  # slower plan: as before


class CompileClock:
    """A fake clock: the first epoch of the fit takes ``first`` seconds (compiling), every later one ``epoch``."""

    def __init__(self, first: float, epoch: float):
        self.now, self.first, self.epoch, self.calls = 0.0, first, epoch, 0

    def __call__(self) -> float:
        self.calls += 1
        if self.calls > 1 and self.calls % 2 == 1:  # begin, end, begin, end...: an epoch passes between begin and end
            self.now += self.first if self.calls == 3 else self.epoch
        return self.now


def StepClock(epoch: float) -> CompileClock:
    """A fake clock: every epoch of the fit takes ``epoch`` seconds."""
    return CompileClock(epoch, epoch)


def _tiny_fit(seconds: float, planned: int, epoch_seconds: float, clock=None, given: float | None = None):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = np.eye(2, dtype="float32")[np.arange(64) % 2]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    recipe = KIT_RECIPE.override(epochs=planned, batch_size=16, seconds=seconds)
    optimizer = make_optimizer(recipe, steps_per_epoch=4)  # an Optimization: the optimizer, the schedule's length
    model.compile(optimizer=optimizer.optimizer, loss="categorical_crossentropy")
    cap = epoch_cap(planned)  # the planned epochs are the recipe's here: the cap is twice them
    fitter = FitToSeconds(given or seconds, 4, planned, optimizer.schedule_length, cap,
                          clock=clock or StepClock(epoch_seconds), planned_seconds=seconds)
    history = model.fit(x, y, batch_size=16, epochs=cap, callbacks=[fitter], verbose=0)
    return model, optimizer, fitter, len(history.history["loss"])


@pytest.mark.parametrize("epoch_seconds, expected", [(10.0, 5.0), (5.0, 10.0), (20.0, 2.5)])
def test_a_fold_trains_the_steps_its_seconds_hold_and_ends_annealed(epoch_seconds, expected):
    """Planned 5 epochs in 50 s: at the planned pace it trains 5, twice as fast 10 (the cap), half as fast 2.5 --
    its third epoch ends after half its steps (whole epochs left 10 of the 50 s unused)."""
    model, optimizer, fitter, ran = _tiny_fit(50.0, 5, epoch_seconds)
    assert fitter.target == expected and fitter.steps == expected * 4 and ran == math.ceil(expected)
    assert fitter.epoch_steps == [4] * int(expected) + ([2] if expected % 1 else [])
    assert float(optimizer.schedule_length.value) == pytest.approx(fitter.steps)
    # the schedule's length is what the fold trained: the last step's learning rate is the annealed floor
    lr = float(optimizer.optimizer.learning_rate)
    assert lr == pytest.approx(KIT_RECIPE.learning_rate * 0.01, rel=0.2)


def test_a_fold_given_fewer_seconds_than_its_plan_ends_on_them_annealed():
    """Planned 10 epochs in 100 s, re-planned to 15 s, 10 s an epoch: it ends after 1.5 epochs (6 steps), annealed --
    read at the given seconds' pace (1.5 s an epoch) its first epoch promised 10 epochs, and it ran 2, un-annealed."""
    model, optimizer, fitter, ran = _tiny_fit(100.0, 10, 10.0, given=15.0)
    assert fitter.steps == 6 and ran == 2 and float(optimizer.schedule_length.value) == 6
    assert float(optimizer.optimizer.learning_rate) == pytest.approx(KIT_RECIPE.learning_rate * 0.01, rel=0.2)


def test_the_tracing_of_a_fold_of_one_and_a_part_epochs_is_read_per_step():
    """A first epoch of 14 s (4 steps) and half an epoch of 5 s (2 steps): 2.5 s a step, so 4 s of tracing."""
    assert tracing_seconds([14.0, 5.0], [4, 2]) == pytest.approx(4.0)
    assert tracing_seconds([14.0, 10.0, 10.0], [4, 4, 4]) == pytest.approx(4.0)  # whole epochs: as before
    assert tracing_seconds([14.0], [4]) == 0.0


def test_a_first_epoch_that_is_mostly_compiling_does_not_end_the_fold():
    """Planned 10 epochs in 10 s; the first takes 8 s (XLA compiling on a GPU), the rest 1 s: 10 epochs train,
    and the schedule is set for them from the first epoch on (it used to stop after one)."""
    model, optimizer, fitter, ran = _tiny_fit(10.0, 10, 1.0, clock=CompileClock(8.0, 1.0))
    assert ran == fitter.target == 10
    assert float(optimizer.schedule_length.value) == pytest.approx(40)


def test_a_recipe_without_seconds_keeps_its_schedule_length_fixed():
    optimizer = make_optimizer(KIT_RECIPE.override(epochs=3), steps_per_epoch=10)
    assert optimizer.schedule_length is None
    assert not hasattr(optimizer.optimizer, "schedule_length")  # nothing pinned on the Keras optimizer
    schedule = optimizer.optimizer._learning_rate
    assert isinstance(schedule, WarmupCosine) and schedule.total_steps == 30


def test_warmup_cosine_matches_keras_cosine_decay_with_warm_up():
    ours = WarmupCosine(3e-3, 200, warmup=0.05)
    keras_one = keras.optimizers.schedules.CosineDecay(0.0, decay_steps=190, warmup_target=3e-3, warmup_steps=10,
                                                       alpha=0.01)
    for step in (0, 3, 10, 57, 150, 199, 200, 260):
        assert float(ours(step)) == pytest.approx(float(keras_one(step)), rel=1e-4, abs=1e-9)
    assert WarmupCosine.from_config(ours.get_config()).get_config() == ours.get_config()


@pytest.mark.slow
@pytest.mark.parametrize("seconds, given, planned, expected", [(1e6, None, 2, 3), (1e-3, None, 1, 1), (1e6, 1e-3, 3, 1)])
def test_a_real_fold_with_seconds_stretches_or_cuts_its_epochs_and_saves_a_loadable_model(
        tmp_path, monkeypatch, seconds, given, planned, expected, eager_folds):
    """train_fold end to end: a fold given all the time in the world trains its model's epoch cap (here patched to
    3: a tenth of cnn_fast's 30-epoch recipe; not twice the plan's 2, the cap before issue 24), one given none
    stops after its first epoch -- also when the run re-planned its seconds (``given_seconds``) below its recipe's;
    either way its model file loads back for prediction. The fold whose plan is no time at all plans one epoch:
    planned more, its first epoch alone (tracing, as a GPU's compiling) is read at the plan's pace, and a second one
    trains to measure the real pace wherever the fit starts its first epoch within a millisecond (JAX)."""
    from kaggle_digits.config import AugmentConfig
    from kaggle_digits.models import get_spec
    from kaggle_digits.training.train import FoldTask, train_fold

    monkeypatch.setattr(epochs, "MAX_EPOCHS_FACTOR", 0.1)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(64, 28, 28, 1), dtype=np.uint8)
    y = rng.integers(0, 10, size=64)
    recipe = get_spec("cnn_fast").recipe.override(epochs=planned, batch_size=32, seconds=seconds)
    task = FoldTask(model="cnn_fast", hp=dict(get_spec("cnn_fast").hp), recipe=recipe,
                    augment=AugmentConfig(enabled=False), fold=0, n_folds=2, seed=1, data_sha256="d",
                    rows_sha256="r", validate_each_epoch=False, given_seconds=given)
    result = train_fold(task, x[:48], y[:48], x[48:], y[48:], x[:8], tmp_path, verbose=0)
    assert result.metrics["epochs"] == expected
    # 48 rows at batch 32: 2 steps an epoch, every epoch whole here (one given no time stops at its first's end)
    assert (result.metrics["steps"], result.metrics["steps_per_epoch"]) == (2 * expected, 2)
    assert 0 <= result.metrics["tracing_seconds"] < result.metrics["fit_seconds"]
    model = keras.saving.load_model(tmp_path / "model.keras")
    assert model.predict(x[:4], verbose=0).shape == (4, 10)
    # the re-planned seconds are not the fold's identity: the same fold with other given seconds is the same fold
    assert task.fingerprint_hash() == dataclasses.replace(task, given_seconds=123.0).fingerprint_hash()
