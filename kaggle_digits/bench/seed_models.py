"""The seed-model benchmark: train the seed write-ups' models through the k-fold pipeline and tabulate them.

Each model runs as its own ``make_submission`` run with its own recipe (epochs overridable for
quick CPU runs), in a run folder under ``<out_dir>/runs/`` -- never the repo's ``submissions/``.
The rows -- params, the source's reported accuracy, our OOF accuracy and fold spread, s/epoch,
the settings actually used and the machine -- go to ``results.csv`` and ``results.md``. Rows
from earlier benchmark runs in the same out dir are kept unless the model is re-run, so a slow
model can be benchmarked separately with its own settings; every row says what it used.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kaggle_digits import atomic, options
from kaggle_digits.bench.tables import markdown_table, read_csv, write_csv
from kaggle_digits.config import AugmentConfig, RunConfig, parse_model_list
from kaggle_digits.errors import ConfigError
from kaggle_digits.machine import describe_machine
from kaggle_digits.training.devices import all_devices
from kaggle_digits.options import setting

log = logging.getLogger(__name__)
SEED_MODELS = "seed[0-9][0-9][0-9]_*"  # the seed write-ups' models in the registry

COLUMNS = (
    "model", "seed", "view", "params", "stated_params", "reported_accuracy", "oof_accuracy",
    "fold_accuracy_mean", "fold_accuracy_std", "gap_points", "seconds_per_epoch", "epochs_run",
    "epochs_cap", "recipe_epochs", "batch_size", "optimizer", "learning_rate", "folds", "train_rows", "augment", "data",
    "machine", "machine_details", "backend", "date", "run_dir",
)
MARK_START = "<!-- model-zoo:start -->"
MARK_END = "<!-- model-zoo:end -->"
CSV_NAME, MD_NAME = "results.csv", "results.md"


def _like(name: str, default, help: str | None = None):  # noqa: A002
    """RunConfig's setting ``name`` (its flag, parser, metavar and help) with this benchmark's default."""
    meta = RunConfig.__dataclass_fields__[name].metadata
    return setting(default, flag=meta["flag"], parse=meta["parse"], metavar=meta["metavar"],
                   interval=meta["interval"], help=help or meta["help"])


@dataclass
class SeedBenchConfig:
    """``bench models``' settings: its flags derive from these fields (options.add_arguments), the shared ones
    from RunConfig's."""

    models: tuple[str, ...] | None = _like("models", None, "models to benchmark (default: every seedNNN_* model; "
                                                          "'all' = every registered model)")
    folds: int = _like("folds", 5)
    epochs: int | None = _like("epochs", None, "epochs for every model (default: each model's own recipe); fewer "
                                               "epochs are marked in the table")
    max_train_rows: int | None = _like("max_train_rows", None)
    data: str | None = _like("data", None)
    out_dir: str = setting("benchmarks", flag="--out-dir", metavar="DIR",
                           help="where results.csv, results.md and the run folders (DIR/runs) go")
    augment: bool = setting(False, flag="--augment",
                            help="train with the kit's rotation/zoom/shift augmentation (the seeds trained without)")
    seed: int = _like("seed", 42)
    verbose: Literal[0, 1, 2] = _like("verbose", 0)
    merge: bool = setting(True, flag="--no-merge",
                          help="write only this run's rows (default: keep earlier rows of models not re-run)")
    update_docs: tuple[str, ...] = setting((), flag="--update-doc", metavar="FILE,..", parse=parse_model_list,
                                           help="also put the table between the <!-- MARKER:start/end --> markers "
                                                "in these files")
    marker: str = setting("model-zoo", flag="--marker", help="marker name for --update-doc")
    render_only: bool = setting(False, flag="--render-only",
                                help="train nothing: rewrite results.md (and --update-doc files) from DIR/results.csv")

    def validate(self) -> "SeedBenchConfig":
        """The same checks as a run's: types, choices and the intervals declared with RunConfig's settings."""
        for s in options.settings(type(self)):
            if (value := s.get(self)) is not None:
                s.check(value, s.flag)
        if self.data is not None and not Path(self.data).exists():
            raise ConfigError(f"--data {self.data}: no such file or folder")
        resolve_models(self.models)
        return self


def seed_models() -> list[str]:
    from kaggle_digits.models import list_models

    return fnmatch.filter(list_models(), SEED_MODELS)


def resolve_models(models) -> list[str]:
    from kaggle_digits.models import list_models

    if not models:
        return seed_models()
    if list(models) == ["all"]:
        return list_models()
    unknown = [m for m in models if m not in list_models()]
    if unknown:
        raise ConfigError(f"unknown model(s) {', '.join(unknown)}; choose from: {', '.join(list_models())}")
    return list(models)


def run_benchmark(cfg: SeedBenchConfig) -> list[dict]:
    """Train each model with 'cfg.folds'-fold CV, write results.csv/.md, return this run's rows."""
    from kaggle_digits.models import get_spec
    from kaggle_digits.pipeline import make_submission

    if cfg.render_only:
        return render_existing(cfg)
    models = resolve_models(cfg.models)
    if cfg.folds < 2:
        raise ConfigError(f"--folds must be at least 2, got {cfg.folds}")
    out = Path(cfg.out_dir)
    runs = out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    if not (runs / ".gitignore").exists():  # run folders hold model files: keep them out of git
        atomic.write_text(runs / ".gitignore", "*\n")
    machine = describe_machine(all_devices())
    log.info(f"benchmark: {len(models)} model(s), {cfg.folds} folds, "
        f"epochs {cfg.epochs or 'per recipe'}, rows {cfg.max_train_rows or 'all'}, "
        f"augmentation {'on' if cfg.augment else 'off'}; machine: {machine['full']}")
    rows = []
    for i, name in enumerate(models, 1):
        spec = get_spec(name)
        log.info(f"=== [{i}/{len(models)}] {name}")
        run_cfg = RunConfig(models=(name,), folds=cfg.folds, seed=cfg.seed, epochs=cfg.epochs,
                            max_train_rows=cfg.max_train_rows, data=cfg.data,
                            augment=AugmentConfig(enabled=cfg.augment), submissions_dir=str(runs),
                            verbose=cfg.verbose, report=False)  # the table is the result (`kaggle-digits report RUN_DIR`)
        result = make_submission(run_cfg)
        m = result.summary.models[name]
        recipe = spec.recipe.override(epochs=cfg.epochs)
        reported = spec.reported_accuracy
        oof = 100 * m.oof_accuracy
        rows.append({
            "model": name, "seed": _seed_of(name), "view": spec.view, "params": m.params,
            "stated_params": spec.stated_params, "reported_accuracy": reported,
            "oof_accuracy": round(oof, 3), "fold_accuracy_mean": round(100 * m.fold_accuracy_mean, 3),
            "fold_accuracy_std": round(100 * m.fold_accuracy_std, 3),
            "gap_points": None if reported is None else round(oof - reported, 3),
            "seconds_per_epoch": None if m.seconds_per_epoch is None else round(m.seconds_per_epoch, 2),
            "epochs_run": m.epochs, "epochs_cap": recipe.epochs, "recipe_epochs": spec.recipe.epochs,
            "batch_size": recipe.batch_size,
            "optimizer": recipe.optimizer, "learning_rate": recipe.learning_rate, "folds": cfg.folds,
            "train_rows": result.summary.n_train, "augment": cfg.augment,
            "data": "bundled sample" if result.summary.is_sample else "train.csv",
            "machine": machine["short"], "machine_details": machine["full"], "backend": machine["backend"],
            "date": dt.date.today().isoformat(), "run_dir": _relative(result.run_dir),
        })
    _publish(merge_rows(read_csv(out / CSV_NAME), rows) if cfg.merge else rows, cfg)
    return rows


def render_existing(cfg: SeedBenchConfig) -> list[dict]:
    """Rewrite results.md and the ``update_docs`` tables from an existing results.csv (no training)."""
    out = Path(cfg.out_dir)
    rows = read_csv(out / CSV_NAME)
    if not rows:
        raise ConfigError(f"no {out / CSV_NAME} to render: run the benchmark first")
    _publish(rows, cfg)
    return rows


def _publish(rows: list[dict], cfg: SeedBenchConfig) -> None:
    """results.csv/.md in the out dir, and the table between the markers of every --update-doc file."""
    out = Path(cfg.out_dir)
    write_results(rows, out)
    for doc in cfg.update_docs:
        update_doc(doc, render_markdown(rows), marker=cfg.marker)
        log.info(f"updated the model table in {doc}")
    log.info(f"results: {out / CSV_NAME}, {out / MD_NAME} ({len(rows)} rows)")


# --------------------------------------------------------------------------- tables
def merge_rows(old: list[dict], new: list[dict]) -> list[dict]:
    """Old rows with re-run models replaced by their new rows, in registry order."""
    from kaggle_digits.models import list_models

    by_model = {r["model"]: r for r in old}
    by_model.update({r["model"]: r for r in new})
    order = {name: i for i, name in enumerate(list_models())}
    return sorted(by_model.values(), key=lambda r: (order.get(r["model"], len(order)), r["model"]))


def write_results(rows: list[dict], out_dir: Path) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    csv_path = write_csv(out_dir / CSV_NAME, rows, COLUMNS)
    md_path = atomic.write_text(out_dir / MD_NAME, render_markdown(rows) + "\n")
    return csv_path, md_path


def render_markdown(rows: list[dict]) -> str:
    """The seed-model table plus the settings and machines it was measured with."""
    header = ("model", "seed", "params", "reported acc. %", "our OOF acc. %", "folds mean ± std %", "gap (pts)",
              "s/epoch", "epochs run (recipe)", "rows × folds", "aug.", "machine")
    cells = []
    for r in rows:
        cap, full = _int(r.get("epochs_cap")), _int(r.get("recipe_epochs"))
        reduced = cap is not None and full is not None and cap < full  # --epochs cut the recipe short
        sample = r.get("data") == "bundled sample"
        cells.append([
            f"`{r['model']}`", str(r.get("seed") or ""), _fmt_int(r.get("params")),
            _fmt(r.get("reported_accuracy"), 2), _fmt(r.get("oof_accuracy"), 2),
            f"{_fmt(r.get('fold_accuracy_mean'), 2)} ± {_fmt(r.get('fold_accuracy_std'), 2)}",
            _fmt(r.get("gap_points"), 2, signed=True), _fmt(r.get("seconds_per_epoch"), 1),
            f"{r.get('epochs_run')} ({r.get('recipe_epochs')})" + (" †" if reduced else ""),
            f"{_fmt_int(r.get('train_rows'))}{' sample' if sample else ''} × {r.get('folds')}",
            "yes" if _bool(r.get("augment")) else "no", str(r.get("machine") or ""),
        ])
    lines = [markdown_table(header, cells, "llrrrrrrllll")]
    notes = [
        "",
        "Reported = the source's own figure (MNIST 10k test set, full recipe, 60k training images; the "
        "fidelity notes are in docs/models.md). Ours = out-of-fold accuracy on Kaggle's train.csv with the row's "
        "settings: `rows × folds` is the stratified subset used (each fold trains on (k-1)/k of it), `epochs run "
        "(recipe)` the epochs trained versus the model's own recipe († = capped below the recipe by --epochs, so "
        "the gap is not a fidelity verdict; early stopping may end a recipe run sooner). s/epoch is the mean over "
        "the epochs after the first, which pays for graph compilation (with a single epoch, that epoch).",
    ]
    machines = {r.get("machine"): r.get("machine_details") for r in rows if r.get("machine")}
    for short, full in machines.items():
        notes.append(f"\nMachine `{short}`: {full or 'no details recorded'}.")
    return "\n".join(lines + notes)


def update_doc(path: str | os.PathLike, markdown: str, marker: str = "model-zoo") -> Path:
    """Replace the text between the ``<!-- {marker}:start/end -->`` markers in ``path`` with ``markdown``."""
    path = Path(path)
    mark_start, mark_end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--update-doc {path}: {exc.strerror or exc}") from None
    start, end = text.find(mark_start), text.find(mark_end)
    if start < 0 or end < start:
        raise ConfigError(f"{path} has no '{mark_start}' ... '{mark_end}' markers to put the table between")
    new = text[:start + len(mark_start)] + "\n" + markdown.strip() + "\n" + text[end:]
    return atomic.write_text(path, new)


# --------------------------------------------------------------------------- helpers
def _seed_of(name: str) -> str:
    match = re.match(r"seed(\d{3})_", name)
    return match.group(1) if match else "kit"


def _relative(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _int(value) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _bool(value) -> bool:
    return value is True or str(value).lower() == "true"


def _fmt(value, digits: int, signed: bool = False) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    return f"{number:+.{digits}f}" if signed else f"{number:.{digits}f}"


def _fmt_int(value) -> str:
    number = _int(value)
    return "–" if number is None else f"{number:,}"
