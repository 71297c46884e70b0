"""The one place a run's settings live: each declared once, as a RunConfig field with its metadata.

A field made with ``setting(...)`` carries its CLI flag, help text, choices (``Literal[...]`` in the
annotation, or ``choices=`` for a registry such as the blends) and two facts about it:

* ``fingerprint=True``: it decides the fold results, so it enters ``training_fingerprint()`` (which
  run to resume) and every fold's fingerprint (which folds to reuse): through ``fold_settings()``, or,
  with ``in_fold="field"``, through the train.FoldTask field that records it in its own form (``epochs``
  as the fold's ``recipe``, ``data`` as ``data_sha256``), so that folds trained elsewhere (Kaggle
  kernels: another data path, a subset of the models) still match;
* ``local=True``: it describes this machine (paths, output handling), so it is never sent to a
  Kaggle kernel and ``push`` refuses its flag.

The CLI parser (``add_arguments`` / ``from_args``), TOML files, the kernel's settings and the
fingerprints all derive from these fields; adding a setting is one line in RunConfig. Per-model
training recipes (optimizer, epochs, batch size...) come from the model registry; the fields here
that default to ``None`` override every model's recipe when set.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kaggle_digits import options
from kaggle_digits.scoring.ensemble import AUTO, blend_choices
from kaggle_digits.errors import ConfigError
from kaggle_digits.fingerprint import digest
from kaggle_digits.options import POSITIVE, POSITIVE_INT, Interval, Setting, dict_to_toml, setting

DEFAULT_MODELS = ("cnn", "cnn_gru")
DEFAULT_SUBMISSIONS = "submissions"  # the default --submissions-dir, relative to where the kit runs

# Named starting points; a TOML file and flags given with a preset override its values.
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"minutes": 15.0},  # the best plan for 15 minutes on this machine
    "full": {"full": True},  # every model's full recipe, 5 folds, whatever the machine
}


def parse_model_list(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _model_pairs(text: str, kind: type, example: str) -> dict:
    """``cnn=9,cnn_gru=6`` -> {"cnn": kind("9"), "cnn_gru": kind("6")}; an argparse error naming ``example`` else."""
    try:
        pairs = [item.split("=") for item in text.split(",") if item.strip()]
        return {name.strip(): kind(value) for name, value in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected model=value pairs like {example} -- got {text!r}") from None


def parse_model_epochs(text: str) -> dict[str, int]:
    return _model_pairs(text, int, "cnn=9,cnn_gru=6")


def parse_model_seconds(text: str) -> dict[str, float]:
    return _model_pairs(text, float, "cnn_fast=160,cnn_gru=200")


def parse_fold_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(f) for f in text.split(",") if f.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected fold ids like 0,2 -- got {text!r}") from None


FRACTION = Interval(0, 1, closed="left", what="a fraction in [0, 1)")


@dataclass(frozen=True)
class AugmentConfig:
    """Random affine jitter applied inside the training graph (inactive at inference)."""

    enabled: bool = setting(True, flag="--no-augment", help="train without rotation/zoom/shift augmentation")
    kind: str = setting("affine", flag="--augmentation", metavar="NAME",
                        help="augmentation: affine = one fused random rotation/zoom/shift warp per batch, "
                             "keras_layers = Keras' three random layers (see kaggle_digits/models/augment.py)")
    rotation_deg: float = setting(10.0, flag="--rotation", metavar="DEG", help="max random rotation in degrees",
                                  interval=Interval(0, 180, what="0 to 180 degrees"))
    zoom: float = setting(0.10, flag="--zoom", metavar="F", help="max random zoom as a fraction", interval=FRACTION)
    shift: float = setting(0.10, flag="--shift", metavar="F", help="max random shift as a fraction", interval=FRACTION)


@dataclass(frozen=True)
class RunConfig:
    """A run's settings. Frozen: validated once at the boundary (flags, TOML, kernel settings, make_submission),
    planned once (budget.planned_config returns a new one), and never changed after -- so every module reads the
    same run."""

    # inputs
    data: str | None = setting(
        None, flag="--data", metavar="PATH", fingerprint=True, local=True, in_fold="data_sha256",
        help="folder or digit-recognizer.zip (default: ./data, ./digit-recognizer.zip, else the bundled sample)")
    max_train_rows: int | None = setting(None, flag="--max-train-rows", metavar="N", fingerprint=True,
                                         in_fold="rows_sha256", interval=POSITIVE_INT,
                                         help="train on a stratified subset of N rows (quick runs)")
    # models and folds
    models: tuple[str, ...] = setting(DEFAULT_MODELS, flag="--models", parse=parse_model_list, metavar="A,B",
                                      fingerprint=True, in_fold="model", help="models to train and average (see --list-models)")
    folds: int = setting(5, flag="--folds", fingerprint=True, in_fold="n_folds", help="number of stratified folds",
                         interval=Interval(2, None, what="2 or more (k-fold needs a held-out fold)"))
    seed: int = setting(42, flag="--seed", fingerprint=True, in_fold="seed",
                        interval=Interval(0, 2**32 - 1, what="a whole number from 0 to 2**32 - 1 (numpy's seeds)"),
                        help="seed for the subset, folds, weights and augmentation")
    # each member after the first is the model again on its own split (competition/folds.py): one more seed's
    # folds. Recorded in each fold as its member's seed and split (FoldTask.seed, split_sha256)
    seeds: int = setting(1, flag="--seeds", metavar="N", fingerprint=True, in_fold="seed", interval=POSITIVE_INT,
                         help="ensemble members per model: each trains every fold of its own split (repeated "
                              "stratified k-fold, seeds SEED, SEED+1, ...), so the ensemble's OOF stays honest; "
                              "--minutes plans choose it")
    only_folds: tuple[int, ...] | None = setting(
        None, flag="--only-folds", parse=parse_fold_list, metavar="0,2",
        help="train only these folds (0-based, as the fold0.. folders); the ensemble and submission follow "
             "once every fold is in the run folder")
    # not fingerprinted: fold 0 trains as it would in the full k-fold run, which reuses it
    holdout: bool = setting(False, flag="--holdout",
                            help="train fold 0 only and make the submission from it, scored on its held-out rows "
                                 "(a notebook's validation split; --minutes plans it when two folds would get too "
                                 "few epochs)")
    # overrides of the per-model recipes (None = each model's own default)
    epochs: int | None = setting(None, flag="--epochs", fingerprint=True, in_fold="recipe", interval=POSITIVE_INT,
                                 help="epochs for every model (default: each model's recipe)")
    model_epochs: dict | None = setting(None, flag="--model-epochs", parse=parse_model_epochs, metavar="M=E,..",
                                        fingerprint=True, in_fold="recipe", interval=POSITIVE_INT,
                                        help="epochs per model, e.g. cnn=9,cnn_gru=6")
    model_seconds: dict[str, float] | None = setting(
        None, flag="--model-seconds", parse=parse_model_seconds, metavar="M=S,..", fingerprint=True, in_fold="recipe",
        interval=POSITIVE,
        help="seconds of training per fold and model, e.g. cnn_fast=160: each fold then trains the epochs that fit "
             "(its epochs are the first guess; --minutes plans set this)")
    batch_size: int | None = setting(None, flag="--batch-size", fingerprint=True, in_fold="recipe", interval=POSITIVE_INT,
                                     help="batch size for every model (default: each model's recipe)")
    learning_rate: float | None = setting(None, flag="--learning-rate", metavar="LR", fingerprint=True,
                                          in_fold="recipe", interval=POSITIVE,
                                          help="peak learning rate for every model (default: each model's recipe)")
    augment: AugmentConfig = setting(default_factory=AugmentConfig, fingerprint=True, in_fold="augment")
    tta: bool = setting(False, flag="--tta", fingerprint=True, in_fold="tta",
                        help="test-time augmentation: average OOF and test predictions over the image and its "
                             "four 1-pixel shifts (5x prediction time)")
    pseudo_label: float | None = setting(
        None, flag="--pseudo-label", metavar="P", fingerprint=True, in_fold="pseudo",
        interval=Interval(0.5, 1, closed="left", what="a probability in [0.5, 1)"),
        help="a second round: each fold also trains on the test images its own first-round models labelled with "
             "probability >= P (0.5 <= P < 1); the second round's models join the ensemble (see docs/options.md)")
    # ensembling
    blend: str = setting(AUTO, flag="--blend", choices=blend_choices(), metavar="NAME",
                           help="the blend that makes the submission: auto = whichever of the blends and the "
                                "models alone scores best on OOF rows (never below the best model); calibrated = "
                                "probability average after one OOF-fitted temperature per model; weighted = the same "
                                "with fitted weights; equal = plain probability average; oof = log-probability blend "
                                "with fitted weights (every blend is scored, cross-fitted, in ensemble.json)")
    # time and numbers
    minutes: float | None = setting(None, flag="--minutes", metavar="M", interval=POSITIVE, help="plan the run for about M minutes "
                                    "here (CPU-only default: 20, 2 on the sample; see README)")
    full: bool = setting(False, flag="--full", help="every model's full recipe, also on a CPU (default with a GPU)")
    precision: Literal["auto", "float32", "bfloat16", "float16"] = setting(
        "auto", flag="--precision", help="auto: bf16 where GPU/CPU has it, fp16 on T4")
    workers: int | None = setting(None, flag="--workers", metavar="N", local=True, interval=POSITIVE_INT,
                                  help="folds trained at once, one process each (default: one per CPU core on a "
                                       "CPU-only machine for full-data runs, else 1)")
    # outputs
    submissions_dir: str = setting(DEFAULT_SUBMISSIONS, flag="--submissions-dir", metavar="DIR", local=True,
                                   help="where run folders go")
    run_dir: str | None = setting(None, flag="--run-dir", metavar="DIR", local=True,
                                  help="run folder (default: <submissions-dir>/<time>-<models>; a run of the same "
                                       "configuration is resumed, or reused when finished)")
    out: str | None = setting(None, flag="--out", metavar="FILE", local=True,
                              help="also write the submission to FILE (refused if it exists)")
    force: bool = setting(False, flag="--force", local=True, help="let --out replace an existing FILE")
    fresh: bool = setting(False, flag="--fresh", local=True,
                          help="start a new run instead of resuming or reusing one")
    # behaviour
    verbose: Literal[0, 1, 2] = setting(1, flag="--verbose",
                                        help="Keras progress: 0 none, 1 bars, 2 a line per epoch")
    validate_each_epoch: bool = setting(True, flag="--no-val-curves", fingerprint=True, in_fold="validate_each_epoch",
                                        help="skip scoring the held-out fold after each epoch")
    ensemble_only: bool = setting(
        False, flag="--ensemble-only", local=True,
        help="train nothing: ensemble the fold results already in --run-dir (e.g. gathered from Kaggle "
             "kernels; their code version and backend may differ)")
    report: bool = setting(True, flag="--no-report",
                           help="skip writing report.html and its figures into the run folder (make it later "
                                "with kaggle-digits report RUN_DIR)")
    debug: bool = setting(False, flag="--debug", local=True, help="show full tracebacks")
    preset: str | None = setting(None, flag="--preset", choices=PRESETS.keys(),
                                 help="start from a named configuration: quick = --minutes 15, full = --full; flags given here win")

    def __post_init__(self) -> None:  # TOML and JSON give lists and tables: the fields' own types, once
        if isinstance(self.augment, dict):
            object.__setattr__(self, "augment", AugmentConfig(**self.augment))
        models = parse_model_list(self.models) if isinstance(self.models, str) else self.models
        object.__setattr__(self, "models", tuple(models))
        if self.only_folds is not None:
            object.__setattr__(self, "only_folds", tuple(self.only_folds))

    def validate(self) -> "RunConfig":
        """Every value checked before any work: its type and choices, then ranges, names and how settings fit
        together. ConfigError, in one line saying what was found and what is allowed, on the first bad one."""
        # the registries config checks names against live below it, in models/ (the networks and the in-graph
        # augmentation they run); imported here, not at the top: they load Keras, and --help needs none
        from kaggle_digits.models import list_models
        from kaggle_digits.models.augment import list_augmentations

        for s in settings():
            value = s.get(self)
            if value is not None:
                # a nested table's setting is named by its flag and its TOML key: --zoom (augment.zoom)
                s.check(value, f"{s.flag} ({s.name})" if s.flag and len(s.path) > 1 else
                        s.flag or f"[{s.path[0]}] {s.path[-1]}")
        unknown = [m for m in self.models if m not in list_models()]
        if unknown:
            raise ConfigError(f"--models: unknown model(s) {', '.join(unknown)}; choose from "
                              f"{', '.join(list_models())} (see --list-models)")
        if not self.models:
            raise ConfigError("--models is empty; give at least one, e.g. --models cnn,cnn_gru")
        if len(set(self.models)) != len(self.models):
            raise ConfigError(f"--models {','.join(self.models)} lists a model twice; give each once")
        # types, choices and each setting's declared interval were checked above (options.Setting.check);
        # what follows relates settings to each other or to registries
        for name, flag in (("model_epochs", "--model-epochs"), ("model_seconds", "--model-seconds")):
            table = getattr(self, name)
            if table is not None and (bad := sorted(m for m in table if m not in self.models)):
                raise ConfigError(f"{flag} names {', '.join(bad)}, not among --models {','.join(self.models)}")
        if self.only_folds is not None:
            bad = [f for f in self.only_folds if not 0 <= f < self.folds]
            if bad or not self.only_folds or len(set(self.only_folds)) != len(self.only_folds):
                raise ConfigError(f"--only-folds {','.join(map(str, self.only_folds))}: expected distinct fold ids "
                                  f"0..{self.folds - 1} (0-based, as the fold0.. folders)")
        if self.holdout and self.seeds > 1:
            raise ConfigError(f"--holdout trains fold 0 of one split; --seeds {self.seeds} needs every fold of "
                              f"{self.seeds} splits (drop one of them)")
        if self.holdout and self.only_folds is not None:
            raise ConfigError("--holdout trains fold 0 only; it cannot be combined with --only-folds")
        if self.augment.kind not in list_augmentations():
            raise ConfigError(f"--augmentation is {self.augment.kind!r}; choose from "
                              f"{', '.join(list_augmentations())}")
        if self.data is not None and not Path(self.data).exists():
            raise ConfigError(f"--data {self.data}: no such file or folder; give the folder holding train.csv and "
                              f"test.csv, or digit-recognizer.zip")
        return self

    # --- serialisation and fingerprints ----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        return dict_to_toml(self.to_dict())

    def training_fingerprint(self) -> str:
        """What decides the fold results (not where outputs go): same value, same folds."""
        values = self.to_dict()
        subset = {f.name: values[f.name] for f in dataclasses.fields(self) if f.metadata.get("fingerprint")}
        return digest(subset, 16)

    def fold_settings(self) -> dict[str, Any]:
        """The fingerprinted settings no FoldTask field records (``in_fold``): FoldTask.settings."""
        values = self.to_dict()
        return {f.name: values[f.name] for f in dataclasses.fields(self)
                if f.metadata.get("fingerprint") and not f.metadata.get("in_fold")}

    def kernel_settings(self) -> dict[str, Any]:
        """The settings sent to a Kaggle kernel: everything not ``local`` to this machine."""
        return kernel_settings(self.to_dict(), type(self))


def kernel_settings(values: dict[str, Any], cls: type = RunConfig) -> dict[str, Any]:
    local = {f.name for f in dataclasses.fields(cls) if f.metadata.get("local")}
    return {k: v for k, v in values.items() if k not in local}



# --------------------------------------------------------------------------- RunConfig's flags and TOML (options.py)
def settings(cls: type = RunConfig, prefix: tuple[str, ...] = ()) -> list[Setting]:
    """Every setting of ``cls``, nested tables (dataclass-typed fields) expanded, in declaration order."""
    return options.settings(cls, prefix)


def add_arguments(parser: argparse.ArgumentParser, cls: type = RunConfig) -> argparse.ArgumentParser:
    """Every flagged setting as an option (default None: not given), plus --config TOML."""
    return options.add_arguments(parser, cls)


def load_toml(path: str | Path, cls: type = RunConfig) -> dict[str, Any]:
    return options.read_toml(path, cls)


def from_args(args: argparse.Namespace, cls: type = RunConfig) -> RunConfig:
    """A preset, then a TOML file, then the flags given: each later one wins."""
    preset = getattr(args, "preset", None)
    return options.from_args(args, cls, {**PRESETS[preset], "preset": preset} if preset else {})
