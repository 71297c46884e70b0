"""Settings declared as dataclass fields, and what derives from them: command-line flags and TOML.

``setting(...)`` makes a field that carries its flag, help, choices and fingerprint role (config.py
declares the kit's settings with it); ``settings(cls)`` lists a settings class's fields, nested tables
expanded; ``add_arguments`` turns them into argparse options and ``read_toml`` reads a TOML file of them,
each value checked against the field's type and choices, so a bad value is refused in one line naming
what was found and what is allowed.
"""

from __future__ import annotations

import argparse
import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import tomli_w

from kaggle_digits.errors import ConfigError

@dataclass(frozen=True)
class Interval:
    """The range a number must lie in (scikit-learn's ``Interval`` habit): ``low``/``high`` (None: unbounded),
    ``closed`` says which ends are allowed; ``what`` is how the message names an allowed value."""

    low: float | None = None
    high: float | None = None
    closed: Literal["both", "left", "right", "neither"] = "both"
    what: str = ""

    def __contains__(self, value: float) -> bool:
        if value != value or value in (float("inf"), float("-inf")):  # NaN, infinities: never a setting
            return False
        low_ok = self.low is None or (value >= self.low if self.closed in ("both", "left") else value > self.low)
        high_ok = self.high is None or (value <= self.high if self.closed in ("both", "right") else value < self.high)
        return low_ok and high_ok


POSITIVE_INT = Interval(1, None, what="a positive whole number")
POSITIVE = Interval(0, None, closed="neither", what="a positive number")


def setting(default: Any = dataclasses.MISSING, *, flag: str | None = None, help: str = "",  # noqa: A002
            fingerprint: bool = False, local: bool = False, choices: Any = None, parse: Any = None,
            metavar: str | None = None, default_factory: Any = dataclasses.MISSING, in_fold: str | None = None,
            interval: Interval | None = None) -> Any:
    """A settings field. ``flag``: its CLI option (a bool field's flag flips its default); ``parse``: text ->
    value for the flag (default: from the annotation); ``choices``: allowed values (default: the
    annotation's ``Literal``); ``interval``: the range a number (or each number of a table) must lie in;
    ``fingerprint`` / ``local`` / ``in_fold``: see the module docstring. ``Setting.check`` enforces type, choices
    and interval."""
    metadata = {"flag": flag, "help": help, "fingerprint": fingerprint, "local": local, "choices": choices,
                "parse": parse, "metavar": metavar, "in_fold": in_fold, "interval": interval}
    return field(default=default, default_factory=default_factory, metadata=metadata)


def _default(f: dataclasses.Field) -> Any:
    value = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


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

    def check(self, value: Any, where: str) -> Any:
        """``value`` (from TOML: int, float, str, bool, list, table) as this setting's type; ConfigError saying
        what was found and what is allowed otherwise."""
        kinds, choices = _unwrap_optional(self.type), self.choices
        literal = next((a for a in kinds if typing.get_origin(a) is Literal), None)
        base = typing.get_args(literal)[0] if literal is not None else next(iter(kinds))
        origin = typing.get_origin(base) or base
        if origin is tuple and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]  # models = "cnn,cnn_gru" as on the command line
        item = (typing.get_args(base) or (Any,))[0]
        # a table's values: dict[str, float] says numbers; a bare dict (epochs per model) whole numbers
        values = (typing.get_args(base) or (str, int))[-1] if origin is dict else int
        ok = {bool: lambda v: isinstance(v, bool),
              int: lambda v: isinstance(v, int) and not isinstance(v, bool),
              float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
              str: lambda v: isinstance(v, str),
              tuple: lambda v: isinstance(v, (list, tuple)) and all(item is Any or _is(x, item) for x in v),
              dict: lambda v: isinstance(v, dict) and all(_is(x, values) for x in v.values())}.get(origin, lambda v: True)
        if not ok(value):
            expected = {bool: "true or false", int: "a whole number", float: "a number", str: "a string",
                        tuple: f"a list of {getattr(item, '__name__', 'values')}s",
                        dict: "a table of numbers" if values is float else "a table of whole numbers"}.get(origin, str(base))
            raise ConfigError(f"{where} is {_shown(value)}; expected {expected}")
        if choices is not None and value not in choices:
            raise ConfigError(f"{where} is {value!r}; expected one of {', '.join(map(str, choices))}")
        interval = self.spec.metadata.get("interval")
        if interval is not None:
            numbers = value.values() if origin is dict else [value]
            if (origin is dict and not value) or any(v not in interval for v in numbers):
                raise ConfigError(f"{where} is {value or '(empty)'}; expected {interval.what}"
                                  + (" for each model" if origin is dict else ""))
        return float(value) if origin is float else tuple(value) if origin is tuple else value

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


def settings(cls: type, prefix: tuple[str, ...] = ()) -> list[Setting]:
    """Every setting of ``cls``, nested tables (dataclass-typed fields) expanded, in declaration order."""
    hints = typing.get_type_hints(cls, include_extras=True)
    out = []
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            out += settings(hints[f.name], prefix + (f.name,))
        else:
            out.append(Setting(prefix + (f.name,), f, hints[f.name]))
    return out


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> argparse.ArgumentParser:
    """Every flagged setting as an option (default None: not given), plus --config TOML."""
    parser.add_argument("--config", metavar="TOML", help="read settings from a TOML file with these options' "
                        "setting names as keys (a run's own config.toml works); flags given here win")
    for s in settings(cls):
        if s.flag:
            s.add_to(parser)
    return parser


def from_args(args: argparse.Namespace, cls: type, values: dict[str, Any] | None = None) -> Any:
    """``cls`` from ``values`` (a preset), then the --config TOML file, then the flags given: each later one wins."""
    values = dict(values or {})
    values.update(read_toml(args.config, cls) if getattr(args, "config", None) else {})
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


def non_negative(text: str) -> int:
    """argparse type: a whole number >= 0."""
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


non_negative.__name__ = "non-negative int"  # argparse names the type in its one-line error


def positive(text: str) -> int:
    """argparse type: a whole number >= 1."""
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


positive.__name__ = "positive int"


def positive_numbers(text: str) -> list[float]:
    """argparse type: ``1,3,10`` -> [1.0, 3.0, 10.0], each > 0."""
    values = [float(v) for v in text.split(",") if v.strip()]
    if not values or not all(0 < v < float("inf") for v in values):
        raise ValueError(text)
    return values


positive_numbers.__name__ = "list of positive numbers"


# --------------------------------------------------------------------------- TOML
def read_toml(path: str | Path, cls: type) -> dict[str, Any]:
    """The settings in TOML file ``path``: known keys only, each value of its setting's type and choices."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return _check_table(data, cls, str(path), "")


def _check_table(data: dict, cls: type, where: str, prefix: str) -> dict[str, Any]:
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        table = f" in [{prefix.rstrip('.')}]" if prefix else ""
        raise ConfigError(f"{where}: unknown key(s){table} {', '.join(unknown)}; expected some of "
                          f"{', '.join(sorted(fields))}")
    out = {}
    for key, value in data.items():
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: {prefix}{key} is {_shown(value)}; expected a table [{prefix}{key}]")
            out[key] = _check_table(value, kind, where, f"{prefix}{key}.")
        else:
            out[key] = Setting((key,), fields[key], kind).check(value, f"{where}: {prefix}{key}")
    return out


def _is(value: Any, kind: type) -> bool:
    if kind is float:  # TOML writes 160.0 as 160.0, a user may write 160
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def _shown(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def dict_to_toml(data: dict[str, Any]) -> str:
    """``data`` as TOML (tomli_w: the stdlib reads TOML but cannot write it), key by key in ``data``'s order,
    tables last. TOML has no null, so an unset key is a comment line: the file still lists every setting."""
    tables = {key: {k: v for k, v in value.items() if v is not None}
              for key, value in data.items() if isinstance(value, dict)}
    lines = [f"# {key} = (unset)" if value is None else tomli_w.dumps({key: value}).rstrip("\n")
             for key, value in data.items() if key not in tables]
    return "\n".join(lines) + "\n" + (f"\n{tomli_w.dumps(tables)}" if tables else "")
