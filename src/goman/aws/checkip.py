"""The caller's public address, as a "what is my IP" service over HTTPS sees it.

Used to narrow who may reach a cluster's Kubernetes API (`--api-cidr auto`), and to tell
a user whose address is outside a cluster's `api_cidrs` why the API does not answer.
The service is AWS's checkip by default; `GOMAN_CHECKIP_URL` names another one (the
sandbox sets it to its own loopback route, as it sets `AWS_ENDPOINT_URL`). Plain HTTP is
accepted for loopback addresses only: anyone on the path could otherwise choose the
address that ends up in a firewall rule. The answer must be exactly one IP address.
"""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

from goman.aws.errors import GomanError, UsageError

DEFAULT_URL = "https://checkip.amazonaws.com/"
URL_VARIABLE = "GOMAN_CHECKIP_URL"
TIMEOUT = 5.0
_MAX_ANSWER = 64  # "255.255.255.255\n" or an IPv6 address, with room to spare
_LOOPBACK_NAMES = {"localhost"}

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_FIX = (
    "Give the CIDR yourself with --api-cidr (e.g. --api-cidr 203.0.113.7/32), or point "
    f"{URL_VARIABLE} at a service that answers with your address."
)


def checkip_url() -> str:
    """The service to ask: HTTPS, or plain HTTP on a loopback address."""
    url = os.environ.get(URL_VARIABLE) or DEFAULT_URL
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and _is_loopback(parts.hostname or ""):
        return url
    raise UsageError(
        f"{URL_VARIABLE}={url!r} is not usable: the address lookup must use https "
        "(plain http only on a loopback address).",
        f"Unset {URL_VARIABLE} to use {DEFAULT_URL}, or give an https URL.",
    )


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def public_address(timeout: float = TIMEOUT) -> IpAddress:
    """The address the service sees this machine's requests come from."""
    import urllib.error
    import urllib.request

    url = checkip_url()

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        # The answer must come from the service that was named, not from wherever it sends us.
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(_NoRedirect())  # proxies as the environment says
    try:
        with opener.open(urllib.request.Request(url, method="GET"), timeout=timeout) as resp:
            raw = resp.read(_MAX_ANSWER + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise GomanError(
            f"Cannot find your public address: {url} did not answer ({reason}).", _FIX
        ) from exc
    try:
        if len(raw) > _MAX_ANSWER:
            raise ValueError("too long")
        return ipaddress.ip_address(raw.decode("ascii").strip())
    except (ValueError, UnicodeDecodeError):
        raise GomanError(
            f"Cannot find your public address: {url} did not answer with one IP address.",
            _FIX,
        ) from None


def public_cidr(timeout: float = TIMEOUT) -> str:
    """The caller's public address as a single-address CIDR (/32, or /128 for IPv6)."""
    address = public_address(timeout)
    return f"{address}/{address.max_prefixlen}"
