"""The Kaggle round trip with the real ``kaggle`` CLI against a local fake of the Kaggle API.

download -> make a quick submission -> submit (the fake receives the same bytes) -> list scores;
malformed files and missing credentials never cause a request; kernel folders are self-contained
and run in a Python without kaggle_digits; kernels fan out and are gathered back into one submission.
No internet is used: see tests/fake_kaggle.py.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import io
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from conftest import REPLICA_ZIP
from fake_kaggle import FakeKaggle, basic_auth
from kaggle_digits import atomic, cli
from kaggle_digits.competition import submission
from kaggle_digits.runs import rundir
from kaggle_digits.kaggle import bundle, client, commands, fanout, limits, outputs
from kaggle_digits.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "kaggle_digits" / "sample"
USER, SECRET = "fakeuser", "fake-secret-key-5f3c9e1d"
# --no-report: the report has its own tests, and is slow on 2 cores
QUICK = ["--models", "cnn_gru", "--folds", "2", "--epochs", "1", "--max-train-rows", "200", "--no-val-curves",
         "--no-report"]
# where the model is incidental (the local run of the round trip): the fast one; the card's cnn_gru trains in the
# two-device kernels
FAST = ["--models", "cnn_fast", *QUICK[2:]]

needs_kaggle = pytest.mark.skipif(shutil.which("kaggle") is None, reason="the `kaggle` CLI is not installed")


# --------------------------------------------------------------------------- data
def _sample_lines(name: str) -> list[str]:
    return gzip.decompress((SAMPLE / f"{name}.csv.gz").read_bytes()).decode().splitlines()


def write_competition(folder: Path, n_train: int, n_test: int) -> Path:
    """Competition-shaped CSVs from the bundled sample; test rows repeat the sample's to reach ``n_test``."""
    folder.mkdir(parents=True, exist_ok=True)
    train, test = _sample_lines("train"), _sample_lines("test")
    rows = test[1:]
    (folder / "train.csv").write_text("\n".join(train[: n_train + 1]) + "\n")
    (folder / "test.csv").write_text(test[0] + "\n" + "\n".join(rows[i % len(rows)] for i in range(n_test)) + "\n")
    (folder / "sample_submission.csv").write_text("ImageId,Label\n" + "".join(f"{i},0\n" for i in range(1, n_test + 1)))
    return folder


@pytest.fixture(scope="module")
def competition_zip(tmp_path_factory) -> tuple[bytes, int]:
    """What Kaggle serves as digit-recognizer.zip, and its train.csv rows: the competition replica where it is
    present (42,000 train rows; CI has it), else one built from the bundled sample (400 train rows); both with
    the full 28,000 test rows."""
    if REPLICA_ZIP.is_file():
        return REPLICA_ZIP.read_bytes(), 42_000
    folder = write_competition(tmp_path_factory.mktemp("zip"), 400, submission.KAGGLE_TEST_ROWS)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name in ("train.csv", "test.csv", "sample_submission.csv"):
            archive.write(folder / name, name)
    return buffer.getvalue(), 400


@pytest.fixture(scope="module")
def tiny_input(tmp_path_factory) -> Path:
    """A /kaggle/input/digit-recognizer stand-in for kernels: 300 train rows, 100 test rows."""
    return write_competition(tmp_path_factory.mktemp("kaggle_input") / "digit-recognizer", 300, 100)


# --------------------------------------------------------------------------- environment
def base_env(home: Path) -> dict[str, str]:
    """This process's environment without any Kaggle credential or proxy setting, HOME in a temp folder."""
    drop = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "VERBOSE", "VERBOSE_OUTPUT")
    env = {k: v for k, v in os.environ.items()
           if not (k.upper().startswith("KAGGLE_") and not k.startswith("KAGGLE_DIGITS_")) and k.upper() not in drop}
    home.mkdir(parents=True, exist_ok=True)
    import site

    env.update(HOME=str(home), KAGGLE_CONFIG_DIR=str(home / ".kaggle"), XDG_CONFIG_HOME=str(home / ".config"),
               PYTHONUSERBASE=site.getuserbase(), TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
               KAGGLE_DIGITS_KERNEL_CPU_OK="1",  # the GPU kernels of these tests run on this CPU on purpose
               PYTHONPATH=str(ROOT))  # the scripts import this checkout's package, not an installed copy
    return env


@pytest.fixture
def fake(tmp_path):
    server = FakeKaggle(workdir=tmp_path / "fake").start()
    yield server
    server.stop()


@pytest.fixture
def work(tmp_path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def kaggle_env(fake: FakeKaggle, home: Path, credentials: bool = True) -> dict[str, str]:
    """The kaggle subprocess talks to the fake: LOCALHOST environment, the fake as its HTTP proxy."""
    env = base_env(home)
    env.update(KAGGLE_API_ENVIRONMENT="LOCALHOST", http_proxy=fake.proxy_url, HTTP_PROXY=fake.proxy_url)
    if credentials:
        env.update(KAGGLE_USERNAME=USER, KAGGLE_KEY=SECRET)
    return env


def script(name: str, *args: str, env: dict, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, preexec_fn=lambda: os.nice(10))


def in_process(command: str, *args: str, env: dict, cwd: Path, monkeypatch) -> int:
    """Run ``kaggle-digits COMMAND ARGS`` the way its scripts/ shim does, in this process (TensorFlow is
    imported once), with ``env`` as the environment; the kaggle CLI it calls is still a separate process."""
    for key in set(os.environ) - set(env):
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(cwd)
    return cli.run_script(command, list(args))


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def in_process_error(command: str, *args: str, env: dict, cwd: Path, monkeypatch, capsys) -> str:
    """one_line_error of ``in_process``: exit status 2 and one line on stderr, "error: ..." (where a test has already
    run the command's script once, the other answers of the fake need no Python start-up of their own)."""
    capsys.readouterr()
    code = in_process(command, *args, env=env, cwd=cwd, monkeypatch=monkeypatch)
    out, err = capsys.readouterr()
    return one_line_error(subprocess.CompletedProcess([command, *args], code, out, err))


# --------------------------------------------------------------------------- a pushed kernel, run "on Kaggle"
# Runs the kernel's code file in a Python where kaggle_digits is NOT importable (neither this checkout nor
# an installed copy): only the package the file carries inside can be imported.
KERNEL_WRAPPER = textwrap.dedent('''
    import importlib.abc, importlib.machinery, importlib.util, os, runpy, sys
    spec = importlib.util.find_spec("kaggle_digits")
    hidden = [os.path.dirname(spec.origin)] if spec and spec.origin else []
    hidden.append(os.environ["FAKE_KAGGLE_REPO"])

    class HideInstalledKit(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] != "kaggle_digits":
                return None
            found = importlib.machinery.PathFinder.find_spec(name, path)
            origin = os.path.realpath(found.origin or "") if found else ""
            if found is None or any(origin.startswith(os.path.realpath(h) + os.sep) for h in hidden):
                raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)", name=name)
            return found

    sys.meta_path.insert(0, HideInstalledKit())
    try:
        import kaggle_digits
        raise SystemExit("kaggle_digits is importable before the kernel unpacks it")
    except ModuleNotFoundError:
        pass
    if os.environ.get("FAKE_KAGGLE_CPUS"):  # two logical CPUs stand in for a T4 x2 machine
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * int(os.environ["FAKE_KAGGLE_CPUS"]))
    code_file = sys.argv[1]
    sys.argv = [code_file]
    try:
        runpy.run_path(code_file, run_name="__main__")
    finally:
        print("kaggle_digits imported from", os.path.dirname(sys.modules["kaggle_digits"].__file__))
''')


KERNEL_SAFETY_SECONDS = 300  # no test kernel runs longer; one that does ends in ERROR, not as a Kaggle timeout


def run_kernel_code(code: str, working: Path, input_dir: Path, home: Path, devices: int = 0,
                    timeout_seconds: float | None = None, sources=(), nice: int = 10) -> tuple[int | None, str]:
    """Run a pushed code file as Kaggle would (fake_kaggle's kernel_runner): killed, and returncode None, when it runs
    past ``timeout_seconds`` (the push's -t); ``sources``: attached kernels' outputs ($KAGGLE_DIGITS_SOURCES);
    ``nice``: its niceness (a test timing a kernel against this process's pace runs it at 0)."""
    code_file = working.parent / bundle.CODE_FILE
    code_file.write_text(code)
    env = base_env(home)
    # as on Kaggle, no KERAS_BACKEND: the kernel chooses (kaggle/backend.py; with CUDA_VISIBLE_DEVICES="" no jax sees
    # a GPU here, so TensorFlow)
    env.pop("KERAS_BACKEND", None)
    env.update(KAGGLE_DIGITS_INPUT=str(input_dir), KAGGLE_DIGITS_WORKING=str(working),
               KAGGLE_DIGITS_CACHE=str(home / "cache"), FAKE_KAGGLE_REPO=str(ROOT))
    if sources:
        env["KAGGLE_DIGITS_SOURCES"] = os.pathsep.join(map(str, sources))
    if devices:
        env.update(FAKE_KAGGLE_CPUS=str(devices),
                   KAGGLE_DIGITS_DEVICES=",".join(f"/device:CPU:{i}" for i in range(devices)))
    limit = min(timeout_seconds or KERNEL_SAFETY_SECONDS, KERNEL_SAFETY_SECONDS)
    # its own process group, so a kill at the limit also ends any worker process it started (as Kaggle's would)
    proc = subprocess.Popen([sys.executable, "-I", "-c", KERNEL_WRAPPER, str(code_file)], cwd=working, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=lambda: os.nice(nice))
    try:
        output = proc.communicate(timeout=limit)[0]
        return proc.returncode, output
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output = proc.communicate()[0]
        if timeout_seconds and limit == timeout_seconds:
            return None, output + f"\n[fake Kaggle] killed at its session limit of {timeout_seconds} s\n"
        return -9, output + f"\n[test] killed after {limit} s\n"


# =========================================================================== download -> make -> submit
@needs_kaggle
@pytest.mark.slow
def test_download_make_submit_round_trip(fake, work, tmp_path, competition_zip, monkeypatch, eager_folds):
    fake.data_zip, n_train = competition_zip
    env = kaggle_env(fake, tmp_path / "home")

    # 1. download with the kaggle CLI, through the kit's script: the zip lands in data/ and is checked
    proc = script("download_data.py", env=env, cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (work / "data" / "digit-recognizer.zip").read_bytes() == fake.data_zip
    assert f"train.csv {n_train:,} rows, test.csv 28,000 rows, sample_submission.csv 28,000 ids" in proc.stdout
    assert "competitions.CompetitionApiService/DownloadDataFiles" in fake.api_calls()
    assert fake.requests[0].authorization == basic_auth(USER, SECRET)  # the CLI's own credentials, unchanged

    # 2. a quick submission: the loader finds data/digit-recognizer.zip with no flag and no unzipping
    monkeypatch.chdir(work)
    assert cli.main(["make", *FAST, "--verbose", "0"]) == 0
    (run_dir,) = [p.parent for p in (work / "submissions").glob("*/run.json")]
    data_record = atomic.read_json(run_dir / "data.json")
    assert data_record["source"] == str(Path("data") / "digit-recognizer.zip") and not data_record["is_sample"]
    made = run_dir / "submission.csv"
    assert len(submission.validate_file(made)) == 28_000  # a valid Kaggle submission from the (replica's) download
    assert not (work / "submissions" / "submission.csv").exists()  # the default upload is a full-data run's only

    # 3. submit shows the run's OOF accuracy and refuses a subset's file unless --yes, sending nothing
    requests = len(fake.requests)
    error = one_line_error(proc := script("submit.py", str(made), env=env, cwd=work))
    assert f"200 of {n_train:,} train.csv rows" in error and "--yes" in error and len(fake.requests) == requests
    assert re.search(rf"run {re.escape(str(run_dir))}: OOF accuracy \d+\.\d+%, 200 of {n_train:,}", proc.stdout)

    # 4. with --yes: submitted with the default message, recorded, then the scores are listed
    proc = script("submit.py", str(made), "--yes", "--poll", "0.05", env=env, cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (record,) = atomic.read_json(work / "submissions" / "submitted.json")
    assert record["run_dir"] == str(run_dir) and record["subset"] is True and record["oof_accuracy"] > 0
    calls = fake.api_calls()
    assert calls[-4:] == ["competitions.CompetitionApiService/StartSubmissionUpload",
                          "competitions.CompetitionApiService/CreateSubmission",
                          "competitions.CompetitionApiService/GetSubmissionLimits",
                          "competitions.CompetitionApiService/ListSubmissions"]
    (uploaded,) = [body for body in fake.uploads.values()]
    assert uploaded == made.read_bytes()  # byte-identical
    description = fake.submissions[0]["description"]
    assert re.search(r"run \S+: cnn_fast, 2 folds, OOF accuracy \d+\.\d+%, (commit \S+|no git commit)",
                     description), description
    assert "Successfully submitted" in proc.stdout and "public score 0.98765 (submission 1000)" in proc.stdout
    assert SECRET not in proc.stdout + proc.stderr


@needs_kaggle
def test_malformed_submission_never_reaches_kaggle(fake, work, tmp_path, monkeypatch, capsys):
    env = kaggle_env(fake, tmp_path / "home")
    good = "ImageId,Label\n" + "".join(f"{i},{i % 10}\n" for i in range(1, 28_001))
    bad = {
        "header.csv": good.replace("ImageId,Label", "id,label", 1),
        "short.csv": good[: good.rindex("27999,")],
        "label.csv": good.replace("\n17,7\n", "\n17,10\n"),
        "ids.csv": good.replace("\n5,5\n", "\n6,5\n"),
        "empty.csv": "",
    }
    for name, text in {**bad, "missing.csv": None}.items():
        if text is not None:
            (work / name).write_text(text)
        assert in_process("submit", name, "-m", "x", env=env, cwd=work, monkeypatch=monkeypatch) == 2
        (error,) = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert error.startswith(f"error: {name}"), error
    assert fake.requests == []  # not one request: no upload, no quota used

    (work / "good.csv").write_text(good)  # the same command with a valid file does reach the fake
    proc = script("submit.py", "good.csv", "-m", "checked", "--no-list", "--poll", "0.05", env=env, cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert list(fake.uploads.values()) == [good.encode()] and fake.submissions[0]["description"] == "checked"


@needs_kaggle
def test_submit_refuses_a_run_worse_than_one_submitted_before(fake, work, tmp_path, monkeypatch, capsys):
    """The best OOF accuracy comes from earlier submissions' descriptions on Kaggle (the default message)."""
    from test_first_hour import fake_run

    env = kaggle_env(fake, tmp_path / "home")
    fake.submissions.append({"ref": 999, "fileName": "submission.csv", "date": "2026-01-01T00:00:00.000Z",
                             "description": "kaggle-digits 0.3 run r: cnn, 5 folds, OOF accuracy 99.6000%, commit x",
                             "status": "COMPLETE", "publicScore": "0.99600", "privateScore": "", "totalBytes": 1})
    run = fake_run(work / "submissions" / "full", 0.9931)
    assert in_process("submit", str(run / "submission.csv"), env=env, cwd=work, monkeypatch=monkeypatch) == 2
    out, err = capsys.readouterr()
    assert "OOF accuracy 99.3100%, 42,000 of 42,000 train.csv rows" in out
    assert "99.3100% is below the best submitted before (99.6000%, your Kaggle submissions)" in err
    assert fake.uploads == {} and fake.api_calls() == ["competitions.CompetitionApiService/ListSubmissions"]
    assert in_process("submit", str(run / "submission.csv"), "--yes", "--no-list", "--no-wait", env=env, cwd=work,
                      monkeypatch=monkeypatch) == 0
    assert len(fake.uploads) == 1


@needs_kaggle
def test_missing_credentials_is_one_line_and_sends_nothing(fake, work, tmp_path, monkeypatch, capsys):
    env = kaggle_env(fake, tmp_path / "home", credentials=False)
    error = one_line_error(script("download_data.py", env=env, cwd=work))
    assert "no Kaggle credentials found" in error and "kaggle auth login" in error
    (work / "s.csv").write_text("ImageId,Label\n" + "".join(f"{i},1\n" for i in range(1, 28_001)))
    # submit.py's own one-line refusal in a process of its own: the round trip's step 3
    assert "no Kaggle credentials found" in in_process_error("submit", "s.csv", env=env, cwd=work,
                                                             monkeypatch=monkeypatch, capsys=capsys)
    assert fake.requests == []


@needs_kaggle
def test_unaccepted_rules_and_rejected_credentials_are_one_line(fake, work, tmp_path, monkeypatch, capsys):
    fake.rules_accepted = False
    env = kaggle_env(fake, tmp_path / "home")
    error = one_line_error(script("download_data.py", env=env, cwd=work))
    assert "accept the competition rules at https://www.kaggle.com/competitions/digit-recognizer/rules" in error
    assert not (work / "data" / "digit-recognizer.zip").exists()

    # the script's process was seen above; the kaggle CLI still runs as a process of its own for each answer
    fake.competitions = ()  # a competition Kaggle does not know
    assert "(404)" in in_process_error("download", env=env, cwd=work, monkeypatch=monkeypatch, capsys=capsys)

    fake.valid_keys = {"another-key"}  # credentials Kaggle rejects
    error = in_process_error("download", env=env, cwd=work, monkeypatch=monkeypatch, capsys=capsys)
    assert "did not accept the credentials (401)" in error and SECRET not in error


# =========================================================================== kernels
def test_kernel_dry_run_builds_a_self_contained_folder(work, tmp_path, monkeypatch, capsys):
    env = base_env(tmp_path / "home")
    env.update(KAGGLE_USERNAME=USER, KAGGLE_KEY=SECRET)
    assert in_process("push", "--dry-run", *QUICK, env=env, cwd=work, monkeypatch=monkeypatch) == 0
    stdout = capsys.readouterr().out
    (folder,) = (work / "submissions").glob("kernels-*/kaggle-digits/bundle")
    metadata = json.loads((folder / "kernel-metadata.json").read_text())
    assert metadata["id"] == f"{USER}/kaggle-digits" and metadata["title"] == "kaggle-digits"
    assert metadata["enable_gpu"] is True and metadata["enable_internet"] is False
    assert metadata["competition_sources"] == ["digit-recognizer"]
    assert metadata["kernel_type"] == "script" and metadata["language"] == "python"
    assert metadata["code_file"] == bundle.CODE_FILE and sorted(p.name for p in folder.iterdir()) == sorted(
        [bundle.CODE_FILE, "kernel-metadata.json"])
    code = (folder / bundle.CODE_FILE).read_text()
    payload = base64.b64decode("".join(re.findall(r'^    "([A-Za-z0-9+/=]+)"$', code, re.MULTILINE)))
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        bundled = {name: archive.read(name) for name in archive.namelist()}
    for path in (ROOT / "kaggle_digits").rglob("*.py"):
        if "__pycache__" not in path.parts:
            assert bundled[f"kaggle_digits/{path.relative_to(ROOT / 'kaggle_digits').as_posix()}"] == path.read_bytes()
    # what Kaggle's image may lack travels along (the kernel cannot pip install), with its licence
    assert bundled["tomli_w/__init__.py"] == Path(tomli_w.__file__).read_bytes() and "tomli_w/LICENSE" in bundled
    assert "KAGGLE_DIGITS_INPUT" in code and "KAGGLE_DIGITS_WORKING" in code
    for folder in (work / "submissions").rglob("*"):
        if folder.is_file():
            assert SECRET not in folder.read_text(errors="replace"), folder  # credentials never bundled
    assert "kaggle kernels push -p" in stdout


def test_push_kernel_refuses_local_output_options(work, tmp_path):
    env = base_env(tmp_path / "home")
    error = one_line_error(script("push_kernel.py", "--dry-run", "--out", "x.csv", env=env, cwd=work))
    assert "--out" in error and not (work / "submissions").exists()


@needs_kaggle
@pytest.mark.slow
def test_push_two_kernels_on_two_devices_then_status_output_gather(fake, work, tmp_path, tiny_input, monkeypatch,
                                                                  capsys):
    """push --kernels 2 -> the fake runs each pushed code file without kaggle_digits installed, on two devices (a
    T4 x2 stand-in), one fold of the card's cnn_gru each -> status -> output (paginated) -> gather: the ordinary
    ensemble step makes a valid submission of both kernels' folds. One test for the single push and the fan-out:
    a single kernel is a fan-out of one (the deadline test pushes one), and each kernel here costs a TensorFlow
    start-up."""
    fake.kernel_runner = lambda code, working, timeout, sources: run_kernel_code(
        code, working, tiny_input, tmp_path / "khome", 2, timeout, sources)
    env = kaggle_env(fake, tmp_path / "home")
    code = in_process("push", *QUICK, "--blend", "equal", "--kernels", "2", "--poll", "2", "--data", str(tiny_input),
                      env=env, cwd=work, monkeypatch=monkeypatch)
    logs = "".join(k.log for k in fake.kernels.values())
    out, err = capsys.readouterr()
    assert code == 0, out + err + logs
    parts = [f"{USER}/kaggle-digits-part{k}" for k in (1, 2)]
    assert sorted(fake.kernels) == parts
    # what Kaggle received
    for slug in parts:
        kern = fake.kernels[slug]
        pushed = kern.request
        assert pushed["slug"] == slug and pushed["enableGpu"] is True
        assert pushed["enableInternet"] is False and pushed["competitionDataSources"] == ["digit-recognizer"]
        assert pushed["kernelType"] == "script" and pushed["machineShape"] == bundle.DEFAULT_ACCELERATOR
        assert SECRET not in pushed["text"]
        # -t is a hard cap, not a guess: the least of Kaggle's 12-hour cap and the 27.5 weekly GPU hours left (the
        # fake's quota) over 2 kernels; the kernel got the same figure, its own deadline a reserve before it
        assert pushed["sessionTimeoutSeconds"] == limits.SESSION_CAP_SECONDS
        assert re.search(r"'timeout_seconds': 43200\b", pushed["text"])
        # it ran from the package inside the file, with both devices
        imported_from = re.search(r"kaggle_digits imported from (\S+)", kern.log).group(1)
        assert not imported_from.startswith(str(ROOT)) and "kaggle_digits_" in imported_from
    assert "not trained yet" in logs  # each kernel trained one fold and left the ensemble to the gather step
    calls = fake.api_calls()
    # before the pushes: the weekly GPU quota, then whether a kernel of either slug still runs (none: 404)
    assert calls[:5] == ["kernels.KernelsApiService/GetAcceleratorQuotaStatistics",
                         *["kernels.KernelsApiService/GetKernelSessionStatus"] * 2,
                         *["kernels.KernelsApiService/SaveKernel"] * 2]
    assert "kernels.KernelsApiService/GetKernelSessionStatus" in calls[5:]
    assert calls.count("kernels.KernelsApiService/ListKernelSessionOutput") >= 4  # > 20 files each: paginated
    # what came back: each kernel's fold, on two devices
    (fanout_dir,) = (work / "submissions").glob("kernels-*")
    run = fanout_dir / "run"
    for k, slug in enumerate(parts):
        output = fanout_dir / slug.partition("/")[2] / "output"
        manifest = outputs.read_manifest(output)
        # the T4 x2 default: a worker process per device (one fold here: one trains), no MirroredStrategy
        assert manifest.devices.startswith("2 devices, one worker process each"), manifest.devices
        assert manifest.backend == "tensorflow" and manifest.backend_reason, manifest  # no jax here
        chosen = kern.log.find("kaggle-digits kernel: Keras backend tensorflow (jax is not installed; TensorFlow)")
        assert -1 < chosen < kern.log.find(" kernel: data "), kern.log  # the kernel's first line
        assert manifest.kernel == slug and manifest.folds == {"cnn_gru": [k]}
        assert manifest.stopped_at_deadline == [] and manifest.missing_folds == [], manifest
        assert manifest.timeout_seconds == limits.SESSION_CAP_SECONDS
        kernel_fold = output / "run" / "cnn_gru" / f"fold{k}"
        assert (kernel_fold / "done.json").is_file()
        assert (kernel_fold / "test.npy").read_bytes() == (run / "cnn_gru" / f"fold{k}" / "test.npy").read_bytes()
    ensemble = atomic.read_json(run / "ensemble.json")
    assert len(ensemble["models"]["cnn_gru"]["fold_accuracy"]) == 2
    # the ordinary ensemble step (--blend equal): test probabilities are the mean of the kernels' fold results
    folds = [np.load(run / "cnn_gru" / f"fold{k}" / "test.npy") for k in (0, 1)]
    np.testing.assert_allclose(np.load(run / "test_probabilities.npy"), np.mean(folds, axis=0), atol=1e-6)
    frame = submission.validate_file(run / "submission.csv", n_rows=100)
    made = (run / "submission.csv").relative_to(work)
    assert len(frame) == 100 and f"submit it with: python scripts/submit.py {made}" in out
    assert not (work / "submissions" / "submission.csv").exists()  # 200 rows: not the default upload
    assert SECRET not in out + err
    for path in (work / "submissions").rglob("*"):
        if path.is_file() and path.suffix in (".json", ".py", ".log", ".csv", ".toml"):
            assert SECRET not in path.read_text(errors="replace"), path

    # gathering again (no kaggle call) reuses everything and gives the same file
    before = (run / "submission.csv").read_bytes()
    calls = len(fake.requests)
    assert in_process("gather", str(fanout_dir), "--no-fetch", "--data", str(tiny_input), "--blend", "equal",
                      env=env, cwd=work, monkeypatch=monkeypatch) == 0
    assert len(fake.requests) == calls  # --no-fetch: no kaggle command; --ensemble-only: no training
    assert (run / "submission.csv").read_bytes() == before


# =========================================================================== units
@pytest.mark.parametrize("used, copied", [(200, False), (42_000, True)])
def test_a_single_kernel_s_submission_is_copied_only_from_a_run_on_all_of_train_csv(tmp_path, capsys, used, copied):
    """What push prints and does when its one kernel finished (the kernel's run/ as output.run); the kernel end
    to end is the deadline test's and the two-kernel test's."""
    from test_first_hour import fake_run

    output = tmp_path / "kernel" / "output"
    fake_run(output / rundir.KERNEL_RUN, 0.99, used=used)
    shutil.copy(output / rundir.KERNEL_RUN / rundir.SUBMISSION, output / rundir.SUBMISSION)
    atomic.write_json(output / rundir.KERNEL_MANIFEST, {"kernel": f"{USER}/k", "partial": False, "n_test": 28_000,
                                                        "ensemble": {"oof_accuracy": 0.99}})
    subs = tmp_path / "submissions"
    assert commands._take_kernel_submission(output, subs) == 0
    out = capsys.readouterr().out
    assert f"kernel submission: {output / rundir.SUBMISSION} (28,000 rows, OOF accuracy 99.0000%)" in out
    assert ("copied to" in out and "not copied" not in out) is copied
    assert ("not a run on all of train.csv" in out) is not copied
    assert (subs / rundir.SUBMISSION).is_file() is copied
    assert f"submit it with: python scripts/submit.py {output / rundir.SUBMISSION}" in out


def test_split_work_covers_every_model_fold_once():
    models = ("a", "b")
    assert fanout.split_work(models, 5, 1) == [(models, None)]
    assert fanout.split_work(models, 5, 2) == [(models, (0, 1, 2)), (models, (3, 4))]
    for n in range(2, 13):
        parts = fanout.split_work(models, 5, n)
        assert len(parts) <= n
        work = sorted((m, f) for ms, fs in parts for m in ms for f in fs)
        assert work == sorted((m, f) for m in models for f in range(5)), n
    assert fanout.split_work(models, 5, 10) == [(("a",), (k,)) for k in range(5)] + [(("b",), (k,)) for k in range(5)]
    assert fanout.split_work(("a",), 5, 3, only_folds=(1, 3)) == [(("a",), (1,)), (("a",), (3,))]


def test_credential_source_names_places_never_values(tmp_path, monkeypatch):
    for name in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_KERNEL_RUN_TYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "cfg"))
    assert client.credential_source() is None
    with pytest.raises(client.KaggleError, match="no Kaggle credentials found"):
        client.require_credentials()
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "kaggle.json").write_text(json.dumps({"username": USER, "key": SECRET}))
    assert client.credential_source() == str(tmp_path / "cfg" / "kaggle.json")
    assert client.username() == USER
    (tmp_path / ".kaggle").mkdir()
    (tmp_path / ".kaggle" / "access_token").write_text(SECRET)
    assert client.credential_source() == "~/.kaggle/access_token"
    monkeypatch.setenv("KAGGLE_API_TOKEN", SECRET)
    assert client.credential_source() == "$KAGGLE_API_TOKEN"
    assert client.redact(f"Authorization: Basic xyz\nkey {SECRET}") == "Authorization: <redacted>\nkey <redacted>"


@pytest.mark.parametrize("output, code, expected", [
    ("Authentication required to call the Kaggle API.\n\nFirst, ...", 1, "did not accept the credentials (401)"),
    ("403 Client Error: Forbidden for url: http://localhost/api/v1/x", 1, "accept the competition rules at"),
    ("Could not find competition - please verify ...", 0, "does not know competition"),
    ("Could not submit to competition", 0, "upload to Kaggle failed"),
    ("requests.exceptions.ConnectionError: Max retries exceeded with url", 1, "cannot reach Kaggle"),
    ("Successfully submitted to Digit Recognizer", 0, None),
])
def test_cli_failures_become_one_line(output, code, expected):
    message = client.diagnose(output, code, what="doing it", competition="digit-recognizer")
    if expected is None:
        assert message is None
    else:
        assert expected in message and "\n" not in message and message.startswith("doing it: ")


def test_gathered_folds_may_differ_in_code_version_and_backend_only(tmp_path):
    from kaggle_digits.config import AugmentConfig
    from kaggle_digits.training.recipe import Recipe
    from kaggle_digits.training.train import FoldTask, load_fold

    task = FoldTask(model="cnn_gru", hp={"filters": 32}, recipe=Recipe(), augment=AugmentConfig(), fold=0,
                    n_folds=2, seed=1, data_sha256="d", rows_sha256="r")

    def saved_fold(**changes) -> Path:
        fold_dir = tmp_path / f"fold-{len(list(tmp_path.iterdir()))}"
        fingerprint = {**json.loads(json.dumps(task.fingerprint(), default=list)), **changes}
        atomic.write_json(fold_dir / "fingerprint.json", fingerprint)
        certified = __import__("hashlib").sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()
        atomic.save_npy(fold_dir / "oof.npy", np.zeros((3, 10), np.float32))
        atomic.save_npy(fold_dir / "test.npy", np.zeros((4, 10), np.float32))
        atomic.write_json(fold_dir / "history.json", {})
        atomic.write_json(fold_dir / "done.json", {"fingerprint": certified, "metrics": {"val_accuracy": 1.0}})
        return fold_dir

    kaggle_fold = saved_fold(code="0.1.0+kernelcode", backend="jax")
    assert load_fold(kaggle_fold, task) is None  # a local resume never reuses it...
    assert load_fold(kaggle_fold, task, ignore=("code", "backend")) is not None  # ...unless told to ignore them
    assert load_fold(saved_fold(seed=2), task, ignore=("code", "backend")) is None  # other settings: never
    stale = saved_fold()
    atomic.write_json(stale / "fingerprint.json", {**task.fingerprint(), "fold": 1})  # rewritten, not certified
    assert load_fold(stale, task, ignore=("code", "backend")) is None


def test_replica_devices(monkeypatch):
    """Data parallelism (one fold over both devices) only when asked for: by default the devices get a worker
    process each (test_workers.py)."""
    from kaggle_digits.training import devices

    monkeypatch.delenv("KAGGLE_DIGITS_DISTRIBUTE", raising=False)
    monkeypatch.setenv("KAGGLE_DIGITS_DEVICES", "/cpu:0,/cpu:1")
    assert devices.replica_devices() == []  # the default: no MirroredStrategy
    assert devices.worker_devices() == ["/cpu:0", "/cpu:1"]
    with devices.distribution_scope() as strategy:
        assert strategy is None
    for on in ("mirrored", "on", "1"):
        monkeypatch.setenv("KAGGLE_DIGITS_DISTRIBUTE", on)
        assert devices.replica_devices() == ["/cpu:0", "/cpu:1"] and devices.worker_devices() == []
    monkeypatch.setenv("KAGGLE_DIGITS_DISTRIBUTE", "off")
    assert devices.replica_devices() == []
    monkeypatch.setenv("KAGGLE_DIGITS_DISTRIBUTE", "mirrored")
    monkeypatch.setenv("KAGGLE_DIGITS_DEVICES", "/cpu:0")
    assert devices.replica_devices() == []  # one device: plain Keras placement
    monkeypatch.delenv("KAGGLE_DIGITS_DEVICES")
    with devices.distribution_scope() as strategy:  # no GPUs here
        assert strategy is None


def test_wait_skips_outputs_of_an_earlier_kernel_version(tmp_path, monkeypatch, caplog):
    """Right after a push, Kaggle may still report the previous version as complete: its outputs are not taken."""
    fanout_dir = fanout.prepare({"models": ["cnn"], "folds": 2, "seed": 1}, USER, root=tmp_path)
    record, (job,) = fanout.load_fanout(fanout_dir)
    job.pushed = "Kernel version 2 successfully pushed."  # only pushed kernels are waited on
    fanout.save_fanout(fanout_dir, record, [job])
    answers = iter([("running", ""), ("complete", ""), ("complete", "")])
    push_ids = iter(["an-earlier-push", record["fanout_id"]])
    fetched = []

    def fake_output(kernel_id, path, file_pattern=None):
        path.mkdir(parents=True, exist_ok=True)
        if file_pattern:  # the manifest alone
            atomic.write_json(path / rundir.KERNEL_MANIFEST, {"fanout_id": next(push_ids)})
        else:
            atomic.write_json(path / rundir.KERNEL_MANIFEST, {"fanout_id": record["fanout_id"]})
            fetched.append(kernel_id)
        return sorted(path.rglob("*"))

    monkeypatch.setattr(client, "kernels_status", lambda kernel_id: next(answers))
    monkeypatch.setattr(client, "kernels_output", fake_output)
    caplog.set_level(logging.INFO, logger="kaggle_digits")
    fanout.wait_and_fetch(fanout_dir, poll_seconds=0)
    assert fetched == [job.id] and any("earlier version" in m for m in caplog.messages)


def test_gather_takes_blend_only(capsys):
    """--weights, --blend's name before 0.1.0, was read for that release only (CHANGELOG)."""
    parser = argparse.ArgumentParser()
    commands.gather_arguments(parser)
    assert parser.parse_args(["kernels-1", "--blend", "equal"]).blend == "equal"
    with pytest.raises(SystemExit):
        parser.parse_args(["kernels-1", "--weights", "oof"])
    assert "--weights" in capsys.readouterr().err


def test_a_fanout_folder_is_read_from_its_record(tmp_path):
    """fanout.json (its name before 0.1.0, plan.json, is no longer read): found, matched, written back."""
    fanout_dir = fanout.prepare({"models": ["cnn"], "folds": 2, "seed": 1}, USER, root=tmp_path)
    record, (job,) = fanout.load_fanout(fanout_dir)
    assert fanout.push_id(record) == record["fanout_id"] and job.models == ["cnn"]
    assert fanout.unfinished(tmp_path, record["request"]) == fanout_dir  # the same push command resumes it
    (fanout_dir / rundir.FANOUT).rename(fanout_dir / "plan.json")
    with pytest.raises(DataError, match="no fanout.json"):
        fanout.load_fanout(fanout_dir)
