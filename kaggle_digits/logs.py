"""Progress lines through ``logging``: every module logs to ``logging.getLogger(__name__)``.

``setup()`` (called by the CLI and inside Kaggle kernels) prints them as before: one plain line per
message on stdout, warnings as ``warning: ...`` on stderr. A library user picks their own handlers.
"""

from __future__ import annotations

import logging
import sys

ROOT = "kaggle_digits"


class _ConsoleHandler(logging.Handler):
    """stdout for progress, stderr for warnings; the streams are looked up per line (pytest swaps them)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            warning = record.levelno >= logging.WARNING
            stream = sys.stderr if warning else sys.stdout
            stream.write(("warning: " if warning else "") + record.getMessage() + "\n")
            stream.flush()
        except Exception:  # noqa: BLE001 -- as logging.StreamHandler: a broken stream is not the run's failure
            self.handleError(record)


def setup(level: int = logging.INFO) -> logging.Logger:
    """Show the kit's progress lines on the console (idempotent)."""
    logger = logging.getLogger(ROOT)
    logger.setLevel(level)
    if not any(isinstance(h, _ConsoleHandler) for h in logger.handlers):
        logger.addHandler(_ConsoleHandler())
    return logger


def format_minutes(seconds: float) -> str:
    """A duration as the kit's lines write it: seconds below 90, else minutes."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"
