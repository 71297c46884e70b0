"""Kaggle as it is today (issue 17), with the real ``kaggle`` CLI against tests/fake_kaggle.py: retired
accelerators, pushes the CLI reports as done but that failed, the concurrent GPU session limit part-way
through a fan-out and the rerun that pushes the rest, gather and unpushed parts, a slug still running, the
weekly GPU quota, the score coming back after submit, the runs ledger, the CLI's version, timeouts, and
what the kernel needs from Kaggle's image."""

from __future__ import annotations

import configparser
import os
import re
import stat
from pathlib import Path

import pytest

from fake_kaggle import FakeKaggle
from test_first_hour import fake_run
from test_kaggle import (QUICK, ROOT, USER, base_env, fake, in_process, kaggle_env, needs_kaggle,  # noqa: F401
                         one_line_error, script, work, write_competition)
from kaggle_digits import atomic, cli
from kaggle_digits.runs import rundir
from kaggle_digits.kaggle import client, fanout, image, ledger, limits, scores
from kaggle_digits.kaggle.outputs import KernelManifest
from kaggle_digits.planning import budget

SAVE = "kernels.KernelsApiService/SaveKernel"
STATUS = "kernels.KernelsApiService/GetKernelSessionStatus"


def push(fake: FakeKaggle, tmp_path: Path, work: Path, monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    code = in_process("push", *args, env=kaggle_env(fake, tmp_path / "home"), cwd=work, monkeypatch=monkeypatch)
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str) -> str:
    (line,) = [line for line in err.splitlines() if line.startswith("error: ")]
    return line


def fanout_of(work: Path) -> tuple[Path, dict, list]:
    (fanout_dir,) = (work / "submissions").glob("kernels-*")
    record, jobs = fanout.load_fanout(fanout_dir)
    return fanout_dir, record, jobs


def bodies(fake: FakeKaggle, method: str) -> list[dict]:
    return [r.json() for r in fake.requests if r.path.endswith("/" + method.rpartition("/")[2])]


# =========================================================================== accelerators
@needs_kaggle
@pytest.mark.parametrize("shape", ["NvidiaTeslaP100", "TpuV38"])
def test_a_retired_accelerator_is_refused_with_nothing_pushed(fake, work, tmp_path, monkeypatch, capsys, shape):
    code, _, err = push(fake, tmp_path, work, monkeypatch, capsys, "--accelerator", shape, "--no-wait", *QUICK)
    assert code == 2
    line = error_line(err)
    assert "retired" in line and "NvidiaTeslaT4" in line and shape in line
    assert fake.requests == [] and not (work / "submissions").exists()  # nothing built, nothing sent


@needs_kaggle
def test_minutes_over_several_kernels_is_refused_before_anything_is_built(fake, work, tmp_path, monkeypatch, capsys):
    """Each kernel plans its --minutes inside (its own models, folds, epochs): their folds could not be averaged."""
    code, _, err = push(fake, tmp_path, work, monkeypatch, capsys, "--kernels", "2", "--minutes", "30", "--no-wait")
    assert code == 2
    assert "--minutes with --kernels 2" in error_line(err)
    assert fake.requests == [] and not (work / "submissions").exists()


# =========================================================================== failures the CLI exits 0 on
@needs_kaggle
def test_invalid_competition_sources_line_is_a_failure(fake, work, tmp_path, monkeypatch, capsys):
    fake.rules_accepted = False  # Kaggle saves and runs the kernel, without the data it cannot attach
    code, _, err = push(fake, tmp_path, work, monkeypatch, capsys, "--no-wait", *QUICK)
    assert code == 2
    line = error_line(err)
    assert "could not attach the competition source(s) ['digit-recognizer']" in line
    assert "runs without its data" in line and "digit-recognizer/rules" in line


# =========================================================================== the concurrent GPU session limit
@needs_kaggle
def test_session_limit_part_way_then_the_same_command_pushes_only_the_rest(fake, work, tmp_path, monkeypatch,
                                                                           capsys):
    fake.hold_kernels, fake.gpu_session_limit = True, 2
    command = ("--kernels", "3", "--no-wait", *QUICK[:2], "--folds", "3", *QUICK[4:])
    code, out, err = push(fake, tmp_path, work, monkeypatch, capsys, *command)
    assert code == 2, out + err
    line = error_line(err)
    assert "Maximum batch GPU session count of 2 reached" in line and "2 of 3 kernels pushed" in line
    assert "run the same command again" in line and "--resume" in line
    fanout_dir, _, jobs = fanout_of(work)
    assert [bool(j.pushed) for j in jobs] == [True, True, False]  # what was pushed is recorded
    assert sorted(fake.kernels) == [f"{USER}/kaggle-digits-part1", f"{USER}/kaggle-digits-part2"]
    # each push carried its timeout, a hard cap: the 27.5 weekly GPU hours left shared by the 3 kernels pushed
    # (less than Kaggle's 12-hour cap); each script's KERNEL_INFO holds the same figure (the kernel's deadline)
    assert [b["sessionTimeoutSeconds"] for b in bodies(fake, SAVE)[:2]] == [j.timeout_seconds for j in jobs[:2]]
    assert all(j.timeout_seconds == int(27.5 * 3600 / 3) for j in jobs)
    assert all(re.search(rf"'timeout_seconds': {int(27.5 * 3600 / 3)}\b", b["text"]) for b in bodies(fake, SAVE)[:2])

    fake.finish(f"{USER}/kaggle-digits-part1")  # a session frees up
    saves = len(bodies(fake, SAVE))
    code, out, err = push(fake, tmp_path, work, monkeypatch, capsys, *command)
    assert code == 0, out + err
    assert f"resuming {fanout_dir.relative_to(work)}" in out
    assert [b["slug"] for b in bodies(fake, SAVE)[saves:]] == [f"{USER}/kaggle-digits-part3"]  # only the rest
    assert all(k.version == 1 for k in fake.kernels.values())  # parts 1 and 2 not pushed again
    assert all(j.pushed for j in fanout_of(work)[2])
    # the part pushed now is the only one sharing the quota left: Kaggle's 12-hour cap is the lesser
    assert bodies(fake, SAVE)[-1]["sessionTimeoutSeconds"] == limits.SESSION_CAP_SECONDS


@needs_kaggle
def test_gather_skips_unpushed_parts_and_resume_pushes_them(fake, work, tmp_path, monkeypatch, capsys):
    fake.hold_kernels, fake.gpu_session_limit = True, 1
    code, _, err = push(fake, tmp_path, work, monkeypatch, capsys, "--kernels", "2", "--no-wait", *QUICK)
    assert code == 2 and "1 of 2 kernels pushed" in error_line(err)
    fanout_dir, record, _ = fanout_of(work)
    part1, part2 = f"{USER}/kaggle-digits-part1", f"{USER}/kaggle-digits-part2"
    atomic.write_json(fake.kernels[part1].working / rundir.KERNEL_MANIFEST, {"fanout_id": record["fanout_id"]})
    fake.finish(part1)

    env = kaggle_env(fake, tmp_path / "home")
    before = len(fake.requests)
    assert in_process("gather", str(fanout_dir), "--poll", "0", env=env, cwd=work, monkeypatch=monkeypatch) == 2
    line = error_line(capsys.readouterr().err)
    assert f"1 of 2 kernels were never pushed ({part2})" in line and f"--resume {fanout_dir}" in line
    polled = {f"{r.json()['userName']}/{r.json()['kernelSlug']}" for r in fake.requests[before:]
              if r.path.endswith("/GetKernelSessionStatus")}
    assert polled == {part1}  # the part Kaggle refused was never waited on
    assert (fanout_dir / "kaggle-digits-part1" / "output" / rundir.KERNEL_MANIFEST).is_file()  # fetched, kept

    code, out, err = push(fake, tmp_path, work, monkeypatch, capsys, "--resume", str(fanout_dir), "--no-wait")
    assert code == 0, out + err
    assert sorted(fake.kernels) == [part1, part2] and fake.kernels[part1].version == 1


# =========================================================================== a slug still running
@needs_kaggle
def test_pushing_a_slug_that_still_runs_is_refused_without_yes(fake, work, tmp_path, monkeypatch, capsys):
    fake.hold_kernels = True
    assert push(fake, tmp_path, work, monkeypatch, capsys, "--no-wait", *QUICK)[0] == 0
    code, _, err = push(fake, tmp_path, work, monkeypatch, capsys, "--no-wait", *QUICK, "--seed", "7")
    assert code == 2
    line = error_line(err)
    assert f"{USER}/kaggle-digits (running) still running" in line and "earlier one keeps running" in line
    assert len(bodies(fake, SAVE)) == 1
    assert push(fake, tmp_path, work, monkeypatch, capsys, "--no-wait", "--yes", *QUICK, "--seed", "7")[0] == 0
    assert fake.kernels[f"{USER}/kaggle-digits"].version == 2


# =========================================================================== weekly GPU quota
@needs_kaggle
def test_a_push_beyond_the_gpu_hours_left_is_refused_unless_yes(fake, work, tmp_path, monkeypatch, capsys):
    fake.gpu_quota_hours = (29.5, 30.0)  # half an hour left this week
    budget = ("--minutes", "60", "--models", "cnn_gru", "--no-report")  # estimate: 60 min + start-up
    code, out, err = push(fake, tmp_path, work, monkeypatch, capsys, "--no-wait", *budget)
    assert code == 2, out + err
    assert "GPU quota: 0.5 of 30 h left this week; this push needs about 1.2 h" in out
    assert "needs about 1.2 GPU hours but 0.5 of your 30 weekly hours are left" in error_line(err)
    assert "kernels.KernelsApiService/GetAcceleratorQuotaStatistics" in fake.api_calls()
    assert bodies(fake, SAVE) == []
    code, out, err = push(fake, tmp_path, work, monkeypatch, capsys, "--no-wait", "--yes", *budget)
    assert code == 0, out + err
    (body,) = bodies(fake, SAVE)
    assert body["sessionTimeoutSeconds"] == 30 * 60  # the half hour left: -t never exceeds the quota left


def test_kernel_estimates_and_timeouts(tmp_path):
    recipe = {"cnn": 30, "cnn_gru": 20}.get
    budgeted = limits.kernel_estimate({"minutes": 90, "models": ["cnn"], "folds": 5}, recipe)
    assert budgeted.seconds == 105 * 60
    # without --minutes, --full or epochs a GPU kernel plans inside to its default budget: that is its estimate
    default = limits.kernel_estimate({"models": ["cnn", "cnn_gru"], "folds": 5}, recipe, speeds={})
    assert default.seconds == budget.GPU_DEFAULT_MINUTES * 60 + limits.STARTUP_SECONDS and "default" in default.basis
    whole = limits.kernel_estimate({"models": ["cnn", "cnn_gru"], "folds": 5, "full": True}, recipe, speeds={})
    part = limits.kernel_estimate({"models": ["cnn", "cnn_gru"], "folds": 5, "only_folds": [0], "full": True}, recipe,
                                  speeds={})
    assert whole.seconds - limits.STARTUP_SECONDS == pytest.approx(5 * (part.seconds - limits.STARTUP_SECONDS))
    assert "cnn at an assumed 3,000 images/s" in whole.basis
    assert limits.kernel_estimate({"models": ["cnn"], "folds": 5}, recipe, gpu=False).seconds == \
        limits.SESSION_CAP_SECONDS

    # an earlier kernel's measured speed, kept when its outputs were fetched, replaces the guess for that model,
    # precision and accelerator only
    manifest = KernelManifest(kernel=f"{USER}/k", accelerator="NvidiaTeslaT4", settings={"precision": "auto"},
                              images_per_second={"cnn": 6000.0, "cnn_gru": None})
    assert limits.record_kernel_speeds(manifest, root=tmp_path) == ["cnn"]
    speeds = limits.measured_speeds("auto", "NvidiaTeslaT4", root=tmp_path)
    assert limits.measured_speeds("float32", "NvidiaTeslaT4", root=tmp_path) == {}
    assert limits.measured_speeds("auto", "NvidiaL4", root=tmp_path) == {}
    measured = limits.kernel_estimate({"models": ["cnn", "cnn_gru"], "folds": 5, "full": True}, recipe, speeds=speeds)
    assert f"cnn at 6,000 images/s measured by kernel {USER}/k on NvidiaTeslaT4" in measured.basis
    assert "cnn_gru at an assumed 3,000 images/s" in measured.basis and measured.seconds < whole.seconds

    # -t is a hard cap: the least of Kaggle's 12 hours, --timeout-minutes, the GPU quota left over the kernels
    cap = limits.SESSION_CAP_SECONDS
    quota = limits.Quota(3.2, 26.8, 30.0, "")
    assert limits.push_timeout() == (cap, "Kaggle's 12-hour session cap")
    assert limits.push_timeout(90) == (90 * 60, "--timeout-minutes")
    assert limits.push_timeout(None, quota, 1) == (cap, "Kaggle's 12-hour session cap")
    assert limits.push_timeout(None, quota, 4)[0] == int(26.8 * 3600 / 4)
    assert limits.push_timeout(900, quota, 4)[0] == int(26.8 * 3600 / 4)
    assert limits.push_timeout(None, limits.Quota(30, 0.0, 30, ""), 2)[0] == limits.MIN_TIMEOUT_SECONDS
    # the kernel's own deadline: the limit less a reserve that suits 12 hours and a test's minute alike
    assert limits.kernel_deadline_seconds(cap) == cap - 15 * 60
    assert limits.kernel_deadline_seconds(3600) == 3600 - 360
    assert limits.kernel_deadline_seconds(60) == 50
    assert limits.parse_quota("resource,used,remaining,total,refreshAt\nGPU,3.20h,26.80h,30.00h,x\n") == \
        limits.Quota(3.2, 26.8, 30.0, "x")
    assert limits.quota_refusal(26.0, limits.Quota(3.2, 26.8, 30.0, "")) is None


# =========================================================================== the score comes back
@needs_kaggle
def test_submit_polls_through_pending_to_a_score_it_prints_and_records(fake, work, tmp_path, monkeypatch, capsys):
    fake.pending_polls = 2
    run = fake_run(work / "submissions" / "full", 0.9931)
    env = kaggle_env(fake, tmp_path / "home")
    assert in_process("submit", str(run / "submission.csv"), "--poll", "0.05", env=env, cwd=work,
                      monkeypatch=monkeypatch) == 0
    out = capsys.readouterr().out
    assert "public score 0.98765 (submission 1000) | OOF accuracy 99.3100% (run full)" in out
    assert "submissions left today: 4" in out  # reported by the CLI after the upload
    assert fake.api_calls().count("competitions.CompetitionApiService/ListSubmissions") >= 4  # 1 before + 3 polls
    (recorded,) = scores.read(run)
    assert recorded["status"] == "complete" and recorded["public_score"] == 0.98765 and recorded["ref"] == "1000"
    assert provenance_entry(work)["public_score"] == 0.98765


def provenance_entry(work: Path) -> dict:
    return atomic.read_json(work / "submissions" / rundir.SUBMITTED)[-1]


@needs_kaggle
def test_a_submission_kaggle_cannot_score_prints_its_error(fake, work, tmp_path, monkeypatch, capsys):
    fake.error_description = "Submission file has 27999 rows, expected 28000"
    run = fake_run(work / "submissions" / "full", 0.9931)
    env = kaggle_env(fake, tmp_path / "home")
    assert in_process("submit", str(run / "submission.csv"), "--poll", "0.05", env=env, cwd=work,
                      monkeypatch=monkeypatch) == 2
    line = error_line(capsys.readouterr().err)
    assert line == "error: Kaggle could not score submission 1000: Submission file has 27999 rows, expected 28000"
    assert scores.read(run)[-1]["status"] == "error"


# =========================================================================== the ledger
@needs_kaggle
def test_runs_table_after_two_runs_and_a_submission(fake, work, tmp_path, monkeypatch, capsys, fake_training):
    """Two runs (their folds by conftest's fake_training: the ledger reads records, not models), one submitted."""
    data = write_competition(tmp_path / "data", 300, 28_000)
    monkeypatch.chdir(work)
    quick = ["--data", str(data), "--models", "cnn_fast", "--epochs", "1", "--max-train-rows", "200",
             "--no-val-curves", "--no-report", "--verbose", "0"]
    assert cli.main(["make", *quick, "--folds", "2"]) == 0
    assert cli.main(["make", *quick, "--folds", "3"]) == 0
    older, newer = sorted(p.parent for p in (work / "submissions").glob("*/run.json"))
    atomic.write_json(older / rundir.RUN_RECORD, {**atomic.read_json(older / rundir.RUN_RECORD),
                                                  "created": "2026-01-01T10:00:00"})  # surely the older one
    env = kaggle_env(fake, tmp_path / "home")
    assert in_process("submit", str(newer / "submission.csv"), "--yes", "--poll", "0.05", env=env, cwd=work,
                      monkeypatch=monkeypatch) == 0
    capsys.readouterr()
    assert cli.main(["runs"]) == 0
    shown = capsys.readouterr().out
    frame = ledger.table(work / "submissions")
    assert list(frame["run"]) == [newer.name, older.name]  # newest first
    assert list(frame["folds x epochs"]) == ["3 x 1", "2 x 1"] and list(frame["models"]) == ["cnn_fast"] * 2
    assert list(frame["public score"]) == ["0.98765", ""]
    oof = atomic.read_json(newer / rundir.ENSEMBLE)["ensemble"]["oof_accuracy"]
    assert frame["OOF"][0] == f"{oof:.4%}" and frame["wall"][0].endswith(" min")
    commit = rundir.read_invocations(newer)[-1].commit
    assert frame["commit"][0] == (commit or "")
    assert shown.splitlines()[0].split() == ["when", "run", "models", "folds", "x", "epochs", "wall", "OOF",
                                             "public", "score", "commit"]
    assert newer.name in shown.splitlines()[1] and "0.98765" in shown.splitlines()[1]


# =========================================================================== the CLI itself
def fake_cli(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "kaggle"
    exe.write_text(f"#!/bin/sh\n{body}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return folder


def test_an_old_kaggle_cli_is_one_line_naming_its_version_and_the_fix(work, tmp_path):
    env = base_env(tmp_path / "home")
    bin_dir = fake_cli(tmp_path / "bin", 'echo "Kaggle API 1.6.17"')
    env.update(KAGGLE_USERNAME=USER, KAGGLE_KEY="k" * 10, PATH=f"{bin_dir}{os.pathsep}{env['PATH']}")
    line = one_line_error(script("download_data.py", env=env, cwd=work))
    assert "is version 1.6.17" in line and 'pip install -U "kaggle>=2.2.2"' in line


def test_a_hung_kaggle_call_is_stopped_by_its_timeout(tmp_path, monkeypatch):
    bin_dir = fake_cli(tmp_path / "bin", 'case "$1" in --version) echo "Kaggle CLI 2.2.5";; *) sleep 30;; esac')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("KAGGLE_API_TOKEN", "t" * 10)
    monkeypatch.setattr(client, "API_TIMEOUT", 1.0)
    with pytest.raises(client.KaggleError, match=r"`kaggle kernels status` did not finish within 1 s"):
        client.kernels_status(f"{USER}/kaggle-digits")


@pytest.mark.parametrize("output, expected", [
    ("Kernel push error: Maximum batch GPU session count of 2 reached.", "Kaggle refused it (Maximum batch GPU"),
    ("The following are not valid competition sources and could not be added to the kernel: ['x']\n"
     "Kernel version 3 successfully pushed.  Please check progress at https://www.kaggle.com/code/a/b",
     "could not attach the competition source(s) ['x']"),
])
def test_push_lines_the_cli_exits_0_on_are_failures(output, expected):
    message = client.diagnose(output, 0, what="pushing")
    assert message is not None and expected in message and "\n" not in message


# =========================================================================== Kaggle's image
def test_the_kernel_stops_in_one_line_when_keras_3_or_tensorflow_is_missing_or_too_old():
    tested = dict(image.TESTED)
    assert image.check(installed=tested.get) == []
    with pytest.raises(image.ImageError, match=r"keras 2\.15\.0 \(needs >= 3\.0\)"):
        image.check(installed={**tested, "keras": "2.15.0"}.get)
    with pytest.raises(image.ImageError, match="tensorflow missing"):
        image.check(installed={**tested, "tensorflow": None}.get, backend="tensorflow")
    with pytest.raises(image.ImageError, match=r"Python 3\.10\.4 \(needs >= 3\.11\)"):
        image.check(python=(3, 10, 4), installed=tested.get)
    older = image.check(installed={**tested, "tensorflow": "2.17.1"}.get)
    assert older == [f"tensorflow 2.17.1 (tested {tested['tensorflow']})"]
    assert image.check(installed={**tested, "tensorflow": None}.get, backend="jax") == []  # JAX needs no TF
    # the image's jax is named when older than the pinned one, under the JAX backend only
    older_jax = {**tested, "jax": "0.6.2", "jaxlib": "0.7.2"}.get
    assert image.check(installed=older_jax, backend="jax") == [f"jax 0.6.2 (tested {image.TESTED_JAX['jax']})"]
    assert image.check(installed=older_jax, backend="tensorflow") == []


def test_the_kernel_script_checks_the_image_before_importing_the_kit(tmp_path):
    from kaggle_digits.kaggle import bundle

    code = bundle.kernel_script({"models": ["cnn"], "folds": 2, "seed": 1})
    main = code[code.index('if __name__ == "__main__":'):]
    assert main.index("check_or_exit()") < main.index("from kaggle_digits.kaggle.bundle import kernel_main")


def test_declared_minimums_are_the_tested_versions():
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    options = setup["options"]
    assert options["python_requires"].strip() == ">=3.11"
    declared = dict(re.findall(r"^\s*([A-Za-z0-9_.-]+)>=([\d.]+)", options["install_requires"], re.MULTILINE))
    assert declared["kaggle"] == ".".join(map(str, client.MIN_CLI_VERSION))
    assert {k: declared[k] for k in image.TESTED} == image.TESTED
    # ... which are Kaggle's image's versions, as .ci/kaggle-image.txt pins them for CI's second environment
    pinned = dict(re.findall(r"^([A-Za-z0-9_.-]+)==([\d.]+)\s*$", (ROOT / ".ci" / "kaggle-image.txt").read_text(),
                             re.MULTILINE))
    assert pinned == {**image.TESTED, **image.TESTED_JAX}  # + the image's jax: the JAX backend's, no dependency
    import importlib.metadata

    for name, version in image.TESTED.items():  # what is installed here is what the tests ran with
        assert image.version_tuple(importlib.metadata.version(name)) >= image.version_tuple(version), name
