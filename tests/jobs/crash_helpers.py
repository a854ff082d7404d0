"""Helpers for the crash tests: kill a goman process at a chosen point, then resume."""

from __future__ import annotations

import contextlib
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


def _socket_ports(pid: int) -> set[int]:
    """The local TCP ports of a process's sockets (Linux /proc)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[len("socket:[") : -1])
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as fh:
            for line in fh.readlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


class Killer:
    """A sandbox hook: once the watched process reaches a point, SIGKILL it the moment it
    sends its next request. Deterministic: the kill happens inside that request. Only the
    watched process's own requests count (by their client port): a process killed before
    may still have requests in flight, which the sandbox serves later."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.point = ""
        self.armed = False
        self.run_instances = 0
        self.killed = threading.Event()
        self._ports: set[int] = set()

    def watch(self, proc: subprocess.Popen[bytes], point: str) -> None:
        self.proc, self.point, self.armed, self.run_instances = proc, point, False, 0
        self._ports = set()
        self.killed.clear()

    def owns(self, environ: dict[str, Any]) -> bool:
        """Whether the request comes from the watched process."""
        if self.proc is None:
            return False
        port = int(environ.get("REMOTE_PORT") or 0)
        if port not in self._ports:
            self._ports = _socket_ports(self.proc.pid)
        return port in self._ports

    def may_arm(self, environ: dict[str, Any]) -> bool:
        """Whether this request may arm the killer: the watched process's own (not the node
        emulator's), while it is neither armed nor killed yet. For hooks with other points."""
        if self.proc is None or self.killed.is_set() or self.armed:
            return False
        return not environ.get(EMULATOR_HEADER) and self.owns(environ)

    def hook(self, environ: dict[str, Any], start_response: Any) -> list[bytes] | None:
        if self.proc is None or self.killed.is_set() or environ.get(EMULATOR_HEADER):
            return None
        if not self.owns(environ):
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
