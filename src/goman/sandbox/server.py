"""The sandbox: moto's server (S3, STS, EC2) on loopback, with the gaps that matter closed.

moto is not AWS. What this module adds, in the sandbox only (never in production code):
- locks around what must be atomic, so requests that need not wait for each other run at
  once (10 workers on one profile are concurrent, as on AWS): every S3 write (a
  conditional write is a check and a write, which moto does not make atomic) excludes
  every other S3 request, reads included (moto closes an overwritten key's buffer, so a
  read next to a write can fail), while S3 reads run together; EC2 likewise (moto's EC2
  dictionaries change under a describe otherwise); STS identity calls take no service
  lock; anything else (moto's own API, IAM, a reset) runs alone;
- `ExpectedBucketOwner` enforced: 403 AccessDenied when the bucket is another account's;
- bucket policies stored as given, but statements conditioned on `aws:SecureTransport`
  are not enforced (moto treats every condition as true, which would lock out all I/O;
  the sandbox stands in for AWS's TLS endpoint, so such a deny never matches);
- current Ubuntu LTS AMIs (moto's own Canonical images are from 2014/2016);
- S3 requests named by their real IAM actions when IAM checks are on (moto checks
  HeadBucket as s3:HeadBucket, and public-access-block and encryption calls as
  s3:CreateBucket/s3:ListBucket, so a policy that works on AWS would not work here);
- presigned URLs checked under IAM enforcement like every other request (sandbox/iam.py);
- no browser may talk to it: moto reflects any `Origin` in its CORS headers, so a web page
  could read the sandbox or reset it. Requests with an `Origin` header (every cross-site
  fetch, preflight and form POST), with `Sec-Fetch-Site` from another site, or naming a
  `Host` that is not loopback (DNS rebinding) are refused before anything runs;
- a cheap health route (`GET /goman-sandbox/health`) that answers without waiting for the
  request lock, and the caller's address at `GET /goman-sandbox/checkip` (what a "what is
  my IP" service says: here, the loopback address).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_PORT = 4566
SANDBOX_ACCOUNT = "123456789012"
SANDBOX_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "ap-south-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}

HEALTH_PATH = "/goman-sandbox/health"
CHECKIP_PATH = "/goman-sandbox/checkip"
SERVICE_NAME = "goman-sandbox"

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


def _prepare_moto_environment() -> None:
    """Must run before moto is imported: moto reads these at import time."""
    if "MOTO_AMIS_PATH" not in os.environ:
        path = resources.files("goman.sandbox").joinpath("amis.json")
        os.environ["MOTO_AMIS_PATH"] = str(path)
    # Keep moto's per-request log lines out of the user's terminal.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


@dataclass
class _SandboxState:
    policies: dict[str, str] = field(default_factory=dict)


def _bucket_of(environ: Environ) -> str | None:
    path = environ.get("PATH_INFO", "")
    host = str(environ.get("HTTP_HOST", "")).split(":")[0]
    if host and not host[0].isdigit() and host not in {"localhost"} and "." in host:
        first = host.split(".")[0]
        if first not in {"s3", "sts", "ec2"}:
            return first
    parts = unquote(path).lstrip("/").split("/", 1)
    return parts[0] or None


def _is_s3(environ: Environ) -> bool:
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    qs = str(environ.get("QUERY_STRING", ""))
    return (
        "/s3/aws4_request" in auth
        or "%2Fs3%2Faws4_request" in qs
        or "/s3/aws4_request" in unquote(qs)
    )


def _side(lock: RWLock, read: bool) -> contextlib.AbstractContextManager[None]:
    return lock.reading() if read else lock.writing()


def _ec2_read(environ: Environ) -> bool:
    """An EC2 Describe* call (the form is read and put back for moto)."""
    import io

    if environ.get("REQUEST_METHOD") != "POST":
        query = str(environ.get("QUERY_STRING", ""))
        return "Action=Describe" in query
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    environ["CONTENT_LENGTH"] = str(len(raw))
    return b"Action=Describe" in raw


def _xml_error(start: StartResponse, status: str, code: str, message: str) -> list[bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    ).encode()
    start(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


def _answer(start: StartResponse, status: str, body: bytes, content_type: str) -> list[bytes]:
    start(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def _loopback_host(host: str) -> bool:
    """`localhost`, `*.localhost` (bucket virtual hosts) or a loopback IP, port aside."""
    import ipaddress

    if host.startswith("["):
        name = host[1:].split("]", 1)[0]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def refused_browser(environ: Environ) -> str | None:
    """Why a request cannot come from goman, boto3, curl or kubectl but from a web page."""
    if environ.get("HTTP_ORIGIN") is not None:
        return "cross-origin requests are refused"
    site = environ.get("HTTP_SEC_FETCH_SITE")
    if site is not None and site not in {"none", "same-origin"}:
        return "requests from other sites are refused"
    host = environ.get("HTTP_HOST")
    if host is not None and not _loopback_host(str(host)):
        return f"host {str(host)[:80]!r} is not a loopback name"
    return None


class RWLock:
    """Many readers at once, or one writer; a waiting writer goes before new readers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            while self._writing or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writing or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


_READS = {"GET", "HEAD"}


class SandboxApp:
    """A WSGI app: moto behind the locks its consistency needs, plus the sandbox's
    corrections."""

    def __init__(self) -> None:
        _prepare_moto_environment()
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self._moto = DomainDispatcherApplication(create_backend_app)
        _real_s3_iam_actions()
        from goman.sandbox.ec2_gaps import limit_regions

        limit_regions()
        self.everything = RWLock()  # held to read by every request; a reset writes
        self.s3 = RWLock()
        self.ec2 = RWLock()
        self._hooks_lock = threading.Lock()
        self.state = _SandboxState()
        self.request_count = 0
        # Called first for every request, one at a time, with the request's locks held:
        # answer it (return the body) or pass (return None). The node emulator's control
        # route and reset hook live here.
        self.hooks: list[Callable[[Environ, StartResponse], list[bytes] | None]] = []
        # Set by `sandbox serve --enforce-iam`: the identity and its policy must outlive
        # every request, so resets (which would delete it) and turning checks off are refused.
        self.iam_locked = False

    @contextlib.contextmanager
    def reading_ec2(self) -> Iterator[None]:
        """For a consistent look at moto's EC2 state from outside a request."""
        with self.everything.reading(), self.ec2.reading():
            yield

    @contextlib.contextmanager
    def _locked(self, environ: Environ) -> Iterator[None]:
        method = str(environ.get("REQUEST_METHOD", "GET"))
        auth = str(environ.get("HTTP_AUTHORIZATION", ""))
        path = str(environ.get("PATH_INFO", ""))
        if _is_s3(environ) and not path.startswith("/moto-api"):
            with self.everything.reading(), _side(self.s3, method in _READS):
                yield
        elif "/ec2/aws4_request" in auth:
            with self.everything.reading(), _side(self.ec2, _ec2_read(environ)):
                yield
        elif "/sts/aws4_request" in auth:
            with self.everything.reading():
                yield
        else:
            with self.everything.writing():
                yield

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        # Answered without the lock: a long request in flight must not make a goman that
        # looks for a running sandbox think there is none.
        refusal = refused_browser(environ)
        if refusal is not None:
            body = json.dumps({"error": refusal}).encode()
            return _answer(start_response, "403 Forbidden", body, "application/json")
        path = str(environ.get("PATH_INFO", ""))
        if path == HEALTH_PATH:
            return self._health(start_response)
        if path == CHECKIP_PATH:
            address = str(environ.get("REMOTE_ADDR", "127.0.0.1"))
            return _answer(start_response, "200 OK", f"{address}\n".encode(), "text/plain")
        if self.iam_locked and path.startswith("/moto-api/reset"):
            body = json.dumps(
                {"error": "IAM is enforced (--enforce-iam): restart the sandbox to reset it"}
            ).encode()
            return _answer(start_response, "403 Forbidden", body, "application/json")
        with self._locked(environ):
            with self._hooks_lock:
                self.request_count += 1
                for hook in self.hooks:
                    answered = hook(environ, start_response)
                    if answered is not None:
                        return answered
            if environ.get("PATH_INFO", "").startswith("/moto-api/reset") and not environ.get(
                "PATH_INFO", ""
            ).startswith("/moto-api/reset-auth"):
                self.state = _SandboxState()
            if _is_s3(environ):
                early = self._s3_checks(environ, start_response)
                if early is not None:
                    return early
                from goman.sandbox.iam import enforcing, presigned_as_signed

                if enforcing():
                    refused = presigned_as_signed(environ, start_response)
                    if refused is not None:
                        return refused
            result = self._moto(environ, start_response)
            try:
                # Join the body while the locks are held: moto may close or reuse the
                # buffer of an overwritten key as soon as a write runs.
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()

    def _health(self, start: StartResponse) -> list[bytes]:
        from goman import __version__

        body = json.dumps(
            {"service": SERVICE_NAME, "version": __version__, "iam_enforced": self.iam_locked}
        ).encode()
        return _answer(start, "200 OK", body, "application/json")

    # -- S3 corrections -------------------------------------------------------------

    def _s3_checks(self, environ: Environ, start: StartResponse) -> list[bytes] | None:
        bucket = _bucket_of(environ)
        if not bucket or bucket == "moto-api":
            return None
        query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
        expected = (
            environ.get("HTTP_X_AMZ_EXPECTED_BUCKET_OWNER")
            or (query.get("x-amz-expected-bucket-owner", [None])[0])
        )
        if expected:
            owner = self._bucket_owner(bucket)
            if owner is not None and owner != expected:
                return _xml_error(start, "403 Forbidden", "AccessDenied", "Access Denied")
        if "policy" in query and "/" not in unquote(environ.get("PATH_INFO", "")).strip("/"):
            return self._policy(environ, start, bucket)
        return None

    @staticmethod
    def _bucket_owner(bucket: str) -> str | None:
        from moto.s3.models import s3_backends

        found = s3_backends.bucket_accounts.get(bucket)
        return str(found[1]) if found else None

    def _policy(self, environ: Environ, start: StartResponse, bucket: str) -> list[bytes] | None:
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "PUT":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            text = raw.decode()
            enforced = _without_secure_transport(text)
            import io

            captured: dict[str, Any] = {}

            def capture(status: str, headers: list[tuple[str, str]], *a: Any) -> Any:
                captured["status"] = status
                return start(status, headers, *a)

            if enforced == "":
                # Nothing left to enforce: moto stores a placeholder (and still checks IAM).
                enforced = _PLACEHOLDER_POLICY
            environ["wsgi.input"] = io.BytesIO(enforced.encode())
            environ["CONTENT_LENGTH"] = str(len(enforced.encode()))
            out = self._moto(environ, capture)
            body = b"".join(out)
            if str(captured.get("status", "")).startswith("2"):
                self.state.policies[bucket] = text
            return [body]
        if method == "GET" and bucket in self.state.policies:
            if self._bucket_owner(bucket) is None:
                self.state.policies.pop(bucket, None)
                return None
            got: dict[str, Any] = {}

            def hold(status: str, headers: list[tuple[str, str]], *a: Any) -> Any:
                got["status"], got["headers"] = status, headers
                return lambda _data: None

            # moto answers first so its IAM check (GetBucketPolicy) still applies.
            answer = b"".join(self._moto(environ, hold))
            if not str(got.get("status", "")).startswith("2"):
                start(got["status"], got["headers"])
                return [answer]
            body = self.state.policies[bucket].encode()
            start(
                "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        if method == "DELETE":
            self.state.policies.pop(bucket, None)
        return None


def _real_s3_iam_actions() -> None:
    """Name S3 requests as IAM does, for moto's IAM checks (`/moto-api/reset-auth`)."""
    from moto.s3.responses import ACTION_MAP

    bucket = ACTION_MAP["BUCKET"]
    bucket["HEAD"]["DEFAULT"] = "ListBucket"
    bucket["GET"]["publicAccessBlock"] = "GetBucketPublicAccessBlock"
    bucket["GET"]["encryption"] = "GetEncryptionConfiguration"
    bucket["PUT"]["publicAccessBlock"] = "PutBucketPublicAccessBlock"
    bucket["PUT"]["encryption"] = "PutEncryptionConfiguration"
    bucket["DELETE"]["publicAccessBlock"] = "PutBucketPublicAccessBlock"
    bucket["DELETE"]["encryption"] = "PutEncryptionConfiguration"


# What moto stores in place of a policy whose statements are all TLS-only: it keeps moto's
# own IAM check of PutBucketPolicy/GetBucketPolicy in the path and enforces nothing.
_PLACEHOLDER_POLICY = '{"Version": "2012-10-17", "Statement": []}'


def _without_secure_transport(policy_text: str) -> str:
    """The policy minus statements conditioned on aws:SecureTransport ("" if none is left)."""
    try:
        policy = json.loads(policy_text)
    except ValueError:
        return policy_text
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    kept = [
        s
        for s in statements
        if "aws:securetransport" not in json.dumps(s.get("Condition", {})).lower()
    ]
    if not kept:
        return ""
    policy["Statement"] = kept
    return json.dumps(policy)


class SandboxServer:
    """The sandbox endpoint on 127.0.0.1, served from a background thread."""

    def __init__(self, port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self.app = SandboxApp()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.extensions: list[Any] = []  # things with start()/stop() that run beside the server
        self.credentials = {
            k: SANDBOX_CREDENTIALS[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        }

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        self._server = make_server(
            self.host, self.port, self.app, threaded=True, request_handler=MotoRequestHandler
        )
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sandbox", daemon=True
        )
        self._thread.start()
        for ext in self.extensions:
            ext.start()
        return self

    def stop(self) -> None:
        for ext in reversed(self.extensions):
            ext.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def environment(self) -> dict[str, str]:
        """What another process needs to reach this sandbox."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            **SANDBOX_CREDENTIALS,
            **self.credentials,
            "GOMAN_CHECKIP_URL": checkip_url(self.endpoint),
        }

    def enforce_iam(self, policy: dict[str, Any]) -> dict[str, str]:
        """Check every request against IAM, as one identity with exactly `policy`, from now
        until the server stops. Returns (and from now on prints) that identity's keys."""
        from goman.sandbox.iam import enforce

        self.credentials = enforce(self.endpoint, policy)
        self.app.iam_locked = True
        return dict(self.credentials)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def checkip_url(endpoint: str) -> str:
    """The sandbox's stand-in for a "what is my IP" service (for GOMAN_CHECKIP_URL)."""
    return endpoint.rstrip("/") + CHECKIP_PATH


def endpoint_answers(url: str, timeout: float = 3.0) -> bool:
    """Is a goman sandbox serving at `url`? (loopback only)

    Its health route answers at once, whatever the sandbox is busy with, so a short
    timeout cannot mistake a busy sandbox for none: a refused connection is immediate."""
    import http.client

    parts = urlsplit(url)
    if parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
        return False
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", HEALTH_PATH)
        resp = conn.getresponse()
        if resp.status != 200:
            return False
        data = json.loads(resp.read(4096))
        return isinstance(data, dict) and data.get("service") == SERVICE_NAME
    except (OSError, ValueError):
        return False
    finally:
        conn.close()
