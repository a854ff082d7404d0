"""Kubeconfigs goman builds from the cluster PKI, and the strict check of the ones that
clusters created by older goman versions uploaded.

A kubeconfig goman hands out authenticates with a client certificate only: never `exec`,
`auth-provider`, tokens, passwords, file paths or `insecure-skip-tls-verify`. A kubeconfig
that comes from the bucket is hostile until `validate_uploaded_kubeconfig` has rebuilt it
from the few fields it accepts.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import yaml
from cryptography import x509

from goman.aws.errors import GomanError
from goman.provision.pki.bundle import BundleError, CABundle, load_private_key, pem_blocks
from goman.provision.pki.certs import sign_admin_certificate
from goman.provision.pki.x509util import public_keys_match

MAX_KUBECONFIG_BYTES = 64 * 1024
_CERT = frozenset({"CERTIFICATE"})
_KEY = frozenset({"EC PRIVATE KEY", "RSA PRIVATE KEY", "PRIVATE KEY"})
_TOP_KEYS = frozenset(
    {"apiVersion", "kind", "clusters", "contexts", "users", "current-context", "preferences"}
)
_CLUSTER_KEYS = frozenset({"server", "certificate-authority-data"})
_USER_KEYS = frozenset({"client-certificate-data", "client-key-data"})
_CONTEXT_KEYS = frozenset({"cluster", "user", "namespace"})
# Named so the refusal says what the kubeconfig tried to do.
_USER_DANGERS = {
    "exec": "runs a command (exec)",
    "auth-provider": "uses an auth-provider plugin",
    "token": "carries a bearer token",
    "tokenFile": "reads a token file",
    "username": "uses a user name and password",
    "password": "uses a user name and password",
    "client-certificate": "reads its certificate from a file path",
    "client-key": "reads its key from a file path",
    "as": "impersonates another user",
    "as-groups": "impersonates groups",
    "as-uid": "impersonates another user",
    "as-user-extra": "impersonates another user",
}
_CLUSTER_DANGERS = {
    "insecure-skip-tls-verify": "sets insecure-skip-tls-verify",
    "certificate-authority": "reads its CA from a file path",
    "proxy-url": "sends traffic through a proxy",
    "tls-server-name": "overrides the TLS server name",
}


@dataclass(frozen=True)
class CertCredentials:
    """Everything needed to reach a cluster's API with certificate authentication."""

    server: str
    ca_pem: str
    client_cert_pem: str
    client_key_pem: str


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("ascii")).decode("ascii")


def build_kubeconfig(
    *,
    endpoint: str,
    server_ca_pem: str,
    client_cert_pem: str,
    client_key_pem: str,
    context: str,
) -> dict[str, Any]:
    """A kubeconfig for `endpoint` whose cluster, user and context are all named `context`."""
    if not context:
        raise ValueError("context name must not be empty")
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": context,
                "cluster": {
                    "server": endpoint,
                    "certificate-authority-data": _b64(server_ca_pem),
                },
            }
        ],
        "users": [
            {
                "name": context,
                "user": {
                    "client-certificate-data": _b64(client_cert_pem),
                    "client-key-data": _b64(client_key_pem),
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
    }


def admin_kubeconfig(
    bundle: CABundle,
    *,
    endpoint: str,
    identity_arn: str,
    context: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The cluster-admin kubeconfig: the cluster's server CA, and a client certificate for
    the caller's AWS identity signed now by the cluster's client CA (valid one year)."""
    client = sign_admin_certificate(bundle, identity_arn, now=now)
    return build_kubeconfig(
        endpoint=endpoint,
        server_ca_pem=bundle.server_ca_pem,
        client_cert_pem=client.cert_pem,
        client_key_pem=client.key_pem,
        context=context,
    )


def _endpoint_key(url: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(url.strip())
        port = parts.port or 443
    except ValueError:
        return None
    if parts.scheme != "https" or not parts.hostname or parts.path not in {"", "/"}:
        return None
    if parts.query or parts.fragment or parts.username or parts.password:
        return None
    return parts.hostname.lower(), port


def same_endpoint(a: str, b: str) -> bool:
    """Whether two https URLs name the same host and port (a trailing / is allowed)."""
    key = _endpoint_key(a)
    return key is not None and key == _endpoint_key(b)


class _Refused(Exception):
    pass


def _one(config: Mapping[str, Any], section: str) -> Mapping[str, Any]:
    items = config.get(section)
    if not isinstance(items, list) or len(items) != 1:
        raise _Refused(f"it must hold exactly one entry in '{section}'")
    item = items[0]
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
        raise _Refused(f"its '{section}' entry has no name")
    if set(item) - {"name", section[:-1]}:
        raise _Refused(f"its '{section}' entry has unexpected fields")
    body = item.get(section[:-1])
    if not isinstance(body, Mapping):
        raise _Refused(f"its '{section}' entry is empty")
    return item


def _pem_from_b64(value: Any, labels: frozenset[str], what: str) -> tuple[str, list[str]]:
    if not isinstance(value, str) or not value:
        raise _Refused(f"its {what} is missing")
    try:
        text = base64.b64decode(value.strip(), validate=True).decode("ascii")
    except (binascii.Error, ValueError) as exc:
        raise _Refused(f"its {what} is not base64 of PEM text") from exc
    try:
        return text, pem_blocks(text, labels, what)
    except BundleError as exc:
        raise _Refused(str(exc)) from exc


def _certs(blocks: list[str], what: str) -> list[x509.Certificate]:
    if len(blocks) > 4:
        raise _Refused(f"its {what} holds too many certificates")
    try:
        return [x509.load_pem_x509_certificate(b.encode("ascii")) for b in blocks]
    except ValueError as exc:
        raise _Refused(f"its {what} holds a certificate that cannot be read") from exc


def _credentials(config: Any, endpoint: str | None) -> CertCredentials:
    if not isinstance(config, Mapping):
        raise _Refused("it is not a mapping")
    extra = sorted(set(config) - _TOP_KEYS)
    if extra:
        raise _Refused(f"it has unexpected top-level fields ({', '.join(map(str, extra[:3]))})")
    if config.get("preferences") not in (None, {}):
        raise _Refused("it sets preferences")
    cluster_item, user_item, context_item = (
        _one(config, "clusters"),
        _one(config, "users"),
        _one(config, "contexts"),
    )
    cluster, user, context = (
        cluster_item["cluster"],
        user_item["user"],
        context_item["context"],
    )
    for key, why in _USER_DANGERS.items():
        if key in user:
            raise _Refused(f"its user {why}")
    for key, why in _CLUSTER_DANGERS.items():
        if key in cluster:
            raise _Refused(f"its cluster {why}")
    if set(user) - _USER_KEYS:
        raise _Refused(
            f"its user has unexpected fields ({', '.join(sorted(set(user) - _USER_KEYS))})"
        )
    if set(cluster) - _CLUSTER_KEYS:
        raise _Refused(
            f"its cluster has unexpected fields ({', '.join(sorted(set(cluster) - _CLUSTER_KEYS))})"
        )
    if set(context) - _CONTEXT_KEYS:
        raise _Refused("its context has unexpected fields")
    if context.get("cluster") != cluster_item["name"] or context.get("user") != user_item["name"]:
        raise _Refused("its context does not name its cluster and user")
    current = config.get("current-context")
    if current is not None and current != context_item["name"]:
        raise _Refused("its current-context names no context in it")
    server = cluster.get("server")
    if not isinstance(server, str) or _endpoint_key(server) is None:
        raise _Refused("its server is not an https URL")
    if endpoint is not None and not same_endpoint(server, endpoint):
        raise _Refused(f"its server {server[:80]!r} is not the cluster's endpoint {endpoint}")
    ca_text, ca_blocks = _pem_from_b64(
        cluster.get("certificate-authority-data"), _CERT, "certificate-authority-data"
    )
    _certs(ca_blocks, "certificate-authority-data")
    cert_text, cert_blocks = _pem_from_b64(
        user.get("client-certificate-data"), _CERT, "client-certificate-data"
    )
    leaf = _certs(cert_blocks, "client-certificate-data")[0]
    key_text, key_blocks = _pem_from_b64(user.get("client-key-data"), _KEY, "client-key-data")
    if len(key_blocks) != 1:
        raise _Refused("its client-key-data must hold exactly one key")
    try:
        client_key = load_private_key(key_blocks[0], "client-key-data")
    except BundleError as exc:
        raise _Refused(str(exc)) from exc
    if not public_keys_match(leaf, client_key):
        raise _Refused("its client key does not belong to its client certificate")
    if leaf.not_valid_after_utc <= datetime.now(UTC):
        raise _Refused(f"its client certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    return CertCredentials(
        server=server.strip().rstrip("/"),
        ca_pem=ca_text,
        client_cert_pem=cert_text,
        client_key_pem=key_text,
    )


def certificate_credentials(
    config: Any, *, endpoint: str | None = None, source: str = "The kubeconfig"
) -> CertCredentials:
    """The certificate credentials of a one-context kubeconfig dict, refusing any other kind
    of authentication (and, with `endpoint`, any other server) with a GomanError."""
    try:
        return _credentials(config, endpoint)
    except _Refused as exc:
        raise GomanError(
            f"{source} was refused: {exc}.",
            "goman only uses kubeconfigs that point at the cluster's endpoint and authenticate "
            "with an embedded client certificate; get a fresh one with `goman cluster "
            "kubeconfig NAME`.",
        ) from None


def validate_uploaded_kubeconfig(
    text: str | bytes,
    *,
    endpoint: str,
    context: str,
    source: str = "The kubeconfig the cluster's server uploaded",
) -> dict[str, Any]:
    """Check a kubeconfig uploaded by an older cluster and rebuild it from what was checked.

    Accepted only if its server is the recorded `endpoint`, it carries CA data, and its
    user authenticates with client-certificate-data + client-key-data and nothing else.
    The result holds only those fields, named `context`. Anything else is a GomanError."""
    hint = (
        "Clusters created by this goman get kubeconfigs that goman signs itself. This one came "
        "from the bucket and may have been planted by anyone who can write there: look at its "
        "versions with `goman state history`, and recreate the cluster if in doubt."
    )
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if len(raw) > MAX_KUBECONFIG_BYTES:
        raise GomanError(f"{source} was refused: it is larger than 64 KiB.", hint)
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        raise GomanError(f"{source} was refused: it is not valid YAML.", hint) from None
    try:
        creds = _credentials(data, endpoint)
    except _Refused as exc:
        raise GomanError(f"{source} was refused: {exc}.", hint) from None
    return build_kubeconfig(
        endpoint=creds.server,
        server_ca_pem=creds.ca_pem,
        client_cert_pem=creds.client_cert_pem,
        client_key_pem=creds.client_key_pem,
        context=context,
    )
