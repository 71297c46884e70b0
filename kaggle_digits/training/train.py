"""Train one (model, fold): the kit's unit of work.

A fold result -- out-of-fold and test probabilities, history, timings, the model file -- is saved
in its own folder, ``done.json`` last, so resume, fan-out over machines and reports can all trust
any fold folder that has a ``done.json`` whose fingerprint matches.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from kaggle_digits import atomic
from kaggle_digits.training import timefit
from kaggle_digits.runs import rundir
from kaggle_digits.training import precision, tta, watchdog
from kaggle_digits.models.augment import build_augmentation
from kaggle_digits.training.codehash import code_version
from kaggle_digits.config import AugmentConfig
from kaggle_digits.training.devices import distribution_scope
from kaggle_digits.competition.digits import N_CLASSES
from kaggle_digits.competition.folds import member_name
from kaggle_digits.training.epochs import epoch_cap, steady_epochs, tracing_seconds
from kaggle_digits.fingerprint import digest
from kaggle_digits.models import create_model, get_spec
from kaggle_digits.models.recipe import Recipe
from kaggle_digits.training.recipe import make_loss, make_optimizer

# How Keras compiles the training step, for the folds and for the probe that times them (the one place this is
# chosen). "auto" is Keras' own rule: XLA on when TensorFlow sees a GPU and no tf.distribute strategy is active
# (a local GPU, Kaggle's one-GPU shapes), off on a CPU and under MirroredStrategy (T4 x2), off for a model with a
# layer that cannot be compiled (Keras' GRU on a TensorFlow GPU uses cuDNN, which XLA lacks); JAX compiles always.
# Every kit layer compiles under XLA (augment.warp_affine; tests/test_xla.py), so "auto" never fails on a GPU;
# benchmarks/xla/README.md has the speeds that decided it.
JIT_COMPILE = "auto"

# Bumped when a fold's fingerprint changes shape: every earlier fold is then retrained once, instead of
# keeping rules that leave new keys out of the fingerprint while they sit at their defaults.
FINGERPRINT_FORMAT = 3  # 3: the fold assignment's hash (split_sha256) joined it


@dataclass
class FoldResult:
    model: str
    fold: int
    oof: np.ndarray            # (n_held_out, 10) float32, rows in increasing train-row order
    test: np.ndarray           # (n_test, 10) float32
    history: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)  # val_accuracy, timings, epochs...
    reused: bool = False


PSEUDO_SUFFIX = "+pl"  # a second round's member name: cnn_fast+pl (its fold folders: RUN_DIR/cnn_fast+pl/fold<k>)


@dataclass(frozen=True)
class FoldTask:
    """Everything that decides a fold's result; its hash is the fold's fingerprint."""

    model: str
    hp: dict
    recipe: Recipe
    augment: AugmentConfig
    fold: int
    n_folds: int
    seed: int
    data_sha256: str
    rows_sha256: str
    validate_each_epoch: bool = True
    tta: bool = False
    precision: str = "float32"    # the resolved --precision (precision.resolve)
    settings: dict = field(default_factory=dict)  # the other fingerprinted settings (RunConfig.fold_settings)
    # a second round's pseudo-labels (pseudo.py): {"threshold", "rows", "labels_sha256"}; None in round one
    pseudo: dict | None = None
    # the seconds of training the run gave this fold as it started: its recipe's ``seconds`` re-planned from the
    # folds done (planning/schedule.py). Not fingerprinted: like the machine's speed it changes how many epochs fit, and the
    # fold records the epochs it trained; the recipe's seconds (the plan) identify the fold
    given_seconds: float | None = None
    # which of the model's members (--seeds) this fold belongs to (0: the first); its split and ``seed`` are the
    # member's own (folds.member_seed), so the index itself decides nothing the fingerprint lacks
    member_index: int = 0
    # sha256 of the fold id of every training row in this member's split (folds.npy's content for the first):
    # a fold of another split -- another seed, or scikit-learn splitting differently -- is never reused as this one
    split_sha256: str = ""

    @property
    def member(self) -> str:
        """The ensemble member this fold belongs to: the model's (``member_name``), or its pseudo-labelled round."""
        name = member_name(self.model, self.member_index)
        return f"{name}{PSEUDO_SUFFIX}" if self.pseudo else name

    def fingerprint(self) -> dict:
        return {"format": FINGERPRINT_FORMAT, **self.settings, "tta": self.tta, "precision": self.precision,
                **({"pseudo": self.pseudo} if self.pseudo else {}),
                "model": self.model, "hp": self.hp, "recipe": self.recipe.to_dict(),
                "augment": vars(self.augment), "fold": self.fold, "n_folds": self.n_folds,
                "seed": self.seed, "data_sha256": self.data_sha256, "rows_sha256": self.rows_sha256,
                "split_sha256": self.split_sha256,
                "validate_each_epoch": self.validate_each_epoch, "code": code_version(self.model),
                "backend": keras.backend.backend()}

    def fingerprint_hash(self) -> str:
        return fingerprint_hash(self.fingerprint())

    @property
    def fold_seed(self) -> int:
        return self.seed * 1000 + self.fold


def epochs_trained(metrics: dict) -> float:
    """The epochs a fold trained, from its metrics: 2.6 when its last one ended part-way (timefit.py); a fold
    saved before steps were recorded counts the epochs it began."""
    steps, per_epoch = metrics.get("steps"), metrics.get("steps_per_epoch")
    return steps / per_epoch if steps and per_epoch else float(metrics["epochs"])


def fingerprint_hash(fingerprint: dict) -> str:
    return digest(fingerprint)


def one_hot(labels: np.ndarray) -> np.ndarray:
    """float32 one-hot targets (keras.utils.to_categorical would make float64)."""
    return np.eye(N_CLASSES, dtype=np.float32)[labels]


def load_fold(fold_dir: Path, task: FoldTask, ignore: tuple[str, ...] = ()) -> FoldResult | None:
    """The saved result of ``task`` if it finished with the same fingerprint, else None.

    ``ignore`` names fingerprint keys not to compare (e.g. ``("code", "backend")`` when gathering folds
    trained on Kaggle kernels); the saved fingerprint.json must still be the one done.json certifies.
    """
    done = fold_dir / rundir.DONE
    if not done.is_file():
        return None
    try:
        record = atomic.read_json(done)
        if ignore:
            saved = atomic.read_json(fold_dir / rundir.FINGERPRINT)
            if record.get("fingerprint") != fingerprint_hash(saved) or _differing_keys(saved, task, ignore):
                return None
        elif record.get("fingerprint") != task.fingerprint_hash():
            return None
        return FoldResult(model=task.model, fold=task.fold, oof=np.load(fold_dir / rundir.FOLD_OOF),
                          test=np.load(fold_dir / rundir.FOLD_TEST),
                          history=atomic.read_json(fold_dir / rundir.HISTORY), metrics=record["metrics"], reused=True)
    except (OSError, ValueError, KeyError):
        return None  # damaged: retrain


def stranger(fold_dir: Path, task: FoldTask, ignore: tuple[str, ...] = ()) -> str | None:
    """Why the finished fold in ``fold_dir`` is not ``task``'s, in words (None: no finished fold there, or it is).
    Names the split and the code first: a fold of another split or trained by other code must never be mixed in."""
    try:
        if not (fold_dir / rundir.DONE).is_file():
            return None
        saved = atomic.read_json(fold_dir / rundir.FINGERPRINT)
    except (OSError, ValueError):
        return None
    differ = _differing_keys(saved, task, ignore)
    if not differ:
        return None
    if "split_sha256" in differ:
        return "it was trained on another split of the rows (another seed, or scikit-learn splitting differently)"
    if differ == ["code"]:
        return f"it was trained by other code (code {saved.get('code')}, this run's {code_version(task.model)})"
    return f"its settings differ in {', '.join(differ)}"


def _differing_keys(saved: dict, task: FoldTask, ignore: tuple[str, ...]) -> list[str]:
    """The fingerprint keys on which ``saved`` (a fold's fingerprint.json) and ``task``'s differ, less ``ignore``."""
    wanted = json.loads(json.dumps(task.fingerprint(), default=list))  # as fingerprint.json holds it
    return sorted(k for k in set(saved) | set(wanted) if k not in ignore and saved.get(k) != wanted.get(k))


def compile_for_training(name: str, hp: dict, augment: AugmentConfig, recipe: Recipe, steps_per_epoch: int,
                         seed: int, jit_compile: bool | str = JIT_COMPILE,
                         optimizer: keras.optimizers.Optimizer | None = None) -> keras.Model:
    """Model ``name`` with its augmentation, compiled with the recipe's optimizer (``optimizer``: one made by
    ``make_optimizer`` already, whose schedule variable the caller keeps), loss and ``jit_compile``.

    Call it inside ``distribution_scope()`` (the variables must belong to the strategy) after
    ``precision.fresh_session``. A fold trains what this returns, and the probe (probe.py) times what this
    returns, so the planner's speeds are the folds' own: same layers, precision, placement and compilation.
    """
    model = create_model(name, augmentation=build_augmentation(augment, seed=seed), **hp)
    optimizer = optimizer if optimizer is not None else make_optimizer(recipe, steps_per_epoch).optimizer
    model.compile(optimizer=precision.loss_scaled(optimizer), loss=make_loss(recipe), metrics=["accuracy"],
                  jit_compile=jit_compile)
    return model


def train_fold(task: FoldTask, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
               y_val: np.ndarray, x_test: np.ndarray, fold_dir: Path, verbose: int = 1,
               extra_callbacks: tuple = ()) -> FoldResult:
    """Fit ``task.model`` on the fold's training rows, then predict its held-out rows and test.csv.

    ``extra_callbacks``: more Keras callbacks for ``fit`` (cutoff.StopAtDeadline: an exception one raises leaves
    the fold unsaved)."""
    precision.fresh_session(task.precision)
    keras.utils.set_random_seed(task.fold_seed)
    spec = get_spec(task.model)
    recipe = task.recipe
    with distribution_scope():  # both GPUs of a Kaggle T4 x2 session; a no-op on one GPU or CPU
        steps_per_epoch = int(np.ceil(len(x_train) / recipe.batch_size))
        # made here, inside the scope, so that its schedule variable (a fold fitted to seconds) stays in hand
        optimization = make_optimizer(recipe, steps_per_epoch)
        model = compile_for_training(task.model, task.hp, task.augment, recipe, steps_per_epoch, task.fold_seed,
                                     optimizer=optimization.optimizer)
        y_train_1h = one_hot(y_train)
        validation = (x_val, one_hot(y_val)) if task.validate_each_epoch else None
        fingerprint = task.fingerprint()  # once: done.json must certify exactly what was recorded here
        atomic.write_json(fold_dir / rundir.FINGERPRINT, fingerprint)

        epochs = recipe.epochs
        if recipe.seconds:  # a planned fold: as many epochs as fit in its seconds (timefit.py), timed by the fitter
            epochs = epoch_cap(spec.recipe.epochs, recipe.epochs)
            timer = timefit.FitToSeconds(task.given_seconds or recipe.seconds, steps_per_epoch, recipe.epochs,
                                         optimization.schedule_length, epochs, planned_seconds=recipe.seconds)
        else:
            timer = timefit.EpochTimer()
        callbacks = [timer, keras.callbacks.TerminateOnNaN(),
                     *watchdog.callbacks(rundir.fold_name(task.member, task.fold)), *extra_callbacks]
        if recipe.early_stopping_patience is not None:  # as seed 000: EarlyStopping on val_loss, best weights not restored
            callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss" if validation else "loss",
                                                           patience=recipe.early_stopping_patience))
        start = time.perf_counter()
        history = model.fit(x_train, y_train_1h, batch_size=recipe.batch_size, epochs=epochs,
                            validation_data=validation, callbacks=callbacks, verbose=verbose)
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        oof = tta.predict(model, x_val, task.tta)
        test = tta.predict(model, x_test, task.tta)
        predict_seconds = time.perf_counter() - start
        watchdog.rest()

    epoch_seconds = [float(s) for s in timer.epoch_seconds]
    epochs_run = len(epoch_seconds)
    # the speed is whole epochs': the last one may have ended part-way (timefit.py)
    whole = [s for s, n in zip(epoch_seconds, timer.epoch_steps) if n == steps_per_epoch]
    steady = steady_epochs(whole)
    metrics = {
        "val_accuracy": float(np.mean(oof.argmax(1) == y_val)),
        "n_train": int(len(x_train)), "n_val": int(len(x_val)), "epochs": epochs_run,  # begun; the last maybe in part
        "steps": timer.steps, "steps_per_epoch": steps_per_epoch,
        "params": int(model.count_params()), "fit_seconds": fit_seconds, "predict_seconds": predict_seconds,
        # of fit_seconds: the first epoch's excess over the steady pace (per step: the last epoch may be in part)
        "tracing_seconds": tracing_seconds(epoch_seconds, timer.epoch_steps),
        "seconds_per_epoch": float(np.mean(steady)) if steady else None,
        "images_per_second": float(len(x_train) / np.mean(steady)) if steady else None,
        "view": spec.view, "backend": keras.backend.backend(),
    }
    hist = {k: [float(v) for v in values] for k, values in history.history.items()}
    result = FoldResult(task.model, task.fold, oof, test, hist, metrics)
    save_fold(fold_dir, fingerprint, result, model)
    return result


def save_fold(fold_dir: Path, fingerprint: dict, result: FoldResult, model: keras.Model | None = None) -> None:
    """A finished fold's files (what ``load_fold`` reads back), done.json last: it certifies the others."""
    atomic.write_json(fold_dir / rundir.HISTORY, result.history)
    atomic.save_npy(fold_dir / rundir.FOLD_OOF, result.oof)
    atomic.save_npy(fold_dir / rundir.FOLD_TEST, result.test)
    if model is not None:
        atomic.save_keras_model(fold_dir / rundir.MODEL, model)
    atomic.write_json(fold_dir / rundir.DONE, {"fingerprint": fingerprint_hash(fingerprint), "metrics": result.metrics})
