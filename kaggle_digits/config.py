"""The one place a run's settings live: a dataclass that a TOML file and CLI flags both map onto.

Per-model training recipes (optimizer, epochs, batch size...) come from the model registry; the
fields here that default to ``None`` override every model's recipe when set.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kaggle_digits.errors import ConfigError

DEFAULT_MODELS = ("cnn", "cnn_gru")

# Named starting points; a TOML file and flags given with a preset override its values.
PRESETS: dict[str, dict[str, Any]] = {
    # 2 CPU cores, under 20 minutes: 3 folds of both kit models, 15 epochs, no per-epoch validation,
    # the OOF-fitted log-probability blend.
    "quick": {"folds": 3, "epochs": 15, "models": DEFAULT_MODELS, "validate_each_epoch": False, "weights": "oof"},
}


@dataclass
class AugmentConfig:
    """Random affine jitter applied inside the training graph (inactive at inference)."""

    enabled: bool = True
    kind: str = "affine"          # a name in augment.list_augmentations()
    rotation_deg: float = 10.0
    zoom: float = 0.10
    shift: float = 0.10

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
    data: str | None = None            # folder or zip; None = data/ then the bundled sample
    max_train_rows: int | None = None  # stratified subset of train.csv, for quick runs
    # models and folds
    models: tuple[str, ...] = DEFAULT_MODELS
    folds: int = 5
    seed: int = 42
    only_folds: tuple[int, ...] | None = None  # train just these folds (0-based, as fold0..); others are reused
    # overrides of the per-model recipes (None = each model's own default)
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    tta: bool = False                  # average predictions over fixed 1-pixel shifts (tta.SHIFTS)
    # ensembling
    weights: str = "equal"             # "equal" or "oof" (fitted on out-of-fold probabilities)
    # outputs
    submissions_dir: str = "submissions"
    run_dir: str | None = None         # default: <submissions_dir>/<timestamp>-<models>
    out: str | None = None             # extra copy of submission.csv; refused if it exists
    force: bool = False                # let --out replace an existing file
    fresh: bool = False                # never resume an unfinished run
    # behaviour
    verbose: int = 1                   # Keras progress: 0 silent, 1 bars, 2 a line per epoch
    validate_each_epoch: bool = True   # score the held-out fold after every epoch (learning curves)
    ensemble_only: bool = False        # train nothing: ensemble the fold results already in the run folder
    report: bool = True                # write report.html + figures into the run folder at the end
    debug: bool = False
    preset: str | None = None          # the PRESETS entry this configuration started from (a record)

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
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ConfigError(f"--learning-rate must be positive, got {self.learning_rate}")
        if self.weights not in ("equal", "oof"):
            raise ConfigError(f"--weights must be 'equal' or 'oof', got {self.weights!r}")
        if self.verbose not in (0, 1, 2):
            raise ConfigError(f"verbose must be 0, 1 or 2, got {self.verbose}")
        if self.only_folds is not None:
            bad = [f for f in self.only_folds if not isinstance(f, int) or not 0 <= f < self.folds]
            if bad or not self.only_folds or len(set(self.only_folds)) != len(self.only_folds):
                raise ConfigError(f"--only-folds {','.join(map(str, self.only_folds))}: expected distinct fold ids "
                                  f"0..{self.folds - 1} (0-based, as the fold0.. folders)")
        self.augment.validate()
        return self

    # --- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        return dict_to_toml(self.to_dict())

    def training_fingerprint(self) -> str:
        """What decides the fold results (not where outputs go): same value, same folds."""
        keys = ("data", "max_train_rows", "models", "folds", "seed", "epochs", "batch_size",
                "learning_rate", "augment", "validate_each_epoch", "tta")
        subset = {k: self.to_dict()[k] for k in keys}
        return hashlib.sha256(json.dumps(subset, sort_keys=True).encode()).hexdigest()[:16]


def parse_model_list(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def load_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    known = {f.name for f in dataclasses.fields(RunConfig)}
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
