"""Which failures go away by themselves.

A network that drops, an endpoint that does not answer for a while, AWS throttling or
answering 5xx: trying again later may well work, so a live view keeps polling. No
credentials, an unknown profile, access denied, a bucket owned by someone else, a damaged
document: nothing changes until a person does something, so retrying only hides the fix.
"""

from __future__ import annotations

from goman.aws.errors import THROTTLE_CODES

# Throttled, or AWS having a bad moment.
_THROTTLED = THROTTLE_CODES | {"ServiceUnavailable", "InternalError"}


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and what caused it (goman wraps AWS errors in its own)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def is_transient(exc: BaseException) -> bool:
    """True when the failure is the network's or AWS's passing trouble, worth a retry."""
    from botocore import exceptions as bex

    network = (
        bex.EndpointConnectionError,
        bex.ConnectTimeoutError,
        bex.ConnectionClosedError,
        bex.ReadTimeoutError,
        bex.ProxyConnectionError,
        bex.HTTPClientError,
        ConnectionError,
        TimeoutError,
    )
    for cause in _chain(exc):
        if isinstance(cause, network):
            return True
        if isinstance(cause, bex.ClientError):
            error = cause.response.get("Error", {})
            meta = cause.response.get("ResponseMetadata", {})
            status = int(meta.get("HTTPStatusCode", 0) or 0)
            return str(error.get("Code", "")) in _THROTTLED or status >= 500
    return False
