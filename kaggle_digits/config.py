"""The one place a run's settings live: each declared once, as a RunConfig field with its metadata.

A field made with ``setting(...)`` carries its CLI flag, help text, choices (``Literal[...]`` in the
annotation, or ``choices=`` for a registry such as the blends) and two facts about it:

* ``fingerprint=True``: it decides the fold results, so it enters ``training_fingerprint()`` (which
  run to resume) and, through ``fold_settings()``, every fold's fingerprint (which folds to reuse);
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
import hashlib
import json
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kaggle_digits.ensemble import BLENDS
from kaggle_digits.errors import ConfigError

DEFAULT_MODELS = ("cnn", "cnn_gru")

# Named starting points; a TOML file and flags given with a preset override its values.
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"minutes": 15.0},  # the best plan for 15 minutes on this machine
    "full": {"full": True},  # every model's full recipe, 5 folds, whatever the machine
}


def setting(default: Any = dataclasses.MISSING, *, flag: str | None = None, help: str = "",  # noqa: A002
            fingerprint: bool = False, local: bool = False, choices: Any = None, parse: Any = None,
            metavar: str | None = None, default_factory: Any = dataclasses.MISSING) -> Any:
    """A settings field. ``flag``: its CLI option (a bool field's flag flips its default); ``parse``: text ->
    value for the flag (default: from the annotation); ``choices``: allowed values (default: the
    annotation's ``Literal``); ``fingerprint`` / ``local``: see the module docstring."""
    metadata = {"flag": flag, "help": help, "fingerprint": fingerprint, "local": local, "choices": choices,
                "parse": parse, "metavar": metavar}
    return field(default=default, default_factory=default_factory, metadata=metadata)


def parse_model_list(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def parse_model_epochs(text: str) -> dict[str, int]:
    try:  # cnn=9,cnn_gru=6 -> {"cnn": 9, "cnn_gru": 6}
        pairs = [item.split("=") for item in text.split(",") if item.strip()]
        return {name.strip(): int(epochs) for name, epochs in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected model=epochs pairs like cnn=9,cnn_gru=6 -- got {text!r}") from None


def parse_fold_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(f) for f in text.split(",") if f.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected fold ids like 0,2 -- got {text!r}") from None


@dataclass
class AugmentConfig:
    """Random affine jitter applied inside the training graph (inactive at inference)."""

    enabled: bool = setting(True, flag="--no-augment", help="train without rotation/zoom/shift augmentation")
    kind: str = setting("affine", flag="--augmentation", metavar="NAME",
                        help="augmentation: affine = one fused random rotation/zoom/shift warp per batch, "
                             "keras_layers = Keras' three random layers (see kaggle_digits/augment.py)")
    rotation_deg: float = setting(10.0, flag="--rotation", metavar="DEG", help="max random rotation in degrees")
    zoom: float = setting(0.10, flag="--zoom", metavar="F", help="max random zoom as a fraction")
    shift: float = setting(0.10, flag="--shift", metavar="F", help="max random shift as a fraction")

    def validate(self) -> None:
        if not 0 <= self.rotation_deg <= 180:
            raise ConfigError(f"augment.rotation_deg must be in 0..180 degrees, got {self.rotation_deg}")
        for name in ("zoom", "shift"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise ConfigError(f"augment.{name} must be a fraction in [0, 1), got {value}")


@dataclass
class RunConfig:
    # inputs
    data: str | None = setting(
        None, flag="--data", metavar="PATH", fingerprint=True, local=True,
        help="folder or digit-recognizer.zip (default: ./data, ./digit-recognizer.zip, else the bundled sample)")
    max_train_rows: int | None = setting(None, flag="--max-train-rows", metavar="N", fingerprint=True,
                                         help="train on a stratified subset of N rows (quick runs)")
    # models and folds
    models: tuple[str, ...] = setting(DEFAULT_MODELS, flag="--models", parse=parse_model_list, metavar="A,B",
                                      fingerprint=True, help="models to train and average (see --list-models)")
    folds: int = setting(5, flag="--folds", fingerprint=True, help="number of stratified folds")
    seed: int = setting(42, flag="--seed", fingerprint=True,
                        help="seed for the subset, folds, weights and augmentation")
    only_folds: tuple[int, ...] | None = setting(
        None, flag="--only-folds", parse=parse_fold_list, metavar="0,2",
        help="train only these folds (0-based, as the fold0.. folders); the ensemble and submission follow "
             "once every fold is in the run folder")
    # overrides of the per-model recipes (None = each model's own default)
    epochs: int | None = setting(None, flag="--epochs", fingerprint=True,
                                 help="epochs for every model (default: each model's recipe)")
    model_epochs: dict | None = setting(None, flag="--model-epochs", parse=parse_model_epochs, metavar="M=E,..",
                                        fingerprint=True, help="epochs per model, e.g. cnn=9,cnn_gru=6")
    batch_size: int | None = setting(None, flag="--batch-size", fingerprint=True,
                                     help="batch size for every model (default: each model's recipe)")
    learning_rate: float | None = setting(None, flag="--learning-rate", metavar="LR", fingerprint=True,
                                          help="peak learning rate for every model (default: each model's recipe)")
    augment: AugmentConfig = setting(default_factory=AugmentConfig, fingerprint=True)
    tta: bool = setting(False, flag="--tta", fingerprint=True,
                        help="test-time augmentation: average OOF and test predictions over the image and its "
                             "four 1-pixel shifts (5x prediction time)")
    # ensembling
    weights: str = setting("calibrated", flag="--weights", choices=BLENDS.keys(),
                           help="the blend that makes the submission: calibrated = probability average after one "
                                "OOF-fitted temperature per model, equal = plain probability average, oof = "
                                "log-probability blend with weights fitted on OOF probabilities (all are scored)")
    # time and numbers
    minutes: float | None = setting(None, flag="--minutes", metavar="M", help="plan the run for about M minutes "
                                    "here (CPU-only default: 20, 2 on the sample; see README)")
    full: bool = setting(False, flag="--full", help="every model's full recipe, also on a CPU (default with a GPU)")
    precision: Literal["auto", "float32", "bfloat16", "float16"] = setting(
        "auto", flag="--precision", help="auto: bf16 where GPU/CPU has it, fp16 on T4/P100")
    # outputs
    submissions_dir: str = setting("submissions", flag="--submissions-dir", metavar="DIR", local=True,
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
    validate_each_epoch: bool = setting(True, flag="--no-val-curves", fingerprint=True,
                                        help="skip scoring the held-out fold after each epoch")
    ensemble_only: bool = setting(
        False, flag="--ensemble-only", local=True,
        help="train nothing: ensemble the fold results already in --run-dir (e.g. gathered from Kaggle "
             "kernels; their code version and backend may differ)")
    report: bool = setting(True, flag="--no-report",
                           help="skip writing report.html and its figures into the run folder (make it later "
                                "with scripts/report.py RUN_DIR)")
    debug: bool = setting(False, flag="--debug", local=True, help="show full tracebacks")
    preset: str | None = setting(None, flag="--preset", choices=PRESETS.keys(),
                                 help="start from a named configuration: quick = --minutes 15, full = --full; flags given here win")

    def __post_init__(self) -> None:
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig(**self.augment)
        if isinstance(self.models, str):
            self.models = parse_model_list(self.models)
        self.models = tuple(self.models)
        if self.only_folds is not None:
            self.only_folds = tuple(self.only_folds)

    def validate(self) -> "RunConfig":
        from kaggle_digits.models import list_models

        unknown = [m for m in self.models if m not in list_models()]
        if unknown:
            raise ConfigError(f"unknown model(s) {', '.join(unknown)}; choose from: "
                              f"{', '.join(list_models())} (see --list-models)")
        if not self.models:
            raise ConfigError("no models given: pass e.g. --models cnn,cnn_gru")
        if len(set(self.models)) != len(self.models):
            raise ConfigError(f"a model is listed twice in --models {','.join(self.models)}")
        if self.folds < 2:
            raise ConfigError(f"--folds must be at least 2 (k-fold needs a held-out fold), got {self.folds}")
        for name in ("epochs", "batch_size", "max_train_rows"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
        if self.minutes is not None and not self.minutes > 0:
            raise ConfigError(f"--minutes must be positive, got {self.minutes}")
        if self.model_epochs is not None:
            bad = {m: e for m, e in self.model_epochs.items() if m not in self.models or not isinstance(e, int) or e < 1}
            if bad:
                raise ConfigError(f"--model-epochs {bad}: expected a positive whole number of epochs for models "
                                  f"among --models {','.join(self.models)}")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ConfigError(f"--learning-rate must be positive, got {self.learning_rate}")
        for s in settings():
            allowed, value = s.choices, s.get(self)
            if allowed is not None and value is not None and value not in allowed:
                raise ConfigError(f"{s.flag or s.name} must be one of {', '.join(map(str, allowed))}; got {value!r}")
        if self.only_folds is not None:
            bad = [f for f in self.only_folds if not isinstance(f, int) or not 0 <= f < self.folds]
            if bad or not self.only_folds or len(set(self.only_folds)) != len(self.only_folds):
                raise ConfigError(f"--only-folds {','.join(map(str, self.only_folds))}: expected distinct fold ids "
                                  f"0..{self.folds - 1} (0-based, as the fold0.. folders)")
        self.augment.validate()
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
        return hashlib.sha256(json.dumps(subset, sort_keys=True).encode()).hexdigest()[:16]

    def fold_settings(self, spelled_out: typing.Iterable[str]) -> dict[str, Any]:
        """The fingerprinted settings a FoldTask does not spell out as its own fields (FoldTask.settings)."""
        values = self.to_dict()
        return {f.name: values[f.name] for f in dataclasses.fields(self)
                if f.metadata.get("fingerprint") and f.name not in spelled_out}

    def kernel_settings(self) -> dict[str, Any]:
        """The settings sent to a Kaggle kernel: everything not ``local`` to this machine."""
        return kernel_settings(self.to_dict(), type(self))


def kernel_settings(values: dict[str, Any], cls: type = RunConfig) -> dict[str, Any]:
    local = {f.name for f in dataclasses.fields(cls) if f.metadata.get("local")}
    return {k: v for k, v in values.items() if k not in local}


def non_default(values: dict[str, Any], cls: type = RunConfig) -> dict[str, Any]:
    """The entries of ``values`` that differ from ``cls``'s defaults: what a fold fingerprint records of
    FoldTask.settings, so a setting added later changes no earlier fold's fingerprint until it is used."""
    defaults = {f.name: _default(f) for f in dataclasses.fields(cls)}
    return {k: v for k, v in values.items() if k not in defaults or v != defaults[k]}


def _default(f: dataclasses.Field) -> Any:
    value = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


# --------------------------------------------------------------------------- settings as the CLI sees them
@dataclass(frozen=True)
class Setting:
    """A field of RunConfig, or of a nested settings table such as ``augment``, with its metadata."""

    path: tuple[str, ...]   # ("folds",) or ("augment", "zoom")
    spec: dataclasses.Field
    type: Any               # the resolved annotation

    @property
    def name(self) -> str:
        return ".".join(self.path)

    @property
    def dest(self) -> str:
        return "__".join(self.path)

    @property
    def flag(self) -> str | None:
        return self.spec.metadata.get("flag")

    @property
    def local(self) -> bool:
        return bool(self.spec.metadata.get("local"))

    @property
    def default(self) -> Any:
        return _default(self.spec)

    @property
    def choices(self) -> tuple | None:
        given = self.spec.metadata.get("choices")
        literal = [a for a in _unwrap_optional(self.type) if typing.get_origin(a) is Literal]
        if given is None and literal:
            given = typing.get_args(literal[0])
        return tuple(given) if given is not None else None

    def get(self, cfg: Any) -> Any:
        for part in self.path:
            cfg = getattr(cfg, part)
        return cfg

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        meta, default = self.spec.metadata, self.default
        text = meta.get("help", "")
        if default is not None and not isinstance(default, bool) and "default:" not in text:
            shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
            text += f" (default: {shown})"
        if self.type is bool:
            parser.add_argument(self.flag, dest=self.dest, action="store_const", const=not default, default=None,
                                help=text)
            return
        base = [a for a in _unwrap_optional(self.type) if a in (int, float, str)]
        choices = self.choices
        parse = meta.get("parse") or (base[0] if base else type(choices[0]) if choices else str)
        parser.add_argument(self.flag, dest=self.dest, type=parse, choices=choices, metavar=meta.get("metavar"),
                            default=None, help=text)


def _unwrap_optional(annotation: Any) -> tuple:
    args = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, _UnionType) else ()
    return tuple(a for a in args if a is not type(None)) or (annotation,)


_UnionType = type(int | None)


def settings(cls: type = RunConfig, prefix: tuple[str, ...] = ()) -> list[Setting]:
    """Every setting of ``cls``, nested tables (dataclass-typed fields) expanded, in declaration order."""
    hints = typing.get_type_hints(cls, include_extras=True)
    out = []
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            out += settings(hints[f.name], prefix + (f.name,))
        else:
            out.append(Setting(prefix + (f.name,), f, hints[f.name]))
    return out


def add_arguments(parser: argparse.ArgumentParser, cls: type = RunConfig) -> argparse.ArgumentParser:
    """Every flagged setting as an option (default None: not given), plus --config TOML."""
    parser.add_argument("--config", metavar="TOML", help="read settings from a TOML file with RunConfig's keys "
                        "(a run's own config.toml works); flags given here win")
    for s in settings(cls):
        if s.flag:
            s.add_to(parser)
    return parser


def from_args(args: argparse.Namespace, cls: type = RunConfig) -> RunConfig:
    """A preset, then a TOML file, then the flags given: each later one wins."""
    preset = getattr(args, "preset", None)
    values = {**PRESETS[preset], "preset": preset} if preset else {}
    values.update(load_toml(args.config, cls) if getattr(args, "config", None) else {})
    for s in settings(cls):
        given = getattr(args, s.dest, None)
        if given is None:
            continue
        table = values
        for part in s.path[:-1]:
            table[part] = dict(table.get(part, {}))
            table = table[part]
        table[s.path[-1]] = given
    return cls(**values)


# --------------------------------------------------------------------------- TOML
def load_toml(path: str | Path, cls: type = RunConfig) -> dict[str, Any]:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(known))}")
    if "augment" in data:
        aug_known = {f.name for f in dataclasses.fields(AugmentConfig)}
        bad = sorted(set(data["augment"]) - aug_known)
        if bad:
            raise ConfigError(f"{path}: unknown key(s) in [augment]: {', '.join(bad)}; "
                              f"expected some of {', '.join(sorted(aug_known))}")
    return data


def dict_to_toml(data: dict[str, Any]) -> str:
    """A small TOML writer for this flat config (tomllib reads TOML but the stdlib cannot write it)."""
    scalars, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif value is not None:
            scalars.append(f"{key} = {_toml_value(value)}")
        else:
            scalars.append(f"# {key} = (unset)")
    lines = scalars
    for key, table in tables:
        lines += ["", f"[{key}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))
