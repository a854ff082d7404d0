"""Small `cryptography` helpers shared by the CA generator and the certificate issuer."""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

# Clocks of laptops and nodes disagree a little; K3s copies a CA's notBefore into the
# leaf certificates it issues, so a CA dated "now" on a fast laptop would make a slow
# node's fresh certificates not yet valid.
BACKDATE = timedelta(hours=1)


def new_ec_key() -> ec.EllipticCurvePrivateKey:
    """A P-256 key: what K3s uses for its own CAs and leaf certificates."""
    return ec.generate_private_key(ec.SECP256R1())


def new_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def key_pem(key: PrivateKey) -> str:
    """Traditional OpenSSL encoding (`EC PRIVATE KEY` / `RSA PRIVATE KEY`), as K3s writes."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def self_signed_ca(
    common_name: str, key: PrivateKey, now: datetime, validity: timedelta
) -> x509.Certificate:
    """A root CA shaped like the ones K3s generates for itself (see docs/kubernetes.md).

    No path length constraint, as K3s: its documented rotation of self-signed CAs puts a
    cross-signed and an intermediate CA under the old one."""
    subject = name(common_name)
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            signing_usage(certificates=True),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
    )
    return builder.sign(key, hashes.SHA256())


def public_keys_match(cert: x509.Certificate, key: PrivateKey) -> bool:
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    return bool(cert.public_key().public_bytes(enc, fmt) == key.public_key().public_bytes(enc, fmt))


def signing_usage(*, certificates: bool) -> x509.KeyUsage:
    """Digital signatures only, plus signing certificates for a CA."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=certificates,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
