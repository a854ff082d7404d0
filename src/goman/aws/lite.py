"""A standard-library fast path for goman's two hottest reads: who am I, and get one object.

Importing boto3 and building two clients costs ~0.25 s, more than the whole of
`goman cluster list` otherwise needs. When the credentials and endpoints are the simple
kind (static keys from the environment or the shared files, no proxy for the endpoint,
no per-profile endpoint), these two calls are signed here with SigV4 and sent with
`http.client`. Anything else — and every answer other than a plain success — returns
None, and the caller makes the same call through botocore, so retries, errors and their
messages stay botocore's. This module never decides anything on its own.
"""

from __future__ import annotations

import configparser
import hashlib
import hmac
import http.client
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from goman.aws.constants import MAX_DOCUMENT_BYTES, STATE_REGION

if TYPE_CHECKING:
    import ssl

TIMEOUT = 3.0
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# Settings that make credential or endpoint resolution more than "static keys + a URL":
# with any of them present, botocore is the only one that gets it right.
_COMPLEX_PROFILE_KEYS = {
    "role_arn",
    "source_profile",
    "credential_process",
    "credential_source",
    "web_identity_token_file",
    "sso_session",
    "sso_start_url",
    "sso_account_id",
    "endpoint_url",
    "services",
    "ca_bundle",
    "use_fips_endpoint",
    "use_dualstack_endpoint",
    "s3",
}
_COMPLEX_ENV = (
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT",
)


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


def _read_ini(path: str) -> configparser.RawConfigParser | None:
    parser = configparser.RawConfigParser()
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as fh:
            parser.read_file(fh)
    except FileNotFoundError:
        return parser
    except (OSError, configparser.Error, UnicodeDecodeError):
        return None
    return parser


def resolve_credentials(profile: str, explicit: bool) -> Credentials | None:
    """Static credentials as botocore would find them, or None if it is not that simple."""
    if any(os.environ.get(name) for name in _COMPLEX_ENV):
        return None
    if not explicit and os.environ.get("AWS_ACCESS_KEY_ID"):
        secret = os.environ.get("AWS_SECRET_ACCESS_KEY")
        if not secret:
            return None
        return Credentials(
            os.environ["AWS_ACCESS_KEY_ID"], secret, os.environ.get("AWS_SESSION_TOKEN") or None
        )
    config = _read_ini(os.environ.get("AWS_CONFIG_FILE", "~/.aws/config"))
    shared = _read_ini(os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"))
    if config is None or shared is None:
        return None
    section = profile if profile == "default" else f"profile {profile}"
    conf = dict(config.items(section)) if config.has_section(section) else {}
    if profile == "default" and not conf and config.has_section("profile default"):
        conf = dict(config.items("profile default"))
    if _COMPLEX_PROFILE_KEYS & set(conf):
        return None
    creds = dict(shared.items(profile)) if shared.has_section(profile) else {}
    if _COMPLEX_PROFILE_KEYS & set(creds):
        return None
    for source in (creds, conf):
        if source.get("aws_access_key_id") and source.get("aws_secret_access_key"):
            return Credentials(
                source["aws_access_key_id"],
                source["aws_secret_access_key"],
                source.get("aws_session_token") or None,
            )
    return None


def endpoint_for(service: str) -> str:
    """The configured endpoint URL for a service (env only), else AWS's regional one."""
    configured = os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or os.environ.get(
        "AWS_ENDPOINT_URL"
    )
    if configured:
        return configured.rstrip("/")
    return f"https://{service}.{STATE_REGION}.amazonaws.com"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    creds: Credentials,
    service: str,
    region: str = STATE_REGION,
    now: datetime | None = None,
) -> dict[str, str]:
    """SigV4-sign a request; returns the headers to send (the given ones included)."""
    parts = urlsplit(url)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    payload_hash = hashlib.sha256(body).hexdigest()
    out = {k.lower(): v.strip() for k, v in headers.items()}
    out["host"] = parts.netloc
    out["x-amz-date"] = stamp
    if service == "s3":
        out["x-amz-content-sha256"] = payload_hash
    if creds.token:
        out["x-amz-security-token"] = creds.token
    signed = sorted(out)
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k, v in sorted(_query_pairs(parts.query))
    )
    canonical = "\n".join(
        [
            method,
            parts.path or "/",  # callers pass paths already URI-encoded once
            canonical_query,
            "".join(f"{name}:{out[name]}\n" for name in signed),
            ";".join(signed),
            payload_hash,
        ]
    )
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(("AWS4" + creds.secret_key).encode(), stamp[:8])
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, "
        f"SignedHeaders={';'.join(signed)}, Signature={signature}"
    )
    return out


def _query_pairs(query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(query, keep_blank_values=True)


def _proxied(url: str, endpoint: str) -> bool:
    """Would botocore send a request for `url` through a proxy? Then leave it to botocore.

    botocore's own rule, with the same standard-library functions: the proxies come from
    the environment (urllib's getproxies: HTTP_PROXY, HTTPS_PROXY and their lower-case
    forms) unless urllib's proxy_bypass (NO_PROXY) matches the endpoint's host[:port];
    then the request goes through the proxy named for its URL's scheme."""
    import socket
    from urllib.request import getproxies, proxy_bypass

    try:
        if proxy_bypass(urlsplit(endpoint).netloc):
            return False
    except (TypeError, socket.gaierror):
        pass
    return bool(getproxies().get(urlsplit(url).scheme))


def _tls_context() -> ssl.SSLContext:
    # The same trust botocore uses: AWS_CA_BUNDLE when set, else certifi's bundle.
    import ssl

    cafile = os.environ.get("AWS_CA_BUNDLE")
    if not cafile:
        try:
            import certifi

            cafile = certifi.where()
        except ImportError:
            cafile = None
    return ssl.create_default_context(cafile=cafile)


class NoSuchKey:
    """The bucket exists and said the key does not (S3 error code NoSuchKey)."""


NO_SUCH_KEY = NoSuchKey()


@dataclass(frozen=True)
class TooLarge:
    """The object is over MAX_DOCUMENT_BYTES: its body was not read (size None: unknown)."""

    size: int | None
    etag: str


def _error_code(body: bytes) -> str:
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return ""
    code = root.find("Code")
    return (code.text or "").strip() if code is not None else ""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    oversized: bool = False  # the body was over MAX_DOCUMENT_BYTES and was not kept


class LiteAws:
    """Two signed calls over kept-alive connections: one per host and thread (an
    http.client connection carries one request at a time). None means: ask botocore."""

    def __init__(self, creds: Credentials) -> None:
        self.creds = creds
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._all_lock = threading.Lock()

    @property
    def _conns(self) -> dict[str, http.client.HTTPConnection]:
        conns: dict[str, http.client.HTTPConnection] | None = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        return conns

    def _send(
        self, method: str, url: str, headers: dict[str, str], body: bytes, service: str
    ) -> Reply | None:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            return None
        if _proxied(url, endpoint_for(service)):
            return None
        signed = sign(method, url, headers, body, self.creds, service)
        conn = self._conns.get(parts.netloc)
        try:
            if conn is None:
                if parts.scheme == "https":
                    conn = http.client.HTTPSConnection(
                        parts.hostname, parts.port, timeout=TIMEOUT, context=_tls_context()
                    )
                else:
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
                self._conns[parts.netloc] = conn
                with self._all_lock:
                    self._all.append(conn)
            target = parts.path or "/"
            if parts.query:
                target += "?" + parts.query
            conn.request(method, target, body=body or None, headers=signed)
            resp = conn.getresponse()
            got = {k.lower(): v for k, v in resp.getheaders()}
            declared = got.get("content-length", "")
            # Never read more than a document may be: a body left unread (or cut short)
            # leaves the connection unusable, so it is closed.
            if declared.isdigit() and int(declared) > MAX_DOCUMENT_BYTES:
                data, oversized = b"", True
            else:
                data = resp.read(MAX_DOCUMENT_BYTES + 1)
                oversized = len(data) > MAX_DOCUMENT_BYTES
            if oversized:
                conn.close()
                self._conns.pop(parts.netloc, None)
                return Reply(resp.status, got, b"", oversized=True)
            return Reply(resp.status, got, data)
        except (OSError, http.client.HTTPException):
            dropped = self._conns.pop(parts.netloc, None)
            if dropped is not None:
                dropped.close()
                with self._all_lock:
                    self._all = [c for c in self._all if c is not dropped]
            return None

    def caller_identity(self) -> tuple[str, str] | None:
        """(account id, ARN) from sts:GetCallerIdentity, or None."""
        base = endpoint_for("sts")
        body = b"Action=GetCallerIdentity&Version=2011-06-15"
        reply = self._send(
            "POST",
            base + "/",
            {"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
            body,
            "sts",
        )
        if reply is None or reply.status != 200:
            return None
        import xml.etree.ElementTree as ET

        try:
            root = ET.fromstring(reply.body)
        except ET.ParseError:
            return None
        found: dict[str, str] = {}
        for elem in root.iter():
            tag = elem.tag.rsplit("}", 1)[-1]
            if tag in {"Account", "Arn"} and elem.text:
                found[tag] = elem.text.strip()
        if "Account" not in found or "Arn" not in found:
            return None
        return found["Account"], found["Arn"]

    def get_object(
        self, bucket: str, key: str, owner: str
    ) -> tuple[bytes, str, str | None] | NoSuchKey | TooLarge | None:
        """(body, ETag, version id) of the current version; NO_SUCH_KEY when the bucket
        answers that the key is absent; TooLarge (unread) when it is over
        MAX_DOCUMENT_BYTES; None for anything else (ask botocore)."""
        base = endpoint_for("s3")
        parts = urlsplit(base)
        if parts.hostname and parts.hostname.endswith(".amazonaws.com"):
            url = f"{parts.scheme}://{bucket}.{parts.netloc}/{quote(key, safe='/-_.~')}"
        else:
            url = f"{base}/{bucket}/{quote(key, safe='/-_.~')}"
        reply = self._send("GET", url, {"x-amz-expected-bucket-owner": owner}, b"", "s3")
        if reply is None:
            return None
        if reply.oversized and reply.status == 200:
            declared = reply.headers.get("content-length", "")
            return TooLarge(
                int(declared) if declared.isdigit() else None, reply.headers.get("etag", "")
            )
        if reply.status == 404 and _error_code(reply.body) == "NoSuchKey":
            return NO_SUCH_KEY
        if reply.status != 200 or "etag" not in reply.headers:
            return None
        return reply.body, reply.headers["etag"], reply.headers.get("x-amz-version-id")

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._conns.clear()


def lite_for(profile: str, explicit: bool) -> LiteAws | None:
    creds = resolve_credentials(profile, explicit)
    return LiteAws(creds) if creds else None
