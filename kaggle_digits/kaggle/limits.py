"""Kaggle's machines and limits as they are today, and what the kit does about them before a push.

- Accelerators: ``NvidiaTeslaT4`` ("GPU T4 x2") is the default GPU. Retired shapes (P100, TPU v2/v3) are
  refused here, before anything is pushed: Kaggle accepts them but silently runs the session on something
  else (kaggle-cli PR #1192), so the run would not be what was asked for. T4 has no bf16: the kit trains in
  float16 there (precision.py).
- Run time: each kernel gets ``kaggle kernels push -t SECONDS``, a hard cap and never a guess (``push_timeout``):
  the least of Kaggle's 12-hour session cap, ``--timeout-minutes``, and -- GPU pushes, when ``kaggle quota`` can
  be read -- the weekly GPU hours left shared among the kernels pushed. The kernel gets the same figure (its
  script's KERNEL_INFO) and keeps its own deadline a reserve before it (``kernel_deadline_seconds``): it stops
  training in time and ends with the folds it finished written, whatever its speed turns out to be, since
  ``-t`` has been seen not to stop a stuck kernel.
- GPU quota: ``kaggle quota`` is read before a push; a push whose estimate needs more GPU hours than are left
  this week is refused unless ``--yes``.

The estimate serves only that check and the line the push prints. It is the kernel's ``--minutes`` budget
plus start-up when it has one, and on a GPU without ``--full``/``--epochs`` the default budget
(budget.GPU_DEFAULT_MINUTES): the kernel probes its speed and plans its run to that budget inside. With
``--full`` or given epochs the kernel trains them, estimated at the training images/s an earlier kernel measured for the same model, precision and
accelerator (its manifest, kept in the kit's cache when its outputs are fetched: ``record_kernel_speeds``), else
at ``ASSUMED_T4_IMAGES_PER_SECOND`` (a deliberately low guess for the kit's small CNNs); its basis says which.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kaggle_digits import atomic
from kaggle_digits.competition.data import cache_root
from kaggle_digits.errors import ConfigError

if TYPE_CHECKING:  # the type only: the estimates need nothing outputs imports (pandas, scipy)
    from kaggle_digits.kaggle.outputs import KernelManifest

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
# kaggle-cli's documented machine shapes of today (docs/kernels_metadata, late 2026); many are gated by account or
# competition. T4 x2 trains under MirroredStrategy in float16; a one-GPU shape trains without a strategy (XLA on:
# train.JIT_COMPILE), in bfloat16 where the GPU has it (precision.py).
GPU_SHAPES = ("NvidiaTeslaT4", "NvidiaL4X1", "NvidiaL4", "NvidiaTeslaA100", "NvidiaH100", "NvidiaRtxPro6000")
# The kit's kernels train on GPUs (MirroredStrategy / keras DataParallel over GPU devices); on a TPU session they
# would see no GPU and stop (kaggle/guard.py), so a TPU shape is refused before the push instead.
TPU_SHAPES = ("TpuV5E8", "TpuV6E8")
KNOWN = GPU_SHAPES + TPU_SHAPES

SESSION_CAP_SECONDS = 12 * 3600  # Kaggle stops any session after 12 hours
STARTUP_SECONDS = 15 * 60        # queue, image start, unpacking, imports, data: before the first fold trains
MIN_TIMEOUT_SECONDS = 30         # -t is never below this, however little quota is left (-t 0 would be no limit)
# A kernel's deadline is its -t limit less a reserve for what its clock cannot see or stop: the session's start
# before the script's first line (on Kaggle, the image starting: a minute or two) and writing the final outputs
# after training stops (the ensemble, the report). A tenth of the limit, at least 10 s and at most 15 min:
# 12 h -> 15 min (2 %), 1 h -> 6 min, a test's 1 min -> 10 s. Outputs are rewritten after every fold anyway.
KERNEL_RESERVE_FRACTION, KERNEL_RESERVE_MIN_SECONDS, KERNEL_RESERVE_MAX_SECONDS = 0.1, 10.0, 15 * 60.0
KERNEL_SPEEDS = "kernel_speeds.json"  # in data.cache_root(): images/s earlier kernels measured (record_kernel_speeds)
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
    if accelerator.strip().lower() in {t.lower() for t in TPU_SHAPES}:
        raise ConfigError(f"--accelerator {accelerator}: a TPU session; the kit's kernels train on GPUs "
                          f"({', '.join(GPU_SHAPES)}) and would stop on a TPU without training. Use the default "
                          f"{DEFAULT_ACCELERATOR} (GPU T4 x2)")
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
    def hours(self) -> float:
        return self.seconds / 3600


def push_timeout(timeout_minutes: float | None = None, quota: "Quota | None" = None,
                 n_kernels: int = 1) -> tuple[int, str]:
    """``kaggle kernels push -t`` for each of ``n_kernels`` kernels pushed now, and what set it: the least of
    Kaggle's 12-hour session cap, ``timeout_minutes`` and the GPU ``quota`` left shared among the kernels (pass
    it for GPU pushes when ``kaggle quota`` was read); never below ``MIN_TIMEOUT_SECONDS``."""
    caps = {"Kaggle's 12-hour session cap": float(SESSION_CAP_SECONDS)}
    if timeout_minutes:
        caps["--timeout-minutes"] = timeout_minutes * 60
    if quota is not None:
        caps[f"the {quota.remaining_hours:.1f} weekly GPU hours left over {max(1, n_kernels)} kernel(s)"] = \
            quota.remaining_hours * 3600 / max(1, n_kernels)
    why = min(caps, key=caps.get)
    return max(MIN_TIMEOUT_SECONDS, int(caps[why])), why


def kernel_deadline_seconds(timeout_seconds: float) -> float:
    """Seconds from the kernel script's start to its own deadline: ``timeout_seconds`` less the reserve."""
    reserve = min(KERNEL_RESERVE_MAX_SECONDS,
                  max(KERNEL_RESERVE_MIN_SECONDS, KERNEL_RESERVE_FRACTION * timeout_seconds))
    return max(0.0, timeout_seconds - reserve)


def kernel_estimate(settings: dict, epochs_of, gpu: bool = True, accelerator: str | None = DEFAULT_ACCELERATOR,
                    speeds: dict[str, dict] | None = None) -> Estimate:
    """The run time of one kernel with ``settings`` (its models and ``only_folds``); ``epochs_of(model)`` is a
    model's recipe epochs (the registry's); ``speeds``: model -> an earlier kernel's measurement (default: those
    kept for this precision and accelerator, ``measured_speeds``)."""
    if settings.get("minutes"):
        return Estimate(settings["minutes"] * 60 + STARTUP_SECONDS, f"its --minutes {settings['minutes']:g} budget")
    if not gpu:  # a CPU session's speed is not guessed
        return Estimate(SESSION_CAP_SECONDS, "no estimate for a CPU kernel without --minutes (Kaggle's 12-hour cap)")
    if not (settings.get("full") or settings.get("epochs") or settings.get("model_epochs")):
        from kaggle_digits.planning.budget import GPU_DEFAULT_MINUTES  # Keras: only where the default applies

        return Estimate(GPU_DEFAULT_MINUTES * 60 + STARTUP_SECONDS,
                        f"the GPU kernel's default {GPU_DEFAULT_MINUTES:g}-minute budget (--minutes to choose)")
    if speeds is None:
        speeds = measured_speeds(settings.get("precision", "auto"), accelerator)
    folds = settings["folds"]
    n_parts = len(settings.get("only_folds") or range(folds))
    rows = min(settings.get("max_train_rows") or FULL_TRAIN_ROWS, FULL_TRAIN_ROWS)
    seconds, basis = 0.0, []
    for m in settings["models"]:
        epochs = settings.get("epochs") or (settings.get("model_epochs") or {}).get(m) or epochs_of(m)
        speed = float(speeds[m]["images_per_second"]) if m in speeds else ASSUMED_T4_IMAGES_PER_SECOND
        # prediction is ~5x faster than training
        seconds += epochs * rows * (folds - 1) / folds / speed + (rows / folds + TEST_ROWS) / (5 * speed)
        basis.append(f"{m} at {speed:,.0f} images/s measured by kernel {speeds[m].get('kernel')} on {accelerator} "
                     f"({speeds[m].get('recorded', '?')})" if m in speeds else
                     f"{m} at an assumed {speed:,.0f} images/s on a T4 (not measured yet)")
    return Estimate(n_parts * seconds + STARTUP_SECONDS, "the full recipe, " + "; ".join(basis))


def record_kernel_speeds(manifest: KernelManifest, root: Path | None = None) -> list[str]:
    """Keep the training images/s a fetched kernel measured (its manifest's ``images_per_second`` per model) for
    the next estimate on the same precision and accelerator; returns the models recorded."""
    speeds = {m: v for m, v in manifest.images_per_second.items() if v}
    accelerator = manifest.accelerator
    if not speeds or not accelerator:  # a CPU kernel, or one from before the manifest said
        return []
    path = Path(root or cache_root()) / KERNEL_SPEEDS
    try:
        known = atomic.read_json(path) if path.is_file() else {}
        precision = manifest.settings.get("precision", "auto")
        when = dt.date.today().isoformat()
        for model, speed in speeds.items():
            known[f"{model}|{precision}|{accelerator}"] = {"images_per_second": float(speed), "recorded": when,
                                                          "kernel": manifest.kernel}
        atomic.write_json(path, known)
    except (OSError, ValueError) as exc:  # only the next estimate is worse for it
        log.warning(f"could not keep the kernel's measured speed in {path}: {exc}")
        return []
    return sorted(speeds)


def measured_speeds(precision: str, accelerator: str | None, root: Path | None = None) -> dict[str, dict]:
    """model -> {images_per_second, kernel, recorded}: what earlier kernels measured on ``accelerator`` in
    ``precision`` (record_kernel_speeds)."""
    path = Path(root or cache_root()) / KERNEL_SPEEDS
    try:
        known = atomic.read_json(path) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    suffix = f"|{precision}|{accelerator}"
    return {key[:-len(suffix)]: value for key, value in known.items() if key.endswith(suffix)}


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
