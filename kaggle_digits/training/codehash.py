"""The code a fold's fingerprint hashes, derived from the imports (no list of files to keep in step).

A fold is reused only while the code that decided its result is unchanged. That code is every
kaggle_digits module train.py imports, directly or not (function-level imports count), found by reading
the import statements -- so a module that training starts to import is hashed without anyone listing it.
Two kinds of module are left out, so that editing them does not throw away hours of trained folds:

- NOT_DECIDING below: modules training imports that cannot change a fold's numbers (each with why);
  forgetting one here only costs a retrain, never a silently reused fold;
- the model families (models/<family>.py): a fold hashes only its own model's family file.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import sys
from pathlib import Path

from kaggle_digits import __version__

PACKAGE_DIR = Path(__file__).parents[1]
ROOT_MODULE = "kaggle_digits.training.train"

NOT_DECIDING = {
    "kaggle_digits": "the kit version, which code_version() prefixes anyway",
    "kaggle_digits.atomic": "writes files atomically; never changes a value",
    "kaggle_digits.errors": "exception classes",
    "kaggle_digits.logs": "progress lines",
    "kaggle_digits.config": "settings: their values (not this code) enter the fingerprint",
    "kaggle_digits.scoring.ensemble": "blends fold results after training (config lists its blend names)",
    "kaggle_digits.runs.rundir": "names and records run-folder files",
    "kaggle_digits.competition.data": "its arrays enter the fingerprint as data_sha256 / rows_sha256",
    "kaggle_digits.competition.submission": "writes submission.csv after the ensemble",
    "kaggle_digits.training.watchdog": "ends a process whose training hangs; a fold it stops is never saved",
}


def module_files() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    files = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = ("kaggle_digits", *path.relative_to(PACKAGE_DIR).with_suffix("").parts)
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def import_statements(path: Path, files: dict[str, Path], name: str) -> list[tuple[int, str]]:
    """(line, package module) for every import in ``path``, at module level or inside functions (relative
    imports resolved against the module's package)."""
    found = []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([module] if module else []))
            # `from package import module` imports that module (and a subpackage's docstring-only __init__)
            candidates = [f"{module}.{a.name}" if f"{module}.{a.name}" in files else module for a in node.names]
        else:
            continue
        for target in candidates:
            while target and target not in files:
                target = target.rpartition(".")[0]
            # a module's own package (a model family importing the registry it registers with) is not counted:
            # whoever imports the module imported its package first, and counting it would make every package
            # whose __init__ loads its modules a cycle
            if target and target != name and not name.startswith(target + "."):
                found.append((node.lineno, target))
    return found


def imports(path: Path, files: dict[str, Path], name: str) -> set[str]:
    """The package modules ``path`` imports, at module level or inside functions."""
    return {target for _, target in import_statements(path, files, name)}


def import_graph() -> dict[str, set[str]]:
    """Every module of the package -> the package modules it imports (``imports``): tests/test_structure.py checks
    the kit's shape (cycles, the direction of imports) on the same reading of the imports that decides the hash."""
    files = module_files()
    return {name: imports(path, files, name) for name, path in files.items()}


@functools.lru_cache(maxsize=None)
def training_modules() -> tuple[str, ...]:
    """The modules code_version hashes for every model: train.py's import closure, less NOT_DECIDING and
    the model families."""
    files = module_files()
    seen, todo = {ROOT_MODULE}, [ROOT_MODULE]
    while todo:
        name = todo.pop()
        for target in imports(files[name], files, name) - seen:
            seen.add(target)
            todo.append(target)
    return tuple(sorted(m for m in seen - set(NOT_DECIDING) if m not in _families()))


def _families() -> set[str]:
    from kaggle_digits.models import get_spec, list_models

    return {get_spec(m).builder.__module__ for m in list_models()}


@functools.lru_cache(maxsize=None)
def code_version(model: str) -> str:
    """kaggle_digits version plus a hash of the code that decides ``model``'s fold results: the training
    modules and the model's own family file. Cached per process: the code that trains is what was imported,
    whatever happens to the files meanwhile."""
    from kaggle_digits.models import get_spec

    files = module_files()
    paths = {files[m] for m in training_modules()} | {Path(sys.modules[get_spec(model).builder.__module__].__file__)}
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"
