"""The shape of the kit as specifications: import direction, module size, what the training fingerprint
hashes, settings declared once, one command line (and the few scripts users know it by)."""

from __future__ import annotations

import configparser
import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kaggle_digits import cli, config
from kaggle_digits.config import RunConfig, setting
from kaggle_digits.errors import ConfigError
from kaggle_digits.training.codehash import (NOT_DECIDING, import_graph, import_statements, module_files,
                                            training_modules)

ROOT = Path(__file__).resolve().parents[1]


def closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


# --------------------------------------------------------------------------- shape
def test_no_import_cycles_and_no_module_over_400_lines():
    graph = import_graph()
    cycles = [m for m in graph if m in closure(graph, m)]
    assert not cycles, f"modules on an import cycle: {', '.join(sorted(cycles))}"
    long = {name: n for name, path in module_files().items() if (n := path.read_text().count("\n")) > 400}
    assert not long, long


# The package's layers, lowest first, each a top-level module or a folder (subpackage) of kaggle_digits: a module
# imports its own layer and the ones below, never one above -- at module level or inside a function. The order is
# what the code needs (a reason per layer); a new folder or top-level module is placed here once.
LAYERS = (
    # leaves: the package (__version__), exceptions, the one key recipe, atomic writes, log lines, TensorFlow's
    # quiet, portable paths, the settings machinery, this machine's CPU and checkout (its devices: the caller's)
    ("__init__", "errors", "fingerprint", "atomic", "logs", "quiet", "portable", "options", "machine"),
    ("competition",),  # the competition's files and facts: data, digits, folds, submission.csv
    ("models",),  # the networks, the in-graph augmentation they run, their Recipe (data): registries config checks
    ("scoring",),  # arrays in, scores out: the blends (config checks --blend against them), the typed summary
    ("config",),  # RunConfig: every value checked against the registries below it, before any work
    ("runs",),  # the run folder's file names and records (training writes its fold folders by them), read back
    ("training",),  # one fold and what it obeys: optimizer and schedule, the epoch cap, timefit, the run's clock
    ("planning",),  # the time budget: measures training (probe), plans it, re-plans it as folds finish
    ("report",),  # a finished run read back and drawn
    ("pipeline",),  # the k-fold story: plan, train, score, record, report
    ("kaggle", "bench"),  # kernels run the pipeline remotely; the benchmarks run it beside other code
    ("readme",),  # the README's generated tables, from the registry, bench/ and runs/
    ("cli",),  # the program: every command
    ("__main__",),
)


def layer_of(module: str) -> str:
    """kaggle_digits.training.train -> training; kaggle_digits.errors -> errors; kaggle_digits -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def back_edges(files: dict[str, Path], root: Path = ROOT) -> list[str]:
    """'file:line imports target' for every import from a layer to one above it (LAYERS)."""
    rank = {name: i for i, names in enumerate(LAYERS) for name in names}
    found = []
    for name, path in sorted(files.items()):
        for line, target in import_statements(path, files, name):
            if rank[layer_of(target)] > rank[layer_of(name)]:
                found.append(f"{path.relative_to(root)}:{line} imports {target} "
                             f"({layer_of(target)} is above {layer_of(name)})")
    return found


def test_every_folder_and_top_level_module_has_one_layer():
    declared = [name for names in LAYERS for name in names]
    assert len(declared) == len(set(declared)), "a name is in two layers"
    present = {layer_of(m) for m in module_files()}
    assert present == set(declared), (f"not in LAYERS: {sorted(present - set(declared))}; "
                                      f"in LAYERS but gone: {sorted(set(declared) - present)}")


def test_folders_import_only_their_own_layer_and_below():
    """Folder-level back edges fail the way module cycles do: nothing imports a layer above its own, so every
    folder can be read knowing only those below it (training never imports planning, scoring never imports runs...)."""
    found = back_edges(module_files())
    assert not found, "imports into a higher layer (tests/test_structure.py LAYERS):\n" + "\n".join(found)


def _package(root, *subpackages: str):
    """An empty kaggle_digits package under ``root`` with these empty subpackages (a tree to read imports from)."""
    package = root / "kaggle_digits"
    for sub in subpackages:
        (package / sub).mkdir(parents=True)
        (package / sub / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    return package


def test_a_back_edge_inside_a_function_is_named_with_its_file_and_line(tmp_path):
    package = _package(tmp_path, "planning", "training")
    (package / "planning" / "clock.py").write_text("")
    (package / "training" / "train.py").write_text(
        "import math\n\n\ndef f():\n    from kaggle_digits.planning import clock\n")  # line 5: inside a function
    files = {".".join(path.relative_to(tmp_path).with_suffix("").parts).removesuffix(".__init__"): path
             for path in package.rglob("*.py")}
    assert back_edges(files, tmp_path) == [
        "kaggle_digits/training/train.py:5 imports kaggle_digits.planning.clock (planning is above training)"]


def test_training_fingerprint_hashes_every_module_that_decides_a_fold():
    """codehash derives the hashed modules from train.py's imports: every module it reaches, less the listed
    non-deciding ones and the model families (each fold hashes its own family file)."""
    graph = import_graph()
    hashed = set(training_modules())
    from kaggle_digits.models import get_spec, list_models

    families = {get_spec(m).builder.__module__ for m in list_models()}  # models/<family>.py, not blocks, recipe...
    reached = closure(graph, "kaggle_digits.training.train") | {"kaggle_digits.training.train"}
    assert hashed == reached - families - set(NOT_DECIDING)
    assert {"kaggle_digits.training.train", "kaggle_digits.models.augment", "kaggle_digits.training.devices",
            "kaggle_digits.training.recipe", "kaggle_digits.models.recipe", "kaggle_digits.training.timefit",
            "kaggle_digits.models.blocks"} <= hashed  # e.g. the multi-GPU scope changes how a fold trains
    assert set(NOT_DECIDING) <= set(graph) and not set(NOT_DECIDING) & hashed


def test_a_new_module_training_imports_is_hashed_without_listing_it(tmp_path, monkeypatch):
    from kaggle_digits.training import codehash

    package = _package(tmp_path, "models", "training")
    (package / "training" / "train.py").write_text("from kaggle_digits import helper, atomic\n")
    (package / "helper.py").write_text("def f():\n    from kaggle_digits.deep import g\n")
    (package / "deep.py").write_text("")
    (package / "atomic.py").write_text("")
    monkeypatch.setattr(codehash, "PACKAGE_DIR", package)
    monkeypatch.setattr(codehash, "_families", lambda: set())
    codehash.training_modules.cache_clear()
    try:
        assert codehash.training_modules() == ("kaggle_digits.deep", "kaggle_digits.helper", "kaggle_digits.training.train")
    finally:
        codehash.training_modules.cache_clear()


# --------------------------------------------------------------------------- settings declared once
def test_every_setting_is_declared_once_with_its_flag_and_help():
    flags = [s.flag for s in config.settings() if s.flag]
    assert len(flags) == len(set(flags))
    for s in config.settings():
        assert s.flag and s.spec.metadata["help"], f"{s.name} has no flag or no help"
    fingerprinted = {f.name for f in dataclasses.fields(RunConfig) if f.metadata["fingerprint"]}
    assert not {"out", "run_dir", "verbose", "report", "blend", "debug"} & fingerprinted
    from kaggle_digits.training.train import FoldTask

    task_fields = {f.name for f in dataclasses.fields(FoldTask)}
    for f in dataclasses.fields(RunConfig):  # in_fold names the FoldTask field that records the setting
        assert f.metadata["in_fold"] is None or (f.metadata["fingerprint"] and f.metadata["in_fold"] in task_fields)
    assert RunConfig().fold_settings() == {}  # today a FoldTask field records every fingerprinted setting
    local = {f.name for f in dataclasses.fields(RunConfig) if f.metadata["local"]}
    assert local == {"data", "submissions_dir", "run_dir", "out", "force", "fresh", "debug", "ensemble_only", "workers"}
    assert not local & set(RunConfig().kernel_settings())


@pytest.mark.parametrize("name, value, counts", [
    ("folds", 4, True), ("seed", 1, True), ("epochs", 3, True), ("augment", {"zoom": 0.2}, True),
    ("tta", True, True), ("max_train_rows", 100, True),
    ("blend", "oof", False), ("out", "x.csv", False), ("verbose", 0, False), ("report", False, False),
])
def test_the_run_fingerprint_follows_the_metadata(name, value, counts):
    assert (RunConfig(**{name: value}).training_fingerprint() != RunConfig().training_fingerprint()) is counts


def test_a_new_setting_is_one_line(tmp_path):
    """Declared once, a setting RunConfig does not have yet reaches the flags, TOML (type-checked), the
    kernels and both fingerprints."""
    @dataclasses.dataclass(frozen=True)
    class Extended(RunConfig):
        label_noise: float = setting(0.0, flag="--label-noise", fingerprint=True, help="fraction of labels to flip")

    import argparse

    assert "label_noise" not in {f.name for f in dataclasses.fields(RunConfig)}
    parser = config.add_arguments(argparse.ArgumentParser(), Extended)
    assert "--label-noise" in parser.format_help() and "(default: 0.0)" in parser.format_help()
    noisy = config.from_args(parser.parse_args(["--label-noise", "0.1"]), Extended)
    assert noisy.label_noise == 0.1
    assert noisy.training_fingerprint() != Extended().training_fingerprint()
    assert noisy.fold_settings() == {"label_noise": 0.1}  # -> FoldTask.settings -> the fold fingerprint
    assert noisy.kernel_settings()["label_noise"] == 0.1
    (tmp_path / "c.toml").write_text("label_noise = 0.2\n")
    assert config.from_args(parser.parse_args(["--config", str(tmp_path / "c.toml")]), Extended).label_noise == 0.2
    (tmp_path / "bad.toml").write_text('label_noise = "some"\n')
    with pytest.raises(ConfigError, match="label_noise is str 'some'; expected a number"):
        config.from_args(parser.parse_args(["--config", str(tmp_path / "bad.toml")]), Extended)


def test_a_setting_outside_the_fold_task_enters_the_fold_fingerprint():
    from kaggle_digits.config import AugmentConfig
    from kaggle_digits.models.recipe import Recipe
    from kaggle_digits.training.train import FINGERPRINT_FORMAT, FoldTask

    task = dict(model="cnn", hp={}, recipe=Recipe(), augment=AugmentConfig(), fold=0, n_folds=2, seed=1,
                data_sha256="d", rows_sha256="r")
    plain = FoldTask(**task)
    used = FoldTask(**task, settings={"new_setting": 7})
    assert plain.fingerprint()["format"] == FINGERPRINT_FORMAT and "new_setting" not in plain.fingerprint()
    assert used.fingerprint()["new_setting"] == 7 and plain.fingerprint_hash() != used.fingerprint_hash()
    assert FoldTask(**task, tta=True).fingerprint_hash() != plain.fingerprint_hash()


def test_kernel_runs_refuse_local_and_unknown_flags_in_one_line():
    from kaggle_digits.kaggle.commands import kernel_run_config

    assert kernel_run_config(["--folds", "3", "--models", "cnn"]).folds == 3
    for flags, message in ((["--out", "x.csv"], "local output options"), (["--run-dir=r"], "local output"),
                           (["--list-models"], "not an option of a kernel run"),
                           (["--folds", "x"], "invalid int value"), (["--blend", "best"], "invalid choice")):
        with pytest.raises(ConfigError, match=message):
            kernel_run_config(flags)


# --------------------------------------------------------------------------- one command line
def test_the_scripts_users_know_are_shims_onto_one_command():
    shims = {}
    for path in sorted((ROOT / "scripts").glob("*.py")):
        code = [line.strip() for line in path.read_text().splitlines()
                if line.strip() and not line.startswith(("#", '"""')) and not line.startswith("if __name__")]
        assert len(code) == 2 and code[0] == "from kaggle_digits.cli import run_script", f"{path.name}: {code}"
        shims[path.name] = re.search(r'run_script\("([a-z ]+)"\)', code[1]).group(1)
    assert shims == {c.script: name for name, c in cli.COMMANDS.items() if c.script}
    assert "make_submission.py" in shims


def test_console_script_and_help():
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert "kaggle-digits = kaggle_digits.cli:main" in setup["options.entry_points"]["console_scripts"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    shown = subprocess.run([sys.executable, "-m", "kaggle_digits", "--help"], capture_output=True, text=True,
                           env=env, timeout=120)
    assert shown.returncode == 0, shown.stderr
    for command in ("make", "report", "download", "submit", "push", "gather", "bench"):
        assert re.search(rf"^\s+{command}\s", shown.stdout, re.MULTILINE), command
    sub = subprocess.run([sys.executable, "-m", "kaggle_digits", "make", "--help"], capture_output=True, text=True,
                         env=env, timeout=120)
    for s in config.settings():  # the make options are RunConfig's flags
        assert s.flag in sub.stdout, s.flag
