"""Train folds side by side: one worker process per core on a CPU, each with its own thread.

A small Keras model on a CPU leaves a core partly idle: TensorFlow's per-step work does not split well
over threads at batch 128, so one process with several threads does not keep them all busy. Folds are
independent, so ``--workers N`` trains N folds at once in N processes of ``cores // N`` threads each
(more images per second than one process; the figures are in benchmarks/planner/README.md). The parent
process keeps the logging, the run folder lock and the ETA; a worker only runs ``train_fold`` (which
writes its own fold folder atomically) and returns the ``FoldResult``.

``auto`` means one worker per core (at most ``MAX_AUTO_WORKERS``) on a CPU-only machine when the run has
several folds to train on the full data, and one worker with one GPU (the GPU is the shared resource) or
for small runs, where a worker's start-up (a fresh process imports TensorFlow) costs more than it saves.
With two or more GPUs (devices.worker_devices: a Kaggle T4 x2) it means one worker per GPU, whatever the
run's size: each worker is given its own device as it starts (``CUDA_VISIBLE_DEVICES``, set before its
framework loads), so two folds train at once, one on each GPU, instead of one fold mirrored over both
(devices.py says why; ``KAGGLE_DIGITS_DISTRIBUTE=mirrored`` brings that back, with one worker). ``--workers N``
above the number of devices puts several workers on a device, round-robin.
"""

from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
import os
from typing import Callable, Iterable, Iterator

from kaggle_digits.quiet import quiet_tensorflow
from kaggle_digits.training.devices import DEVICES_ENV, WORKER_DEVICE_ENV, cuda_index, worker_devices

MAX_AUTO_WORKERS = 4
PARALLEL_MIN_ROWS = 10_000  # folds on fewer training rows finish before a worker process has started


def resolve_workers(requested: int | None, n_jobs: int, n_train_rows: int, has_gpu: bool) -> int:
    """The number of worker processes: ``requested`` if given (1 = train in this process), else ``auto``."""
    if requested is not None:
        return max(1, min(requested, max(n_jobs, 1)))
    # the GPUs are asked for only when the caller saw one: a CPU-only machine decides exactly as before
    spread = worker_devices(query_gpus=has_gpu)
    if spread:  # one worker per device: a GPU fold is long, a worker's start-up small beside it
        return max(1, min(len(spread), n_jobs))
    if has_gpu or n_jobs < 2 or n_train_rows < PARALLEL_MIN_ROWS:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_AUTO_WORKERS, n_jobs))


def threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


def _init_worker(threads: int, keras_backend: str, devices: tuple[str, ...] = (), counter=None,
                 shared: bool = False) -> None:
    """Runs first in each worker: its device, its backend, its share of the cores, TensorFlow's C++ logs quiet.

    ``devices``: the devices to spread the workers over, the ``counter``-th worker (a shared multiprocessing
    Value, so each worker takes the next) gets ``devices[counter % len(devices)]`` and sees only that GPU;
    ``shared``: more workers than devices, so a device's memory is shared: neither framework may take it all."""
    if devices and counter is not None:
        with counter.get_lock():
            index = counter.value
            counter.value += 1
        device = devices[index % len(devices)]
        os.environ[WORKER_DEVICE_ENV] = device
        os.environ[DEVICES_ENV] = device  # what this process may use: its device, not the parent's list
        gpu = cuda_index(device, os.environ.get("CUDA_VISIBLE_DEVICES"))
        if gpu is not None:  # before TensorFlow or JAX loads: the only GPU this process sees is its own
            os.environ["CUDA_VISIBLE_DEVICES"] = gpu
        if shared:
            os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX takes 75% of a GPU otherwise
            os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")       # TensorFlow takes all of it
    os.environ["KERAS_BACKEND"] = keras_backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if keras_backend == "tensorflow":
        quiet_tensorflow(debug=os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0")  # as the command line does for itself
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)


def pool(workers: int) -> futures.ProcessPoolExecutor:
    """A pool of ``workers`` fresh processes ("spawn": no TensorFlow state is forked), each initialised; with
    several devices (devices.worker_devices) each worker is given the next device, round-robin."""
    import keras

    # the workers inherit this: TensorFlow's C++ start-up logs stay hidden unless the user asked for them
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    context = multiprocessing.get_context("spawn")
    devices = tuple(worker_devices(query_gpus=True))
    counter = context.Value("i", 0) if devices else None
    return futures.ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                                       initargs=(threads_per_worker(workers), keras.backend.backend(), devices,
                                                 counter, workers > len(devices) > 0))


def run_all(function: Callable, jobs: Iterable[tuple], workers: int,
            admit: Callable[[int], bool] | None = None) -> Iterator[tuple[int, object]]:
    """``function(*job)`` for every job, ``workers`` at a time; yields (job index, result) as each finishes.

    With one worker the jobs run here, in order. ``admit(i)``, when given, is asked just before job ``i`` would
    start (after the results yielded so far were handled): False skips it (a fold that cannot finish before the
    run's deadline); it may also replace ``jobs[i]`` (a list's item is read only after its admit: a fold's
    re-planned seconds, planning/schedule.py). Jobs are handed to the pool only as workers free up, so that question is asked late. A
    failure in any job cancels the jobs not yet started and is raised in the caller, as if the job had run in
    this process.
    """
    jobs = jobs if isinstance(jobs, list) else list(jobs)
    if workers <= 1:
        for i in range(len(jobs)):
            if admit is None or admit(i):
                yield i, function(*jobs[i])
        return
    queue = iter(range(len(jobs)))
    with pool(workers) as executor:
        pending: dict[futures.Future, int] = {}

        def fill() -> None:
            for i in queue:
                if admit is None or admit(i):
                    pending[executor.submit(function, *jobs[i])] = i
                    if len(pending) >= workers:
                        return

        try:
            fill()
            while pending:
                done, _ = futures.wait(pending, return_when=futures.FIRST_COMPLETED)
                for future in done:
                    yield pending.pop(future), future.result()
                fill()
        except BaseException:
            for f in pending:
                f.cancel()
            raise
