"""The real kubectl against the sandbox's Kubernetes API emulator, with TLS verification
and a kubeconfig goman built (server CA of the cluster, a client certificate goman signed)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from goman.provision.pki import build_kubeconfig, generate_cluster_cas, sign_admin_certificate
from tests.kube.helpers import ARN, Emulated, emulated, kubectl, pods_on, write_kubeconfig

Run = Callable[..., subprocess.CompletedProcess[str]]

PDB = """\
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: coredns, namespace: kube-system}
spec:
  minAvailable: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[Emulated]:
    yield from emulated()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kubectl-home")


@pytest.fixture(scope="module")
def kubeconfig(cluster: Emulated, home: Path) -> Path:
    return write_kubeconfig(home / "config", cluster.kubeconfig)


@pytest.fixture
def run(cluster: Emulated, home: Path, kubeconfig: Path) -> Iterator[Run]:
    cluster.reset()
    yield lambda *args, **kw: kubectl(home, kubeconfig, *args, **kw)


def test_version_names_the_clusters_k3s(run: Run) -> None:
    out = run("version")
    assert out.returncode == 0, out.stderr
    assert "Server Version: v1.33.3+k3s1" in out.stdout


def test_get_nodes_plain_wide_and_json(run: Run, cluster: Emulated) -> None:
    plain = run("get", "nodes")
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {"web-server-0", "web-agent-1", "web-agent-2"}
    assert rows["web-server-0"][1:3] == ["Ready", "control-plane,master"]
    assert rows["web-agent-1"][1:3] == ["Ready", "<none>"]
    assert all(row[-1] == "v1.33.3+k3s1" for row in rows.values())

    cluster.state.set_node_ready("web-agent-2", False)
    cluster.state.set_kubelet_version("web-agent-1", "v1.33.4+k3s1")
    wide = run("get", "nodes", "-o", "wide")
    assert wide.returncode == 0, wide.stderr
    header = wide.stdout.splitlines()[0].split()
    assert header[:7] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP"]
    rows = {line.split()[0]: line.split() for line in wide.stdout.splitlines()[1:]}
    assert rows["web-server-0"][5:7] == ["172.31.0.4", "127.0.0.1"]
    assert rows["web-agent-2"][1] == "NotReady"
    assert rows["web-agent-1"][4] == "v1.33.4+k3s1"

    as_json = run("get", "nodes", "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert doc["kind"] == "List"
    names = [item["metadata"]["name"] for item in doc["items"]]
    assert sorted(names) == ["web-agent-1", "web-agent-2", "web-server-0"]
    assert all(item["kind"] == "Node" for item in doc["items"])


def test_get_pods_in_all_namespaces(run: Run) -> None:
    out = run("get", "pods", "-A")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    rows = [line.split() for line in lines[1:]]
    names = [row[1] for row in rows]
    for prefix in ("coredns-", "local-path-provisioner-", "metrics-server-", "traefik-"):
        assert sum(n.startswith(prefix) for n in names) == 1, names
    assert sum(n.startswith("svclb-traefik-") for n in names) == 3  # one per node
    assert all(row[0] == "kube-system" and row[3] == "Running" for row in rows)


def test_cordon_and_uncordon(run: Run, cluster: Emulated) -> None:
    out = run("cordon", "web-agent-1")
    assert out.returncode == 0 and "node/web-agent-1 cordoned" in out.stdout, out.stderr
    assert cluster.state.node("web-agent-1")["spec"]["unschedulable"] is True
    nodes = run("get", "nodes").stdout
    assert "Ready,SchedulingDisabled" in next(
        line for line in nodes.splitlines() if line.startswith("web-agent-1")
    )
    again = run("cordon", "web-agent-1")
    assert again.returncode == 0 and "already cordoned" in again.stdout
    back = run("uncordon", "web-agent-1")
    assert back.returncode == 0 and "uncordoned" in back.stdout, back.stderr
    assert not cluster.state.node("web-agent-1")["spec"].get("unschedulable")


def test_drain_waits_for_a_disruption_budget_until_its_timeout(
    run: Run, cluster: Emulated, home: Path
) -> None:
    (home / "pdb.yaml").write_text(PDB)
    created = run("create", "-f", str(home / "pdb.yaml"))
    assert created.returncode == 0, created.stderr
    server_pods = pods_on(cluster.state, "web-server-0")
    assert any(p.startswith("coredns-") for p in server_pods)

    blocked = run(
        "drain", "web-server-0", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=2s"
    )
    assert blocked.returncode == 1
    assert "disruption budget" in blocked.stderr and "global timeout reached: 2s" in blocked.stderr
    left = pods_on(cluster.state, "web-server-0")
    assert [p for p in left if not p.startswith("svclb-")] == [
        p for p in server_pods if p.startswith("coredns-")
    ]

    assert run("delete", "pdb", "coredns", "-n", "kube-system").returncode == 0
    drained = run(
        "drain", "web-server-0", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=30s"
    )
    assert drained.returncode == 0, drained.stderr
    assert "node/web-server-0 drained" in drained.stdout
    assert [p for p in pods_on(cluster.state, "web-server-0")] == [
        p for p in server_pods if p.startswith("svclb-")
    ]
    moved = pods_on(cluster.state, "web-agent-1") + pods_on(cluster.state, "web-agent-2")
    for prefix in ("coredns-", "metrics-server-", "traefik-", "local-path-provisioner-"):
        assert any(p.startswith(prefix) for p in moved), moved


def test_drain_without_emptydir_consent_is_refused_like_k3s(run: Run) -> None:
    out = run("drain", "web-server-0", "--ignore-daemonsets", "--timeout=10s")
    assert out.returncode == 1
    assert "local storage" in out.stderr and "metrics-server-" in out.stderr


def test_delete_node(run: Run, cluster: Emulated) -> None:
    before = pods_on(cluster.state, "web-agent-2")
    assert before
    out = run("delete", "node", "web-agent-2")
    assert out.returncode == 0 and 'node "web-agent-2" deleted' in out.stdout, out.stderr
    assert "web-agent-2" not in run("get", "nodes").stdout
    assert cluster.state.node("web-agent-2") is None
    assert pods_on(cluster.state, "web-agent-2") == []
    again = run("delete", "node", "web-agent-2")
    assert again.returncode == 1 and "NotFound" in again.stderr


def test_the_audit_trail_names_the_caller(run: Run, cluster: Emulated) -> None:
    assert run("get", "nodes").returncode == 0
    entry = cluster.state.audit[-1]
    assert (entry.user, entry.groups, entry.verb) == (ARN, ("system:masters",), "GET")


def test_a_kubeconfig_trusting_another_ca_is_refused_by_kubectl(
    cluster: Emulated, home: Path
) -> None:
    other = generate_cluster_cas()
    issued = sign_admin_certificate(cluster.bundle, ARN)
    config = build_kubeconfig(
        endpoint=cluster.api.endpoint,
        server_ca_pem=other.server_ca_pem,
        client_cert_pem=issued.cert_pem,
        client_key_pem=issued.key_pem,
        context="wrong-ca",
    )
    out = kubectl(home, write_kubeconfig(home / "wrong-ca", config), "get", "nodes")
    assert out.returncode == 1
    assert "x509: certificate signed by unknown authority" in out.stderr


def test_a_client_certificate_from_another_ca_is_refused_by_the_server(
    cluster: Emulated, home: Path
) -> None:
    other = generate_cluster_cas()
    issued = sign_admin_certificate(other, ARN)
    config = build_kubeconfig(
        endpoint=cluster.api.endpoint,
        server_ca_pem=cluster.bundle.server_ca_pem,
        client_cert_pem=issued.cert_pem,
        client_key_pem=issued.key_pem,
        context="wrong-client",
    )
    served = len(cluster.state.audit)
    out = kubectl(home, write_kubeconfig(home / "wrong-client", config), "get", "nodes")
    assert out.returncode == 1
    assert "certificate" in out.stderr  # "tls: unknown certificate authority" or similar
    assert len(cluster.state.audit) == served  # nothing was answered
    assert any("certificate verify failed" in r for r in cluster.api.refusals)
