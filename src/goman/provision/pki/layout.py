"""Where K3s looks for pre-created certificate authorities, and what goes there.

K3s has no flag to load CAs: a server that finds these files under its data directory's
`server/tls/` before its first start uses them instead of generating its own (K3s
documentation, "k3s certificate": "Using Custom CA Certificates"). Paths here are relative
to that folder: `/var/lib/rancher/k3s/server/tls/` on a node.
"""

from __future__ import annotations

from dataclasses import dataclass

TLS_DIR = "/var/lib/rancher/k3s/server/tls"


@dataclass(frozen=True)
class Authority:
    """One certificate authority K3s needs: `{path}.crt` and `{path}.key` under server/tls."""

    path: str
    common_name: str  # the prefix K3s itself gives this CA (it appends `@<unix time>`)
    purpose: str

    @property
    def cert(self) -> str:
        return f"{self.path}.crt"

    @property
    def key(self) -> str:
        return f"{self.path}.key"


SERVER_CA = Authority(
    "server-ca",
    "k3s-server-ca",
    "signs the serving certificates of the API server and the kubelets; the CA every "
    "kubeconfig trusts",
)
CLIENT_CA = Authority(
    "client-ca",
    "k3s-client-ca",
    "signs client certificates the API server and kubelets accept (admin, controllers, "
    "kubelets, goman's cluster-admin)",
)
REQUEST_HEADER_CA = Authority(
    "request-header-ca",
    "k3s-request-header-ca",
    "signs the API server's proxy client certificate for API aggregation (front proxy)",
)
ETCD_PEER_CA = Authority(
    "etcd/peer-ca",
    "etcd-peer-ca",
    "signs etcd peer certificates (replication between servers)",
)
ETCD_SERVER_CA = Authority(
    "etcd/server-ca",
    "etcd-server-ca",
    "signs etcd's serving certificate and the API server's etcd client certificate",
)

AUTHORITIES: tuple[Authority, ...] = (
    SERVER_CA,
    CLIENT_CA,
    REQUEST_HEADER_CA,
    ETCD_PEER_CA,
    ETCD_SERVER_CA,
)

# The private key that signs service-account tokens; it has no certificate. K3s documents
# it as an RSA key; on rotation it holds the new key followed by the old ones.
SERVICE_KEY = "service.key"

CERT_FILES: frozenset[str] = frozenset(a.cert for a in AUTHORITIES)
KEY_FILES: frozenset[str] = frozenset({*(a.key for a in AUTHORITIES), SERVICE_KEY})
# Exactly the files of a bundle: nothing more is ever written on a node.
BUNDLE_FILES: frozenset[str] = CERT_FILES | KEY_FILES
