"""Kubernetes API failures as GomanErrors a person can act on."""

from __future__ import annotations

import ssl
from collections.abc import Callable

from goman.aws.errors import GomanError

Hint = str | Callable[[], str] | None

DEFAULT_UNREACHABLE_HINT = (
    "Check the cluster is Running (`goman cluster get NAME`) and that your public address is "
    "inside its api_cidrs (the CIDRs allowed to reach port 6443)."
)


class KubeError(GomanError):
    """A Kubernetes API request failed."""


class KubeUnreachableError(KubeError):
    """The API server could not be reached (refused, no route, connect timeout)."""


class KubeTlsError(KubeError):
    """TLS failed: the server's certificate is not from the cluster's CA, or the server
    refused goman's client certificate."""


class KubeAuthError(KubeError):
    """401 or 403."""


class KubeTimeoutError(KubeError):
    """The API server accepted the connection but did not answer in time."""


class DrainTimeoutError(KubeError):
    """A drain did not finish before its timeout (and was not forced)."""


def resolve_hint(hint: Hint) -> str:
    if hint is None:
        return DEFAULT_UNREACHABLE_HINT
    if callable(hint):
        try:
            text = hint()
        except Exception:  # a hint must never hide the error it explains
            return DEFAULT_UNREACHABLE_HINT
        return text or DEFAULT_UNREACHABLE_HINT
    return hint or DEFAULT_UNREACHABLE_HINT


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def tls_problem(exc: BaseException) -> str | None:
    """'server' if the server's certificate failed verification, 'client' if the server
    refused our certificate (a TLS alert), None if TLS was not the problem."""
    for item in _chain(exc):
        if isinstance(item, ssl.SSLCertVerificationError):
            return "server"
        text = str(item).upper()
        if "CERTIFICATE_VERIFY_FAILED" in text:
            return "server"
        if any(
            alert in text
            for alert in (
                "ALERT_UNKNOWN_CA",
                "ALERT_BAD_CERTIFICATE",
                "ALERT_CERTIFICATE_REQUIRED",
                "ALERT_CERTIFICATE_UNKNOWN",
                "ALERT_HANDSHAKE_FAILURE",
                "ALERT_DECRYPT_ERROR",
            )
        ):
            return "client"
        if isinstance(item, ssl.SSLError):
            return "other"
    return None


def map_transport_error(
    exc: BaseException, *, endpoint: str, what: str, hint: Hint, timeout: float
) -> KubeError:
    """A connection-level failure (httpx) as a KubeError."""
    import httpx2

    detail = f"{type(exc).__name__}: {exc}"
    problem = tls_problem(exc)
    if problem == "server":
        return KubeTlsError(
            f"TLS verification of {endpoint} failed while trying to {what}: its certificate is "
            "not signed by the cluster's CA.",
            "The address may now belong to another server, or the kubeconfig is from another "
            "cluster: check the endpoint with `goman cluster get NAME` and get a fresh "
            "kubeconfig with `goman cluster kubeconfig NAME`.",
            detail=detail,
        )
    if problem == "client":
        return KubeTlsError(
            f"The API server at {endpoint} refused goman's client certificate while trying to "
            f"{what}: it is not signed by the CA the server trusts.",
            "The kubeconfig is from another cluster or was replaced: get a fresh one with "
            "`goman cluster kubeconfig NAME`.",
            detail=detail,
        )
    if problem == "other":
        return KubeTlsError(
            f"The TLS connection to {endpoint} failed while trying to {what}.",
            "Check that the endpoint is the cluster's API server (`goman cluster get NAME`).",
            detail=detail,
        )
    if isinstance(exc, httpx2.ConnectTimeout):
        return KubeUnreachableError(
            f"The Kubernetes API at {endpoint} cannot be reached (no answer within "
            f"{timeout:g} s) while trying to {what}.",
            resolve_hint(hint),
            detail=detail,
        )
    if isinstance(exc, httpx2.TimeoutException):
        return KubeTimeoutError(
            f"The Kubernetes API at {endpoint} did not answer within {timeout:g} s while trying "
            f"to {what}.",
            "The API server may be overloaded or restarting; try again in a minute.",
            detail=detail,
        )
    return KubeUnreachableError(
        f"The Kubernetes API at {endpoint} cannot be reached while trying to {what}: "
        f"{_short(exc)}.",
        resolve_hint(hint),
        detail=detail,
    )


def _short(exc: BaseException) -> str:
    for item in _chain(exc):
        if isinstance(item, ConnectionRefusedError):
            return "connection refused"
        if isinstance(item, OSError) and item.strerror:
            return item.strerror.lower()
    text = str(exc).strip()
    return text[:120] if text else type(exc).__name__


def map_status_error(code: int, message: str, *, endpoint: str, what: str) -> KubeError:
    """An error answer of the API server (lightkube's ApiError) as a KubeError."""
    message = " ".join(message.split())[:300]
    if code == 401:
        return KubeAuthError(
            f"The Kubernetes API at {endpoint} did not accept goman's credentials (401) while "
            f"trying to {what}.",
            "The client certificate may have expired or been signed by another CA: get a fresh "
            "kubeconfig with `goman cluster kubeconfig NAME`.",
        )
    if code == 403:
        return KubeAuthError(
            f"The Kubernetes API at {endpoint} forbade goman to {what} (403): {message}",
            "goman needs cluster-admin (group system:masters): use the kubeconfig from "
            "`goman cluster kubeconfig NAME`.",
        )
    return KubeError(
        f"The Kubernetes API at {endpoint} answered {code} while trying to {what}: {message}",
        "Re-run with --debug for detail.",
    )
