"""Fan folds out over Kaggle kernels, push them, wait for them and gather their folds into one run.

Fan-out gives each kernel some folds (``only_folds``) or some (model, fold groups); each kernel is a
bundle (kaggle/bundle.py) whose outputs use the ordinary run layout. ``gather`` copies every kernel's
fold folders into one local run folder and runs the normal ensemble step on them (``ensemble_only``:
nothing is trained, and the fold fingerprints must match except for the code version and the Keras
backend).

The fan-out folder's fanout.json (``rundir.FANOUT``) records which kernels were pushed. Kaggle refuses a push beyond the account's
concurrent GPU sessions ("Maximum batch GPU session count of N reached"): the parts pushed before stay
recorded, the same push command (``unfinished`` finds the fan-out by its request) or ``--resume`` pushes only
the rest, and waiting/gathering never polls a part that was never pushed.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from kaggle_digits import __version__, atomic
from kaggle_digits.runs import rundir
from kaggle_digits.config import DEFAULT_SUBMISSIONS, kernel_settings
from kaggle_digits.errors import DataError, OutputError
from kaggle_digits.fingerprint import digest
from kaggle_digits.kaggle import client, limits
from kaggle_digits.kaggle.bundle import set_kernel_info, write_kernel_folder
from kaggle_digits.kaggle.limits import DEFAULT_ACCELERATOR
from kaggle_digits.kaggle.outputs import KernelManifest, manifest_or_none

log = logging.getLogger(__name__)
TERMINAL = ("complete", "error", "cancel_requested", "cancel_acknowledged")
ACTIVE = ("queued", "running", "new_script")  # a version still running (or about to) on Kaggle


# --------------------------------------------------------------------------- splitting the work
def split_work(models: tuple[str, ...], n_folds: int, n_kernels: int,
               only_folds: tuple[int, ...] | None = None) -> list[tuple[tuple[str, ...], tuple[int, ...] | None]]:
    """Split (model, fold) work over at most ``n_kernels`` kernels: fold groups first, then per model.

    Returns (models, folds) pairs; folds None means all folds (one kernel doing everything).
    """
    folds = list(only_folds) if only_folds else list(range(n_folds))
    if n_kernels <= 1:
        return [(tuple(models), tuple(only_folds) if only_folds else None)]
    if n_kernels <= len(folds) or n_kernels < 2 * len(models):
        groups = _split(folds, min(n_kernels, len(folds)))
        return [(tuple(models), tuple(g)) for g in groups]
    per_model = min(len(folds), n_kernels // len(models))
    return [((m,), tuple(g)) for m in models for g in _split(folds, per_model)]


def _split(items: list, n: int) -> list[list]:
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(items[start:end])
        start = end
    return [g for g in out if g]


@dataclass
class KernelJob:
    id: str            # owner/slug
    models: list
    only_folds: list | None
    bundle: str        # folder pushed with `kaggle kernels push -p`, relative to the fan-out folder
    output: str        # where `kaggle kernels output` puts the files, relative to the fan-out folder
    pushed: str = ""   # the CLI's confirmation line; "" while not pushed
    status: str = ""
    estimate_seconds: float = 0.0  # limits.kernel_estimate, start-up included
    timeout_seconds: int = 0       # `kaggle kernels push -t` (limits.push_timeout), also in its script's KERNEL_INFO
    resumed_from: str = ""         # push --resume-kernels: the kernel whose finished folds this one took over
    earlier_outputs: list = field(default_factory=list)  # those kernels' fetched outputs (gather falls back on them)


def request_key(settings: dict, owner: str, slug: str, n_kernels: int, gpu: bool, accelerator: str | None) -> str:
    """What a push was asked to do: the same command gives the same key (so it can resume its fan-out)."""
    asked = [kernel_settings(settings), owner, slug, n_kernels, gpu, accelerator]
    return digest(asked, 16)


def unfinished(root: Path, request: str) -> Path | None:
    """The newest fan-out folder under ``root`` made by the same request with parts never pushed, if any."""
    for fanout_dir in sorted(Path(root).glob(f"{rundir.FANOUT_PREFIX}*"), reverse=True):
        try:
            record, jobs = load_fanout(fanout_dir)
        except DataError:
            continue
        if record.get("request") == request and any(not j.pushed for j in jobs):
            return fanout_dir
    return None


def prepare(settings: dict, owner: str, *, slug: str = "kaggle-digits", n_kernels: int = 1,
            root: Path = Path(DEFAULT_SUBMISSIONS), gpu: bool = True,
            accelerator: str | None = DEFAULT_ACCELERATOR, git_commit: str | None = None) -> Path:
    """Write one kernel folder per part plus fanout.json under ``root``/kernels-<time>/; return that folder."""
    from kaggle_digits.models import get_spec

    request = request_key(settings, owner, slug, n_kernels, gpu, accelerator)
    settings = kernel_settings(settings)
    parts = split_work(tuple(settings["models"]), settings["folds"], n_kernels, settings.get("only_folds"))
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    fanout_dir = atomic.unique_path(Path(root) / f"{rundir.FANOUT_PREFIX}{stamp}")
    fanout_id = f"{fanout_dir.name}-{uuid.uuid4().hex[:8]}"  # tells this push's outputs from an earlier version's
    info = {"created": dt.datetime.now().isoformat(timespec="seconds"), "git_commit": git_commit,
            "fanout_id": fanout_id, "gpu": gpu, "accelerator": accelerator if gpu else None}
    jobs = []
    for i, (models, folds) in enumerate(parts, start=1):
        part_slug = slug if len(parts) == 1 else f"{slug}-part{i}"
        part = {**settings, "models": list(models), "only_folds": list(folds) if folds else None}
        kernel_id = f"{owner}/{part_slug}"
        write_kernel_folder(fanout_dir / part_slug / rundir.KERNEL_BUNDLE, kernel_id, part, gpu=gpu, accelerator=accelerator,
                            info={**info, "kernel": kernel_id, "part": i, "parts": len(parts)})
        estimate = limits.kernel_estimate(part, lambda m: get_spec(m).recipe.epochs, gpu=gpu, accelerator=accelerator)
        jobs.append(KernelJob(kernel_id, list(models), list(folds) if folds else None, f"{part_slug}/{rundir.KERNEL_BUNDLE}",
                              f"{part_slug}/{rundir.KERNEL_OUTPUT}", estimate_seconds=estimate.seconds,
                              timeout_seconds=limits.push_timeout()[0]))  # push sets the final one (set_timeouts)
        basis = estimate.basis
    save_fanout(fanout_dir, {"kit_version": __version__, "created": info["created"], "git_commit": git_commit,
                             "fanout_id": fanout_id, "request": request, "estimate_basis": basis,
                             "settings": settings, "gpu": gpu, "accelerator": accelerator,
                             "kernels": [vars(j) for j in jobs]})
    return fanout_dir


def load_fanout(fanout_dir: Path) -> tuple[dict, list[KernelJob]]:
    """The fan-out record of ``fanout_dir`` and its kernels."""
    path = Path(fanout_dir) / rundir.FANOUT
    try:
        record = atomic.read_json(path)
    except FileNotFoundError:
        raise DataError(f"{fanout_dir}: no {rundir.FANOUT}; give the folder that scripts/push_kernel.py "
                        f"printed") from None
    except ValueError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    return record, [KernelJob(**k) for k in record["kernels"]]


def save_fanout(fanout_dir: Path, record: dict, jobs: list[KernelJob] | None = None) -> None:
    if jobs is not None:
        record = {**record, "kernels": [vars(j) for j in jobs]}
    atomic.write_json(Path(fanout_dir) / rundir.FANOUT, record)


def set_timeouts(fanout_dir: Path, jobs: list[KernelJob], seconds: int) -> None:
    """Each of ``jobs`` is pushed with ``-t seconds``: recorded, and written into its script's KERNEL_INFO, from
    which the kernel takes its own deadline."""
    for job in jobs:
        job.timeout_seconds = int(seconds)
        set_kernel_info(Path(fanout_dir) / job.bundle, timeout_seconds=int(seconds))


def push_id(record: dict) -> str | None:
    """Which push wrote ``record`` (fanout.json; a kernel's manifest says it as ``KernelManifest.fanout_id``)."""
    return record.get("fanout_id")


# --------------------------------------------------------------------------- push, wait, fetch
def still_running(jobs: list[KernelJob]) -> list[tuple[KernelJob, str]]:
    """The parts whose kernel (an earlier push of the same slug) is queued or running on Kaggle now."""
    return [(job, state) for job in jobs if (state := client.kernel_state(job.id)) in ACTIVE]


def push_all(fanout_dir: Path, *, yes: bool = False) -> list[KernelJob]:
    """Push every part not pushed yet, recording each in fanout.json as it goes.

    Refused before the first push (unless ``yes``): a part whose slug still runs on Kaggle, since a new push
    starts a new version while the earlier one keeps running. A concurrent-session refusal part-way stops
    here with the parts pushed so far recorded, saying how to push the rest.
    """
    record, jobs = load_fanout(fanout_dir)
    todo = [job for job in jobs if not job.pushed]
    if not yes and (running := still_running(todo)):
        names = ", ".join(f"{job.id} ({state})" for job, state in running)
        raise OutputError(f"{names} still running on Kaggle from an earlier push: pushing again starts a new version "
                          f"and the earlier one keeps running and using GPU quota (Kaggle does not stop it); wait "
                          f"for it, stop it at https://www.kaggle.com/code/{running[0][0].id}, use another --slug, "
                          f"or pass --yes")
    for job in todo:
        try:
            job.pushed = client.kernels_push(Path(fanout_dir) / job.bundle, timeout_seconds=job.timeout_seconds or None)
        except client.SessionLimitError as exc:
            save_fanout(fanout_dir, record, jobs)
            done = sum(bool(j.pushed) for j in jobs)
            raise client.KaggleError(
                f"{exc}; {done} of {len(jobs)} kernels pushed and recorded in {Path(fanout_dir) / rundir.FANOUT}: once "
                f"one of them has finished, run the same command again (or `python scripts/push_kernel.py "
                f"--resume {fanout_dir}`) to push the other {len(jobs) - done}") from None
        log.info(f"[{job.id}] {job.pushed}")
        save_fanout(fanout_dir, record, jobs)
    return jobs


def wait_and_fetch(fanout_dir: Path, *, poll_seconds: float = 60,
                   timeout_seconds: float = 13 * 3600) -> list[KernelJob]:
    """Poll ``kaggle kernels status`` until every kernel has finished, fetching each one's outputs as it does.

    A kernel that ended in any way (complete, error, cancelled at its timeout) with a manifest of this push is
    taken, partial or not -- it keeps its outputs valid after every fold; only one without any fails. The speeds
    a fetched kernel measured are kept for the next estimate (limits.record_kernel_speeds)."""
    record, jobs = load_fanout(fanout_dir)
    deadline = time.monotonic() + timeout_seconds
    # a part Kaggle never accepted has nothing to wait for (gather names it)
    pending = [j for j in jobs if j.pushed and fetched_manifest(fanout_dir, record, j) is None]
    failures, stale = [], {}
    while pending:
        time.sleep(poll_seconds)  # also right after a push: the status may still be the previous version's
        for job in list(pending):
            status, failure = client.kernels_status(job.id)
            if status != job.status:
                log.info(f"[{job.id}] {status}" + (f": {failure}" if failure else ""))
                job.status = status
                save_fanout(fanout_dir, record, jobs)
            if status not in TERMINAL:
                continue
            output = Path(fanout_dir) / job.output
            if output.exists():
                shutil.rmtree(output)
            # the manifest first: the status may still describe the previous version of this kernel
            client.kernels_output(job.id, output, file_pattern=f"^{re.escape(rundir.KERNEL_MANIFEST)}$")
            if (output / rundir.KERNEL_MANIFEST).is_file() and fetched_manifest(fanout_dir, record, job) is None:
                if not stale.get(job.id):
                    log.info(f"[{job.id}] its outputs are still an earlier version's; waiting for this push to run")
                stale[job.id] = True
                continue
            files = client.kernels_output(job.id, output)
            pending.remove(job)
            log.info(f"[{job.id}] {len(files)} output files in {output}")
            if (manifest := fetched_manifest(fanout_dir, record, job)) is None:
                failures.append(f"{job.id} ({status}{': ' + failure if failure else ''}; log in {output})")
                continue
            limits.record_kernel_speeds(manifest)
            if manifest.partial:
                log.info(f"[{job.id}] {status}: partial outputs -- {describe_folds(manifest.folds)}; "
                         f"missing {', '.join(manifest.missing_folds)} (stopped at its deadline or did "
                         f"not finish; `push --resume-kernels {fanout_dir}` trains the rest)")
        if pending and time.monotonic() > deadline:
            raise DataError(f"kernels still running after {timeout_seconds / 3600:.1f} h: "
                            f"{', '.join(j.id for j in pending)}; fetch them later with "
                            f"`python scripts/gather_kernels.py {fanout_dir}`")
    if failures:
        raise DataError(f"kernel(s) did not finish: {'; '.join(failures)}")
    return jobs


def describe_folds(folds: dict[str, list[int]]) -> str:
    """``cnn folds 1, 2`` from a manifest's {model: [0-based folds]}."""
    return "; ".join(f"{m} folds {', '.join(str(k + 1) for k in ks)}" for m, ks in folds.items() if ks) or "no fold"


def fetched_manifest(fanout_dir: Path, record: dict, job: KernelJob) -> KernelManifest | None:
    """The fetched kernel_manifest.json of ``job`` if it belongs to this fan-out's push, else None."""
    manifest = manifest_or_none(Path(fanout_dir) / job.output)
    return manifest if manifest is not None and manifest.fanout_id == push_id(record) else None
