"""A run's fold tasks: each (model, fold) with the recipe it trains by, and the line that announces it."""

from __future__ import annotations

import logging

from kaggle_digits.config import RunConfig
from kaggle_digits.competition.data import Competition
from kaggle_digits.competition.folds import member_seed
from kaggle_digits.models import get_spec
from kaggle_digits.training.train import FoldTask

log = logging.getLogger(__name__)
MIN_STEPS, MIN_BATCH = 120, 16  # a fold with fewer optimizer steps than MIN_STEPS learns little (enough_steps)


def fold_task(cfg: RunConfig, data: Competition, name: str, fold: int, rows_sha: str, precision: str,
              n_train: int, member: int = 0, split_sha: str = "") -> FoldTask:
    """Model ``name``'s fold ``fold`` of the run ``cfg`` describes, with its recipe's overrides: of its member
    ``member`` (0-based, --seeds), whose split (``split_sha``: the fold ids' sha256) and seed are its own."""
    spec = get_spec(name)
    epochs = (cfg.model_epochs or {}).get(name, cfg.epochs)
    recipe = spec.recipe.override(epochs=epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                                  seconds=(cfg.model_seconds or {}).get(name))
    if cfg.batch_size is None:
        recipe = enough_steps(recipe, name, n_train, log_it=fold == 0 and member == 0)
    return FoldTask(model=name, hp=dict(spec.hp), recipe=recipe, augment=cfg.augment, fold=fold,
                    n_folds=cfg.folds, seed=member_seed(cfg.seed, member), data_sha256=data.sha256, rows_sha256=rows_sha,
                    member_index=member, split_sha256=split_sha,
                    validate_each_epoch=cfg.validate_each_epoch, tta=cfg.tta, precision=precision,
                    settings=cfg.fold_settings())


def enough_steps(recipe, name: str, n_train: int, log_it: bool):
    """The recipe with a smaller batch when its fold would get fewer than ``MIN_STEPS`` optimizer steps.

    A fold of 2,000 rows x 1 epoch at batch 128 is 16 steps: the model ends near chance
    (benchmarks/planner/README.md) and says nothing. Smaller batches give it steps enough to learn; below ``MIN_BATCH`` the run is too small
    to learn at all, and the log says its result will be near chance."""
    steps = recipe.epochs * -(-n_train // recipe.batch_size)
    if steps >= MIN_STEPS:
        return recipe
    batch = max(MIN_BATCH, n_train * recipe.epochs // MIN_STEPS)
    if batch < recipe.batch_size:
        recipe = recipe.override(batch_size=batch)
    steps_now = recipe.epochs * -(-n_train // recipe.batch_size)
    if log_it and steps_now < MIN_STEPS:
        log.warning(f"[{name}] only {steps_now} optimizer steps per fold ({n_train:,} rows x {recipe.epochs} "
                    f"epoch(s), batch {recipe.batch_size}): expect a result near chance; give it more epochs or rows")
    elif log_it:
        log.info(f"[{name}] {steps} steps per fold at the recipe's batch are too few to learn: batch {recipe.batch_size} "
                 f"instead ({steps_now} steps; --batch-size to choose)")
    return recipe


def start_line(cfg: RunConfig, task: FoldTask, n_train: int) -> str:
    r = task.recipe
    seconds = task.given_seconds or r.seconds
    replanned = f", re-planned from {r.seconds:.0f} s" if task.given_seconds and abs(seconds - r.seconds) >= 1 else ""
    epochs = (f"~{r.epochs} epochs (as many as fit in {seconds:.0f} s{replanned})" if r.seconds
              else f"{r.epochs} epochs")
    return (f"[{task.member}] fold {task.fold + 1}/{cfg.folds}: training on {n_train:,} rows, {epochs}, "
            f"batch {r.batch_size}, {r.optimizer} lr {r.learning_rate:g}")
