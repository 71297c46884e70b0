"""The typed records at the kit's file boundaries, beside the run summary (test_summary.py): the kernel's manifest
(kaggle/outputs.py), the plan in ensemble.json (scoring/summary.py) and run.json's invocations (runs/rundir.py).
Each is written with the keys it always had, read back equal, read from every older format the kit wrote (keys
added later get defaults), and something that is not one is a ValueError. No training, no Keras."""

from __future__ import annotations

import json
import time

import pytest

from kaggle_digits import atomic
from kaggle_digits.errors import DataError
from kaggle_digits.kaggle import ledger
from kaggle_digits.kaggle.outputs import KernelManifest, KernelOutputs, assigned_folds, read_manifest
from kaggle_digits.runs import rundir
from kaggle_digits.scoring.summary import RunPlan

# --------------------------------------------------------------------------- kernel_manifest.json
# KERNEL_INFO as fanout.prepare, bundle and the script put it; then what kernel_main adds
INFO = {"created": "2026-12-07T10:00:00", "git_commit": "abc1234", "fanout_id": "kernels-x-1a2b3c4d", "gpu": True,
        "accelerator": "NvidiaTeslaT4", "kernel": "me/kaggle-digits", "part": 1, "parts": 1,
        "package_sha256": "f" * 64, "timeout_seconds": 43200, "untested_versions": []}
RAN = {"kit_version": "0.2.0", "settings": {"models": ["cnn"], "folds": 2, "precision": "auto"},
       "backend": "tensorflow", "backend_reason": "jax sees no GPU", "keras_version": "3.13.2", "python": "3.11.7",
       "devices": "1 CPU", "input": "/in", "deadline_seconds": 41000.0}
PROGRESS = {"partial": False, "folds": {"cnn": [0, 1]}, "missing_folds": [], "images_per_second": {"cnn": 900.0},
            "precision": "float32", "submission": True, "wall_seconds": 81.5, "updated": "2026-12-07T10:02:00"}
END = {"n_test": 100, "finished": "2026-12-07T10:02:01", "stopped_at_deadline": [],
       "deadline": "deadline 41000 s after the start, 40919 s left",
       "ensemble": {"weights_used": "calibrated", "oof_accuracy": 0.975}}


def test_a_finished_kernel_s_manifest_reads_back_and_writes_the_same_keys():
    content = {**INFO, "stall_seconds": 900, **RAN, **PROGRESS, **END}  # stall_seconds: a key it does not know
    manifest = KernelManifest.from_json(json.loads(json.dumps(content)))
    assert manifest.to_json() == content and KernelManifest.from_json(manifest.to_json()) == manifest
    assert manifest.extra == {"stall_seconds": 900} and manifest.oof_accuracy == 0.975
    assert (manifest.kernel, manifest.fanout_id, manifest.timeout_seconds) == ("me/kaggle-digits", INFO["fanout_id"],
                                                                              43200)
    assert manifest.folds == {"cnn": [0, 1]} and manifest.stopped_at_deadline == [] and not manifest.partial


def test_the_outputs_write_the_keys_kernels_always_wrote(tmp_path):
    """At the start: KERNEL_INFO's keys, what ran it and the progress keys -- no n_test, nor those of the end (a
    kernel run locally has no KERNEL_INFO: none of its keys)."""
    for info in (INFO, {}):
        base = KernelManifest.from_json({**info, **RAN})
        KernelOutputs(tmp_path, base, {"cnn": [0, 1]}, time.monotonic()).write_manifest()
        written = atomic.read_json(tmp_path / rundir.KERNEL_MANIFEST)
        assert set(written) == set(info) | set(RAN) | set(PROGRESS)
        assert written["partial"] is True and written["missing_folds"] == ["cnn/fold0", "cnn/fold1"]
        assert read_manifest(tmp_path).missing_folds == ["cnn/fold0", "cnn/fold1"]


def test_the_first_kernels_manifests_read_with_defaults():
    """Before partial outputs (issue 23) a kernel wrote its manifest once, at its end: no partial, folds, speeds,
    precision, deadline or update time."""
    first = {**{k: INFO[k] for k in ("created", "git_commit", "fanout_id", "kernel")}, **RAN,
             "wall_seconds": 300.0, "finished": "2026-11-21T12:00:00", "submission": True, "missing_folds": [],
             "ensemble": {"oof_accuracy": 0.99}, "n_test": 28_000}
    del first["deadline_seconds"]
    old = KernelManifest.from_json(first)
    assert old.partial is False and old.folds == {} and old.images_per_second == {} and old.precision is None
    assert old.stopped_at_deadline is None and old.deadline_seconds is None and old.extra == {}
    assert old.oof_accuracy == 0.99 and old.n_test == 28_000
    # collections written as null read as empty, as their readers always took them
    assert KernelManifest.from_json({"folds": None, "missing_folds": None}).folds == {}


@pytest.mark.parametrize("content", [[], "text", {"partial": "yes"}, {"folds": [0, 1]}, {"missing_folds": "cnn"},
                                     {"timeout_seconds": "soon"}])
def test_what_is_not_a_kernel_manifest_is_a_value_error(content, tmp_path):
    with pytest.raises(ValueError, match="not a kernel manifest"):
        KernelManifest.from_json(content)
    atomic.write_json(tmp_path / rundir.KERNEL_MANIFEST, content)
    with pytest.raises(DataError, match="not a kernel manifest"):
        read_manifest(tmp_path)


def test_a_missing_manifest_says_the_kernel_did_not_finish(tmp_path):
    with pytest.raises(DataError, match="the kernel did not finish"):
        read_manifest(tmp_path)


def test_the_folds_a_run_means_to_train():
    """Every member (--seeds), fold 0 alone for a holdout, the --only-folds of those: as the pipeline's tasks."""
    assert assigned_folds({"models": ["a", "b"], "folds": 3}) == {"a": [0, 1, 2], "b": [0, 1, 2]}
    assert assigned_folds({"models": ["a"], "folds": 5, "holdout": True}) == {"a": [0]}
    assert assigned_folds({"models": ["a"], "folds": 3, "seeds": 2, "only_folds": [1, 2]}) == {"a": [1, 2],
                                                                                            "a@2": [1, 2]}
    assert assigned_folds({"models": ["a"], "folds": 5, "holdout": True, "only_folds": [1]}) == {"a": []}


# --------------------------------------------------------------------------- the plan in ensemble.json
PLAN_KEYS = {"folds", "seeds", "epochs", "holdout", "augment", "fold_seconds"}


def test_a_plan_writes_its_keys_and_reads_back_equal():
    plan = RunPlan(folds=5, epochs={"cnn_fast": 9}, augment=True, fold_seconds={"cnn_fast": 30.5}, holdout=True,
                   seeds=2)
    assert set(plan.to_json()) == PLAN_KEYS
    assert RunPlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan


@pytest.mark.parametrize("content, expected", [
    # the first budgets (0.1.0): the plan in words too
    ({"description": "2 folds x cnn 3 ep", "folds": 2, "epochs": {"cnn": 3}, "augment": False},
     RunPlan(folds=2, epochs={"cnn": 3}, augment=False)),
    ({"folds": 2, "epochs": {"cnn": 3}, "augment": True}, RunPlan(folds=2, epochs={"cnn": 3}, augment=True)),
    ({"folds": 2, "epochs": {"cnn": 3}, "augment": True, "fold_seconds": {"cnn": 12.0}},  # folds fitted to seconds
     RunPlan(folds=2, epochs={"cnn": 3}, augment=True, fold_seconds={"cnn": 12.0})),
    ({"folds": 5, "epochs": {"cnn": 3}, "holdout": True, "augment": True, "fold_seconds": {}},  # holdout plans
     RunPlan(folds=5, epochs={"cnn": 3}, augment=True, holdout=True)),
])
def test_every_release_s_plan_reads_with_defaults(content, expected):
    assert RunPlan.from_json(content) == expected
    assert (expected.seeds, set(expected.to_json())) == (1, PLAN_KEYS)


@pytest.mark.parametrize("content", [[], {"folds": 2}, {"folds": "2", "epochs": {}, "augment": True},
                                     {"folds": 2, "epochs": [3], "augment": True},
                                     {"folds": 2, "epochs": {}, "augment": True, "holdout": "no"}])
def test_what_is_not_a_plan_is_a_value_error(content):
    with pytest.raises(ValueError, match="not a run plan"):
        RunPlan.from_json(content)


# --------------------------------------------------------------------------- run.json's invocations
ENTRY = {"command": "kaggle-digits make --minutes 3", "commit": "abc1234", "machine": "2-core CPU",
         "precision": "float32", "policy": "float32", "devices": "1 CPU", "finished": "2026-12-07T10:00:00",
         "wall_seconds": 170.5, "trained_folds": 2}


def _run_dir(tmp_path, invocations):
    atomic.write_json(tmp_path / rundir.RUN_RECORD, {"created": "2026-12-07T09:57:00", "invocations": invocations})
    return tmp_path


def test_an_invocation_is_recorded_with_its_keys_and_reads_back_equal(tmp_path):
    atomic.write_json(tmp_path / rundir.RUN_RECORD, {"created": "2026-12-07T09:57:00"})
    assert rundir.read_invocations(tmp_path) == []  # a run made before invocations were recorded
    invocation = rundir.Invocation.from_json(ENTRY)
    rundir.record_invocation(tmp_path, invocation)
    rundir.record_invocation(tmp_path, rundir.Invocation(**{**ENTRY, "commit": None, "trained_folds": 0}))
    written = atomic.read_json(tmp_path / rundir.RUN_RECORD)["invocations"]
    assert written[0] == ENTRY
    assert rundir.read_invocations(tmp_path) == [invocation, rundir.Invocation(**{**ENTRY, "commit": None,
                                                                                   "trained_folds": 0})]


def test_the_first_invocations_read_without_policy_and_devices(tmp_path):
    first = {k: v for k, v in ENTRY.items() if k not in ("policy", "devices")}
    (old,) = rundir.read_invocations(_run_dir(tmp_path, [first]))
    assert (old.policy, old.devices, old.command, old.wall_seconds) == (None, None, ENTRY["command"], 170.5)


@pytest.mark.parametrize("invocations", [["make"], [{"command": "make"}], [{**ENTRY, "wall_seconds": "long"}],
                                         {"command": "make"}])
def test_what_is_not_an_invocation_is_a_value_error_and_the_ledger_shows_none(tmp_path, invocations):
    run_dir = _run_dir(tmp_path / "subs" / "run1", invocations)
    with pytest.raises(ValueError, match=f"{rundir.RUN_RECORD}: not an? (invocation|run) record"):
        rundir.read_invocations(run_dir)
    row = ledger.describe(run_dir, tmp_path / "subs")  # one unreadable run does not stop the ledger
    assert row["commit"] == "" and row["wall"] == ""
