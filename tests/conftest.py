"""Shared fixtures: small competition-shaped files made from the bundled sample, the replica zip, and two real
tiny runs shared by the tests that only read a finished run folder."""

from __future__ import annotations

import contextlib
import gc
import gzip
import os
import time
import zipfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# test_xla forces XLA on this CPU to see that every op lowers (what a GPU compiles); how well LLVM then optimises
# the CPU code is not under test, and -O0 compiles each model's step ~12% sooner. Nothing else here uses XLA.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
# pytest-xdist's workers (-n auto: one per core) each take their share of the cores for TensorFlow, as the kit's own
# fold workers do (training/workers.py: intra-op threads = cores // workers, one inter-op thread); the subprocesses a
# test starts (CLI, kernels, workers) inherit it. Two workers each running two threads on 2 cores oversubscribe them:
# on the 2-core bf16 EPYC one A/B pair of whole suites took 250 s with TensorFlow's default threads, 209 s with these
# (noisy: the machine was shared). -n 0 (one process) keeps TensorFlow's default.
_XDIST_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
if _XDIST_WORKERS > 1:
    _THREADS = str(max(1, (os.cpu_count() or 1) // _XDIST_WORKERS))
    for _name, _value in (("TF_NUM_INTRAOP_THREADS", _THREADS), ("TF_NUM_INTEROP_THREADS", "1"),
                          ("OMP_NUM_THREADS", _THREADS)):
        os.environ.setdefault(_name, _value)

SAMPLE = Path(__file__).resolve().parents[1] / "kaggle_digits" / "sample"
REPLICA_ZIP = Path(os.environ.get("KAGGLE_DIGITS_REPLICA",
                                  Path(__file__).resolve().parents[2] / "shared" / "data" / "digit-recognizer.zip"))


SESSION_START = time.monotonic()  # no run made in this session can have taken longer than this

# fixtures that train a real run (session-scoped, shared by the tests that read it), by the worker group that
# trains it: the readers of one run (and the tests reading two, like sample_run and pair_run) share a worker
TRAINED_RUNS = {"sample_run": "sample-runs", "pair_run": "sample-runs", "quick_run": "sample-runs",
                "full_run": "full-run", "seeded_runs": "seeded-runs"}


@contextlib.contextmanager
def eager_training():
    """Folds trained in this process run eagerly (Keras' ``run_eagerly``, no tf.function) while it is active.

    A tiny fold takes ~8 optimizer steps; tracing and optimising its train, test and predict functions costs more
    than running them (2 folds: ~3.4 s eager against ~6.3 s traced on the bf16 2-core CPU). Runs whose numbers are
    compared byte for byte with a run in another process (seeded_runs, the kernel deadline's reference) and every
    subprocess (CLI, workers, kernels) train as a real run does, traced; test_xla traces under XLA."""
    from kaggle_digits.training import train

    compile_for_training = train.compile_for_training

    def eager(*args, **kwargs):
        model = compile_for_training(*args, **{**kwargs, "jit_compile": False})
        model.run_eagerly = True
        return model

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train, "compile_for_training", eager)
        yield


@pytest.fixture
def eager_folds():
    """A test's own in-process folds train eagerly (``eager_training``)."""
    with eager_training():
        yield


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks into the test ids
def pytest_collection_modifyitems(config, items):
    """A test that reads a shared real run (TRAINED_RUNS) waits for it to train: it is ``slow`` too, so
    ``pytest -m "not slow"`` (the edit loop) never trains a model unless a test says it is quick."""
    for item in items:
        groups = {TRAINED_RUNS[name] for name in getattr(item, "fixturenames", ()) if name in TRAINED_RUNS}
        if groups:
            assert len(groups) == 1, f"{item.nodeid} reads runs of several worker groups: {groups}"
            item.add_marker(pytest.mark.slow)
            # with pytest-xdist (-n 2 --dist loadgroup) a group's tests share a worker: each run trained once
            item.add_marker(pytest.mark.xdist_group(groups.pop()))
    # the slow tests first: two workers then share the long ones and finish on the short ones, instead of one
    # worker starting a 45-second kernel test when the other has run out of work
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    """What collection imported (TensorFlow, Keras, pandas, the test modules: ~450,000 objects) lives until the end:
    freeze it out of the garbage collector, so that each collection after it does not walk it again. Keras'
    clear_session, which every fold (precision.fresh_session) and model description runs, calls gc.collect(): ~0.22 s
    each here, ~0.0001 s frozen. Objects made by the tests are collected as before."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own loader cache, so none reads or writes the user's ~/.cache."""
    monkeypatch.setenv("KAGGLE_DIGITS_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    """One finished run, made once per session: the bundled sample (300 rows), 2 folds x 1 epoch of the fast
    model, report included. Read it, never change it (copy the folder first, as test_report does)."""
    from kaggle_digits.config import RunConfig
    from kaggle_digits.pipeline import make_submission

    root = tmp_path_factory.mktemp("sample-run")
    # session scope: the per-test cache fixture is not active yet
    with pytest.MonkeyPatch.context() as patch, eager_training():
        patch.setenv("KAGGLE_DIGITS_CACHE", str(root / "cache"))
        patch.chdir(root)
        return make_submission(RunConfig(data=None, max_train_rows=300, folds=2, epochs=1, models=("cnn_fast",),
                                         submissions_dir=str(root / "submissions"), verbose=0))


# pair_run's settings: test_pipeline runs them again to test reuse. No report: test_report makes the two-model
# report with the `report` command on a copy of the folder (sample_run's make writes one: the report in a run)
PAIR_RUN = dict(data=None, max_train_rows=300, folds=2, epochs=1, models=("cnn_fast", "cnn_small"), tta=True,
                verbose=0, report=False)


@pytest.fixture(scope="session")
def pair_run(tmp_path_factory):
    """sample_run's settings with two models (cnn_fast + cnn_small, the cheap pair) and --tta, made once per
    session: the two-model report (made from a copy), --tta, the run folder's files and its reuse read it. Read it
    (or run its settings again, as test_pipeline does), never change it."""
    from kaggle_digits.config import RunConfig
    from kaggle_digits.pipeline import make_submission

    root = tmp_path_factory.mktemp("pair-run")
    with pytest.MonkeyPatch.context() as patch, eager_training():
        patch.setenv("KAGGLE_DIGITS_CACHE", str(root / "cache"))
        patch.chdir(root)
        return make_submission(RunConfig(**PAIR_RUN, submissions_dir=str(root / "submissions")))


def sample_lines(name: str, n_rows: int) -> list[str]:
    """Header plus the first ``n_rows`` data lines of a bundled sample file."""
    text = gzip.decompress((SAMPLE / f"{name}.csv.gz").read_bytes()).decode()
    return text.splitlines()[: n_rows + 1]


@pytest.fixture
def small_files(tmp_path) -> Path:
    """A competition folder with 60 train rows, 20 test rows and a matching sample_submission.csv."""
    folder = tmp_path / "comp"
    folder.mkdir()
    (folder / "train.csv").write_text("\n".join(sample_lines("train", 60)) + "\n")
    (folder / "test.csv").write_text("\n".join(sample_lines("test", 20)) + "\n")
    (folder / "sample_submission.csv").write_text("ImageId,Label\n" + "".join(f"{i},0\n" for i in range(1, 21)))
    return folder


def zip_folder(folder: Path, target: Path, members=("train.csv", "test.csv", "sample_submission.csv")) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in members:
            archive.write(folder / name, name)
    return target


REPLICA_MISSING = ("the competition replica is not present: CI finds it at ../shared/data/digit-recognizer.zip "
                   "beside the checkout; elsewhere set KAGGLE_DIGITS_REPLICA=/path/to/digit-recognizer.zip")


@pytest.fixture
def replica_zip() -> Path:
    if not REPLICA_ZIP.is_file():
        pytest.skip(("KAGGLE_DIGITS_REPLICA names no file; " if os.environ.get("KAGGLE_DIGITS_REPLICA") else "")
                    + REPLICA_MISSING)
    return REPLICA_ZIP


class FakeClock:
    """A clock that moves only when told (``now``): for the run's Deadline and the fake folds below."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake_training(monkeypatch):
    """Folds 'trained' without Keras: each writes its fold folder with train.save_fold, as train_fold does
    (fingerprint, done.json, OOF and test probabilities, history; no model file), right on 90% of its held-out rows, so the pipeline's
    orchestration (plans, resume, reuse, --out, re-planning) is tested in seconds. Returns (clock, tasks): the
    tasks in the order they trained; ``clock`` advances by each fold's seconds (its given, else its recipe's
    seconds, else 1 s; the first fold only half of them, as a fold stopped early at its epoch cap) plus 2 s.
    Pass ``Deadline.none(clock=clock)`` to make_submission to run on it."""
    import numpy as np

    from kaggle_digits import atomic
    from kaggle_digits.runs import rundir
    from kaggle_digits.training import cutoff
    from kaggle_digits.training.train import FoldResult, save_fold

    clock, tasks = FakeClock(), []

    def train(job):
        task, y_fit, y_val, x_test, fold_dir = job.task, job.y_train, job.y_val, job.x_test, job.fold_dir
        seconds = task.given_seconds or task.recipe.seconds or 1.0
        took = seconds * (0.5 if not tasks else 1.0)
        tasks.append(task)
        clock.now += took + 2.0
        right = np.random.default_rng(task.fold_seed).random(len(y_val)) < 0.9
        oof = np.eye(10, dtype=np.float32)[np.where(right, y_val, (y_val + 1) % 10)]
        test = np.full((len(x_test), 10), 0.1, dtype=np.float32)
        epochs = task.recipe.epochs  # as planned (a real fold fitted to seconds may train more or fewer)
        history = {"loss": [1.0 / (e + 1) for e in range(epochs)], "epoch_seconds": [took / epochs] * epochs}
        metrics = {"val_accuracy": float(right.mean()), "n_train": len(y_fit), "n_val": len(y_val), "epochs": epochs,
                   "params": 1, "fit_seconds": took, "predict_seconds": 1.0, "seconds_per_epoch": took / epochs,
                   "images_per_second": epochs * len(y_fit) / took, "view": "image", "backend": "fake"}
        fingerprint = task.fingerprint()
        atomic.write_json(fold_dir / rundir.FINGERPRINT, fingerprint)
        result = FoldResult(task.model, task.fold, oof, test, history, metrics)
        save_fold(fold_dir, fingerprint, result)  # as train_fold saves it, without a model file
        return result

    monkeypatch.setattr(cutoff, "train_until", train)
    return clock, tasks
