"""Model registry: ``create_model(name, **hp)`` / ``list_models()``, one family per module.

A model's entry (``ModelSpec``) holds every fact about it, the time-budget planner's included: its measured
error curve, the cheaper model that plans in its place, whether it is the model for short budgets. So a
new model, with its accuracy curve, is a change under models/ only (``error_curves()``, ``stand_ins()``,
``fallback_model()`` are the planner's view; ``temporary_model`` registers one for a with-block).

Every registered model takes the kit's common input -- a uint8 batch shaped (n, 28, 28, 1) -- and
returns (n, 10) softmax probabilities. The wrapper added here rescales pixels, runs the optional
augmentation block (augment.py, its own registry; active only in training) and reshapes to the view the family
expects, so the registered builders hold only their own layers and their parameter counts match the sources.
Each model registers its training ``Recipe`` (recipe.py: data, no Keras; training/recipe.py makes the optimizer).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable

import keras
from keras import layers

from kaggle_digits.competition.digits import IMAGE_SHAPE
from kaggle_digits.errors import ConfigError
from kaggle_digits.models.recipe import Recipe

VIEWS = {
    "image": ("28x28x1 image", lambda x: x),
    "sequence": ("28x28 sequence of rows", lambda x: layers.Reshape(IMAGE_SHAPE[:2], name="rows")(x)),
    "flat": ("flat 784 vector", lambda x: layers.Flatten(name="flat")(x)),
}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable  # builder(x, **hp) -> output tensor
    view: str = "image"
    recipe: Recipe = field(default_factory=Recipe)
    hp: dict = field(default_factory=dict)
    input_scale: float = 1 / 255  # 1.0 for sources that trained on raw 0..255 pixels
    source: str = ""
    reported_accuracy: float | None = None  # percent, as the source reports it
    stated_params: int | None = None
    summary: str = ""
    # Facts the time-budget planner (planner.py) asks of the model. error_curve: (a, b), its OOF error in percent
    # after E epochs with augmentation on 4/5 of the 42,000 rows is a + b / E, least squares over the kit's own
    # full-data runs (benchmarks/planner/README.md, "Accuracy against epochs"); None where not measured (the
    # planner then pairs by epoch count).
    error_curve: tuple[float, float] | None = None
    # member_floor: f of the ensemble-gain curve, n members (seeds, each on its own split) leaving f + (1 - f) / n of
    # one member's OOF error (planning/members.py); None where not measured (the fallback model's then applies)
    member_floor: float | None = None
    stand_in: str | None = None  # the cheaper model a plan trains in this one's place when its own gets too few epochs
    fallback: bool = False  # the model for budgets too short for any ensemble: exactly one registered model

    @property
    def view_description(self) -> str:
        return VIEWS[self.view][0]


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str, **spec_fields) -> Callable:
    """Decorator: ``@register_model("cnn", view="image", recipe=Recipe(...))`` on a builder."""
    def decorate(builder: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        if spec_fields.get("view", "image") not in VIEWS:
            raise ValueError(f"model {name!r}: unknown view {spec_fields['view']!r}")
        _check_planner_facts(name, spec_fields)
        summary = spec_fields.pop("summary", None) or ((builder.__doc__ or "").strip().splitlines() or [name])[0]
        _REGISTRY[name] = ModelSpec(name=name, builder=builder, summary=summary, **spec_fields)
        return builder
    return decorate


def _check_planner_facts(name: str, spec_fields: dict) -> None:
    curve = spec_fields.get("error_curve")
    if curve is not None and (len(curve) != 2 or min(curve) < 0):
        raise ValueError(f"model {name!r}: error_curve is (a, b), two non-negative numbers, got {curve!r}")
    floor = spec_fields.get("member_floor")
    if floor is not None and not 0 <= floor <= 1:
        raise ValueError(f"model {name!r}: member_floor is a share of one member's error, 0 to 1, got {floor!r}")
    if spec_fields.get("stand_in") == name:
        raise ValueError(f"model {name!r} cannot stand in for itself (leave stand_in out)")
    other = next((n for n, s in _REGISTRY.items() if s.fallback), None)
    if spec_fields.get("fallback") and other is not None:
        raise ValueError(f"model {name!r}: {other!r} is already the fallback model; exactly one model may be")


@contextlib.contextmanager
def temporary_model(name: str, builder: Callable, **spec_fields):
    """Register ``builder`` as ``name`` for the with-block only (tests, trials), yielding its spec; removed after."""
    _load_families()
    register_model(name, **spec_fields)(builder)
    try:
        yield _REGISTRY[name]
    finally:
        del _REGISTRY[name]


def error_curves() -> dict[str, tuple[float, float]]:
    """Each model with a measured error curve -> (a, b): OOF error a + b / E percent after E epochs."""
    _load_families()
    return {n: tuple(s.error_curve) for n, s in _REGISTRY.items() if s.error_curve is not None}


def member_floors() -> dict[str, float]:
    """Each model with a measured ensemble-gain curve -> its floor f (planning/members.py)."""
    _load_families()
    return {n: s.member_floor for n, s in _REGISTRY.items() if s.member_floor is not None}


def stand_ins() -> dict[str, str]:
    """Each model with a stand-in -> the cheaper registered model a plan trains in its place."""
    _load_families()
    found = {n: s.stand_in for n, s in _REGISTRY.items() if s.stand_in}
    for name, stand_in in found.items():
        if stand_in not in _REGISTRY:
            raise ValueError(f"model {name!r}: its stand-in {stand_in!r} is not a registered model")
        if stand_in in found:
            raise ValueError(f"model {name!r}: its stand-in {stand_in!r} has a stand-in itself ({found[stand_in]!r})")
    return found


def fallback_model() -> str:
    """The model for budgets too short for any ensemble: the one registered with ``fallback=True``."""
    _load_families()
    names = [n for n, s in _REGISTRY.items() if s.fallback]
    if len(names) != 1:
        raise ValueError(f"exactly one model must be registered with fallback=True, found {names or 'none'}")
    return names[0]


def list_models() -> list[str]:
    _load_families()
    return list(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    _load_families()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; choose from: {', '.join(_REGISTRY)}") from None


def create_model(name: str, *, augmentation: keras.layers.Layer | None = None, **hp) -> keras.Model:
    """Build model ``name`` on the kit's uint8 image input, with ``hp`` overriding its defaults."""
    spec = get_spec(name)
    unknown = set(hp) - set(spec.hp)
    if unknown:
        raise ConfigError(f"model {name!r} has no hyper-parameter(s) {', '.join(sorted(unknown))}; "
                          f"it takes {', '.join(sorted(spec.hp)) or 'none'}")
    inputs = keras.Input(IMAGE_SHAPE, dtype="uint8", name="image")
    x = layers.Rescaling(spec.input_scale, name="scale")(inputs)
    if augmentation is not None:
        x = augmentation(x)
    x = VIEWS[spec.view][1](x)
    outputs = spec.builder(x, **{**spec.hp, **hp})
    return keras.Model(inputs, outputs, name=name)


def describe_models(names: list[str] | None = None) -> list[dict]:
    """One row per model: name, parameters, input view, recipe, source -- for --list-models."""
    rows = []
    for name in names or list_models():
        spec = get_spec(name)
        model = create_model(name)
        rows.append({"name": name, "params": model.count_params(), "view": spec.view_description,
                     "epochs": spec.recipe.epochs, "batch_size": spec.recipe.batch_size,
                     "optimizer": spec.recipe.optimizer, "reported_accuracy": spec.reported_accuracy,
                     "source": spec.source, "summary": spec.summary})
        keras.backend.clear_session()
    return rows


def _load_families() -> None:
    # Imported for their @register_model side effect; one module per family.
    from kaggle_digits.models import cnn, cnn_gru  # noqa: F401
    # the seed write-ups' models, one module per seed (see docs/models.md)
    from kaggle_digits.models import seed000, seed001, seed002, seed003, seed004  # noqa: F401
