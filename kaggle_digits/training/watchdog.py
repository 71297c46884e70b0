"""Ends a process whose training has stopped making progress: a hung all-reduce must not burn GPU quota.

On a Kaggle "GPU T4 x2" session a fold trains under MirroredStrategy, and an NCCL all-reduce between the two
GPUs that never returns leaves the kernel waiting, using quota, until Kaggle's timeout -- which has been seen
not to stop a stuck kernel for hours. Inside a kernel (bundle.kernel_main arms it) every training batch beats
the watchdog (``HeartBeat``, added by train.train_fold); a thread that sees no beat for ``stall_seconds`` while
a fold is training logs one line and ends the process with ``EXIT_STALLED``. The folds finished before are
already saved with their submission (the kernel rewrites it after every fold), so Kaggle keeps a valid output.

A process-wide object on purpose: it guards the process, which has one training loop at a time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable

import keras

log = logging.getLogger(__name__)

EXIT_STALLED = 75  # EX_TEMPFAIL: the kernel stopped itself; its finished folds are its output
# A batch never takes minutes; tracing and XLA compilation of a fold's first step, or predicting 28,000 test
# rows, take well under this on a GPU, so only a hang lasts this long.
DEFAULT_STALL_SECONDS = 15 * 60

_armed: "Watchdog | None" = None


class Watchdog:
    def __init__(self, stall_seconds: float = DEFAULT_STALL_SECONDS, on_stall: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, poll_seconds: float | None = None):
        self.stall_seconds, self.clock = float(stall_seconds), clock
        self.on_stall = on_stall or _exit
        self.poll_seconds = poll_seconds if poll_seconds is not None else min(30.0, self.stall_seconds / 4)
        self.last = clock()
        self.what = ""           # the fold training now; "" when none is (between folds, ensemble, report)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "Watchdog":
        self._thread = threading.Thread(target=self._watch, name="kaggle-digits-watchdog", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def beat(self, what: str | None = None) -> None:
        self.last = self.clock()
        if what is not None:
            self.what = what

    def rest(self) -> None:
        """No fold is training: nothing to watch until the next beat names one."""
        self.what = ""

    def check(self) -> bool:
        """True (and ``on_stall`` called) when a fold has made no progress for ``stall_seconds``."""
        quiet = self.clock() - self.last
        if self.what and quiet >= self.stall_seconds:
            self.on_stall(f"{self.what}: no training progress for {quiet / 60:.0f} min (a hung all-reduce "
                          f"between GPUs?); stopping the kernel with the folds finished before it")
            return True
        return False

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            if self.check():
                return


def _exit(message: str) -> None:
    log.error(message)
    logging.shutdown()
    os._exit(EXIT_STALLED)  # a thread cannot interrupt a hung op: end the process, outputs are already written


def arm(stall_seconds: float = DEFAULT_STALL_SECONDS) -> Watchdog:
    """Start watching this process's training (the kernel does, once)."""
    global _armed
    if _armed is not None:
        _armed.stop()
    _armed = Watchdog(stall_seconds).start()
    return _armed


def callbacks(what: str) -> list[keras.callbacks.Callback]:
    """The heartbeat for ``fit`` when a watchdog is armed, else nothing."""
    return [HeartBeat(_armed, what)] if _armed is not None else []


def rest() -> None:
    if _armed is not None:
        _armed.rest()


class HeartBeat(keras.callbacks.Callback):
    def __init__(self, watchdog: Watchdog, what: str):
        super().__init__()
        self.watchdog, self.what = watchdog, what

    def on_train_begin(self, logs=None):
        self.watchdog.beat(self.what)

    def on_train_batch_end(self, batch, logs=None):
        self.watchdog.beat()

    def on_epoch_end(self, epoch, logs=None):
        self.watchdog.beat()
