"""Leaf certificates signed by the cluster's CAs: goman's cluster-admin client certificate
(client CA) and serving certificates (server CA, used by the sandbox's API emulator the
way K3s issues its own)."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from goman.provision.pki.bundle import CABundle
from goman.provision.pki.layout import CLIENT_CA, SERVER_CA
from goman.provision.pki.x509util import (
    PrivateKey,
    cert_pem,
    key_pem,
    name,
    new_ec_key,
    signing_usage,
)

# K3s issues its leaf certificates for 365 days; goman's admin certificate lasts as long.
LEAF_VALIDITY = timedelta(days=365)
# Laptops and nodes disagree on the time by seconds to minutes.
LEAF_BACKDATE = timedelta(minutes=5)
ADMIN_GROUP = "system:masters"
# X.509's upper bound for a commonName (RFC 5280 ub-common-name); cryptography enforces it.
MAX_CN = 64
# What an ARN may contain (IAM names and role session names use these), minus nothing
# that could confuse a log reader: no spaces, quotes or control characters.
_CN_UNSAFE = re.compile(r"[^A-Za-z0-9+=,.@_:/-]")


@dataclass(frozen=True)
class IssuedCertificate:
    cert_pem: str  # the leaf, followed by the CA that signed it
    key_pem: str
    common_name: str
    not_after: datetime


def admin_common_name(identity_arn: str) -> str:
    """The commonName of a cluster-admin certificate: the caller's AWS identity.

    Kubernetes takes a client certificate's CN as the user name, so the API server's audit
    log shows who acted. The ARN is used as it is when it fits X.509's 64 characters (after
    replacing any character outside the ARN alphabet by `_`). A longer one keeps its account
    and the end of its resource (the role session name, usually the person), followed by
    `~` and 8 hex digits of the full ARN's SHA-256, so two long ARNs never share a CN (e.g.
    `123456789012:cess_0123456789abcdef/jane.doe@example.com~c793d7c3` for an SSO role).
    The full ARN is also written into the certificate as a URI subject alternative name.
    """
    arn = _CN_UNSAFE.sub("_", identity_arn.strip())
    if not arn:
        raise ValueError("an AWS identity ARN is required")
    if len(arn) <= MAX_CN:
        return arn
    digest = hashlib.sha256(identity_arn.encode("utf-8")).hexdigest()[:8]
    parts = arn.split(":", 5)
    account, resource = (parts[4], parts[5]) if len(parts) == 6 else ("", arn)
    head = f"{account}:" if account else ""
    room = MAX_CN - len(head) - 1 - len(digest)
    return f"{head}{resource[-room:]}~{digest}"


def _issue(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    *,
    common_name: str,
    organizations: tuple[str, ...],
    usage: x509.ObjectIdentifier,
    san: list[x509.GeneralName],
    now: datetime,
    validity: timedelta,
) -> IssuedCertificate:
    key = new_ec_key()
    not_after = min(now + validity, ca_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(common_name, organizations))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(max(now - LEAF_BACKDATE, ca_cert.not_valid_before_utc))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            signing_usage(certificates=False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return IssuedCertificate(
        cert_pem=cert_pem(cert) + cert_pem(ca_cert),
        key_pem=key_pem(key),
        common_name=common_name,
        not_after=not_after,
    )


def sign_admin_certificate(
    bundle: CABundle,
    identity_arn: str,
    *,
    now: datetime | None = None,
    validity: timedelta = LEAF_VALIDITY,
) -> IssuedCertificate:
    """A cluster-admin client certificate (O=system:masters, CN from `admin_common_name`)
    signed by the cluster's client CA, valid for a year (never past the CA's own end)."""
    ca = bundle.certificate(CLIENT_CA.cert)
    san: list[x509.GeneralName] = []
    full = _CN_UNSAFE.sub("_", identity_arn.strip())
    if full.startswith("arn:"):
        san.append(x509.UniformResourceIdentifier(full))
    return _issue(
        ca,
        bundle.private_key(CLIENT_CA.key),
        common_name=admin_common_name(identity_arn),
        organizations=(ADMIN_GROUP,),
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        san=san,
        now=now or datetime.now(UTC),
        validity=validity,
    )


def issue_serving_certificate(
    bundle: CABundle,
    *,
    ips: Sequence[str] = (),
    dns_names: Sequence[str] = (),
    common_name: str = "kube-apiserver",
    now: datetime | None = None,
    validity: timedelta = LEAF_VALIDITY,
) -> IssuedCertificate:
    """A TLS serving certificate from the cluster's server CA for these addresses, the
    kind K3s issues for its API server (`--tls-san` adds to its list)."""
    if not ips and not dns_names:
        raise ValueError("a serving certificate needs at least one IP address or DNS name")
    san: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    san += [x509.DNSName(dns) for dns in dns_names]
    return _issue(
        bundle.certificate(SERVER_CA.cert),
        bundle.private_key(SERVER_CA.key),
        common_name=common_name,
        organizations=(),
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        san=san,
        now=now or datetime.now(UTC),
        validity=validity,
    )
