"""A loopback reverse proxy in front of the sandbox that loses request headers on the way.

It stands for what the probe must catch: an S3-compatible store or a proxy that accepts
`If-Match` / `If-None-Match` / `x-amz-expected-bucket-owner` and ignores them. Point goman
at it with AWS_ENDPOINT_URL; everything else goes through unchanged. Standard library only,
127.0.0.1 only; the test that starts it stops it.

`fault(method, path, headers)` may answer a request itself with (status, code) instead of
forwarding it, to inject an error at one exact step.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

Fault = Callable[[str, str, dict[str, str]], tuple[int, str] | None]

CONDITIONAL = ("if-match", "if-none-match")
OWNER = ("x-amz-expected-bucket-owner",)
# Hop-by-hop headers, and the ones this proxy recomputes.
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "expect", "host"}


class HeaderStrippingProxy:
    def __init__(self, upstream: str, drop: Iterable[str], fault: Fault | None = None) -> None:
        self.upstream = urlsplit(upstream)
        self.drop = {h.lower() for h in drop}
        self.fault = fault
        self.seen: list[tuple[str, str, dict[str, str]]] = []  # what arrived, before dropping
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> HeaderStrippingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _relay(self) -> None:
                body = self._body()
                arrived = {k.lower(): v for k, v in self.headers.items()}
                proxy.seen.append((self.command, self.path, arrived))
                injected = proxy.fault(self.command, self.path, arrived) if proxy.fault else None
                if injected is not None:
                    status, code = injected
                    payload = f"<Error><Code>{code}</Code><Message>{code}</Message></Error>"
                    self._answer(status, [("Content-Type", "application/xml")], payload.encode())
                    return
                headers = {
                    k: v for k, v in arrived.items() if k not in proxy.drop and k not in _HOP
                }
                headers["host"] = self.headers.get("Host", proxy.upstream.netloc)
                conn = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=30
                )
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    kept = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP]
                    self._answer(
                        resp.status, kept, data, upstream_length=resp.getheader("Content-Length")
                    )
                finally:
                    conn.close()

            def _answer(
                self,
                status: int,
                headers: list[tuple[str, str]],
                data: bytes,
                upstream_length: str | None = None,
            ) -> None:
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                if self.command == "HEAD":
                    # No body, but the length the object has.
                    self.send_header("Content-Length", upstream_length or "0")
                    self.end_headers()
                    return
                if status in (204, 304):  # never a body
                    self.end_headers()
                    return
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        return Handler


@contextmanager
def header_stripping_proxy(
    upstream: str, drop: Iterable[str], fault: Fault | None = None
) -> Iterator[HeaderStrippingProxy]:
    proxy = HeaderStrippingProxy(upstream, drop, fault).start()
    try:
        yield proxy
    finally:
        proxy.stop()
