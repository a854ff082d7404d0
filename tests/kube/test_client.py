"""goman's Kubernetes client against the sandbox's API emulator, over real mutual TLS."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from goman.aws.errors import GomanError
from goman.kube.client import KubeClient, Timeouts
from goman.kube.errors import (
    DEFAULT_UNREACHABLE_HINT,
    DrainTimeoutError,
    KubeTimeoutError,
    KubeTlsError,
    KubeUnreachableError,
)
from goman.kube.resources import PLAN, ResourceKind
from goman.provision.pki import admin_kubeconfig, generate_cluster_cas
from tests.kube.helpers import ARN, Emulated, emulated, pods_on

PDB = ResourceKind("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets")
PODS = ResourceKind("", "v1", "Pod", "pods")

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "plans.upgrade.cattle.io"},
    "spec": {
        "group": "upgrade.cattle.io",
        "scope": "Namespaced",
        "names": {"kind": "Plan", "plural": "plans", "singular": "plan"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
                "subresources": {"status": {}},
            }
        ],
    },
}
MANIFESTS = f"""
apiVersion: upgrade.cattle.io/v1
kind: Plan
metadata: {{name: server-plan, namespace: system-upgrade}}
spec: {{concurrency: 1, version: v1.33.4+k3s1, nodeSelector: {{matchExpressions: [{{key: node-role.kubernetes.io/control-plane, operator: Exists}}]}}}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: system-upgrade}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: system-upgrade-controller, namespace: system-upgrade}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: system-upgrade-controller}}}}
  template:
    metadata: {{labels: {{app: system-upgrade-controller}}}}
    spec:
      containers: [{{name: controller, image: rancher/system-upgrade-controller:v0.16.0}}]
---
{__import__("json").dumps(CRD)}
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[Emulated]:
    yield from emulated()


@pytest.fixture
def kube(cluster: Emulated) -> Iterator[KubeClient]:
    cluster.reset()
    with KubeClient(cluster.kubeconfig, timeouts=Timeouts(connect=2, read=5)) as client:
        yield client


def _pdb(min_available: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "dns", "namespace": "kube-system"},
        "spec": {
            "minAvailable": min_available,
            "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
        },
    }


def test_version_nodes_and_pods(kube: KubeClient, cluster: Emulated) -> None:
    assert kube.version() == "v1.33.3+k3s1"
    cluster.state.set_node_ready("web-agent-2", False)
    cluster.state.set_kubelet_version("web-agent-1", "v1.33.4+k3s1")
    nodes = {n.name: n for n in kube.nodes()}
    assert list(nodes) == ["web-agent-1", "web-agent-2", "web-server-0"]
    assert nodes["web-server-0"].ready and nodes["web-server-0"].roles == (
        "control-plane",
        "master",
    )
    assert nodes["web-server-0"].internal_ip == "172.31.0.4"
    assert not nodes["web-agent-2"].ready
    assert nodes["web-agent-1"].kubelet_version == "v1.33.4+k3s1"
    assert nodes["web-agent-1"].schedulable and nodes["web-agent-1"].roles == ()
    counts = kube.pod_counts()
    assert counts == {n: len(pods_on(cluster.state, n)) for n in nodes}
    assert sum(counts.values()) == 7  # four Deployments' pods and three svclb pods
    assert kube.node("web-agent-9") is None


def test_cordon_and_uncordon_are_idempotent(kube: KubeClient) -> None:
    assert kube.cordon("web-agent-1") and kube.cordon("web-agent-1")
    assert kube.node("web-agent-1").schedulable is False  # type: ignore[union-attr]
    assert kube.uncordon("web-agent-1") and kube.uncordon("web-agent-1")
    assert kube.node("web-agent-1").schedulable is True  # type: ignore[union-attr]
    assert kube.cordon("web-agent-9") is False


def test_drain_honours_a_budget_until_its_timeout_then_succeeds(
    kube: KubeClient, cluster: Emulated
) -> None:
    state = cluster.state
    on_server = pods_on(state, "web-server-0")
    coredns = next(p for p in on_server if p.startswith("coredns-"))
    kube.create_object(PDB, _pdb(1))
    started = time.monotonic()
    with pytest.raises(DrainTimeoutError) as err:
        kube.drain("web-server-0", timeout=1.0, poll=0.2)
    assert time.monotonic() - started >= 1.0
    assert (
        f"kube-system/{coredns}" in err.value.message
        and "disruption budget dns" in err.value.message
    )
    assert "--force" in err.value.hint and "--drain-timeout" in err.value.hint
    assert pods_on(state, "web-server-0") == sorted(
        [coredns, *[p for p in on_server if p.startswith("svclb-")]]
    )
    assert kube.node("web-server-0").schedulable is False  # type: ignore[union-attr]

    kube.patch_object(PDB, "dns", {"spec": {"minAvailable": 0}}, "kube-system")
    result = kube.drain("web-server-0", timeout=10, poll=0.2)
    assert result.complete and result.found
    assert result.evicted == (f"kube-system/{coredns}",)
    assert [p.split("/")[1] for p in result.left] == [
        p for p in on_server if p.startswith("svclb-")
    ]
    assert pods_on(state, "web-server-0") == [p for p in on_server if p.startswith("svclb-")]
    moved = pods_on(state, "web-agent-1") + pods_on(state, "web-agent-2")
    assert any(p.startswith("coredns-") for p in moved)  # rescheduled, as a ReplicaSet would

    again = kube.drain("web-server-0", timeout=5, poll=0.2)
    assert again.complete and again.evicted == ()


def test_forced_drain_gives_up_without_deleting_anything(
    kube: KubeClient, cluster: Emulated
) -> None:
    kube.create_object(PDB, _pdb(1))
    coredns = next(p for p in pods_on(cluster.state, "web-server-0") if p.startswith("coredns-"))
    result = kube.drain("web-server-0", timeout=0.5, poll=0.1, force=True)
    assert not result.complete
    assert result.remaining == (f"kube-system/{coredns}",)
    assert "disruption budget dns" in result.reasons[0]
    assert coredns in pods_on(cluster.state, "web-server-0")  # force deletes nothing itself


def test_drain_leaves_daemonset_and_mirror_pods_and_evicts_bare_ones(
    kube: KubeClient, cluster: Emulated
) -> None:
    for name, notes in (("static-web", {"kubernetes.io/config.mirror": "abc"}), ("bare", {})):
        kube.create_object(
            PODS,
            {
                "metadata": {"name": name, "namespace": "default", "annotations": notes},
                "spec": {
                    "nodeName": "web-agent-1",
                    "containers": [{"name": "c", "image": "nginx"}],
                },
            },
        )
    before = pods_on(cluster.state, "web-agent-1")
    result = kube.drain("web-agent-1", timeout=10, poll=0.2)
    assert result.complete
    assert "default/bare" in result.evicted and "default/static-web" not in result.evicted
    svclb = next(p for p in before if p.startswith("svclb-"))
    assert set(result.left) == {"default/static-web", f"kube-system/{svclb}"}
    assert pods_on(cluster.state, "web-agent-1") == sorted(["static-web", svclb])


def test_drain_and_delete_of_a_missing_node_are_fine(kube: KubeClient) -> None:
    result = kube.drain("web-agent-9", timeout=1)
    assert result.complete and not result.found
    assert kube.delete_node("web-agent-2") is True
    assert kube.delete_node("web-agent-2") is False
    assert [n.name for n in kube.nodes()] == ["web-agent-1", "web-server-0"]


def test_apply_manifests_is_idempotent_and_serves_new_kinds(
    kube: KubeClient, cluster: Emulated
) -> None:
    applied = kube.apply(MANIFESTS)
    assert applied == [
        "Namespace/system-upgrade",
        "CustomResourceDefinition/plans.upgrade.cattle.io",
        "Plan/server-plan",
        "Deployment/system-upgrade-controller",
    ]
    version = cluster.state.store.resource_version
    assert kube.apply(MANIFESTS) == applied
    assert cluster.state.store.resource_version == version  # nothing changed the second time
    assert any(
        p["metadata"]["name"].startswith("system-upgrade-controller-")
        for p in cluster.state.pods(namespace="system-upgrade")
    )

    plan = kube.get_object(PLAN, "server-plan", "system-upgrade")
    assert plan is not None and plan["spec"]["version"] == "v1.33.4+k3s1"
    patched = kube.patch_object(
        PLAN, "server-plan", {"spec": {"version": "v1.33.5+k3s1"}}, "system-upgrade"
    )
    assert patched["spec"] == {**plan["spec"], "version": "v1.33.5+k3s1"}
    agent = kube.create_object(
        PLAN,
        {
            "metadata": {
                "name": "agent-plan",
                "namespace": "system-upgrade",
                "labels": {"role": "agent"},
            },
            "spec": {"concurrency": 2},
        },
    )
    assert agent["metadata"]["uid"]
    assert [p["metadata"]["name"] for p in kube.list_objects(PLAN)] == ["agent-plan", "server-plan"]
    assert [p["metadata"]["name"] for p in kube.list_objects(PLAN, labels={"role": "agent"})] == [
        "agent-plan"
    ]
    assert kube.delete_object(PLAN, "agent-plan", "system-upgrade") is True
    assert kube.delete_object(PLAN, "agent-plan", "system-upgrade") is False
    assert kube.get_object(PLAN, "agent-plan", "system-upgrade") is None


def test_unknown_kinds_are_named(kube: KubeClient) -> None:
    with pytest.raises(GomanError, match=r"does not serve Widget \(example.com/v1\)"):
        kube.apply([{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_api_says_so_with_the_callers_hint(cluster: Emulated) -> None:
    config = admin_kubeconfig(
        cluster.bundle, endpoint=f"https://127.0.0.1:{_free_port()}", identity_arn=ARN, context="c"
    )
    calls: list[int] = []

    def hint() -> str:
        calls.append(1)
        return "Your address 198.51.100.7 is outside the cluster's api_cidrs (10.0.0.0/8)."

    with KubeClient(config, timeouts=Timeouts(connect=2, read=2), unreachable_hint=hint) as kube:
        assert calls == []  # asked only when needed
        with pytest.raises(KubeUnreachableError) as err:
            kube.nodes()
    assert "cannot be reached" in err.value.message and "connection refused" in err.value.message
    assert err.value.hint.startswith("Your address 198.51.100.7 is outside")
    with (
        KubeClient(config, timeouts=Timeouts(connect=2, read=2)) as kube,
        pytest.raises(KubeUnreachableError) as err,
    ):
        kube.version()
    assert err.value.hint == DEFAULT_UNREACHABLE_HINT and "api_cidrs" in err.value.hint


def test_a_server_certificate_from_another_ca_is_a_tls_error(cluster: Emulated) -> None:
    other = generate_cluster_cas()
    config = admin_kubeconfig(other, endpoint=cluster.api.endpoint, identity_arn=ARN, context="c")
    with KubeClient(config) as kube, pytest.raises(KubeTlsError) as err:
        kube.version()
    assert "not signed by the cluster's CA" in err.value.message


def test_a_client_certificate_from_another_ca_is_refused(cluster: Emulated) -> None:
    other = generate_cluster_cas()
    mine = admin_kubeconfig(
        cluster.bundle, endpoint=cluster.api.endpoint, identity_arn=ARN, context="c"
    )
    theirs = admin_kubeconfig(other, endpoint=cluster.api.endpoint, identity_arn=ARN, context="c")
    mine["users"] = theirs["users"]
    with KubeClient(mine) as kube, pytest.raises(KubeTlsError) as err:
        kube.nodes()
    assert "refused goman's client certificate" in err.value.message


def test_a_slow_api_times_out(kube: KubeClient, cluster: Emulated) -> None:
    release, stalled = threading.Event(), threading.Event()

    def stall(_state: Any) -> None:  # holds the store's lock like an overloaded server
        stalled.set()
        release.wait(5)

    cluster.state.add_controller(stall)
    try:
        assert stalled.wait(5)
        slow = KubeClient(cluster.kubeconfig, timeouts=Timeouts(connect=2, read=0.5))
        with slow, pytest.raises(KubeTimeoutError) as err:
            slow.nodes()
        assert "did not answer within 0.5 s" in err.value.message
    finally:
        release.set()
        cluster.state.controllers.remove(stall)


@pytest.mark.parametrize(
    "user",
    [
        {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "touch"}},
        {"token": "abc"},
    ],
    ids=["exec", "token"],
)
def test_only_certificate_kubeconfigs_are_used(cluster: Emulated, user: dict[str, Any]) -> None:
    config = admin_kubeconfig(
        cluster.bundle, endpoint=cluster.api.endpoint, identity_arn=ARN, context="c"
    )
    config["users"][0]["user"] = user
    with pytest.raises(GomanError, match="was refused"):
        KubeClient(config)
