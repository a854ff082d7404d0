"""The per-process AWS session, its cached clients and the caller's identity.

One boto3 Session per process and one client per (service, region): a new client costs
~150 ms, a cached one nothing. Standard botocore configuration is honoured as-is
(AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, AWS_ENDPOINT_URL, env credentials, SSO).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from goman.aws.constants import DEFAULT_PROFILE, STATE_REGION, bucket_name
from goman.aws.errors import UsageError, map_error
from goman.aws.lite import LiteAws

# A profile names one S3 path segment (`state/{profile}/`): keep it boring.
_PROFILE_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.+@-]{0,63}\Z")

CONNECT_TIMEOUT = 3
READ_TIMEOUT = 20
MAX_ATTEMPTS = 3


def resolve_profile(flag: str | None) -> tuple[str, bool]:
    """The goman profile name and whether it was named explicitly (flag or AWS_PROFILE)."""
    if flag is not None:
        name, explicit = flag, True
    elif os.environ.get("AWS_PROFILE"):
        name, explicit = os.environ["AWS_PROFILE"], True
    else:
        name, explicit = DEFAULT_PROFILE, False
    if not _PROFILE_RE.fullmatch(name) or name in {".", ".."} or ".." in name:
        raise UsageError(
            f"Profile name {name!r} cannot be used as a state folder name.",
            "Use letters, digits and . _ - + @ only (1-64 characters, not starting with a symbol).",
        )
    return name, explicit


def _no_expect_continue(request: Any, **_: Any) -> None:
    """botocore asks S3 to confirm a PutObject before it sends the body (`Expect:
    100-continue`), which costs a second round trip per write. goman's documents are a few
    KB, so the body goes with the headers. The header is not signed: dropping it here,
    after signing, leaves the signature valid."""
    if "Expect" in request.headers:
        del request.headers["Expect"]


@dataclass
class AwsContext:
    """Everything goman knows about "where am I": profile, session, clients, account."""

    profile: str
    explicit_profile: bool = True
    _session: Any = None
    _clients: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    _account: str | None = None
    _arn: str | None = None
    _lite: LiteAws | bool | None = False  # False: not resolved yet; None: not available
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Answers that do not change while a process runs (the regions EC2 offers, ...), so
    # they cost one round trip per process.
    memo: dict[Any, Any] = field(default_factory=dict)
    _identity_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_flag(cls, profile_flag: str | None = None) -> AwsContext:
        name, explicit = resolve_profile(profile_flag)
        return cls(profile=name, explicit_profile=explicit)

    @property
    def session(self) -> Any:
        with self._lock:
            if self._session is None:
                import boto3

                try:
                    self._session = boto3.Session(
                        profile_name=self.profile if self.explicit_profile else None
                    )
                except Exception as exc:
                    raise map_error(exc, profile=self.profile) from exc
            return self._session

    def client(self, service: str, region: str = STATE_REGION) -> Any:
        return self.client_at(service, None, region)

    def client_at(self, service: str, endpoint_url: str | None, region: str = STATE_REGION) -> Any:
        """A cached client; `endpoint_url` overrides the configured endpoint."""
        key = (service, region, endpoint_url or "")
        cached = self._clients.get(key)
        if cached is not None:
            return cached
        from botocore.config import Config

        session = self.session
        config = Config(
            retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            max_pool_connections=20,
            signature_version="s3v4" if service == "s3" else None,
        )
        with self._lock:
            if key not in self._clients:
                try:
                    client = session.client(
                        service, region_name=region, config=config, endpoint_url=endpoint_url
                    )
                except Exception as exc:
                    raise map_error(exc, profile=self.profile) from exc
                if service == "s3":
                    client.meta.events.register("before-send.s3.PutObject", _no_expect_continue)
                self._clients[key] = client
            return self._clients[key]

    @property
    def lite(self) -> LiteAws | None:
        """The standard-library fast path for simple credentials (None otherwise)."""
        if self._lite is False:
            from goman.aws.lite import lite_for

            self._lite = lite_for(self.profile, self.explicit_profile)
        return self._lite if isinstance(self._lite, LiteAws) else None

    def _identity(self) -> None:
        # Threads that ask at once (documents read together) share one answer.
        with self._identity_lock:
            if self._account is None or self._arn is None:
                self._identity_now()

    def _identity_now(self) -> None:
        lite = self.lite
        fast = lite.caller_identity() if lite is not None else None
        if fast is not None:
            self._account, self._arn = fast
            return
        try:
            ident = self.client("sts").get_caller_identity()
        except Exception as exc:
            raise map_error(exc, profile=self.profile, what="identify your AWS account") from exc
        self._account, self._arn = str(ident["Account"]), str(ident["Arn"])

    @property
    def account_id(self) -> str:
        if self._account is None:
            self._identity()
        assert self._account is not None
        return self._account

    @property
    def caller_arn(self) -> str:
        if self._arn is None:
            self._identity()
        assert self._arn is not None
        return self._arn

    @property
    def bucket(self) -> str:
        return bucket_name(self.account_id)

    @property
    def prefix(self) -> str:
        return f"state/{self.profile}/"

    def endpoint_url(self, service: str = "s3") -> str:
        return str(self.client(service).meta.endpoint_url)
