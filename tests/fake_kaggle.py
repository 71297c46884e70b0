"""A small fake of the Kaggle API for the real ``kaggle`` CLI (kaggle 2.x / kagglesdk), on 127.0.0.1.

The CLI cannot be pointed at another host, but with ``KAGGLE_API_ENVIRONMENT=LOCALHOST`` it calls
``http://localhost/api/v1/<service>/<Method>``; the fake is that process's HTTP proxy
(``http_proxy=http://127.0.0.1:<free port>``, ``NO_PROXY`` unset), so it sees every request -- API calls,
the data download it redirects to, the submission upload (PUT) and kernel output downloads -- and answers
them from memory. Nothing leaves the machine.

Answered: competitions.CompetitionApiService/{DownloadDataFiles, StartSubmissionUpload, CreateSubmission,
GetSubmissionLimits, ListSubmissions, GetSubmission}, kernels.KernelsApiService/{SaveKernel,
GetKernelSessionStatus, ListKernelSessionOutput, GetAcceleratorQuotaStatistics},
security.OAuthService/IntrospectToken, plus GET /files/<zip>, PUT /upload/<token> and
GET /kernel-output/<owner>/<slug>/<path>. Field names follow kagglesdk's request/response types.

A pushed kernel is "run" by ``kernel_runner(script_text, working_dir, timeout_seconds, sources) -> (returncode,
log)`` in a thread, one kernel at a time, so ``kaggle kernels status`` reports QUEUED, RUNNING, then COMPLETE or
ERROR, and ``kaggle kernels output`` serves what the script wrote. ``timeout_seconds`` is the push's ``-t``
(the SaveKernel body's ``sessionTimeoutSeconds``; None without one): the runner kills a kernel still running
then and answers returncode None, and the fake reports it as Kaggle does a session ended at its limit --
CANCEL_ACKNOWLEDGED, "exceeded the max allowed execution duration" -- with the files it wrote kept as its
output. ``sources``: the working folders of the kernels its ``kernelDataSources`` (kernel-metadata.json's
``kernel_sources``) name, their newest version's as Kaggle mounts it, for the runner to mount. A runner taking
only (script_text, working_dir) is still accepted (no timeout, no sources). With ``hold_kernels`` a kernel
without a runner stays RUNNING until ``finish(slug)``.

Kaggle's rules as the fake plays them (docs in ../shared/docs/kaggle-cli-offline.md): each push of a slug is
a new version and an earlier one keeps running; a GPU push beyond ``gpu_session_limit`` running GPU
sessions answers "Maximum batch GPU session count of N reached" (the CLI prints it as "Kernel push error"
and exits 0); a push naming a competition whose rules are not accepted is saved and run but answers
``invalidCompetitionSources`` (the CLI exits 0 there too); a submission is PENDING for ``pending_polls``
listings, then COMPLETE with ``public_score`` or ERROR with ``error_description``; ``kaggle quota`` shows
``gpu_quota_hours`` (used, total).
"""

from __future__ import annotations

import base64
import datetime as dt
import inspect
import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

API = "/api/v1/"


@dataclass
class Request:
    method: str
    path: str
    authorization: str | None
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body or b"{}")


@dataclass
class Kernel:
    slug: str                 # owner/slug
    request: dict             # the SaveKernel body
    version: int
    working: Path
    thread: threading.Thread | None = None
    started: bool = False
    returncode: int | None = None
    log: str = ""
    killed: bool = False      # ran past its sessionTimeoutSeconds: CANCEL_ACKNOWLEDGED


@dataclass
class FakeKaggle:
    workdir: Path
    data_zip: bytes = b""
    competitions: tuple[str, ...] = ("digit-recognizer",)
    rules_accepted: bool = True
    valid_keys: set[str] | None = None  # API keys accepted for Basic auth (None: any)
    kernel_runner: Callable[..., tuple[int | None, str]] | None = None
    hold_kernels: bool = False            # kernels without a runner stay RUNNING until finish()
    gpu_session_limit: int | None = None  # running GPU sessions allowed at once (None: no limit)
    gpu_quota_hours: tuple[float, float] = (2.5, 30.0)  # (used, total) this week
    pending_polls: int = 0                # listings that still show a new submission as PENDING
    public_score: str = "0.98765"
    error_description: str = ""           # set: submissions end in ERROR with this description
    requests: list[Request] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    submissions: list[dict] = field(default_factory=list)
    kernels: dict[str, Kernel] = field(default_factory=dict)

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> "FakeKaggle":
        fake = self
        self._machine = threading.Lock()

        class Handler(_Handler):
            kaggle = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        for kernel in self.kernels.values():
            if kernel.thread is not None:
                kernel.thread.join(timeout=120)

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def api_calls(self) -> list[str]:
        return [r.path[len(API):] for r in self.requests if r.path.startswith(API)]

    def finish(self, slug: str, returncode: int = 0) -> None:
        """End a held kernel's run (its session then no longer counts against the GPU session limit)."""
        self.kernels[slug].returncode = returncode

    def running_gpu_sessions(self) -> int:
        return sum(1 for k in self.kernels.values() if k.returncode is None and k.request.get("enableGpu"))

    # ---------------------------------------------------------------- API methods
    def call(self, method: str, request: Request) -> tuple[int, dict]:
        body = request.json()
        if method == "security.OAuthService/IntrospectToken":
            return 200, {"active": True, "username": "fakeuser"}
        if request.authorization is None or not self._authorized(request.authorization):
            return 401, {"code": 401, "message": "Unauthenticated"}
        service, _, name = method.partition("/")
        handler = getattr(self, f"_{name}", None)
        if handler is None or service not in ("competitions.CompetitionApiService", "kernels.KernelsApiService"):
            return 404, {"code": 404, "message": f"fake Kaggle does not implement {method}"}
        return handler(body)

    def _authorized(self, header: str) -> bool:
        if self.valid_keys is None or not header.startswith("Basic "):
            return True
        _, _, key = base64.b64decode(header[6:]).decode().partition(":")
        return key in self.valid_keys

    def _competition(self, body: dict) -> tuple[int, dict] | None:
        if body.get("competitionName") not in self.competitions:
            return 404, {"code": 404, "message": "Competition not found"}
        return None

    def _DownloadDataFiles(self, body):
        if (problem := self._competition(body)) is not None:
            return problem
        if not self.rules_accepted:
            return 403, {"code": 403, "message": "You must accept this competition's rules before you'll be able "
                                                 "to download files."}
        return 302, {"location": f"http://localhost/files/{body['competitionName']}.zip"}

    def _StartSubmissionUpload(self, body):
        if (problem := self._competition(body)) is not None:
            return problem
        token = f"blob-{len(self.uploads) + 1}"
        self.uploads[token] = b""
        return 200, {"token": token, "createUrl": f"http://localhost/upload/{token}"}

    def _CreateSubmission(self, body):
        if (problem := self._competition(body)) is not None:
            return problem
        token = body.get("blobFileTokens")
        if token not in self.uploads or not self.uploads[token]:
            return 400, {"code": 400, "message": "unknown or empty upload"}
        ref = 1000 + len(self.submissions)
        self.submissions.insert(0, {
            "ref": ref, "fileName": "submission.csv", "description": body.get("submissionDescription", ""),
            "date": dt.datetime(2026, 1, 2, 3, 4, 5).isoformat(timespec="milliseconds") + "Z", "status": "PENDING",
            "publicScore": "", "privateScore": "", "totalBytes": len(self.uploads[token]), "_token": token,
            "_polls_left": self.pending_polls})
        return 200, {"message": "Successfully submitted to Digit Recognizer", "ref": ref}

    def _score(self) -> None:
        """One more look at the submissions: a PENDING one is scored once its polls are used up."""
        for sub in self.submissions:
            if sub.get("status") != "PENDING":
                continue
            if sub["_polls_left"] > 0:
                sub["_polls_left"] -= 1
            elif self.error_description:
                sub.update(status="ERROR", errorDescription=self.error_description)
            else:
                sub.update(status="COMPLETE", publicScore=self.public_score)

    def _GetSubmission(self, body):
        self._score()
        for sub in self.submissions:
            if str(sub["ref"]) == str(body.get("ref")):
                return 200, {k: v for k, v in sub.items() if not k.startswith("_")}
        return 404, {"code": 404, "message": "Submission not found"}

    def _GetSubmissionLimits(self, body):
        return 200, {"numToday": len(self.submissions), "numTotal": len(self.submissions),
                     "numAllowedNow": max(0, 5 - len(self.submissions))}

    def _ListSubmissions(self, body):
        if (problem := self._competition(body)) is not None:
            return problem
        self._score()
        size = int(body.get("pageSize") or 20)
        return 200, {"submissions": [{k: v for k, v in s.items() if not k.startswith("_")}
                                     for s in self.submissions[:size]]}

    def _GetAcceleratorQuotaStatistics(self, body):
        used, total = self.gpu_quota_hours
        return 200, {"quotaRefreshTime": "2026-01-05T00:00:00Z",
                     "gpuQuota": {"timeUsed": f"{used * 3600:.0f}s", "totalTimeAllowed": f"{total * 3600:.0f}s"}}

    def _SaveKernel(self, body):
        slug = body.get("slug", "")
        if "/" not in slug or not body.get("text"):
            return 400, {"code": 400, "message": "slug owner/name and text are required"}
        if body.get("enableGpu") and self.gpu_session_limit is not None \
                and self.running_gpu_sessions() >= self.gpu_session_limit:
            return 200, {"error": f"Maximum batch GPU session count of {self.gpu_session_limit} reached."}
        previous = self.kernels.get(slug)  # an earlier version keeps running: Kaggle does not stop it
        version = previous.version + 1 if previous else 1
        working = self.workdir / "kernels" / slug.replace("/", "__") / f"v{version}"
        working.mkdir(parents=True)
        kernel = self.kernels[slug] = Kernel(slug, body, version, working)
        if self.kernel_runner is not None:
            timeout = body.get("sessionTimeoutSeconds") or None
            sources = [self.kernels[s].working for s in body.get("kernelDataSources") or [] if s in self.kernels]

            def run() -> None:
                with self._machine:  # one kernel at a time on the test machine; the others are QUEUED
                    kernel.started = True
                    if len(inspect.signature(self.kernel_runner).parameters) >= 4:
                        returncode, kernel.log = self.kernel_runner(body["text"], working, timeout, sources)
                    else:
                        returncode, kernel.log = self.kernel_runner(body["text"], working)
                    kernel.killed = returncode is None
                    kernel.returncode = 137 if kernel.killed else returncode
            kernel.thread = threading.Thread(target=run, daemon=True)
            kernel.thread.start()
        elif self.hold_kernels:
            kernel.started = True
        else:
            kernel.returncode = 0
        answer = {"ref": f"/code/{slug}", "url": f"https://www.kaggle.com/code/{slug}", "versionNumber": version}
        if not self.rules_accepted:  # saved and run all the same, without the competition's data
            answer["invalidCompetitionSources"] = list(body.get("competitionDataSources") or [])
        return 200, answer

    def _kernel(self, body) -> Kernel | None:
        return self.kernels.get(f"{body.get('userName')}/{body.get('kernelSlug')}")

    def _GetKernelSessionStatus(self, body):
        kernel = self._kernel(body)
        if kernel is None:
            return 404, {"code": 404, "message": "Kernel not found"}
        if kernel.returncode is None:
            return 200, {"status": "RUNNING" if kernel.started else "QUEUED"}
        if kernel.killed:
            return 200, {"status": "CANCEL_ACKNOWLEDGED", "failureMessage": "Your notebook was stopped because it "
                         "exceeded the max allowed execution duration"}
        if kernel.returncode == 0:
            return 200, {"status": "COMPLETE"}
        return 200, {"status": "ERROR", "failureMessage": f"script exited with status {kernel.returncode}"}

    def _ListKernelSessionOutput(self, body):
        kernel = self._kernel(body)
        if kernel is None:
            return 404, {"code": 404, "message": "Kernel not found"}
        files = sorted(p.relative_to(kernel.working).as_posix() for p in kernel.working.rglob("*") if p.is_file())
        start = int(body.get("pageToken") or 0)
        size = int(body.get("pageSize") or 20)
        page = files[start:start + size]
        answer = {"files": [{"fileName": name, "url": f"http://localhost/kernel-output/{kernel.slug}/{name}"}
                            for name in page], "log": kernel.log if start == 0 else ""}
        if start + size < len(files):
            answer["nextPageToken"] = str(start + size)
        return 200, answer

    # ---------------------------------------------------------------- plain files
    def get_file(self, path: str) -> bytes | None:
        if path.startswith("/files/") and path.endswith(".zip"):
            return self.data_zip
        if path.startswith("/kernel-output/"):
            owner, slug, rel = path[len("/kernel-output/"):].split("/", 2)
            kernel = self.kernels.get(f"{owner}/{slug}")
            target = (kernel.working / rel) if kernel else None
            if target is not None and target.resolve().is_relative_to(kernel.working.resolve()) and target.is_file():
                return target.read_bytes()
        return None


class _Handler(BaseHTTPRequestHandler):
    kaggle: FakeKaggle

    def log_message(self, format, *args):  # keep pytest output clean
        pass

    def _path(self) -> str:
        return urllib.parse.urlsplit(self.path).path  # proxied requests carry the absolute URL

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _record(self, body: bytes) -> Request:
        request = Request(self.command, self._path(), self.headers.get("Authorization"), body)
        self.kaggle.requests.append(request)
        return request

    def _send(self, status: int, payload: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def do_POST(self):
        request = self._record(self._body())
        if not request.path.startswith(API):
            return self._send(404, b"{}", "application/json")
        status, answer = self.kaggle.call(request.path[len(API):], request)
        if status == 302:
            return self._send(302, b"", "text/plain", {"Location": answer["location"]})
        self._send(status, json.dumps(answer).encode(), "application/json")

    def do_PUT(self):
        request = self._record(self._body())
        token = request.path.rsplit("/", 1)[-1]
        if request.path.startswith("/upload/") and token in self.kaggle.uploads:
            self.kaggle.uploads[token] = request.body
            return self._send(200, b"{}", "application/json")
        self._send(404, b"{}", "application/json")

    def do_GET(self):
        request = self._record(b"")
        content = self.kaggle.get_file(request.path)
        if content is None:
            return self._send(404, b"not found", "text/plain")
        self._send(200, content, "application/octet-stream")


def basic_auth(user: str, key: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()
