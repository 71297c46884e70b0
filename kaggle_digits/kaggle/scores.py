"""After an upload: wait for Kaggle's public score, and keep it with the run that made the file.

Kaggle scores a submission a little after the upload (status PENDING, then COMPLETE or ERROR). ``wait``
polls ``kaggle competitions submissions --csv`` with a growing interval (``first_poll`` seconds, doubling,
at most ``MAX_POLL_SECONDS``) until the submission leaves PENDING or ``max_wait`` seconds have passed.
``record`` appends the outcome to the run folder's ``rundir.KAGGLE_SCORES`` file (and to
submissions/submitted.json), which ``kaggle-digits runs`` reads back.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from kaggle_digits import atomic
from kaggle_digits.runs import rundir
from kaggle_digits.kaggle import client, provenance

log = logging.getLogger(__name__)

MAX_POLL_SECONDS = 60.0
_REF = re.compile(r"Submission ref:\s*(\d+)")
_REMAINING = re.compile(r"(\d+) submissions? remaining today")


@dataclass
class Score:
    ref: str | None
    status: str                  # pending, complete or error
    public_score: float | None
    error: str | None = None     # Kaggle's error description of an ERROR
    description: str = ""

    def line(self, facts: provenance.RunFacts) -> str:
        """``public score 0.99123 | OOF accuracy 99.2000% (run NAME)``."""
        oof = (f"OOF accuracy {facts.oof_accuracy:.4%} (run {facts.name})" if facts.oof_accuracy is not None
               else "OOF accuracy unknown (no run folder found)")
        score = f"{self.public_score:.5f}" if self.public_score is not None else "not published"
        return f"public score {score} (submission {self.ref}) | {oof}"


def submitted_ref(output: str) -> str | None:
    """The ref newer CLIs print after ``kaggle competitions submit`` ("Submission ref: 123")."""
    match = _REF.search(output)
    return match.group(1) if match else None


def remaining_today(output: str) -> int | None:
    """"N submissions remaining today.", printed by newer CLIs after a submit; None when not reported."""
    match = _REMAINING.search(output)
    return int(match.group(1)) if match else None


def _status(row: dict) -> str:
    return row.get("status", "").rpartition(".")[2].strip().lower()  # SubmissionStatus.PENDING -> pending


def find(rows: list[dict], ref: str | None, description: str) -> dict | None:
    """Our submission among the listing's rows: by ref when the CLI printed one, else the newest row with our
    description (the listing is newest first)."""
    for row in rows:
        if (row.get("ref") == ref) if ref else (row.get("description") == description):
            return row
    return None


def wait(description: str, ref: str | None = None, *, first_poll: float = 5.0, max_wait: float = 600.0,
         sleep=time.sleep, clock=time.monotonic) -> tuple[Score, list[dict]]:
    """Poll until the submission leaves PENDING (or ``max_wait`` passes); returns its Score and the last listing."""
    deadline, delay = clock() + max_wait, first_poll
    while True:
        sleep(delay)  # even listing the new submission takes Kaggle a moment
        rows = client.submission_rows(page_size=20)
        row = find(rows, ref, description)
        status = _status(row) if row else "pending"
        if status != "pending" or clock() + delay > deadline:
            break
        log.info(f"submission {row.get('ref') if row else ref or ''}: still being scored; asking again in "
                 f"{min(delay * 2, MAX_POLL_SECONDS):.0f} s")
        delay = min(delay * 2, MAX_POLL_SECONDS)
    ref = ref or (row or {}).get("ref")
    try:
        public = float((row or {}).get("publicScore") or "")
    except ValueError:
        public = None
    score = Score(ref, status, public if status == "complete" else None, description=description)
    if status == "error" and ref:
        score.error = client.submission_error(ref)
    return score, rows


def record(score: Score, facts: provenance.RunFacts, submissions_dir: str | Path) -> Path | None:
    """Append ``score`` to the run folder's KAGGLE_SCORES file and to submitted.json's last entry."""
    entry = {"time": dt.datetime.now().isoformat(timespec="seconds"), **asdict(score)}
    provenance.annotate_last_submitted(submissions_dir, {k: entry[k] for k in ("ref", "status", "public_score")})
    if facts.run_dir is None:
        return None
    path = Path(facts.run_dir) / rundir.KAGGLE_SCORES
    return atomic.write_json(path, read(facts.run_dir) + [entry])


def read(run_dir: str | Path) -> list[dict]:
    """The scores recorded for ``run_dir``, oldest first ([] if none)."""
    try:
        scores = atomic.read_json(Path(run_dir) / rundir.KAGGLE_SCORES)
    except (OSError, ValueError):
        return []
    return [s for s in scores if isinstance(s, dict)] if isinstance(scores, list) else []


def best_public(run_dir: str | Path) -> float | None:
    """The best public score recorded for ``run_dir`` (None until one is scored)."""
    found = [s["public_score"] for s in read(run_dir) if isinstance(s.get("public_score"), (int, float))]
    return max(found) if found else None
