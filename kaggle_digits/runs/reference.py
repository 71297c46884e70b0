"""The reference submission: ``submissions/reference/{submission.csv, manifest.json}`` from one finished run.

``kaggle-digits reference RUN_DIR`` copies the run's validated submission.csv and writes manifest.json:
what made it (command, commit, config, machine, precision), how good it is out of fold (the ensemble and
each member, with the per-fold spread and s/epoch) and how long it took. This module is the one writer
and reader of manifest.json; ``read_manifest`` checks its schema and that the submission beside it is the
one the manifest describes. Refused: runs on the bundled sample or a --max-train-rows subset, unfinished
runs, and runs made before the kit recorded its invocations (their command and wall time are unknown).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from kaggle_digits import atomic, portable
from kaggle_digits.competition import submission
from kaggle_digits.runs import rundir, runload
from kaggle_digits.errors import DataError, OutputError

from kaggle_digits.runs.rundir import REFERENCE_DIR, REFERENCE_MANIFEST

# every key a manifest must hold, with its type: the README's results table and the tests rely on these
SCHEMA = {"command": str, "commit": str, "config": dict, "oof_accuracy": float, "members": dict,
          "wall_seconds": float, "machine": str, "precision": str, "blend": str, "folds": int,
          "n_train": int, "n_test": int, "data_sha256": str, "submission_sha256": str, "run": str}
MEMBER_SCHEMA = {"oof_accuracy": float, "fold_accuracy": list, "fold_accuracy_std": float,
                 "seconds_per_epoch": float, "epochs": int, "params": int}


def build_manifest(run_dir: str | os.PathLike) -> dict:
    """The manifest of a finished full-data run (RunError / DataError saying why a run cannot be the reference)."""
    run = runload.load_run(run_dir)
    info, summary = run.data_info, run.summary
    if info.get("is_sample") or info.get("n_train_used") != info.get("n_train_total"):
        raise DataError(f"{run.run_dir}: trained on {info.get('n_train_used')} of {info.get('n_train_total')} rows"
                        f"{' of the bundled sample' if info.get('is_sample') else ''}; the reference must be a run on "
                        f"the whole competition train.csv")
    trained = [i for i in rundir.read_invocations(run.run_dir) if i.trained_folds]
    if not trained:
        raise DataError(f"{run.run_dir}: no recorded invocation trained its folds (a run made before the kit "
                        f"recorded them); its command and wall time are unknown -- train it again with --fresh")
    sub = run.run_dir / rundir.SUBMISSION
    members = {name: {"oof_accuracy": m.oof_accuracy, "fold_accuracy": m.fold_accuracy,
                      "fold_accuracy_std": m.fold_accuracy_std, "seconds_per_epoch": m.seconds_per_epoch,
                      "epochs": m.epochs, "params": m.params} for name, m in summary.models.items()}
    return {
        # a resumed run: every command that trained; paths as the project sees them (portable.py)
        "command": " && ".join(portable.command_text(i.command) for i in trained),
        "commit": trained[-1].commit or "unknown", "config": portable.values(run.config),
        "oof_accuracy": summary.ensemble.oof_accuracy, "blend": summary.ensemble.weights_used,
        "members": members, "error_overlap": [pair.to_json() for pair in summary.error_overlap],
        "wall_seconds": float(sum(i.wall_seconds for i in trained)), "machine": trained[-1].machine,
        "precision": trained[-1].precision, "folds": run.n_folds, "n_train": int(len(run.y)),
        "n_test": int(len(run.test)),
        "data_sha256": info["sha256"], "submission_sha256": hashlib.sha256(sub.read_bytes()).hexdigest(),
        "run": run.run_dir.name,
    }


def write_reference(run_dir: str | os.PathLike, to: str | os.PathLike = REFERENCE_DIR) -> Path:
    """Copy RUN_DIR's submission.csv into ``to`` and write its manifest.json there; returns the manifest path."""
    manifest = build_manifest(run_dir)
    source = Path(run_dir) / rundir.SUBMISSION
    submission.validate_file(source, n_rows=manifest["n_test"])  # every test row once, labels 0..9
    to = Path(to)
    try:
        to.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, to / rundir.SUBMISSION)
    except OSError as exc:
        raise OutputError(f"cannot write the reference into {to}: {exc.strerror or exc}") from None
    return atomic.write_json(to / REFERENCE_MANIFEST, manifest)


def read_manifest(path: str | os.PathLike = REFERENCE_DIR / REFERENCE_MANIFEST) -> dict:
    """manifest.json, checked: every SCHEMA key with its type, and the submission.csv beside it unchanged."""
    path = Path(path)
    try:
        manifest = atomic.read_json(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the reference manifest ({exc})") from None
    _check(manifest, SCHEMA, str(path))
    for name, member in manifest["members"].items():
        _check(member, MEMBER_SCHEMA, f"{path}: members.{name}")
    if not 0 <= manifest["oof_accuracy"] <= 1:
        raise DataError(f"{path}: oof_accuracy is {manifest['oof_accuracy']}, expected a fraction in [0, 1]")
    beside = path.with_name(rundir.SUBMISSION)
    if not beside.is_file() or hashlib.sha256(beside.read_bytes()).hexdigest() != manifest["submission_sha256"]:
        raise DataError(f"{beside} is missing or not the submission {path} describes (sha256 differs); "
                        f"rewrite both with `kaggle-digits reference RUN_DIR`")
    return manifest


def _check(record: dict, schema: dict, where: str) -> None:
    for key, kind in schema.items():
        value = record.get(key)
        ok = isinstance(value, kind) or (kind is float and isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            raise DataError(f"{where}: {key!r} is {type(value).__name__ if key in record else 'missing'}, "
                            f"expected {kind.__name__}")
