"""One error type for everything a user can meet, and one mapper from botocore to it.

The CLI prints `GomanError.message` and `GomanError.hint` and exits with `exit_code`;
the TUI shows the same text in a notification.
"""

from __future__ import annotations

import re
from typing import Any


class GomanError(Exception):
    """An error meant for a person: what happened, and what to do about it."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "", *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class UsageError(GomanError):
    exit_code = 2


class NotFoundError(GomanError):
    pass


class ConflictError(GomanError):
    """A conditional write lost against another writer, after bounded retries."""


class AlreadyExistsError(ConflictError):
    pass


class SecurityError(GomanError):
    """The state bucket is not ours (bucket squatting) or otherwise unsafe to use."""


class CorruptDocumentError(GomanError):
    def __init__(self, key: str, problem: str, newest_readable: str | None) -> None:
        if newest_readable:
            hint = (
                f"The newest readable version is {newest_readable}: inspect it with "
                f"`goman state show {key_rel(key)} --version {newest_readable}` and bring it back "
                f"with `goman state restore {key_rel(key)} --version {newest_readable}`."
            )
        else:
            hint = f"See `goman state history {key_rel(key)}` for older versions."
        super().__init__(f"Document s3 key {key} is invalid: {problem}", hint)
        self.key = key
        self.newest_readable = newest_readable


class DocumentTooLargeError(GomanError):
    """A state object over MAX_DOCUMENT_BYTES: refused without reading (or parsing) it."""

    def __init__(self, key: str, size: int | None, limit: int, etag: str = "") -> None:
        mib = 1024 * 1024
        said = f"{size / mib:.1f} MiB" if size is not None else "more than that"
        rel = key_rel(key)
        super().__init__(
            f"Document s3 key {key} is {said}; goman reads at most {limit // mib} MiB, so it "
            "was refused unread.",
            f"See who wrote it with `goman state history {rel}` and bring back a good version "
            f"with `goman state restore {rel} --version V`.",
        )
        self.key = key
        self.size = size
        self.etag = etag


class PermissionMissingError(GomanError):
    def __init__(self, action: str, what: str = "") -> None:
        doing = f" to {what}" if what else ""
        super().__init__(
            f"Access denied: your AWS identity lacks {action}{doing}.",
            f"Grant {action} (see `goman iam-policy`) or ask your AWS administrator.",
        )
        self.action = action


def key_rel(key: str) -> str:
    """`state/{profile}/clusters/x.json` -> `clusters/x.json` (what `goman state` takes)."""
    parts = key.split("/", 2)
    return parts[2] if len(parts) == 3 and parts[0] == "state" else key


# Operation names whose IAM action is not simply "service:Operation".
_IAM_ACTION = {
    "HeadBucket": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "HeadObject": "s3:GetObject",
    "DeleteObjects": "s3:DeleteObject",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "GetBucketLocation": "s3:GetBucketLocation",
}
_SERVICE_PREFIX = {"s3": "s3", "ec2": "ec2", "sts": "sts", "iam": "iam", "pricing": "pricing"}

THROTTLE_CODES = {
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "SlowDown",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden", "403"}
_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
_BAD_CREDS = {
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "AuthFailure",
}
_WRONG_REGION = {
    "AuthorizationHeaderMalformed",
    "PermanentRedirect",
    "IllegalLocationConstraintException",
    "InvalidRegion",
    "OptInRequired",
}


def iam_action(service: str, operation: str, params: dict[str, Any] | None = None) -> str:
    if operation == "GetObject" and params and params.get("VersionId"):
        return "s3:GetObjectVersion"
    if operation in _IAM_ACTION:
        return _IAM_ACTION[operation]
    return f"{_SERVICE_PREFIX.get(service, service)}:{operation}"


_PERFORM = re.compile(r"perform:\s*([a-z0-9-]+:[A-Za-z0-9]+)")


def map_error(exc: BaseException, *, profile: str = "", what: str = "") -> GomanError:
    """Turn any botocore/boto3 exception into a GomanError with a fix.

    `what` names what goman was doing ("read clusters/web.state.json") for context.
    """
    if isinstance(exc, GomanError):
        return exc
    from botocore import exceptions as bex

    detail = f"{type(exc).__name__}: {exc}"
    prof = profile or "default"
    if isinstance(exc, bex.ProfileNotFound):
        name = getattr(exc, "kwargs", {}).get("profile", prof)
        return GomanError(
            f"AWS profile '{name}' was not found in your AWS config files.",
            f"Check `aws configure list-profiles`, or create it with `aws configure --profile {name}`.",
            detail=detail,
        )
    if isinstance(exc, bex.NoCredentialsError | bex.PartialCredentialsError):
        return GomanError(
            f"No AWS credentials were found for profile '{prof}'.",
            f"Run `aws configure --profile {prof}` (or `aws sso login --profile {prof}`), "
            "or try goman without an account: `goman --sandbox`.",
            detail=detail,
        )
    token_errors = tuple(
        getattr(bex, n)
        for n in ("TokenRetrievalError", "SSOTokenLoadError", "UnauthorizedSSOTokenError")
        if hasattr(bex, n)
    )
    if token_errors and isinstance(exc, token_errors):
        return GomanError(
            f"The AWS session for profile '{prof}' has expired or is not logged in.",
            f"Run `aws sso login --profile {prof}` and try again.",
            detail=detail,
        )
    if isinstance(exc, bex.ProxyConnectionError):
        # botocore masks any user:password in the proxy URL before it gets here.
        proxy = getattr(exc, "kwargs", {}).get("proxy_url", "")
        return GomanError(
            f"Cannot reach AWS through proxy {proxy or '(unnamed)'}: the proxy refused the "
            "connection or is down.",
            "Check HTTPS_PROXY / HTTP_PROXY (is the proxy running?), and list hosts that must "
            "be reached directly in NO_PROXY.",
            detail=detail,
        )
    if isinstance(
        exc,
        bex.EndpointConnectionError
        | bex.ConnectTimeoutError
        | bex.ConnectionClosedError
        | bex.ReadTimeoutError,
    ):
        url = getattr(exc, "kwargs", {}).get("endpoint_url", "the AWS endpoint")
        return GomanError(
            f"Cannot reach {url}: the network or the endpoint is down.",
            "Check your connection, proxy and AWS_ENDPOINT_URL; for the sandbox, is "
            "`goman sandbox serve` still running?",
            detail=detail,
        )
    if isinstance(exc, bex.NoRegionError):
        return GomanError(
            "No AWS region is configured.",
            "Pass --region or set `goman config set region ap-south-1`.",
            detail=detail,
        )
    if isinstance(exc, bex.ClientError):
        return _map_client_error(exc, prof, what, detail)
    if isinstance(exc, bex.BotoCoreError):
        return GomanError(
            f"AWS client error: {exc}", "Re-run with --debug for detail.", detail=detail
        )
    return GomanError(
        f"Unexpected error: {type(exc).__name__}: {exc}",
        "Re-run with --debug and report it if it persists.",
        detail=detail,
    )


def _map_client_error(exc: Any, prof: str, what: str, detail: str) -> GomanError:
    err = exc.response.get("Error", {})
    code = str(err.get("Code", ""))
    message = str(err.get("Message", "")) or str(exc)
    op = str(getattr(exc, "operation_name", "") or "")
    service = ""
    meta = exc.response.get("ResponseMetadata", {})
    host = str(meta.get("HTTPHeaders", {}).get("host", ""))
    for svc in ("s3", "ec2", "sts", "iam"):
        if host.startswith(svc) or f".{svc}." in host:
            service = svc
    service = service or _guess_service(op)
    ctx = f" while trying to {what}" if what else ""
    skew = clock_skew(exc.response) if code in _CLOCK_CODES else None
    if code == "RequestTimeTooSkewed" or (skew is not None and abs(skew) >= _SKEW_SUSPECT):
        if skew is None:
            how = "is too far off AWS's time"
        else:
            how = f"is {_span(abs(skew))} {'behind' if skew > 0 else 'ahead of'} AWS's"
        return GomanError(
            f"Your computer's clock {how}, so AWS refuses its signed requests ({code}{ctx}).",
            "Set the clock right (turn on time sync, e.g. `timedatectl set-ntp true`) and "
            "try again.",
            detail=detail,
        )
    if code in _DENIED:
        found = _PERFORM.search(message)
        action = found.group(1) if found else iam_action(service, op)
        return GomanError(
            f"Access denied: your AWS identity (profile '{prof}') lacks {action}{ctx}.",
            f"Grant {action} to it (see `goman iam-policy` for the full policy), "
            "or use a profile that has it.",
            detail=detail,
        )
    if code in _EXPIRED:
        return GomanError(
            f"The AWS credentials for profile '{prof}' have expired.",
            f"Refresh them (`aws sso login --profile {prof}`, or new access keys) and try again.",
            detail=detail,
        )
    if code in _BAD_CREDS:
        return GomanError(
            f"AWS rejected the credentials of profile '{prof}' ({code}).",
            "Check the access key and secret (`aws sts get-caller-identity`), or your clock.",
            detail=detail,
        )
    if code in THROTTLE_CODES:
        return GomanError(
            f"AWS is throttling requests ({code}){ctx}, even after retries.",
            "Wait a minute and try again; other tools in this account may be busy.",
            detail=detail,
        )
    if code in _WRONG_REGION or (code == "301"):
        return GomanError(
            f"AWS answered with a region error ({code}: {message}){ctx}.",
            "Check the region (`goman config get region`, --region) is valid and enabled for "
            "the account; the state bucket always lives in ap-south-1.",
            detail=detail,
        )
    return GomanError(
        f"AWS error {code or 'unknown'} on {op or 'a request'}{ctx}: {message}",
        "Re-run with --debug for detail.",
        detail=detail,
    )


# Codes AWS answers to a request signed with a wrong clock. RequestTimeTooSkewed always
# means that; the others also have other causes, so they are blamed on the clock only when
# the server's time shows it is off by more than AWS's usual 5-minute allowance.
_CLOCK_CODES = {
    "RequestTimeTooSkewed",
    "RequestExpired",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "AuthFailure",
}
_SKEW_SUSPECT = 5 * 60


def clock_skew(response: dict[str, Any]) -> float | None:
    """AWS's time minus this computer's, in seconds, from an error answer (None: unknown).

    S3 names both times in RequestTimeTooSkewed (ServerTime, RequestTime); otherwise the
    answer's Date header is compared with the clock now."""
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    err = response.get("Error", {})
    try:
        server = datetime.strptime(str(err["ServerTime"]), "%Y-%m-%dT%H:%M:%SZ")
        sent = datetime.strptime(str(err["RequestTime"]), "%Y%m%dT%H%M%SZ")
        return (server - sent).total_seconds()
    except (KeyError, ValueError):
        pass
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    if not date:
        return None
    try:
        when = parsedate_to_datetime(str(date))
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - datetime.now(UTC)).total_seconds()


def _span(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    if seconds < 48 * 3600:
        hours, minutes = divmod(round(seconds / 60), 60)
        return f"{hours} hours {minutes} minutes"
    return f"{round(seconds / 86400)} days"


def _guess_service(op: str) -> str:
    if op in {"GetCallerIdentity", "AssumeRole"}:
        return "sts"
    if "Bucket" in op or "Object" in op or op in _IAM_ACTION:
        return "s3"
    return "ec2"


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError (empty for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def http_status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return 0
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


# Answers meaning "this region is not open to this account" (not enabled, opt-in needed).
_REGION_CLOSED = {"AuthFailure", "OptInRequired"}


def region_unreachable(exc: BaseException) -> bool:
    """Whether a failure (or the AWS error behind a GomanError) says a region cannot be
    reached at all: its endpoint does not connect, or the account may not use it."""
    from botocore import exceptions as bex

    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, bex.EndpointConnectionError | bex.ConnectTimeoutError):
            return True
        if error_code(seen) in _REGION_CLOSED:
            return True
        seen = seen.__cause__
    return False
