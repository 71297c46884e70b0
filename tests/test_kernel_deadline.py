"""The deadline inside a Kaggle kernel (issue 23): a kernel stops itself before its session limit with a valid
submission of the folds it finished, gather takes such partial kernels, and a resumed kernel trains only the
folds missing. Unit tests use a fake clock (no real timing is asserted); the end-to-end test runs the real
kaggle CLI against tests/fake_kaggle.py, which kills a kernel that runs past its ``sessionTimeoutSeconds``.
"""

from __future__ import annotations

import ast
import json
import logging
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fake_kaggle import FakeKaggle
from test_kaggle import (ROOT, USER, base_env, fake, in_process, kaggle_env, needs_kaggle,  # noqa: F401
                         run_kernel_code, work, write_competition)
from kaggle_digits import atomic
from kaggle_digits.competition import submission
from kaggle_digits.runs import rundir
from kaggle_digits.training import workers
from kaggle_digits.planning.schedule import FoldPlan, FoldSchedule
from kaggle_digits.training.clock import Deadline, limited
from kaggle_digits.kaggle import bundle, client, fanout, gather, limits, outputs, resume


class FakeClock:
    def __init__(self, now: float = 100.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


# =========================================================================== the deadline and the rule
def test_deadline_elapsed_remaining_expired_with_a_fake_clock():
    clock = FakeClock()
    deadline = Deadline(60, clock=clock)
    assert deadline.elapsed() == 0 and deadline.remaining() == 60 and not deadline.expired() and limited(deadline)
    clock.now += 45
    assert deadline.elapsed() == 45 and deadline.remaining() == 15 and not deadline.expired()
    clock.now += 20
    assert deadline.remaining() == 0 and deadline.expired()
    started_earlier = Deadline(60, start=clock.now - 50, clock=clock)  # made from the script's first reading
    assert started_earlier.remaining() == 10
    for none in (Deadline.none(clock), None):
        assert not limited(none)
    assert Deadline.none(clock).remaining() == math.inf and not Deadline.none(clock).expired()


def test_a_fold_that_cannot_finish_before_the_deadline_is_not_started():
    clock = FakeClock()
    plans = {f"cnn/fold{k}": FoldPlan(fixed=0.0, fit=30.0) for k in range(3)} | {"gru/fold0": FoldPlan(0, 5, measured=False)}
    schedule = FoldSchedule(plans, Deadline(100, clock=clock))
    assert schedule.admit("cnn/fold0").admitted  # the probe's 30 s fit in the 100 left
    clock.now += 40
    schedule.finished("cnn/fold0", 40.0)
    assert schedule.pace.expect(plans["cnn/fold1"]) == pytest.approx(40)  # this run's pace wins over the probe
    assert schedule.admit("cnn/fold1").admitted  # 40 s needed, 60 left
    clock.now += 40
    schedule.finished("cnn/fold1", 40.0)
    assert schedule.admit("cnn/fold2").refusal == "it needs about 40 s and 20 s are left before the deadline"
    clock.now += 30
    assert schedule.admit("gru/fold0").refusal == "the deadline has passed"  # unknown or not: nothing starts after it
    unlimited = FoldSchedule({"cnn/fold0": FoldPlan(0.0, 1e9)}, Deadline.none(clock))
    assert unlimited.admit("cnn/fold0").admitted  # no deadline: everything starts


def test_the_probe_estimate_is_rescaled_by_the_pace_of_other_models_folds():
    clock = FakeClock()
    plans = {"cnn/fold0": FoldPlan(0.0, 10.0), "gru/fold0": FoldPlan(0.0, 50.0)}
    schedule = FoldSchedule(plans, Deadline(1000, clock=clock))
    schedule.admit("cnn/fold0")
    clock.now += 20  # twice as slow as its probe said
    schedule.finished("cnn/fold0", 20.0)
    assert schedule.pace.expect(plans["gru/fold0"]) == 100.0


def test_run_all_asks_before_each_job_and_skips_the_refused():
    asked = []

    def admit(i):
        asked.append(i)
        return i != 1

    assert list(workers.run_all(pow, [(2, 1), (2, 2), (2, 3)], 1, admit=admit)) == [(0, 2), (2, 8)]
    assert asked == [0, 1, 2]


@pytest.mark.slow
def test_a_fold_running_at_the_deadline_is_stopped_and_not_saved(tmp_path, eager_folds):
    from kaggle_digits.training import cutoff
    from kaggle_digits.config import AugmentConfig
    from kaggle_digits.models import get_spec
    from kaggle_digits.training.train import FoldTask

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(64, 28, 28, 1), dtype=np.uint8)
    y = rng.integers(0, 10, size=64)
    task = FoldTask(model="seed003_mlp", hp=dict(get_spec("seed003_mlp").hp),
                    recipe=get_spec("seed003_mlp").recipe.override(epochs=3, batch_size=8),
                    augment=AugmentConfig(enabled=False), fold=0, n_folds=2, seed=1, data_sha256="d",
                    rows_sha256="r", validate_each_epoch=False)
    ticks = iter(range(10_000))
    deadline = Deadline(10, start=0, clock=lambda: next(ticks))  # one second per look: it comes mid-epoch
    assert cutoff.train_until(cutoff.FoldJob(deadline, task, x[:48], y[:48], x[48:], y[48:], x[:8], tmp_path)) is None
    assert not (tmp_path / rundir.DONE).exists()  # never reused as if finished
    assert cutoff.train_until(cutoff.FoldJob(None, task, x[:48], y[:48], x[48:], y[48:], x[:8], tmp_path / "b")) \
        is not None


# =========================================================================== partial ensembles
def _fold(model: str, fold: int, n_held: int, n_test: int, seed: int):
    from kaggle_digits.training.train import FoldResult

    rng = np.random.default_rng(seed)
    probs = lambda n: rng.dirichlet(np.ones(10), size=n).astype(np.float32)  # noqa: E731
    return FoldResult(model, fold, probs(n_held), probs(n_test),
                      metrics={"val_accuracy": 0.5, "fit_seconds": 1.0, "epochs": 1, "params": 1,
                               "images_per_second": 100.0})


def test_a_partial_ensemble_scores_the_folds_every_model_has_and_averages_the_folds_present():
    from kaggle_digits.errors import DataError
    from kaggle_digits.scoring.summary import summarise

    fold_of = np.repeat(np.arange(3), 20)
    y = np.random.default_rng(1).integers(0, 10, size=60)
    a = [_fold("a", k, 20, 7, k) for k in range(3)]
    b = [_fold("b", k, 20, 7, 10 + k) for k in range(3)]
    full = summarise({"a": a, "b": b}, y, fold_of, "equal").summary
    assert full.partial is False and full.scored_folds == [0, 1, 2] and full.folds == {"a": [0, 1, 2], "b": [0, 1, 2]}
    part = summarise({"a": [a[0], a[1], None], "b": [b[0], None, None], "c": [None] * 3}, y, fold_of, "equal")
    assert part.summary.partial is True and part.summary.scored_folds == [0] and part.summary.left_out == ["c"]
    assert part.summary.folds == {"a": [0, 1], "b": [0]}
    expected = (np.mean([a[0].test, a[1].test], axis=0) + b[0].test) / 2  # per model, then across models
    np.testing.assert_allclose(part.test_probabilities, expected, atol=1e-6)
    oof = part.oof_probabilities
    assert oof.shape == (60, 10) and np.isnan(oof[20:]).all() and not np.isnan(oof[:20]).any()
    with pytest.raises(DataError, match="no fold result at all"):
        summarise({"a": [None] * 3}, y, fold_of, "auto")


# =========================================================================== the kernel's pieces
def test_the_script_records_its_start_first_and_its_session_limit_is_rewritten_in_place(tmp_path):
    folder = bundle.write_kernel_folder(tmp_path / "k", f"{USER}/kaggle-digits-x", {"models": ["cnn"], "folds": 2,
                                        "seed": 1}, info={"kernel": "k"}, kernel_sources=(f"{USER}/earlier",))
    code = (folder / bundle.CODE_FILE).read_text()
    body = code[code.index('"""', code.index('"""') + 3) + 3:]
    assert body.lstrip().startswith("import time\n\nSCRIPT_START = time.monotonic()")
    payload = code[code.index("PACKAGE_ZIP = ("):]
    info = bundle.set_kernel_info(folder, timeout_seconds=3600)
    assert info["timeout_seconds"] == 3600 and info["kernel"] == "k"
    after = (folder / bundle.CODE_FILE).read_text()
    assert "'timeout_seconds': 3600" in after and after[after.index("PACKAGE_ZIP = ("):] == payload
    assert json.loads((folder / bundle.METADATA_FILE).read_text())["kernel_sources"] == [f"{USER}/earlier"]


def test_resumed_kernel_names():
    assert resume.next_id(f"{USER}/kaggle-digits") == f"{USER}/kaggle-digits-resume1"
    assert resume.next_id(f"{USER}/kaggle-digits-part2-resume1") == f"{USER}/kaggle-digits-part2-resume2"
    assert len(resume.next_id(f"{USER}/{'a' * 50}").partition("/")[2]) == 50


def test_a_resumed_kernel_finds_the_earlier_output_and_takes_only_its_own_finished_folds(tmp_path):
    earlier = tmp_path / "input" / "earlier-kernel"
    for name in ("cnn/fold0", "cnn/fold1", "cnn/fold3", "gru/fold0"):
        atomic.write_json(earlier / rundir.KERNEL_RUN / name / rundir.DONE, {})
    (earlier / rundir.KERNEL_RUN / "cnn" / "fold2").mkdir()  # stopped at the deadline: no done.json
    assert outputs.source_runs({outputs.SOURCES_ENV: str(earlier)}) == [earlier / rundir.KERNEL_RUN]
    run_dir = tmp_path / "run"
    copied = outputs.adopt_folds(run_dir, {"cnn": [0, 1, 2]}, [earlier / rundir.KERNEL_RUN])
    assert copied == ["cnn/fold0", "cnn/fold1"] and (run_dir / "cnn/fold1" / rundir.DONE).is_file()
    assert not (run_dir / "gru").exists() and not (run_dir / "cnn/fold3").exists()


def test_a_minutes_kernel_s_outputs_gather_and_resume_follow_the_plan_it_made(tmp_path):
    """A kernel pushed with --minutes plans inside (on an H200 its 3-minute plan swapped cnn,cnn_gru for cnn_fast):
    its manifest's missing folds, gather's wanted folds and a resumed kernel's settings are those of that plan
    (its run folder's config.toml), not the push's -- which would call a finished kernel partial forever and make
    the resumed one plan, and train, everything again."""
    from kaggle_digits.config import RunConfig
    from kaggle_digits.pipeline import FoldsDone

    fanout_dir = fanout.prepare({"models": ["cnn", "cnn_gru"], "folds": 5, "seed": 1, "minutes": 3.0}, USER,
                                root=tmp_path / "subs")
    record, (job,) = fanout.load_fanout(fanout_dir)
    assert gather.planned_settings(fanout_dir, record, job)["models"] == ["cnn", "cnn_gru"]  # nothing fetched yet
    plan = RunConfig(models=("cnn_fast",), folds=4, model_epochs={"cnn_fast": 27},
                     model_seconds={"cnn_fast": 14.0}, validate_each_epoch=False)
    run = fanout_dir / job.output / rundir.KERNEL_RUN
    run.mkdir(parents=True)
    (run / rundir.CONFIG).write_text(plan.to_toml())
    planned = gather.planned_settings(fanout_dir, record, job)
    assert (planned["models"], planned["folds"], planned["minutes"]) == (["cnn_fast"], 4, None)
    assert planned["model_epochs"] == {"cnn_fast": 27} and planned["model_seconds"] == {"cnn_fast": 14.0}

    # the kernel's manifest: cnn_fast folds 1-3 of 4 done, 4 missing -- no cnn or cnn_gru fold is "missing"
    kept = outputs.KernelOutputs(tmp_path / "working", outputs.KernelManifest(settings=record["settings"]),
                                 outputs.assigned_folds(record["settings"]), time.monotonic())
    data = type("Data", (), {"n_test": 7, "sample_ids": None})()
    done = FoldsDone({"cnn_fast": [_fold("cnn_fast", k, 5, 7, k) for k in range(3)] + [None]}, data, run, "float32")
    kept.fold_done(done)
    manifest = outputs.read_manifest(tmp_path / "working")
    assert manifest.missing_folds == ["cnn_fast/fold3"] and manifest.folds == {"cnn_fast": [0, 1, 2]}
    kept.fold_done(FoldsDone({"cnn_fast": done.results["cnn_fast"][:3] + [_fold("cnn_fast", 3, 5, 7, 3)]}, data,
                             run, "float32"))
    assert outputs.read_manifest(tmp_path / "working").partial is False

    # gather names the planned folds missing
    reasons = gather._why_missing(fanout_dir, record, [job])
    assert sorted(reasons) == [f"cnn_fast/fold{k}" for k in range(4)]

    # a resumed kernel trains the missing folds of that plan: it does not plan again
    job.pushed = "pushed"
    fanout.save_fanout(fanout_dir, record, [job])
    atomic.write_json(fanout_dir / job.output / rundir.KERNEL_MANIFEST,
                      {"fanout_id": record["fanout_id"], "partial": True, "folds": {"cnn_fast": [0, 1, 2]},
                       "missing_folds": ["cnn_fast/fold3"]})
    (new,) = resume.resume_kernels(fanout_dir)
    code = (fanout_dir / new.bundle / bundle.CODE_FILE).read_text()
    settings = ast.literal_eval(code[code.index("SETTINGS = ") + len("SETTINGS = "):].split("\n")[0])
    assert (settings["models"], settings["folds"], settings["minutes"]) == (["cnn_fast"], 4, None)
    assert settings["model_epochs"] == {"cnn_fast": 27}


# =========================================================================== the fake plays the timeout
@pytest.mark.slow
@needs_kaggle
def test_a_kernel_past_its_limit_is_killed_and_gather_names_what_is_missing(fake, tmp_path, monkeypatch, caplog):
    """The fake kills a kernel at its -t; its status is CANCEL_ACKNOWLEDGED with Kaggle's message and the files it
    wrote are its output: wait_and_fetch takes its partial manifest, gather refuses (one line) since no fold
    finished. A stand-in script, so this costs seconds, not a training run."""
    def sleeper(code, working, timeout, sources):
        push = re.search(r"'fanout_id': '([^']+)'", code).group(1)
        script = (f"import json, time\njson.dump({{'fanout_id': {push!r}, 'partial': True, 'folds': {{}}, "
                  f"'missing_folds': ['seed003_mlp/fold0']}}, open('{rundir.KERNEL_MANIFEST}', 'w'))\ntime.sleep(60)\n")
        return run_kernel_code(script, working, tmp_path, tmp_path / "khome", 0, timeout, sources)

    fake.kernel_runner = sleeper
    for key, value in kaggle_env(fake, tmp_path / "home").items():
        monkeypatch.setenv(key, value)
    fanout_dir = fanout.prepare({"models": ["seed003_mlp"], "folds": 2, "seed": 1}, USER, root=tmp_path / "subs")
    record, jobs = fanout.load_fanout(fanout_dir)
    fanout.set_timeouts(fanout_dir, jobs, 2)  # below the kit's floor on purpose: the fake's kill is the subject
    fanout.save_fanout(fanout_dir, record, jobs)
    fanout.push_all(fanout_dir)
    caplog.set_level(logging.INFO, logger="kaggle_digits")
    fanout.wait_and_fetch(fanout_dir, poll_seconds=0.5)
    status, failure = client.kernels_status(jobs[0].id)
    assert status == "cancel_acknowledged" and "exceeded the max allowed execution duration" in failure
    assert "killed at its session limit of 2 s" in fake.kernels[jobs[0].id].log
    assert any("partial outputs -- no fold" in m for m in caplog.messages)
    monkeypatch.chdir(tmp_path)
    from kaggle_digits.errors import DataError

    with pytest.raises(DataError, match=rf"no kernel finished a fold \(kernel {USER}/kaggle-digits did not finish\)"):
        gather.gather(fanout_dir, data=str(write_competition(tmp_path / "data", 100, 20)))


# =========================================================================== end to end
SETTINGS = ["--models", "seed003_mlp", "--folds", "5", "--epochs", "2", "--no-augment", "--blend", "equal",
            "--no-val-curves", "--no-report"]


def _limit_for(window: float) -> float:
    """The -t whose kernel deadline (limits.kernel_deadline_seconds) is ``window`` seconds after its start."""
    if window + limits.KERNEL_RESERVE_MIN_SECONDS <= limits.KERNEL_RESERVE_MIN_SECONDS / limits.KERNEL_RESERVE_FRACTION:
        return window + limits.KERNEL_RESERVE_MIN_SECONDS
    return window / (1 - limits.KERNEL_RESERVE_FRACTION)


def _reference_run(data: Path, submissions: Path, home: Path) -> tuple[Path, float]:
    """SETTINGS run by the CLI in a fresh Python at this process's priority, as the kernel will run them: its run
    folder and how long the process took. A separate process, so its pace is the kernel's even where this one is
    slowed (coverage traces only the test process)."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_submission.py"), *SETTINGS, "--data",
                           str(data), "--submissions-dir", str(submissions)], env=base_env(home), cwd=submissions.parent,
                          capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run,) = [p.parent for p in submissions.glob("*/ensemble.json")]
    return run, elapsed


@needs_kaggle
@pytest.mark.slow
def test_a_kernel_stops_at_its_deadline_then_resumes_to_the_uncut_result(fake, work, tmp_path, monkeypatch, capsys):
    data = write_competition(tmp_path / "input" / "digit-recognizer", 1000, submission.KAGGLE_TEST_ROWS)
    env = kaggle_env(fake, tmp_path / "home")
    fake.kernel_runner = lambda code, working, timeout, sources: run_kernel_code(  # at this process's priority:
        code, working, data, tmp_path / "khome", 0, timeout, sources, nice=0)      # its pace sizes the limit

    # 1. the reference: the same settings run locally, never cut; its pace sizes the kernel's limit, so the test
    # holds on a slow or a fast machine: start-up (imports, data) plus about 2.2 folds, of 5
    local, elapsed = _reference_run(data, tmp_path / "local", tmp_path / "home")
    summary = atomic.read_json(local / rundir.ENSEMBLE)
    fold = (summary["wall_seconds"] - summary["load_seconds"]) / 5
    startup = elapsed - summary["wall_seconds"] + summary["load_seconds"] + 1  # imports, data, then the folds
    window = startup + 2.2 * fold
    # on a fast machine that window is under the floor a push puts on -t (Kaggle's start-up alone takes longer)
    monkeypatch.setattr(limits, "MIN_TIMEOUT_SECONDS", 1)
    minutes = f"{_limit_for(window) / 60:.4f}"
    timeout = limits.push_timeout(float(minutes))[0]
    capsys.readouterr()

    # 2. pushed with that limit, the kernel stops itself before it with the folds it finished
    code = in_process("push", *SETTINGS, "--timeout-minutes", minutes, "--poll", "2",
                      env=env, cwd=work, monkeypatch=monkeypatch)
    out, err = capsys.readouterr()
    (first,) = fake.kernels.values()
    assert code == 0, out + err + first.log
    assert first.request["sessionTimeoutSeconds"] == timeout
    assert not first.killed and "stopped at the deadline" in first.log, first.log  # it stopped itself in time
    (fanout_dir,) = (work / "submissions").glob("kernels-*")
    output = fanout_dir / "kaggle-digits" / "output"
    manifest = outputs.read_manifest(output)
    done = manifest.folds["seed003_mlp"]
    assert manifest.partial is True and 1 <= len(done) < 5, first.log
    assert manifest.missing_folds == [f"seed003_mlp/fold{k}" for k in range(5) if k not in done]
    assert manifest.images_per_second["seed003_mlp"] > 0 and manifest.timeout_seconds == timeout
    frame = submission.validate_file(output / rundir.SUBMISSION)  # 28,000 rows of the folds it finished
    kernel_test = np.mean([np.load(output / "run" / "seed003_mlp" / f"fold{k}" / "test.npy") for k in done], axis=0)
    np.testing.assert_allclose(np.load(output / rundir.TEST_PROBABILITIES), kernel_test, atol=1e-6)
    assert list(frame["Label"].astype(int)) == list(kernel_test.argmax(1))
    assert "partial:" in out and "--resume-kernels" in out

    # 3. gather makes the partial ensemble and names each fold missing; submit sends it to Kaggle
    assert in_process("gather", str(fanout_dir), "--no-fetch", "--data", str(data), env=env, cwd=work,
                      monkeypatch=monkeypatch) == 0
    out, err = capsys.readouterr()
    for k in range(5):
        if k not in done:
            assert f"[seed003_mlp] fold {k + 1}/5: missing (kernel {USER}/kaggle-digits stopped at its deadline)" in out
    gathered = fanout_dir / rundir.KERNEL_RUN
    assert atomic.read_json(gathered / rundir.ENSEMBLE)["folds"] == {"seed003_mlp": done}
    partial_file = (gathered / rundir.SUBMISSION).read_bytes()
    assert in_process("submit", str(gathered / rundir.SUBMISSION), "--yes", "--no-list", "--poll", "0.05",
                      env=env, cwd=work, monkeypatch=monkeypatch) == 0
    assert list(fake.uploads.values()) == [partial_file]

    # 4. the resumed kernel takes the finished folds from the earlier one's output and trains only the rest
    capsys.readouterr()
    code = in_process("push", "--resume-kernels", str(fanout_dir), "--timeout-minutes", "10", "--poll", "2",
                      env=env, cwd=work, monkeypatch=monkeypatch)
    out, err = capsys.readouterr()
    second = fake.kernels[f"{USER}/kaggle-digits-resume1"]
    assert code == 0, out + err + second.log
    assert second.request["kernelDataSources"] == [f"{USER}/kaggle-digits"]
    for k in range(5):
        reused = re.search(rf"\[seed003_mlp\] fold {k + 1}/5: val accuracy \S+ \(reused from an earlier run\)",
                           second.log)
        trained = f"[seed003_mlp] fold {k + 1}/5: training on" in second.log
        assert (k in done) == bool(reused) and (k not in done) == trained, second.log
    assert "resuming: " + ", ".join(f"seed003_mlp/fold{k}" for k in done) + " copied from" in second.log

    # 5. gather now holds every fold: the same ensemble as the run that was never cut
    assert in_process("gather", str(fanout_dir), "--no-fetch", "--data", str(data), env=env, cwd=work,
                      monkeypatch=monkeypatch) == 0
    ensemble = atomic.read_json(gathered / rundir.ENSEMBLE)
    assert ensemble["partial"] is False and ensemble["folds"] == {"seed003_mlp": [0, 1, 2, 3, 4]}
    np.testing.assert_allclose(np.load(gathered / rundir.TEST_PROBABILITIES),
                               np.load(local / rundir.TEST_PROBABILITIES), atol=1e-5)
    assert (gathered / rundir.SUBMISSION).read_bytes() == (local / rundir.SUBMISSION).read_bytes()
