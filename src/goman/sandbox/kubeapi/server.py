"""The HTTPS front of the emulated API server, and `EmulatedCluster`, one cluster's API.

Each connection is served on its own thread: the TLS handshake happens there (so a slow or
refused client never holds up others), the client certificate's CN and O become the user
and groups, and requests are answered over HTTP/1.1 with keep-alive. `stop()` closes the
listening socket, ends every open connection and watch, and joins every thread it started.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from goman.provision.pki.bundle import CABundle
from goman.sandbox.kubeapi.api import KubeApi
from goman.sandbox.kubeapi.cluster import DEFAULT_VERSION, ClusterState
from goman.sandbox.kubeapi.messages import Request, Response, User, status_body
from goman.sandbox.kubeapi.tls import peer_identity, server_context

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 60.0
MAX_BODY = 4 * 1024 * 1024
DEFAULT_TICK = 0.5


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _TlsServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("kubeapi %s: " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
                if len(data) > MAX_BODY:
                    return None
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            self._send(
                Response(413, status_body(413, "RequestEntityTooLarge", "request body too large"))
            )
            self.close_connection = True
            return
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        conn = self.connection
        peer = conn.getpeercert() if isinstance(conn, ssl.SSLSocket) else None
        name, groups = peer_identity(peer)
        request = Request(
            method=self.command,
            path=parts.path,
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            user=User(name, groups),
        )
        self._send(self.server.api.handle(request))

    def _send(self, response: Response) -> None:
        self.send_response(response.code)
        if response.stream is not None:
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.server.streams.acquire()
            try:
                for chunk in response.stream:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            finally:
                self.server.streams.release()
                close = getattr(response.stream, "close", None)
                if close is not None:
                    close()
            return
        if response.text is not None:
            data, kind = response.text.encode(), "text/plain; charset=utf-8"
        else:
            data, kind = json.dumps(response.body).encode(), "application/json"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Counter:
    """Open watch streams, so stop() can let them end cleanly before closing sockets."""

    def __init__(self) -> None:
        self._n = 0
        self._cond = threading.Condition()

    def acquire(self) -> None:
        with self._cond:
            self._n += 1

    def release(self) -> None:
        with self._cond:
            self._n -= 1
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._n == 0, timeout)


class _TlsServer(ThreadingHTTPServer):
    # Handler threads are joined by server_close(); stop() ends their connections first.
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], api: KubeApi, context: ssl.SSLContext) -> None:
        self.api = api
        self.ssl_context = context
        self.refusals: deque[str] = deque(maxlen=100)
        self.streams = _Counter()
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(HANDSHAKE_TIMEOUT)
        # Headers and body leave in separate writes: without this, delayed ACKs add ~40 ms
        # to every answer.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            conn = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            # No client certificate, one from another CA, or not TLS at all.
            self.refusals.append(f"{client_address[0]}: {exc}")
            return
        conn.settimeout(IDLE_TIMEOUT)
        with self._conns_lock:
            self._conns.add(conn)
        try:
            _Handler(conn, client_address, self)
        except (OSError, ValueError):
            pass  # the peer went away, or stop() ended the connection
        finally:
            with self._conns_lock:
                self._conns.discard(conn)
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
            conn.close()

    def end_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            # The plain socket's shutdown wakes a thread blocked reading TLS records.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("kubeapi: error serving %s", client_address, exc_info=True)


class EmulatedCluster:
    """One sandbox cluster's Kubernetes API on https://host:port.

    `bundle` is the cluster's CA bundle (what server-0 fetches): the serving certificate is
    issued from its server CA for `host` (plus 127.0.0.1 and K3s's DNS names), and clients
    must present a certificate from its client CA. `state` is the cluster the node emulator
    drives (add_node, set_node_ready, ...). Port 0 picks a free port (see `.port`)."""

    def __init__(
        self,
        bundle: CABundle,
        *,
        host: str = "127.0.0.1",
        port: int = 6443,
        version: str = DEFAULT_VERSION,
        tick: float = DEFAULT_TICK,
        k3s_components: bool = True,
        state: ClusterState | None = None,
    ) -> None:
        self.bundle = bundle
        self.host = host
        self.version = version
        self.k3s_components = k3s_components
        self.state = state or ClusterState(version=version, k3s_components=k3s_components)
        self.tick = tick
        self._requested_port = port
        self._stopping = threading.Event()
        self._httpd: _TlsServer | None = None
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        if self._httpd is None:
            return self._requested_port
        return int(self._httpd.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def refusals(self) -> list[str]:
        """Connections refused during the TLS handshake (e.g. a client CA mismatch)."""
        return list(self._httpd.refusals) if self._httpd is not None else []

    def start(self) -> EmulatedCluster:
        if self._httpd is not None:
            return self
        ips = [self.host] if self.host == "127.0.0.1" else [self.host, "127.0.0.1"]
        context = server_context(self.bundle, ips)
        self._stopping.clear()
        api = KubeApi(self.state, self._stopping)
        self._httpd = _TlsServer((self.host, self._requested_port), api, context)
        self._threads = [
            threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.2},
                name=f"goman-kubeapi-{self.host}:{self.port}",
                daemon=True,
            ),
            threading.Thread(
                target=self._tick, name=f"goman-kubeapi-tick-{self.port}", daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def reset(self) -> ClusterState:
        """Forget every object and node: a fresh cluster behind the same endpoint (and the
        same TLS identity). Controllers added to the old state are not carried over."""
        fresh = ClusterState(version=self.version, k3s_components=self.k3s_components)
        self.state = fresh
        if self._httpd is not None:
            # Requests in flight finish against the old state; new ones see the fresh one.
            self._httpd.api = KubeApi(fresh, self._stopping)
        return fresh

    def _tick(self) -> None:
        while not self._stopping.wait(self.tick):
            try:
                self.state.reconcile()
            except Exception:  # a controller's bug must not stop the loop
                log.exception("kubeapi: a controller failed")

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        # Watches see the stop flag within a quarter second and end their streams properly.
        httpd.streams.wait_idle(timeout=2)
        httpd.end_connections()
        httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []

    def __enter__(self) -> EmulatedCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
