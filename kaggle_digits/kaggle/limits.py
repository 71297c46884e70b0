"""Kaggle's machines and limits as they are today, and what the kit does about them before a push.

- Accelerators: ``NvidiaTeslaT4`` ("GPU T4 x2") is the default GPU. Retired shapes (P100, TPU v2/v3) are
  refused here, before anything is pushed: Kaggle accepts them but silently runs the session on something
  else (kaggle-cli PR #1192), so the run would not be what was asked for. T4 has no bf16: the kit trains in
  float16 there (precision.py).
- Run time: each kernel gets ``kaggle kernels push -t SECONDS`` from its estimate plus a margin, so a hung
  kernel stops long before Kaggle's 12-hour cap and stops using GPU quota.
- GPU quota: ``kaggle quota`` is read before a fan-out; a push needing more GPU hours than are left this
  week is refused unless ``--yes``.

A kernel's estimate is its ``--minutes`` budget when it has one (the kernel plans its run to that budget,
on the T4's measured speed). Without one it trains the full recipe, whose T4 time the kit has not measured:
the estimate then assumes ``ASSUMED_T4_IMAGES_PER_SECOND`` (a deliberately low guess for the kit's small
CNNs) and says so; ``--minutes`` gives a measured plan instead.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass

from kaggle_digits.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_ACCELERATOR = "NvidiaTeslaT4"  # Kaggle's "GPU T4 x2" (machine_shape; kaggle-cli docs, PR #1198)
# lower-cased id -> what Kaggle does with it today (kaggle-cli 2.2.x, _RETIRED_ACCELERATORS)
RETIRED = {
    "nvidiateslap100": "the P100 is retired: Kaggle runs such a session on a T4 instead",
    "tpuv38": "TPU v3-8 is retired: Kaggle runs such a session on a TPU v5e-8 instead",
    "tpu1vmv38": "TPU v3-8 (1VM) is retired: Kaggle runs such a session on a TPU v5e-8 instead",
    "tpuv232": "TPU v2-32 is retired: Kaggle runs such a session on a CPU instead",
    "tpuv2256": "TPU v2-256 is retired: Kaggle runs such a session on a CPU instead",
}
KNOWN = ("NvidiaTeslaT4", "TpuV5E8", "NvidiaL4", "NvidiaTeslaA100", "NvidiaH100")  # the last three: restricted

SESSION_CAP_SECONDS = 12 * 3600  # Kaggle stops any session after 12 hours
STARTUP_SECONDS = 15 * 60        # queue, image start, unpacking, imports, data: before the first fold trains
MIN_TIMEOUT_SECONDS = 30 * 60
TIMEOUT_FACTOR = 2.0             # the run may take twice its estimate before Kaggle stops it
# Not measured by the kit (no T4 here): a low guess of training speed for its small CNNs on one T4 in
# float16, so the estimate errs long; prediction is ~5x faster than training.
ASSUMED_T4_IMAGES_PER_SECOND = 3000.0
FULL_TRAIN_ROWS, TEST_ROWS = 42_000, 28_000


def check_accelerator(accelerator: str | None) -> str | None:
    """The accelerator to push with; ConfigError for a retired one (before anything is pushed)."""
    if not accelerator:
        return None
    reason = RETIRED.get(accelerator.strip().lower())
    if reason is not None:
        raise ConfigError(f"--accelerator {accelerator}: {reason} (kaggle-cli PR #1192), so the run would not be "
                          f"what you asked for; use the default {DEFAULT_ACCELERATOR} (GPU T4 x2) or leave "
                          f"--accelerator out")
    if accelerator not in KNOWN:
        log.warning(f"--accelerator {accelerator}: not one of Kaggle's accelerators the kit knows "
                    f"({', '.join(KNOWN)}); Kaggle decides what the session runs on")
    return accelerator


# --------------------------------------------------------------------------- time per kernel
@dataclass(frozen=True)
class Estimate:
    seconds: float   # the run, start-up included
    basis: str       # where the figure comes from, for the user

    @property
    def timeout_seconds(self) -> int:
        """``kaggle kernels push -t``: twice the estimate, at least 30 min, at most Kaggle's 12-hour cap."""
        return int(min(SESSION_CAP_SECONDS, max(MIN_TIMEOUT_SECONDS, TIMEOUT_FACTOR * self.seconds)))

    @property
    def hours(self) -> float:
        return self.seconds / 3600


def kernel_estimate(settings: dict, epochs_of, gpu: bool = True) -> Estimate:
    """The run time of one kernel with ``settings`` (its models and ``only_folds``); ``epochs_of(model)`` is a
    model's recipe epochs (the registry's)."""
    if settings.get("minutes"):
        return Estimate(settings["minutes"] * 60 + STARTUP_SECONDS, f"its --minutes {settings['minutes']:g} budget")
    if not gpu:  # a CPU session's speed is not guessed: the timeout is Kaggle's own cap
        return Estimate(SESSION_CAP_SECONDS / TIMEOUT_FACTOR, "no estimate for a CPU kernel without --minutes")
    folds = settings["folds"]
    n_parts = len(settings.get("only_folds") or range(folds))
    rows = min(settings.get("max_train_rows") or FULL_TRAIN_ROWS, FULL_TRAIN_ROWS)
    per_model = {m: settings.get("epochs") or (settings.get("model_epochs") or {}).get(m) or epochs_of(m)
                 for m in settings["models"]}
    train = sum(per_model.values()) * rows * (folds - 1) / folds / ASSUMED_T4_IMAGES_PER_SECOND
    predict = len(per_model) * (rows / folds + TEST_ROWS) / (5 * ASSUMED_T4_IMAGES_PER_SECOND)
    return Estimate(n_parts * (train + predict) + STARTUP_SECONDS,
                    f"the full recipe at an assumed {ASSUMED_T4_IMAGES_PER_SECOND:,.0f} images/s on a T4 (not "
                    f"measured; --minutes M plans on the T4's measured speed)")


# --------------------------------------------------------------------------- weekly GPU quota
@dataclass(frozen=True)
class Quota:
    used_hours: float
    remaining_hours: float
    total_hours: float
    refresh: str


def parse_quota(output: str, resource: str = "GPU") -> Quota | None:
    """``kaggle quota --csv`` (resource,used,remaining,total,refreshAt; hours as ``3.20h``) -> Quota, or None."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("resource,")), None)
    if start is None:
        return None
    for row in csv.DictReader(io.StringIO("\n".join(lines[start:]))):
        if row.get("resource", "").upper() == resource:
            try:
                used, left, total = (float(re.sub(r"[^\d.]", "", row[k])) for k in ("used", "remaining", "total"))
            except (KeyError, ValueError):
                return None
            return Quota(used, left, total, row.get("refreshAt", ""))
    return None


def quota_refusal(needed_hours: float, quota: Quota | None) -> str | None:
    """Why a push needing ``needed_hours`` of GPU should not be pushed (None: it fits, or the quota is unknown)."""
    if quota is None or needed_hours <= quota.remaining_hours:
        return None
    refresh = f" (the quota refreshes {quota.refresh})" if quota.refresh else ""
    return (f"the push needs about {needed_hours:.1f} GPU hours but {quota.remaining_hours:.1f} of your "
            f"{quota.total_hours:.0f} weekly hours are left{refresh}")
