"""``push --resume-kernels FANOUT_DIR``: kernels that stopped with folds missing continue in new kernels.

Every kernel keeps its outputs valid after each fold and stops itself before its limit (kaggle/outputs.py), so
a kernel slower than its limit ends with a partial manifest. For each such kernel of a fan-out, a new kernel
``OWNER/<slug>-resumeN`` is built with the same settings and the earlier kernel in its kernel-metadata.json's
``kernel_sources``: Kaggle mounts that kernel's output as input, the new kernel copies the finished fold folders
from it, reuses them and trains only the missing folds; gather then has every fold.

A new slug rather than a new version of the same one: Kaggle's status and output answer for a slug's newest
version only, so the earlier outputs would no longer be fetchable, and a notebook attaching its own output is
not documented. The fan-out record names the new kernel in the earlier one's place (``resumed_from``; the
earlier outputs stay listed in ``earlier_outputs``, which gather falls back on); it is then pushed like any part
not pushed yet.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from kaggle_digits.runs import rundir
from kaggle_digits.errors import DataError
from kaggle_digits.kaggle import fanout, gather, limits
from kaggle_digits.kaggle.bundle import write_kernel_folder

log = logging.getLogger(__name__)
SUFFIX = "-resume"
MAX_SLUG = 50  # Kaggle's slugs: 5-50 characters (bundle._SLUG)


def next_id(kernel_id: str) -> str:
    """``owner/slug`` -> ``owner/slug-resume1``; ``owner/slug-resume1`` -> ``owner/slug-resume2``."""
    owner, _, slug = kernel_id.partition("/")
    base, sep, n = slug.rpartition(SUFFIX)
    number = int(n) + 1 if sep and n.isdigit() else 1
    base = base if sep and n.isdigit() else slug
    suffix = f"{SUFFIX}{number}"
    return f"{owner}/{base[:MAX_SLUG - len(suffix)].rstrip('-')}{suffix}"


def resume_kernels(fanout_dir: Path, git_commit: str | None = None) -> list[fanout.KernelJob]:
    """Build a resuming kernel for every pushed kernel of ``fanout_dir`` whose fetched manifest is partial, and
    record it in fanout.json in the earlier one's place; returns the kernels to push (built now or before)."""
    from kaggle_digits.models import get_spec

    record, jobs = fanout.load_fanout(fanout_dir)
    if refused := [job.id for job in jobs if not job.pushed and not job.resumed_from]:
        raise DataError(f"{fanout_dir}: {', '.join(refused)} never pushed; push them first with `python "
                        f"scripts/push_kernel.py --resume {fanout_dir}`")
    todo = [job for job in jobs if not job.pushed]  # built by an earlier --resume-kernels, not pushed yet
    for job in [job for job in jobs if job.pushed]:
        manifest = fanout.fetched_manifest(fanout_dir, record, job)
        if manifest is None:
            raise DataError(f"{job.id}: its outputs are not fetched; gather first (`python scripts/gather_kernels.py "
                            f"{fanout_dir}`)")
        if not manifest.partial:
            continue
        new_id = next_id(job.id)
        slug = new_id.partition("/")[2]
        # a --minutes kernel's plan (models, folds, epochs, seconds) as it made it: the new kernel trains the
        # missing folds of that plan, it does not plan again
        settings = gather.planned_settings(fanout_dir, record, job)
        info = {"created": dt.datetime.now().isoformat(timespec="seconds"), "git_commit": git_commit,
                "fanout_id": fanout.push_id(record), "gpu": record.get("gpu", True),
                "accelerator": record.get("accelerator") if record.get("gpu", True) else None,
                "kernel": new_id, "resume_from": job.id}
        write_kernel_folder(Path(fanout_dir) / slug / rundir.KERNEL_BUNDLE, new_id, settings, gpu=record.get("gpu", True),
                            accelerator=record.get("accelerator"), info=info, kernel_sources=(job.id,))
        missing = manifest.missing_folds
        # the folds kernel_estimate counts (each model's, of only_folds): the missing ones' share of its seconds
        assigned = len(settings["models"]) * len(job.only_folds or range(settings["folds"]))
        estimate = limits.kernel_estimate(settings, lambda m: get_spec(m).recipe.epochs, gpu=record.get("gpu", True),
                                          accelerator=record.get("accelerator"))
        log.info(f"[{job.id}] resumed by {new_id}: it takes {fanout.describe_folds(manifest.folds)} "
                 f"from the earlier kernel's output and trains {', '.join(missing)}")
        job.earlier_outputs = [job.output, *job.earlier_outputs]
        job.resumed_from, job.id, job.pushed, job.status = job.id, new_id, "", ""
        job.bundle, job.output = f"{slug}/{rundir.KERNEL_BUNDLE}", f"{slug}/{rundir.KERNEL_OUTPUT}"
        job.estimate_seconds = limits.STARTUP_SECONDS + (estimate.seconds - limits.STARTUP_SECONDS) * (
            len(missing) / max(1, assigned))
        todo.append(job)
    fanout.save_fanout(fanout_dir, record, jobs)
    return todo
