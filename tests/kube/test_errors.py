"""Answers of the API server that the emulator never gives (it authorizes every client of
the cluster's CA) still end in clear messages."""

from __future__ import annotations

import ssl

from goman.kube.errors import KubeAuthError, KubeError, map_status_error, resolve_hint, tls_problem


def test_401_and_403_say_what_to_do() -> None:
    denied = map_status_error(401, "Unauthorized", endpoint="https://e:6443", what="list nodes")
    assert isinstance(denied, KubeAuthError)
    assert "did not accept goman's credentials (401)" in denied.message
    assert "goman cluster kubeconfig" in denied.hint
    forbidden = map_status_error(
        403,
        'nodes is forbidden: User "x" cannot list',
        endpoint="https://e:6443",
        what="list nodes",
    )
    assert (
        isinstance(forbidden, KubeAuthError)
        and "forbade goman to list nodes (403)" in forbidden.message
    )
    assert "system:masters" in forbidden.hint
    other = map_status_error(500, "etcd\n  down", endpoint="https://e:6443", what="read node a")
    assert type(other) is KubeError and other.message.endswith(
        "answered 500 while trying to read node a: etcd down"
    )


def test_tls_problems_are_told_apart() -> None:
    assert tls_problem(ssl.SSLCertVerificationError("certificate verify failed")) == "server"
    assert (
        tls_problem(ssl.SSLError("[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca"))
        == "client"
    )
    assert tls_problem(ConnectionRefusedError()) is None


def test_a_failing_hint_never_hides_the_error() -> None:
    def broken() -> str:
        raise RuntimeError("no network")

    assert "api_cidrs" in resolve_hint(broken)
    assert resolve_hint("custom") == "custom"
