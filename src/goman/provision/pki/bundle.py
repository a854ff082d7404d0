"""The cluster's CA set as one document: what goman stores as a secret object of the
cluster and what server-0 fetches (through a presigned GET) before K3s first starts.

Serialized form (UTF-8 JSON, one object, at most `MAX_BUNDLE_BYTES`):

    {"schema_version": 1, "revision": 0, "kind": "k3s-ca-bundle",
     "files": {"server-ca.crt": "-----BEGIN CERTIFICATE-----\\n...", "server-ca.key": "...",
               ..., "etcd/peer-ca.crt": "...", "service.key": "..."}}

`files` maps paths relative to K3s's `server/tls/` folder to PEM text. Whatever is read back
from S3 is hostile until `CABundle.from_bytes` has checked it: exactly the eleven known paths
(no other path, so no traversal), bounded sizes, nothing but PEM blocks of the expected kind,
certificates that are CAs, keys that belong to their certificates.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, ClassVar, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ConfigDict, ValidationError, field_validator

from goman.aws.errors import GomanError
from goman.models.base import Document
from goman.provision.pki.layout import (
    AUTHORITIES,
    BUNDLE_FILES,
    CERT_FILES,
    CLIENT_CA,
    SERVER_CA,
    SERVICE_KEY,
)
from goman.provision.pki.x509util import PrivateKey, public_keys_match

BUNDLE_KIND = "k3s-ca-bundle"
MAX_BUNDLE_BYTES = 128 * 1024
MAX_FILE_CHARS = 16 * 1024
MAX_CERTS_PER_FILE = 4  # a CA, or a CA with its intermediates and root
MAX_SERVICE_KEYS = 4  # the current key and the ones kept after rotations

_CERT_LABELS = frozenset({"CERTIFICATE"})
_KEY_LABELS = frozenset({"EC PRIVATE KEY", "RSA PRIVATE KEY", "PRIVATE KEY"})
# One PEM block with no headers (so no encrypted legacy keys): a base64 body only.
_BLOCK = re.compile(
    r"-----BEGIN ([A-Z ]{1,40})-----\n((?:[A-Za-z0-9+/=]{1,76}\n){1,400})-----END \1-----\n"
)


class BundleError(ValueError):
    """A bundle that must not be used; the text says why."""


def pem_blocks(text: str, allowed: frozenset[str], path: str) -> list[str]:
    """The PEM blocks of `text`, in order; anything but blocks and blank lines is refused."""
    text = text.replace("\r\n", "\n")
    if not text.endswith("\n"):
        text += "\n"
    blocks: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos] in " \t\n":
            pos += 1
            continue
        found = _BLOCK.match(text, pos)
        if not found:
            raise BundleError(f"{path} holds something other than PEM blocks")
        if found.group(1) not in allowed:
            raise BundleError(f"{path} holds a PEM block of type {found.group(1)!r}")
        blocks.append(found.group(0))
        pos = found.end()
    if not blocks:
        raise BundleError(f"{path} is empty")
    return blocks


def load_private_key(block: str, path: str) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(block.encode("ascii"), password=None)
    except (ValueError, TypeError) as exc:
        raise BundleError(f"{path} is not a readable private key") from exc
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise BundleError(f"{path} is an RSA key of {key.key_size} bits (at least 2048)")
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in {"secp256r1", "secp384r1"}:
            raise BundleError(f"{path} uses the curve {key.curve.name} (P-256 or P-384 only)")
        return key
    raise BundleError(f"{path} is neither an RSA nor an ECDSA key")


def _load_certs(blocks: list[str], path: str, now: datetime) -> list[x509.Certificate]:
    if len(blocks) > MAX_CERTS_PER_FILE:
        raise BundleError(f"{path} holds {len(blocks)} certificates (at most 4)")
    certs: list[x509.Certificate] = []
    for block in blocks:
        try:
            certs.append(x509.load_pem_x509_certificate(block.encode("ascii")))
        except ValueError as exc:
            raise BundleError(f"{path} holds a certificate that cannot be read") from exc
    first = certs[0]
    try:
        constraints = first.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise BundleError(f"{path} is not a certificate authority (basicConstraints CA:FALSE)")
    try:
        usage = first.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.key_cert_sign:
        raise BundleError(f"{path} may not sign certificates (no keyCertSign usage)")
    if first.not_valid_after_utc <= now:
        raise BundleError(f"{path} expired on {first.not_valid_after_utc:%Y-%m-%d}")
    return certs


class CABundle(Document):
    """The eleven files K3s needs in `server/tls/` before its first start (see layout.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    SCHEMA_VERSION: ClassVar[int] = 1

    kind: Literal["k3s-ca-bundle"] = "k3s-ca-bundle"
    files: dict[str, str]

    @field_validator("files")
    @classmethod
    def _check_files(cls, files: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(files) - BUNDLE_FILES)
        if unknown:
            shown = ", ".join(repr(p[:60]) for p in unknown[:3])
            raise ValueError(f"unknown path(s) {shown}: only the K3s CA files are allowed")
        missing = sorted(BUNDLE_FILES - set(files))
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        now = datetime.now(UTC)
        try:
            for path, text in files.items():
                if len(text) > MAX_FILE_CHARS:
                    raise BundleError(f"{path} is larger than {MAX_FILE_CHARS} characters")
                if not text.isascii():
                    raise BundleError(f"{path} is not ASCII PEM text")
            for authority in AUTHORITIES:
                blocks = pem_blocks(files[authority.cert], _CERT_LABELS, authority.cert)
                certs = _load_certs(blocks, authority.cert, now)
                key_blocks = pem_blocks(files[authority.key], _KEY_LABELS, authority.key)
                if len(key_blocks) != 1:
                    raise BundleError(f"{authority.key} holds {len(key_blocks)} keys (one)")
                key = load_private_key(key_blocks[0], authority.key)
                if not public_keys_match(certs[0], key):
                    raise BundleError(f"{authority.key} is not the key of {authority.cert}")
            service = pem_blocks(
                files[SERVICE_KEY], frozenset({"RSA PRIVATE KEY", "PRIVATE KEY"}), SERVICE_KEY
            )
            if len(service) > MAX_SERVICE_KEYS:
                raise BundleError(f"{SERVICE_KEY} holds {len(service)} keys (at most 4)")
            for block in service:
                if not isinstance(load_private_key(block, SERVICE_KEY), rsa.RSAPrivateKey):
                    raise BundleError(f"{SERVICE_KEY} must hold RSA keys")
        except BundleError as exc:
            raise ValueError(str(exc)) from None
        return files

    # -- serialization ------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The S3 object body (JSON, keys sorted so equal bundles give equal bytes)."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, body: bytes, *, source: str = "The cluster's CA bundle") -> CABundle:
        """Parse and check a bundle read from S3; any problem is a GomanError naming `source`."""
        fix = (
            "Someone or something changed this secret object: compare its versions with "
            "`goman state history`, restore the version goman wrote, or recreate the cluster."
        )
        if len(body) > MAX_BUNDLE_BYTES:
            raise GomanError(f"{source} is larger than {MAX_BUNDLE_BYTES} bytes.", fix)
        try:
            data: Any = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise GomanError(f"{source} is not valid JSON.", fix) from exc
        if not isinstance(data, dict):
            raise GomanError(f"{source} is not a JSON object.", fix)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
            raise GomanError(
                f"{source} is invalid: {where + ': ' if where else ''}{msg}.", fix
            ) from exc

    # -- reading ------------------------------------------------------------------------

    @property
    def server_ca_pem(self) -> str:
        """What every kubeconfig trusts (`certificate-authority-data`)."""
        return self.files[SERVER_CA.cert]

    @property
    def client_ca_pem(self) -> str:
        """What the API server trusts for client certificates."""
        return self.files[CLIENT_CA.cert]

    def certificate(self, path: str) -> x509.Certificate:
        """The first certificate of `path` (one of layout.CERT_FILES)."""
        if path not in CERT_FILES:
            raise KeyError(path)
        return self._parsed[path][0]

    def private_key(self, path: str) -> PrivateKey:
        """The CA key of `path` (e.g. `client-ca.key`)."""
        return self._parsed[path][1]

    @cached_property
    def _parsed(self) -> dict[str, tuple[x509.Certificate, PrivateKey]]:
        out: dict[str, tuple[x509.Certificate, PrivateKey]] = {}
        for authority in AUTHORITIES:
            cert = x509.load_pem_x509_certificate(self.files[authority.cert].encode("ascii"))
            loaded = serialization.load_pem_private_key(
                self.files[authority.key].encode("ascii"), password=None
            )
            assert isinstance(loaded, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
            out[authority.cert] = (cert, loaded)
            out[authority.key] = (cert, loaded)
        return out
