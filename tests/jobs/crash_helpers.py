"""Helpers for the crash tests: kill a goman process at a chosen point, then resume."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime
from typing import Any

from tests.cli.cluster_helpers import PREFIX, read_json
from tests.conftest import BUCKET

EMULATOR_HEADER = "HTTP_X_GOMAN_SANDBOX_GENERATION"


def request_body(environ: dict[str, Any]) -> bytes:
    """Read a request body and put it back for the server."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    return raw


class Killer:
    """A sandbox hook: once the watched process reaches a point, SIGKILL it the moment it
    sends its next request. Deterministic: the kill happens inside that request."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.point = ""
        self.armed = False
        self.run_instances = 0
        self.killed = threading.Event()

    def watch(self, proc: subprocess.Popen[bytes], point: str) -> None:
        self.proc, self.point, self.armed, self.run_instances = proc, point, False, 0
        self.killed.clear()

    def hook(self, environ: dict[str, Any], start_response: Any) -> list[bytes] | None:
        if self.proc is None or self.killed.is_set() or environ.get(EMULATOR_HEADER):
            return None
        if self.armed:
            self.proc.kill()
            self.proc.wait()
            self.killed.set()
            start_response("503 Service Unavailable", [("Content-Length", "0")])
            return [b""]
        method, path = environ.get("REQUEST_METHOD"), str(environ.get("PATH_INFO", ""))
        if self.point.startswith("run-instances#") and method == "POST":
            if b"Action=RunInstances" in request_body(environ):
                self.run_instances += 1
                self.armed = self.run_instances == int(self.point.split("#")[1])
        elif method == "PUT" and "/jobs/" in path:
            raw = request_body(environ)
            doc = json.loads(raw[raw.index(b"{") : raw.rindex(b"}") + 1])
            self.armed = any(
                s["name"] == self.point and s["status"] == "running" for s in doc["steps"]
            )
        return None


def popen_goman(aws_env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "goman", *args],
        env={**os.environ, **aws_env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def read_job(s3: Any, job_id: str) -> dict[str, Any]:
    data: dict[str, Any] = read_json(s3, BUCKET, f"{PREFIX}jobs/{job_id}.json")
    return data


def resume_after_leases(jobs: list[dict[str, Any]], goman_proc: Any) -> Any:
    """Wait until every killed worker's lease has run out, then run `goman worker --once`."""
    expiry = max(datetime.fromisoformat(j["lease"]["expires_at"]) for j in jobs)
    deadline = time.monotonic() + 30
    while datetime.now(expiry.tzinfo) <= expiry and time.monotonic() < deadline:
        time.sleep(0.2)
    return goman_proc("worker", "--once", timeout=300)
