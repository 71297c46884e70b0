"""Thin wrappers around the official ``kaggle`` CLI (package ``kaggle`` 2.x), run as a subprocess.

The kit does not re-implement the Kaggle API: it runs the same commands a user would type
(``kaggle competitions download/submit/submissions``, ``kaggle kernels push/status/output``) and turns
their failures into one actionable line. Credentials stay where the CLI keeps them: this module only
checks *whether* the CLI will find some (environment variable names and file locations), never reads a
secret into a message, a log or a file, and strips the CLI's verbose mode (which prints request headers).
"""

from __future__ import annotations

import importlib.util
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


class KaggleError(KaggleDigitsError):
    """A ``kaggle`` CLI call failed; the message is one line saying what to do."""


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
def kaggle_command() -> list[str]:
    """``kaggle`` from PATH, else ``python -m kaggle`` when the package is importable."""
    exe = shutil.which("kaggle")
    if exe:
        return [exe]
    if importlib.util.find_spec("kaggle") is not None:
        return [sys.executable, "-m", "kaggle"]
    raise KaggleError("the `kaggle` CLI is not installed: `pip install kaggle` (the kit drives Kaggle through it)")


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


def run(args: Sequence[str], *, what: str, competition: str | None = None, timeout: float | None = None) -> str:
    """Run ``kaggle ARGS``; return its (redacted) output or raise KaggleError with one line."""
    cmd = [*kaggle_command(), *args]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_child_env(),
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise KaggleError(f"{what}: `kaggle {' '.join(args[:2])}` did not finish within {timeout:.0f} s") from None
    except OSError as exc:
        raise KaggleError(f"cannot run {cmd[0]}: {exc.strerror or exc}") from None
    output = redact(proc.stdout.decode("utf-8", errors="replace"))
    problem = diagnose(output, proc.returncode, what=what, competition=competition)
    if problem:
        raise KaggleError(problem)
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
                     or "kernel push error" in low)
    if returncode == 0 and not failed_anyway:
        return None
    detail = _last_line(output)
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
    output = clean(run(args, what=f"downloading {competition}", competition=competition))
    if output:
        log.info(output)
    return Path(path) / f"{competition}.zip"


def submit(file: str | os.PathLike, message: str, competition: str = COMPETITION) -> str:
    """``kaggle competitions submit -c COMPETITION -f FILE -m MESSAGE``; call only with a validated file."""
    require_credentials()
    return clean(run(["competitions", "submit", "-c", competition, "-f", str(file), "-m", message],
                     what=f"submitting {Path(file).name} to {competition}", competition=competition))


def submissions(competition: str = COMPETITION, page_size: int = 5) -> str:
    """``kaggle competitions submissions -c COMPETITION``: the table of recent submissions and scores."""
    require_credentials()
    return run(["competitions", "submissions", "-c", competition, "--page-size", str(page_size)],
               what=f"listing submissions to {competition}", competition=competition)


def kernels_push(folder: str | os.PathLike, accelerator: str | None = None) -> str:
    """``kaggle kernels push -p FOLDER``; returns the CLI's confirmation line."""
    require_credentials()
    args = ["kernels", "push", "-p", str(folder)] + (["--accelerator", accelerator] if accelerator else [])
    output = run(args, what=f"pushing the kernel in {folder}")
    pushed = [line for line in output.splitlines() if "successfully pushed" in line.lower()]
    return pushed[-1].strip() if pushed else _last_line(output)


_STATUS = re.compile(r'has status "(?:KernelWorkerStatus\.)?([A-Za-z_]+)"', re.IGNORECASE)


def kernels_status(kernel: str) -> tuple[str, str]:
    """``kaggle kernels status OWNER/SLUG`` -> (status in lower case, failure message or "")."""
    require_credentials()
    output = run(["kernels", "status", kernel], what=f"asking for the status of kernel {kernel}")
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
        what=f"downloading the output of kernel {kernel}")
    return sorted(p for p in Path(path).rglob("*") if p.is_file())
