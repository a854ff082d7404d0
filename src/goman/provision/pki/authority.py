"""Generate a cluster's certificate authorities, the way K3s generates its own.

K3s's default topology is five independent self-signed CAs plus an RSA service-account
key; the same files pre-created before the first start are used as they are. goman makes
exactly that set (docs/kubernetes.md says why it chose this topology over the
root + intermediate chain of K3s's custom-CA example script).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from goman.provision.pki.bundle import CABundle
from goman.provision.pki.layout import AUTHORITIES, SERVICE_KEY
from goman.provision.pki.x509util import cert_pem, key_pem, new_ec_key, new_rsa_key, self_signed_ca

# K3s's self-signed CAs are valid for 10 years (dynamiclistener: 365 days x 10).
CA_VALIDITY = timedelta(days=3650)


def generate_cluster_cas(now: datetime | None = None) -> CABundle:
    """A fresh CA set for one cluster: five P-256 CAs and an RSA-2048 service-account key."""
    moment = now or datetime.now(UTC)
    stamp = int(moment.timestamp())
    files: dict[str, str] = {}
    for authority in AUTHORITIES:
        key = new_ec_key()
        cert = self_signed_ca(f"{authority.common_name}@{stamp}", key, moment, CA_VALIDITY)
        files[authority.cert] = cert_pem(cert)
        files[authority.key] = key_pem(key)
    files[SERVICE_KEY] = key_pem(new_rsa_key(2048))
    return CABundle(files=files)
