"""Thin wrappers around the official ``kaggle`` CLI (package ``kaggle`` >= 2.2.2), run as a subprocess.

The kit does not re-implement the Kaggle API: it runs the same commands a user would type
(``kaggle competitions download/submit/submissions``, ``kaggle kernels push/status/output``, ``kaggle quota``)
and turns their failures into one actionable line -- also the ones the CLI reports with exit status 0.
Every call has a timeout, and the CLI's version is checked once, at its first use: before 2.2.2
``kaggle kernels output`` fetches only the first page (20 files) of a kernel's outputs (kaggle-cli PR #1046).
Credentials stay where the CLI keeps them: this module only checks *whether* the CLI will find some
(environment variable names and file locations), never reads a secret into a message, a log or a file, and
strips the CLI's verbose mode (which prints request headers).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from kaggle_digits.errors import KaggleDigitsError

log = logging.getLogger(__name__)
COMPETITION = "digit-recognizer"
API_TOKEN_URL = "https://www.kaggle.com/settings/api"
NO_CREDENTIALS = ("no Kaggle credentials found: run `kaggle auth login`, or save the API token from "
                  f"{API_TOKEN_URL} to ~/.kaggle/access_token (or set KAGGLE_API_TOKEN)")
_NETWORK_HINTS = ("connectionerror", "max retries exceeded", "failed to establish a new connection",
                  "name or service not known", "temporary failure in name resolution", "connection refused",
                  "network is unreachable", "read timed out")


MIN_CLI_VERSION = (2, 2, 2)  # kernels output: every page from 2.2.2 (PR #1046); --accelerator from 1.8.4
CLI_UPGRADE = 'pip install -U "kaggle>=2.2.2"'
# Seconds a CLI call may take before it is stopped: an API answer, or a file moved (the 15 MB data zip, a
# kernel's outputs). Without a limit a hung connection would hold `push`/`gather` for ever.
API_TIMEOUT = 300.0
TRANSFER_TIMEOUT = 1800.0
VERSION_TIMEOUT = 60.0
_SESSION_LIMIT = "maximum batch gpu session count"  # Kaggle's refusal beyond the concurrent GPU sessions
_INVALID_SOURCES = re.compile(r"not valid (\w+) sources and could not be added to the kernel: (.*)", re.IGNORECASE)


class KaggleError(KaggleDigitsError):
    """A ``kaggle`` CLI call failed; the message is one line saying what to do."""


class SessionLimitError(KaggleError):
    """Kaggle refused a push: as many GPU sessions as the account may run at once are running already."""


def rules_url(competition: str = COMPETITION) -> str:
    return f"https://www.kaggle.com/competitions/{competition}/rules"


# --------------------------------------------------------------------------- credentials (locations only)
def kaggle_json_path() -> Path:
    """Where the CLI looks for kaggle.json: $KAGGLE_CONFIG_DIR, else ~/.kaggle, else $XDG_CONFIG_HOME/kaggle."""
    config_dir = os.environ.get("KAGGLE_CONFIG_DIR")
    if config_dir:
        return Path(config_dir) / "kaggle.json"
    legacy = Path.home() / ".kaggle"
    if legacy.exists() or not sys.platform.startswith("linux"):
        return legacy / "kaggle.json"
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(xdg) / "kaggle" / "kaggle.json"


def _kaggle_json_keys() -> set[str]:
    """The field names present in kaggle.json (the values are not kept)."""
    try:
        data = json.loads(kaggle_json_path().read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return set()
    return {k for k, v in data.items() if v} if isinstance(data, dict) else set()


def _nonempty(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


def credential_source() -> str | None:
    """Where the kaggle CLI will take credentials from -- a name or a path, never a value -- or None.

    Same places, same order as kaggle 2.x: $KAGGLE_API_TOKEN, ~/.kaggle/access_token, KAGGLE_USERNAME +
    KAGGLE_KEY (environment or kaggle.json, which may be mixed), ~/.kaggle/credentials.json (from
    ``kaggle auth login``), and inside a Kaggle notebook the session token.
    """
    env = os.environ
    if env.get("KAGGLE_API_TOKEN"):
        return "$KAGGLE_API_TOKEN"
    kaggle_dir = Path.home() / ".kaggle"
    for name in ("access_token", "access_token.txt"):
        if _nonempty(kaggle_dir / name):
            return f"~/.kaggle/{name}"
    keys = _kaggle_json_keys()
    has_user = bool(env.get("KAGGLE_USERNAME")) or "username" in keys
    has_key = bool(env.get("KAGGLE_KEY")) or "key" in keys
    if has_user and has_key:
        return "$KAGGLE_USERNAME/$KAGGLE_KEY" if env.get("KAGGLE_KEY") else str(kaggle_json_path())
    if _nonempty(kaggle_dir / "credentials.json"):
        return "~/.kaggle/credentials.json"
    if env.get("KAGGLE_KERNEL_RUN_TYPE") and env.get("KAGGLE_API_V1_TOKEN"):
        return "the Kaggle notebook session"
    return None


def require_credentials() -> str:
    source = credential_source()
    if source is None:
        raise KaggleError(NO_CREDENTIALS)
    return source


def username() -> str | None:
    """The Kaggle user name ($KAGGLE_USERNAME or kaggle.json's "username"); None if only a token is set."""
    if os.environ.get("KAGGLE_USERNAME"):
        return os.environ["KAGGLE_USERNAME"]
    try:
        data = json.loads(kaggle_json_path().read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return None
    name = data.get("username") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else None


# --------------------------------------------------------------------------- running the CLI
_CHECKED: dict[str, str] = {}  # executable -> its version, once checked in this process


def kaggle_command() -> list[str]:
    """``kaggle`` from PATH, else ``python -m kaggle`` when the package is importable; its version checked
    at first use (KaggleError naming the installed version and the fix when it is older than 2.2.2)."""
    exe = shutil.which("kaggle")
    if exe:
        cmd = [exe]
    elif importlib.util.find_spec("kaggle") is not None:
        cmd = [sys.executable, "-m", "kaggle"]
    else:
        raise KaggleError(f"the `kaggle` CLI is not installed: `{CLI_UPGRADE}` (the kit drives Kaggle through it)")
    if cmd[0] not in _CHECKED:
        _CHECKED[cmd[0]] = check_version(cmd)
    return cmd


def parse_version(text: str) -> tuple[int, ...] | None:
    """``Kaggle CLI 2.2.5`` (or ``Kaggle API 1.6.17``, older CLIs) -> (2, 2, 5); None if there is no version."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(g or 0) for g in match.groups()) if match else None


def check_version(cmd: list[str]) -> str:
    """``kaggle --version`` must say 2.2.2 or newer; returns the version text."""
    try:
        proc = subprocess.run([*cmd, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              env=_child_env(), timeout=VERSION_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise KaggleError(f"`{cmd[0]} --version` did not answer within {VERSION_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise KaggleError(f"cannot run {cmd[0]}: {exc.strerror or exc}") from None
    output = proc.stdout.decode("utf-8", errors="replace")
    version = parse_version(output) if proc.returncode == 0 else None
    wanted = ".".join(map(str, MIN_CLI_VERSION))
    if version is None:
        raise KaggleError(f"cannot tell the version of the kaggle CLI at {cmd[0]} (`--version` said: "
                          f"{_last_line(output)}); the kit needs kaggle >= {wanted}: {CLI_UPGRADE}")
    if version < MIN_CLI_VERSION:
        raise KaggleError(f"the kaggle CLI at {cmd[0]} is version {'.'.join(map(str, version))}; the kit needs "
                          f">= {wanted} (older ones fetch only the first 20 files of a kernel's outputs): "
                          f"{CLI_UPGRADE}")
    return ".".join(map(str, version))


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("VERBOSE", "VERBOSE_OUTPUT"):  # the CLI's verbose mode prints request headers (credentials)
        env.pop(name, None)
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return env


_HEADER_SECRET = re.compile(r"(?im)^(\s*(?:proxy-)?authorization\s*:).*$")


def redact(text: str) -> str:
    """Drop anything that could be a credential from CLI output before it is shown or raised."""
    text = _HEADER_SECRET.sub(r"\1 <redacted>", text)
    for name in ("KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        value = os.environ.get(name, "")
        if len(value) >= 6:
            text = text.replace(value, "<redacted>")
    return text


def run(args: Sequence[str], *, what: str, timeout: float, competition: str | None = None) -> str:
    """Run ``kaggle ARGS`` for at most ``timeout`` seconds; return its (redacted) output or raise KaggleError
    (SessionLimitError for Kaggle's concurrent GPU session limit) with one line."""
    cmd = [*kaggle_command(), *args]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_child_env(),
                              timeout=timeout)
    except subprocess.TimeoutExpired:  # subprocess.run has killed the CLI by now
        raise KaggleError(f"{what}: `kaggle {' '.join(args[:2])}` did not finish within {timeout:.0f} s (Kaggle "
                          f"slow or unreachable?); try again") from None
    except OSError as exc:
        raise KaggleError(f"cannot run {cmd[0]}: {exc.strerror or exc}") from None
    output = redact(proc.stdout.decode("utf-8", errors="replace"))
    problem = diagnose(output, proc.returncode, what=what, competition=competition)
    if problem:
        raise (SessionLimitError if _SESSION_LIMIT in output.lower() else KaggleError)(problem)
    return output


_PROGRESS = re.compile(r"\d+%\|")


def clean(output: str) -> str:
    """The CLI's output without tqdm progress bars and blank lines."""
    lines = [line.rstrip() for line in re.split(r"[\r\n]+", output)]
    return "\n".join(line for line in lines if line.strip() and not _PROGRESS.search(line))


def _last_line(output: str) -> str:
    lines = clean(output).splitlines()
    return lines[-1].strip()[:300] if lines else "no output"


def diagnose(output: str, returncode: int, *, what: str, competition: str | None = None) -> str | None:
    """One line for a failed CLI call (None when it succeeded). Some failures exit 0, so text counts too."""
    low = output.lower()
    failed_anyway = ("could not find competition" in low or "could not submit to competition" in low
                     or "kernel push error" in low or _INVALID_SOURCES.search(output) is not None)
    if returncode == 0 and not failed_anyway:
        return None
    detail = _last_line(output)
    if _SESSION_LIMIT in low:
        line = next(li for li in clean(output).splitlines() if _SESSION_LIMIT in li.lower())
        return f"{what}: Kaggle refused it ({line.strip().removeprefix('Kernel push error: ')})"
    if (invalid := _INVALID_SOURCES.search(output)) is not None:
        # the push itself went through: that version runs, but without the data it names
        kind, names = invalid.group(1).lower(), invalid.group(2).strip()
        fix = (f"accept the rules at {rules_url(competition or COMPETITION)} with this account"
               if kind == "competition" else "check the names in kernel-metadata.json")
        return (f"{what}: Kaggle pushed it but could not attach the {kind} source(s) {names}, so that version "
                f"runs without its data and will fail; {fix}, then push again")
    if "authentication required" in low or "401" in low or "unauthorized" in low or "invalid credentials" in low:
        return (f"{what}: Kaggle did not accept the credentials (401); create a new API token at {API_TOKEN_URL} "
                f"or run `kaggle auth login`")
    if competition and ("403" in low or "forbidden" in low or "rules" in low or "permission" in low):
        return (f"{what}: Kaggle refused access to {competition} (403): accept the competition rules at "
                f"{rules_url(competition)} with the account of your API token, then rerun")
    if "403" in low or "forbidden" in low or "permission" in low:
        return f"{what}: permission denied by Kaggle (403): {detail}"
    if "could not find competition" in low or ("404" in low and competition):
        return (f"{what}: Kaggle does not know competition {competition!r} or it no longer accepts submissions "
                f"(404)")
    if "404" in low or "not found" in low:
        return f"{what}: not found on Kaggle (404): {detail}"
    if "429" in low or "too many requests" in low or ("limit" in low and "submission" in low):
        return f"{what}: Kaggle's rate or daily submission limit was reached (429); try again later ({detail})"
    if any(hint in low for hint in _NETWORK_HINTS):
        return f"{what}: cannot reach Kaggle (no internet connection or a proxy problem?): {detail}"
    if "could not submit to competition" in low:
        return f"{what}: the upload to Kaggle failed; nothing was submitted, try again ({detail})"
    if "kernel push error" in low:
        return f"{what}: {detail}"
    return f"{what}: `kaggle` exited with status {returncode}: {detail}"


# --------------------------------------------------------------------------- the commands the kit uses
def download(path: str | os.PathLike = "data", competition: str = COMPETITION, force: bool = False) -> Path:
    """``kaggle competitions download -c COMPETITION -p PATH``; returns the zip's path."""
    require_credentials()
    args = ["competitions", "download", "-c", competition, "-p", str(path)] + (["--force"] if force else [])
    log.info("running: kaggle " + " ".join(args))
    output = clean(run(args, what=f"downloading {competition}", competition=competition, timeout=TRANSFER_TIMEOUT))
    if output:
        log.info(output)
    return Path(path) / f"{competition}.zip"


def submit(file: str | os.PathLike, message: str, competition: str = COMPETITION) -> str:
    """``kaggle competitions submit -c COMPETITION -f FILE -m MESSAGE``; call only with a validated file."""
    require_credentials()
    return clean(run(["competitions", "submit", "-c", competition, "-f", str(file), "-m", message],
                     what=f"submitting {Path(file).name} to {competition}", competition=competition,
                     timeout=TRANSFER_TIMEOUT))


def submissions(competition: str = COMPETITION, page_size: int = 5) -> str:
    """``kaggle competitions submissions -c COMPETITION``: the table of recent submissions and scores."""
    require_credentials()
    return run(["competitions", "submissions", "-c", competition, "--page-size", str(page_size)],
               what=f"listing submissions to {competition}", competition=competition, timeout=API_TIMEOUT)


def submission_rows(competition: str = COMPETITION, page_size: int = 20) -> list[dict[str, str]]:
    """``kaggle competitions submissions -c COMPETITION --csv``: one dict per submission, newest first, with
    the CSV's columns (ref, fileName, date, description, status, publicScore, privateScore)."""
    require_credentials()
    # --csv before --page-size: a command line *ending* in -v/--csv skipped authentication up to kaggle 2.2.3
    output = run(["competitions", "submissions", "-c", competition, "--csv", "--page-size", str(page_size)],
                 what=f"listing submissions to {competition}", competition=competition, timeout=API_TIMEOUT)
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("ref,")), None)
    return [] if start is None else list(csv.DictReader(io.StringIO("\n".join(lines[start:]))))


def submission_error(ref: str) -> str | None:
    """Kaggle's error description of submission ``ref`` (``kaggle competitions submission REF``, a command of
    newer CLIs); None when this CLI cannot show it."""
    try:
        output = run(["competitions", "submission", str(ref)], what=f"reading submission {ref}",
                     timeout=API_TIMEOUT)
    except KaggleError:
        return None
    match = re.search(r"^Error:?\s+(.+)$", output, re.MULTILINE)  # "Error:           <description>"
    return match.group(1).strip() if match else None


def quota() -> str:
    """``kaggle quota --csv``: the weekly GPU/TPU hours used, remaining, total and the refresh time."""
    require_credentials()
    return run(["quota", "--csv"], what="reading your Kaggle GPU quota", timeout=API_TIMEOUT)


def kernels_push(folder: str | os.PathLike, accelerator: str | None = None, timeout_seconds: int | None = None) -> str:
    """``kaggle kernels push -p FOLDER [-t SECONDS]``; returns the CLI's confirmation line. ``timeout_seconds``
    caps the kernel's run on Kaggle (not this call)."""
    require_credentials()
    args = ["kernels", "push", "-p", str(folder)] + (["--accelerator", accelerator] if accelerator else [])
    args += ["-t", str(int(timeout_seconds))] if timeout_seconds else []
    output = run(args, what=f"pushing the kernel in {folder}", timeout=API_TIMEOUT)
    pushed = [line for line in output.splitlines() if "successfully pushed" in line.lower()]
    return pushed[-1].strip() if pushed else _last_line(output)


_STATUS = re.compile(r'has status "(?:KernelWorkerStatus\.)?([A-Za-z_]+)"', re.IGNORECASE)


def kernels_status(kernel: str) -> tuple[str, str]:
    """``kaggle kernels status OWNER/SLUG`` -> (status in lower case, failure message or "")."""
    require_credentials()
    output = run(["kernels", "status", kernel], what=f"asking for the status of kernel {kernel}", timeout=API_TIMEOUT)
    match = _STATUS.search(output)
    if not match:
        raise KaggleError(f"unexpected answer from `kaggle kernels status {kernel}`: {_last_line(output)}")
    failure = re.search(r'Failure message: "(.*)"', output)
    return match.group(1).lower(), failure.group(1) if failure else ""


def kernels_output(kernel: str, path: str | os.PathLike, file_pattern: str | None = None) -> list[Path]:
    """``kaggle kernels output OWNER/SLUG -p PATH --force [--file-pattern RE]``; returns the files under PATH."""
    require_credentials()
    Path(path).mkdir(parents=True, exist_ok=True)
    args = ["kernels", "output", kernel, "-p", str(path), "--force"]
    run(args + (["--file-pattern", file_pattern] if file_pattern else []),
        what=f"downloading the output of kernel {kernel}", timeout=TRANSFER_TIMEOUT)
    return sorted(p for p in Path(path).rglob("*") if p.is_file())


def kernel_state(kernel: str) -> str | None:
    """The status of the latest version of ``kernel`` (lower case), None if Kaggle has no such kernel."""
    try:
        return kernels_status(kernel)[0]
    except KaggleError as exc:
        if "(404)" in str(exc):
            return None
        raise
