"""Paths and command lines as they go into records meant for others (the reference manifest, benchmark
outputs): a path inside the project stays relative to it, a path outside it (a data folder elsewhere, a
home directory) shrinks to its file name -- the data itself is identified by its SHA-256 beside it. So a
committed record never carries the layout of the machine that made it.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any, Iterable


def path(text: str | os.PathLike, project: str | os.PathLike | None = None) -> str:
    """``text`` relative to ``project`` (default: the working directory) if it lies inside it, its file name
    if it is absolute elsewhere, unchanged if it is relative already."""
    given = Path(text)
    if not given.is_absolute():
        return str(text)
    root = Path(project if project is not None else Path.cwd()).resolve()
    try:
        return given.resolve().relative_to(root).as_posix()
    except ValueError:
        return given.name


def argument(text: str, project: str | os.PathLike | None = None) -> str:
    """One command-line word: an absolute path, alone or as ``--flag=/path``, made portable."""
    flag, eq, value = text.partition("=")
    if eq and flag.startswith("-") and os.path.isabs(value):
        return f"{flag}={path(value, project)}"
    return path(text, project) if os.path.isabs(text) else text


def command(argv: Iterable[str], project: str | os.PathLike | None = None) -> str:
    """A command line (already split into words) with every absolute path made portable, quoted for a shell;
    ``python`` stands for whichever interpreter ran it."""
    words = [str(w) for w in argv]
    if words and Path(words[0]).name.startswith("python"):
        words[0] = "python"
    return " ".join(shlex.quote(argument(w, project)) for w in words)


def command_text(text: str, project: str | os.PathLike | None = None) -> str:
    """``command`` for a command line recorded as one string."""
    return command(shlex.split(text), project)


def values(record: Any, project: str | os.PathLike | None = None) -> Any:
    """A JSON-like record with every string that is an absolute path made portable (dicts and lists walked)."""
    if isinstance(record, dict):
        return {k: values(v, project) for k, v in record.items()}
    if isinstance(record, (list, tuple)):
        return type(record)(values(v, project) for v in record)
    if isinstance(record, str) and os.path.isabs(record):
        return path(record, project)
    return record
