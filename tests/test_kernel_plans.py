"""A kernel that plans inside (--minutes), end to end against the fake Kaggle (tests/fake_kaggle.py, with the real
``kaggle`` CLI): what it planned -- here a holdout, fold 0 alone -- is what its outputs, gather and
``push --resume-kernels`` count as the folds it meant to train. The kernel runs in this process (its script's
SETTINGS and KERNEL_INFO given to bundle.kernel_main) so that the planner's speeds and the folds can be made up:
conftest's fake_training writes each fold's folder without Keras."""

from __future__ import annotations

import ast
import io
import time
import traceback
from contextlib import redirect_stdout

from test_kaggle import USER, fake, in_process, kaggle_env, needs_kaggle, tiny_input, work  # noqa: F401
from kaggle_digits.kaggle import bundle, guard, outputs
from kaggle_digits.planning import probe
from kaggle_digits.planning.planner import ModelCost
from kaggle_digits.runs import rundir
from kaggle_digits.runs.runload import read_summary


def _literal(code: str, name: str):
    """The value of the generated script's ``NAME = {...}`` line."""
    (line,) = [line for line in code.split("\n") if line.startswith(f"{name} = ")]
    return ast.literal_eval(line[len(f"{name} = "):])


@needs_kaggle
def test_a_minutes_kernel_that_planned_a_holdout_gathers_and_resumes_as_a_holdout(fake, work, tmp_path, tiny_input,
                                                                                   monkeypatch, capsys, fake_training):
    # speeds so slow that the plan is the smallest run there is: a holdout, fold 0 of 5 (as test_budget's)
    slow = {m: ModelCost(m, 40.0, 400.0, 1.0) for m in ("cnn", "cnn_gru", "cnn_fast")}
    monkeypatch.setattr(probe, "measure_costs", lambda models, *a, **k: {m: slow[m] for m in models})
    # pushed with a GPU, run on this CPU; the guards (tests/test_kernel_guards.py) would also arm the process-wide
    # watchdog in the test process
    monkeypatch.setattr(guard, "start_guards", lambda info, backend: None)

    def run_here(code, working, timeout, sources):
        monkeypatch.setenv("KAGGLE_DIGITS_INPUT", str(tiny_input))
        monkeypatch.setenv("KAGGLE_DIGITS_WORKING", str(working))
        log = io.StringIO()
        try:
            with redirect_stdout(log):
                info = {**_literal(code, "KERNEL_INFO"), "untested_versions": [], "backend_reason": "the test's"}
                return bundle.kernel_main(_literal(code, "SETTINGS"), info, started=time.monotonic()), log.getvalue()
        except BaseException:  # noqa: BLE001 -- the kernel's failure is its log, as on Kaggle
            return 1, log.getvalue() + traceback.format_exc()

    fake.kernel_runner = run_here
    env = kaggle_env(fake, tmp_path / "home")
    code = in_process("push", "--minutes", "0.5", "--max-train-rows", "200", "--no-report", "--poll", "0.5",
                      env=env, cwd=work, monkeypatch=monkeypatch)
    out, err = capsys.readouterr()
    (kernel,) = fake.kernels.values()
    assert code == 0, out + err + kernel.log
    (fanout_dir,) = (work / "submissions").glob("kernels-*")
    output = fanout_dir / "kaggle-digits" / rundir.KERNEL_OUTPUT
    planned = read_summary(output / rundir.KERNEL_RUN)
    assert planned.holdout and planned.plan.holdout and planned.plan.folds == 5, kernel.log
    (member,) = planned.folds  # the model the plan chose
    # its outputs hold every fold it meant to train: not partial, nothing missing
    manifest = outputs.read_manifest(output)
    assert (manifest.partial, manifest.folds, manifest.missing_folds) == (False, {member: [0]}, []), manifest
    assert "partial" not in out

    # gather makes the holdout's ensemble: fold 0 of the plan, no fold missing
    assert in_process("gather", str(fanout_dir), "--no-fetch", "--data", str(tiny_input), env=env, cwd=work,
                      monkeypatch=monkeypatch) == 0
    out, err = capsys.readouterr()
    gathered = read_summary(fanout_dir / rundir.KERNEL_RUN)
    assert gathered.holdout and not gathered.partial and gathered.folds == {member: [0]}, out + err
    assert gathered.plan == planned.plan
    assert "missing" not in out and "partial ensemble" not in out, out

    # and there is nothing to resume: no kernel is pushed
    assert in_process("push", "--resume-kernels", str(fanout_dir), "--poll", "0.5", env=env, cwd=work,
                      monkeypatch=monkeypatch) == 0
    out, err = capsys.readouterr()
    assert "nothing to resume" in out, out + err
    assert list(fake.kernels) == [f"{USER}/kaggle-digits"]
