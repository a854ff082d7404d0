"""The wire: proxies are honoured by every path, and a skewed clock or a dead proxy is named.

A loopback forward proxy counts what goes through it; a loopback server answering like
AWS does to a request signed with a wrong clock stands in for AWS.
"""

from __future__ import annotations

import http.client
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

import pytest

from goman.sandbox.server import SandboxServer


class _Proxy(http.server.BaseHTTPRequestHandler):
    """A plain-HTTP forward proxy: absolute-form requests are sent on and counted."""

    protocol_version = "HTTP/1.1"
    count = 0
    lock = threading.Lock()

    def _forward(self) -> None:
        with self.lock:
            type(self).count += 1
        target = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            conn.request(self.command, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        self.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in {"transfer-encoding", "connection", "content-length"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[Any]:
    handler = type("CountingProxy", (_Proxy,), {"count": 0, "lock": threading.Lock()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.handler = handler  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


LIST = (
    "import sys\n"
    "from goman.cli.main import main\n"
    "try:\n"
    "    main(['cluster', 'list', '-o', 'json'])\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "loaded = sorted(m for m in sys.modules if m.split('.')[0] in {'boto3', 'botocore'})\n"
    "print('SDK:', loaded[:1], file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _run(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return subprocess.run(
        [sys.executable, "-c", LIST, *extra],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy"])
def test_cluster_list_goes_through_the_proxy_like_every_other_call(
    goman: Any, aws_env: dict[str, str], sandbox: SandboxServer, proxy: Any, variable: str
) -> None:
    assert goman("init").exit_code == 0
    before = sandbox.app.request_count
    proc = _run({**aws_env, variable: f"http://127.0.0.1:{proxy.server_address[1]}"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    reached = sandbox.app.request_count - before
    assert reached >= 2  # who am I, and the index
    assert proxy.handler.count == reached  # every single request went through the proxy


def test_no_proxy_keeps_the_fast_path(
    goman: Any, aws_env: dict[str, str], proxy: Any, sandbox: SandboxServer
) -> None:
    assert goman("init").exit_code == 0
    proc = _run(
        {
            **aws_env,
            "HTTP_PROXY": f"http://127.0.0.1:{proxy.server_address[1]}",
            "NO_PROXY": f"localhost,127.0.0.1:{sandbox.port}",
        }
    )
    assert proc.returncode == 0, proc.stderr
    assert proxy.handler.count == 0
    assert "SDK: []" in proc.stderr  # the standard-library path, no botocore needed


def test_a_dead_proxy_is_named(goman: Any, aws_env: dict[str, str]) -> None:
    assert goman("init").exit_code == 0
    proc = _run({**aws_env, "HTTP_PROXY": "http://someone:s3cr3t@127.0.0.1:9"})
    assert proc.returncode == 1, proc.stderr
    assert "Cannot reach" in proc.stderr and "through proxy http://" in proc.stderr
    assert "127.0.0.1:9" in proc.stderr
    assert "s3cr3t" not in proc.stderr  # proxy credentials are never printed
    assert "HTTP_PROXY" in proc.stderr or "NO_PROXY" in proc.stderr
    assert "Traceback" not in proc.stderr


# -- a clock that is off ---------------------------------------------------------------------

SKEW = timedelta(minutes=65)  # the server's clock is this far ahead of ours


class _SkewedAws(http.server.BaseHTTPRequestHandler):
    """Answers like AWS to requests signed by a clock 65 minutes slow."""

    protocol_version = "HTTP/1.1"
    sts_skewed = False

    def _answer(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)  # with a Date header from date_time_string below
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def date_time_string(self, timestamp: float | None = None) -> str:
        return format_datetime(datetime.now(UTC) + SKEW, usegmt=True)

    def do_POST(self) -> None:  # STS
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        stamp = self.headers.get("X-Amz-Date", "")
        if self.sts_skewed:
            now = (datetime.now(UTC) + SKEW).strftime("%Y%m%dT%H%M%SZ")
            self._answer(
                403,
                '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
                "<Type>Sender</Type><Code>SignatureDoesNotMatch</Code>"
                f"<Message>Signature expired: {stamp} is now earlier than {now} "
                f"({now} - 15 min.)</Message></Error><RequestId>r</RequestId></ErrorResponse>",
            )
            return
        self._answer(
            200,
            '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            "<GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/me</Arn>"
            "<UserId>AIDA</UserId><Account>123456789012</Account></GetCallerIdentityResult>"
            "<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>"
            "</GetCallerIdentityResponse>",
        )

    def do_GET(self) -> None:  # S3
        stamp = self.headers.get("X-Amz-Date", "")
        server = (datetime.now(UTC) + SKEW).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._answer(
            403,
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>RequestTimeTooSkewed</Code>'
            "<Message>The difference between the request time and the current time is too "
            f"large.</Message><RequestTime>{stamp}</RequestTime><ServerTime>{server}</ServerTime>"
            "<MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds>"
            "<RequestId>r</RequestId><HostId>h</HostId></Error>",
        )

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def skewed_aws() -> Iterator[Any]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(*, sts_skewed: bool) -> str:
        handler = type("Skewed", (_SkewedAws,), {"sts_skewed": sts_skewed})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("sts_skewed", [False, True], ids=["s3-too-skewed", "sts-expired"])
def test_a_skewed_clock_says_so_and_by_how_much(
    goman: Any, skewed_aws: Any, sts_skewed: bool
) -> None:
    url = skewed_aws(sts_skewed=sts_skewed)
    res = goman("cluster", "list", env={"AWS_ENDPOINT_URL": url})
    assert res.exit_code == 1, res.output
    assert "clock" in res.stderr
    assert "65 minutes behind" in res.stderr, res.stderr
    assert "Traceback" not in res.output
