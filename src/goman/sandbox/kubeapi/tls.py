"""Mutual TLS for the emulated API server, from the cluster's CA bundle.

The serving certificate is issued from the cluster's server CA (as K3s issues its own,
with the endpoint's address as a SAN); client certificates must chain to the cluster's
client CA. Python's ssl module loads certificates only from files, so they are written to
a private temporary folder (0700, files 0600) and removed as soon as they are loaded.
"""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
from collections.abc import Sequence
from typing import Any

from goman.provision.pki.bundle import CABundle
from goman.provision.pki.certs import issue_serving_certificate

# The names K3s puts in its API server's certificate, besides --tls-san.
K3S_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


def server_context(
    bundle: CABundle, ips: Sequence[str], dns_names: Sequence[str] = K3S_DNS_NAMES
) -> ssl.SSLContext:
    """A TLS server context: a serving certificate for `ips`, client certificates required
    and verified against the cluster's client CA."""
    issued = issue_serving_certificate(bundle, ips=list(ips), dns_names=list(dns_names))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    folder = tempfile.mkdtemp(prefix="goman-kubeapi-")
    try:
        cert = os.path.join(folder, "serving.crt")
        key = os.path.join(folder, "serving.key")
        for path, text in ((cert, issued.cert_pem), (key, issued.key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
        ctx.load_cert_chain(cert, key)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=bundle.client_ca_pem)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def peer_identity(peer: dict[str, Any] | None) -> tuple[str, tuple[str, ...]]:
    """(user name, groups) from a verified client certificate: CN and O, as Kubernetes reads them."""
    name, groups = "", []
    for rdn in (peer or {}).get("subject", ()):
        for attr, value in rdn:
            if attr == "commonName":
                name = str(value)
            elif attr == "organizationName":
                groups.append(str(value))
    return name, tuple(groups)
