"""What the benchmarks share: a loopback proxy that adds network latency, a client-side
request log (botocore events and goman's standard-library fast path) and a server-side
request counter (a sandbox hook). Loopback only; nothing here is part of goman.
"""

from __future__ import annotations

import collections
import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

# The node emulator marks its own requests with this header: they stand for nodes inside
# AWS, not for the user, so the proxy passes them through without delay.
EMULATOR_MARK = b"x-goman-sandbox-generation"


class DelayProxy:
    """A TCP proxy on 127.0.0.1 that makes the target look `rtt` seconds away.

    Every chunk is delivered half a round trip after it was sent, in each direction, in
    order. So a request costs one round trip, and a request that waits for `100 Continue`
    before sending its body two. Connecting costs nothing: the sandbox's HTTP server closes
    every connection after one response (AWS keeps them alive), so charging a handshake
    would count one per request. `rtt` can be changed between runs; a connection keeps the
    value it started with."""

    def __init__(self, target: tuple[str, int], rtt: float = 0.0) -> None:
        self.target = target
        self.rtt = rtt
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="delay-proxy", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DelayProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        rtt = self.rtt
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        state = {"rtt": rtt, "decided": False}
        _Pipe(client, upstream, state, client_side=True).start()
        _Pipe(upstream, client, state, client_side=False).start()


class _Pipe:
    """One direction of a proxied connection: a delay line that keeps the order."""

    def __init__(
        self, src: socket.socket, dst: socket.socket, state: dict[str, Any], client_side: bool
    ) -> None:
        self.src, self.dst, self.state, self.client_side = src, dst, state, client_side
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.cond = threading.Condition()

    def start(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._write, daemon=True).start()

    def _read(self) -> None:
        first = True
        while True:
            try:
                data = self.src.recv(65536)
            except OSError:
                data = b""
            if first and self.client_side and not self.state["decided"]:
                self.state["decided"] = True
                if EMULATOR_MARK in data.lower():
                    self.state["rtt"] = 0.0
            first = False
            due = time.monotonic() + float(self.state["rtt"]) / 2
            with self.cond:
                self.queue.append((due, data))
                self.cond.notify()
            if not data:
                return

    def _write(self) -> None:
        while True:
            with self.cond:
                while not self.queue:
                    self.cond.wait()
                due, data = self.queue.popleft()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                if not data:
                    self.dst.shutdown(socket.SHUT_WR)
                    return
                self.dst.sendall(data)
            except OSError:
                for s in (self.src, self.dst):
                    with contextlib.suppress(OSError):
                        s.close()
                return


@dataclass
class Call:
    op: str
    start: float
    end: float = 0.0
    thread: int = 0
    target: str = ""  # the S3 key, for S3 requests


class RequestLog:
    """Every AWS request one AWS context makes, with its start and end, from botocore's
    event hooks and a wrapper around goman's standard-library fast path."""

    def __init__(self, session: Any) -> None:
        self.calls: list[Call] = []
        self._open: dict[int, Call] = {}
        self._lock = threading.Lock()
        session.events.register("before-call", self._send)
        session.events.register("after-call", self._done)
        self._wrap_lite()

    def _wrap_lite(self) -> None:
        from goman.aws.lite import LiteAws

        original = getattr(LiteAws._send, "__wrapped__", LiteAws._send)
        log = self

        def send(lite: Any, method: str, url: str, headers: Any, body: bytes, service: str) -> Any:
            op = "sts:GetCallerIdentity" if service == "sts" else "s3:GetObject(fast path)"
            call = Call(op=op, start=time.perf_counter(), thread=threading.get_ident())
            call.target = url.split("/state/", 1)[-1] if service == "s3" else ""
            with log._lock:
                log.calls.append(call)
            try:
                return original(lite, method, url, headers, body, service)
            finally:
                call.end = time.perf_counter()

        send.__wrapped__ = original  # type: ignore[attr-defined]
        LiteAws._send = send  # type: ignore[method-assign]

    def _send(self, model: Any, params: Any = None, **_: Any) -> None:
        op = f"{model.service_model.endpoint_prefix}:{model.name}"
        call = Call(op=op, start=time.perf_counter(), thread=threading.get_ident())
        path = str((params or {}).get("url_path", "")) if isinstance(params, dict) else ""
        call.target = path.split("/state/", 1)[-1] if "/state/" in path else ""
        with self._lock:
            self.calls.append(call)
            self._open[call.thread] = call

    def _done(self, **_: Any) -> None:
        with self._lock:
            call = self._open.pop(threading.get_ident(), None)
        if call is not None:
            call.end = time.perf_counter()

    @staticmethod
    def critical_path(calls: list[Call]) -> int:
        """Longest chain of calls each starting after the previous one ended."""
        ordered = sorted(calls, key=lambda c: c.start)
        best = [1] * len(ordered)
        for i, c in enumerate(ordered):
            for j in range(i):
                if ordered[j].end <= c.start:
                    best[i] = max(best[i], best[j] + 1)
        return max(best, default=0)


def is_readiness_poll(call: Call) -> bool:
    """A LIST of the node reports while nodes boot: its count depends on boot time."""
    return call.op == "s3:ListObjectsV2"


class ServerCounter:
    """A sandbox hook that counts the requests the sandbox serves, by kind, leaving out
    the node emulator's own. Lease heartbeats (a job document PUT that changes only the
    lease times) and watch polls (a conditional GET of a job document) are told apart."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: collections.Counter[str] = collections.Counter()
        self.by_document: collections.Counter[str] = collections.Counter()
        self._last_job: dict[str, Any] = {}

    def reset(self) -> None:
        with self._lock:
            self.counts = collections.Counter()
            self.by_document = collections.Counter()

    def total(self, *, exclude: tuple[str, ...] = ()) -> int:
        with self._lock:
            return sum(n for k, n in self.counts.items() if k not in exclude)

    def hook(self, environ: dict[str, Any], start_response: Any) -> None:
        if environ.get("HTTP_X_GOMAN_SANDBOX_GENERATION"):
            return None
        kind = self._kind(environ)
        with self._lock:
            self.counts[kind] += 1
            self.by_document[f"{environ.get('REQUEST_METHOD')} {_document(environ)}"] += 1
        return None

    def _kind(self, environ: dict[str, Any]) -> str:
        method = str(environ.get("REQUEST_METHOD", ""))
        path = str(environ.get("PATH_INFO", ""))
        auth = str(environ.get("HTTP_AUTHORIZATION", ""))
        if "/ec2/" in auth:
            return "ec2"
        if "/sts/" in auth:
            return "sts"
        if "/jobs/" in path and path.endswith(".json"):
            if method == "GET" and environ.get("HTTP_IF_NONE_MATCH"):
                return "job watch"
            if method == "PUT":
                body = _peek_body(environ)
                return "job heartbeat" if self._lease_only(path, body) else "s3 PUT"
        query = str(environ.get("QUERY_STRING", ""))
        if method == "GET" and "list-type=2" in query:
            return "readiness poll" if "%2Fnodes%2F" in query or "/nodes/" in query else "s3 LIST"
        return f"s3 {method}"

    def _lease_only(self, key: str, body: bytes) -> bool:
        try:
            doc = json.loads(body)
        except ValueError:
            return False
        if not isinstance(doc, dict):
            return False

        def strip(d: dict[str, Any]) -> dict[str, Any]:
            out = {k: v for k, v in d.items() if k not in {"revision", "updated_at", "lease"}}
            lease = d.get("lease") or {}
            out["lease_owner"] = lease.get("owner")
            return out

        with self._lock:
            before = self._last_job.get(key)
            self._last_job[key] = doc
        return before is not None and strip(before) == strip(doc) and bool(doc.get("lease"))


def _document(environ: dict[str, Any]) -> str:
    """What a request is about: which kind of state document, or which AWS service."""
    path = str(environ.get("PATH_INFO", ""))
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    for service in ("ec2", "sts"):
        if f"/{service}/" in auth:
            return service
    if "list-type=2" in str(environ.get("QUERY_STRING", "")):
        return "LIST"
    for suffix, name in (
        ("/clusters/clusters.json", "index"),
        ("/queue.json", "queue"),
        ("/config.json", "config"),
        (".state.json", "cluster state"),
    ):
        if path.endswith(suffix):
            return name
    if "/jobs/" in path:
        return "job"
    if "/clusters/" in path:
        return "cluster objects"
    return "other"


def _peek_body(environ: dict[str, Any]) -> bytes:
    import io

    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    return raw
