"""Every file the kit writes goes to a temp file in the same folder and is renamed into place.

A crash therefore leaves either the old file, no file, or the complete new file -- never a
truncated one that a later step (resume, ensemble, report) would trust.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from kaggle_digits.errors import OutputError


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def _temp_beside(path: Path, suffix: str = "") -> Iterator[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
    finally:
        tmp_path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def write_with(path: str | os.PathLike, writer: Callable[[Path], None], *, overwrite: bool = True,
               suffix: str = "") -> Path:
    """Call ``writer(tmp)`` then move ``tmp`` onto ``path``.

    With ``overwrite=False`` the final step is a hard link, which fails if ``path`` exists, so two
    concurrent writers can never replace each other's file.
    """
    path = Path(path)
    with _temp_beside(path, suffix) as tmp:
        writer(tmp)
        _fsync(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the mode a plain open() would
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise OutputError(f"{path} exists already; refusing to overwrite it") from None
    return path


def write_bytes(path: str | os.PathLike, data: bytes, *, overwrite: bool = True) -> Path:
    return write_with(path, lambda tmp: tmp.write_bytes(data), overwrite=overwrite)


def write_text(path: str | os.PathLike, text: str, *, overwrite: bool = True) -> Path:
    return write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def write_json(path: str | os.PathLike, obj: Any, *, overwrite: bool = True) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n",
                      overwrite=overwrite)


def save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    def _save(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
    return write_with(path, _save)


def save_keras_model(path: str | os.PathLike, model) -> Path:
    # Keras insists on the .keras suffix, so the temp name keeps it.
    return write_with(path, lambda tmp: model.save(tmp), suffix=".tmp.keras")


def unique_path(path: str | os.PathLike) -> Path:
    """``path`` if it does not exist yet, else ``path-2``, ``path-3``...: outputs never collide."""
    path = candidate = Path(path)
    n = 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")
