"""The run folder lock: one process writes a run folder at a time.

The lock is an OS file lock (``filelock``) on RUN_DIR/run.lock, so the operating system releases it when
its process ends, however it ends: no stale lock to detect or take over. The lock file itself stays in
place (waiters must share its inode); the holder's pid and host go to RUN_DIR/run.lock.owner, only so a
refused process can say which one holds the folder.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import Iterator

import filelock

from kaggle_digits import atomic
from kaggle_digits.errors import OutputError
from kaggle_digits.runs.rundir import LOCK, LOCK_OWNER


@contextlib.contextmanager
def lock(run_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold RUN_DIR/run.lock while a run writes the folder. A second holder -- another process, or another
    ``lock`` call in this one -- gets OutputError naming the holder, at once (no waiting: two runs writing
    the same fold folders would waste each other's work)."""
    run_dir = Path(run_dir)
    path, owner = run_dir / LOCK, run_dir / LOCK_OWNER
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        held = filelock.FileLock(path, timeout=0)
        held.acquire()
    except filelock.Timeout:
        raise OutputError(f"the run folder {run_dir} is in use by {_holder(owner)}; wait for it to finish or use "
                          f"another --run-dir") from None
    except OSError as exc:
        raise OutputError(f"cannot lock the run folder {run_dir}: {exc.strerror or exc}") from None
    try:
        atomic.write_text(owner, f"{os.getpid()} {socket.gethostname()}\n")
        yield path
    finally:
        with contextlib.suppress(OSError):
            owner.unlink()
        held.release()


def _holder(owner: Path) -> str:
    """``process 1234 on host`` from the owner file; ``another process`` while it is not written yet."""
    try:
        pid, _, host = owner.read_text().strip().partition(" ")
    except OSError:
        return "another process"
    where = f" on {host}" if host and host != socket.gethostname() else ""
    return f"process {pid}{where}" if pid.isdigit() else "another process"
