"""The Kubernetes API emulator: REST semantics (through KubeApi, no sockets), the cluster
state the node emulator drives, controllers, and the server's lifecycle over real TLS."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import httpx2
import pytest

from goman.kube.client import KubeClient
from goman.provision.pki import CABundle, admin_kubeconfig, generate_cluster_cas
from goman.sandbox.kubeapi.api import KubeApi
from goman.sandbox.kubeapi.cluster import ClusterState
from goman.sandbox.kubeapi.messages import Request, Response, User
from goman.sandbox.kubeapi.server import EmulatedCluster
from goman.sandbox.kubeapi.tables import human_age
from tests.kube.helpers import ARN, pods_on

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


@pytest.fixture(scope="module")
def bundle() -> CABundle:
    return generate_cluster_cas()


@pytest.fixture
def state() -> ClusterState:
    s = ClusterState()
    s.add_node("web-server-0", role="server", internal_ip="172.31.0.4", etcd=True)
    s.add_node("web-agent-1", internal_ip="172.31.0.5")
    return s


def call(
    state: ClusterState,
    method: str,
    path: str,
    body: Any = None,
    *,
    query: dict[str, str] | None = None,
    content_type: str = "application/json",
    accept: str = "application/json",
) -> Response:
    raw = (
        body
        if isinstance(body, bytes)
        else (json.dumps(body).encode() if body is not None else b"")
    )
    return KubeApi(state).handle(
        Request(
            method,
            path,
            query or {},
            {"content-type": content_type, "accept": accept},
            raw,
            User("tester", ("system:masters",)),
        )
    )


# -- discovery and version --------------------------------------------------------------


def test_discovery_lists_what_kubectl_needs(state: ClusterState) -> None:
    core = call(state, "GET", "/api/v1").body
    names = {r["name"]: r for r in core["resources"]}
    assert names["nodes"]["namespaced"] is False and names["nodes"]["shortNames"] == ["no"]
    assert names["pods/eviction"] == {
        "name": "pods/eviction",
        "singularName": "",
        "namespaced": True,
        "group": "policy",
        "version": "v1",
        "kind": "Eviction",
        "verbs": ["create"],
    }
    groups = {g["name"] for g in call(state, "GET", "/apis").body["groups"]}
    assert {"apps", "policy", "apiextensions.k8s.io", "rbac.authorization.k8s.io"} <= groups
    assert call(state, "GET", "/apis/upgrade.cattle.io/v1").code == 404
    version = call(state, "GET", "/version").body
    assert (version["major"], version["minor"], version["gitVersion"]) == (
        "1",
        "33",
        "v1.33.3+k3s1",
    )
    state.set_kubelet_version("web-server-0", "v1.34.1+k3s1")
    assert call(state, "GET", "/version").body["gitVersion"] == "v1.34.1+k3s1"
    assert call(state, "GET", "/readyz").text == "ok"


def test_a_crd_makes_its_kind_served(state: ClusterState) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "plans.upgrade.cattle.io"},
        "spec": {
            "group": "upgrade.cattle.io",
            "scope": "Namespaced",
            "names": {"kind": "Plan", "plural": "plans"},
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    }
    assert (
        call(state, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd).code
        == 201
    )
    stored = call(
        state,
        "GET",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/plans.upgrade.cattle.io",
    ).body
    assert {c["type"]: c["status"] for c in stored["status"]["conditions"]}["Established"] == "True"
    listing = call(state, "GET", "/apis/upgrade.cattle.io/v1").body
    assert [r["name"] for r in listing["resources"]] == ["plans"]
    plan = {
        "apiVersion": "upgrade.cattle.io/v1",
        "kind": "Plan",
        "metadata": {"name": "p"},
        "spec": {"concurrency": 1},
    }
    created = call(state, "POST", "/apis/upgrade.cattle.io/v1/namespaces/default/plans", plan)
    assert created.code == 201 and created.body["metadata"]["namespace"] == "default"
    bad = dict(crd, metadata={"name": "wrong"})
    assert (
        call(state, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", bad).code
        == 422
    )


# -- objects ----------------------------------------------------------------------------


def test_objects_get_the_fields_the_api_server_owns(state: ClusterState) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    created = call(state, "POST", "/api/v1/namespaces/default/configmaps", cm).body
    meta = created["metadata"]
    assert (
        meta["uid"] and meta["creationTimestamp"].endswith("Z") and int(meta["resourceVersion"]) > 0
    )
    again = call(state, "POST", "/api/v1/namespaces/default/configmaps", cm)
    assert again.code == 409 and again.body["reason"] == "AlreadyExists"
    missing_ns = call(state, "POST", "/api/v1/namespaces/nope/configmaps", cm)
    assert missing_ns.code == 404 and missing_ns.body["message"] == 'namespaces "nope" not found'
    stale = dict(created, data={"a": "2"})
    stale["metadata"] = dict(meta, resourceVersion="1")
    assert call(state, "PUT", "/api/v1/namespaces/default/configmaps/c", stale).code == 409
    fresh = dict(created, data={"a": "3"})
    replaced = call(state, "PUT", "/api/v1/namespaces/default/configmaps/c", fresh).body
    assert replaced["data"] == {"a": "3"} and replaced["metadata"]["uid"] == meta["uid"]
    assert int(replaced["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    gone = call(state, "GET", "/api/v1/namespaces/default/configmaps/x")
    assert gone.code == 404 and gone.body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'configmaps "x" not found',
        "reason": "NotFound",
        "code": 404,
        "details": {"name": "x", "group": "", "kind": "configmaps"},
    }
    assert (
        call(
            state, "POST", "/api/v1/namespaces/default/configmaps", cm, query={"dryRun": "All"}
        ).code
        == 400
    )


def test_patch_types(state: ClusterState) -> None:
    node = "/api/v1/nodes/web-agent-1"
    merge = call(
        state,
        "PATCH",
        node,
        {"metadata": {"labels": {"a": "1"}}},
        content_type="application/merge-patch+json",
    )
    assert merge.code == 200 and merge.body["metadata"]["labels"]["a"] == "1"
    smp = call(
        state,
        "PATCH",
        node,
        {"spec": {"unschedulable": True}},
        content_type="application/strategic-merge-patch+json",
    )
    assert smp.body["spec"]["unschedulable"] is True
    jp = call(
        state,
        "PATCH",
        node,
        [
            {"op": "test", "path": "/spec/unschedulable", "value": True},
            {"op": "remove", "path": "/spec/unschedulable"},
        ],
        content_type="application/json-patch+json",
    )
    assert jp.code == 200 and "unschedulable" not in jp.body["spec"]
    failed = call(
        state,
        "PATCH",
        node,
        [{"op": "test", "path": "/spec/podCIDR", "value": "x"}],
        content_type="application/json-patch+json",
    )
    assert failed.code == 400
    directive = call(
        state,
        "PATCH",
        node,
        {"spec": {"$retainKeys": ["a"]}},
        content_type="application/strategic-merge-patch+json",
    )
    assert directive.code == 400 and "not supported" in directive.body["message"]
    status = call(
        state,
        "PATCH",
        node,
        {"status": {"phase": "x"}, "spec": {"unschedulable": True}},
        content_type="application/merge-patch+json",
    )
    assert "phase" not in status.body["status"]  # the main resource does not write status
    applied = call(
        state,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/applied",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: applied}\ndata: {k: v}\n",
        query={"fieldManager": "goman", "force": "true"},
        content_type="application/apply-patch+yaml",
    )
    assert applied.code == 201 and applied.body["data"] == {"k": "v"}
    unmanaged = call(
        state,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/applied",
        b"{}",
        content_type="application/apply-patch+yaml",
    )
    assert unmanaged.code == 400 and "fieldManager" in unmanaged.body["message"]


def test_selectors(state: ClusterState) -> None:
    by_node = call(
        state, "GET", "/api/v1/pods", query={"fieldSelector": "spec.nodeName=web-agent-1"}
    ).body
    assert [p["metadata"]["name"] for p in by_node["items"]] == pods_on(state, "web-agent-1")
    dns = call(
        state,
        "GET",
        "/api/v1/namespaces/kube-system/pods",
        query={"labelSelector": "k8s-app in (kube-dns),!nope"},
    ).body
    assert [p["metadata"]["name"][:8] for p in dns["items"]] == ["coredns-"]
    not_dns = call(state, "GET", "/api/v1/pods", query={"labelSelector": "k8s-app!=kube-dns"}).body
    assert len(not_dns["items"]) == len(state.pods()) - 1
    bad = call(state, "GET", "/api/v1/pods", query={"fieldSelector": "spec.schedulerName=x"})
    assert bad.code == 400


def test_tables_for_nodes_pods_and_other_kinds(state: ClusterState) -> None:
    state.set_unschedulable("web-agent-1", True)
    nodes = call(state, "GET", "/api/v1/nodes", accept=TABLE).body
    assert nodes["kind"] == "Table"
    assert [c["name"] for c in nodes["columnDefinitions"] if c["priority"] == 0] == [
        "Name",
        "Status",
        "Roles",
        "Age",
        "Version",
    ]
    cells = {r["cells"][0]: r["cells"] for r in nodes["rows"]}
    assert cells["web-server-0"][1:3] == ["Ready", "control-plane,etcd,master"]
    assert cells["web-agent-1"][1] == "Ready,SchedulingDisabled"
    assert nodes["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    pods = call(state, "GET", "/api/v1/pods", accept=TABLE).body
    svclb = next(r for r in pods["rows"] if r["cells"][0].startswith("svclb-"))
    assert svclb["cells"][1:4] == ["2/2", "Running", "0"]
    assert svclb["object"]["metadata"]["namespace"] == "kube-system"
    sa = call(state, "GET", "/api/v1/namespaces/default/serviceaccounts", accept=TABLE).body
    assert [c["name"] for c in sa["columnDefinitions"]] == ["Name", "Age"]


def test_human_age_rounds_like_kubectl() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 1, 10, tzinfo=UTC)

    def age(delta: timedelta) -> str:
        return human_age((now - delta).strftime("%Y-%m-%dT%H:%M:%SZ"), now)

    assert age(timedelta(seconds=59)) == "59s"
    assert age(timedelta(seconds=119)) == "119s"
    assert age(timedelta(minutes=5, seconds=10)) == "5m10s"
    assert age(timedelta(minutes=70)) == "70m"
    assert age(timedelta(hours=5, minutes=3)) == "5h3m"
    assert age(timedelta(hours=30)) == "30h"
    assert age(timedelta(days=3, hours=4)) == "3d4h"
    assert age(timedelta(days=400)) == "400d"
    assert age(timedelta(days=365 * 3 + 10)) == "3y10d"


# -- evictions and budgets --------------------------------------------------------------


def _evict(state: ClusterState, ns: str, pod: str) -> Response:
    body = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pod, "namespace": ns},
    }
    return call(state, "POST", f"/api/v1/namespaces/{ns}/pods/{pod}/eviction", body)


def _budget(state: ClusterState, name: str, spec: dict[str, Any]) -> None:
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name},
        "spec": spec,
    }
    assert (
        call(state, "POST", "/apis/policy/v1/namespaces/kube-system/poddisruptionbudgets", pdb).code
        == 201
    )


def test_budgets_decide_evictions(state: ClusterState) -> None:
    dns = {"matchLabels": {"k8s-app": "kube-dns"}}
    _budget(state, "dns", {"minAvailable": 1, "selector": dns})
    coredns = next(p for p in pods_on(state, "web-server-0") if p.startswith("coredns-"))
    refused = _evict(state, "kube-system", coredns)
    assert refused.code == 429 and refused.body["reason"] == "TooManyRequests"
    assert (
        refused.body["details"]["causes"][0]["message"]
        == "The disruption budget dns needs 1 healthy pods and has 1 currently"
    )
    status = call(
        state, "GET", "/apis/policy/v1/namespaces/kube-system/poddisruptionbudgets/dns"
    ).body["status"]
    assert (status["disruptionsAllowed"], status["currentHealthy"], status["expectedPods"]) == (
        0,
        1,
        1,
    )

    _budget(state, "dns-too", {"maxUnavailable": "50%", "selector": dns})
    two = _evict(state, "kube-system", coredns)
    assert two.code == 500 and "more than one PodDisruptionBudget" in two.body["message"]
    call(state, "DELETE", "/apis/policy/v1/namespaces/kube-system/poddisruptionbudgets/dns-too")

    # An unhealthy pod may go when the budget is met without it.
    state.set_node_ready("web-server-0", False)
    assert _evict(state, "kube-system", coredns).code == 429  # 0 healthy < 1 desired
    call(
        state,
        "PATCH",
        "/apis/policy/v1/namespaces/kube-system/poddisruptionbudgets/dns",
        {"spec": {"minAvailable": 0}},
        content_type="application/merge-patch+json",
    )
    assert _evict(state, "kube-system", coredns).code == 201
    assert coredns not in pods_on(state, "web-server-0")
    assert _evict(state, "kube-system", coredns).code == 404
    replacement = [p for p in pods_on(state, "web-agent-1") if p.startswith("coredns-")]
    assert len(replacement) == 1  # the ReplicaSet put one back, on the Ready node


# -- the cluster state the node emulator drives ------------------------------------------


def test_nodes_join_leave_and_workloads_follow() -> None:
    state = ClusterState()
    pending = state.pods()
    assert len(pending) == 4 and all(p["status"]["phase"] == "Pending" for p in pending)
    state.add_node("web-server-0", role="server", internal_ip="172.31.0.4")
    assert {p["spec"]["nodeName"] for p in state.pods()} == {"web-server-0"}
    state.set_unschedulable("web-server-0", True)
    state.add_node("web-agent-1", ready=False)
    assert len(pods_on(state, "web-agent-1")) == 1  # only the svclb DaemonSet's pod
    svclb = state.pods(node="web-agent-1")[0]
    assert (
        next(c for c in svclb["status"]["conditions"] if c["type"] == "Ready")["status"] == "False"
    )
    state.set_node_ready("web-agent-1", True)
    state.add_node("web-server-0", role="server", internal_ip="172.31.0.4")  # re-registers
    assert state.node("web-server-0")["spec"]["unschedulable"] is True  # type: ignore[index]
    assert state.remove_node("web-server-0") is True
    assert state.remove_node("web-server-0") is False
    assert {p["spec"].get("nodeName") for p in state.pods()} == {"web-agent-1"}
    assert len(state.pods()) == 5  # the Deployments' pods came back on the agent
    with pytest.raises(KeyError):
        state.set_node_ready("web-server-0", True)


def test_deployments_keep_their_pods_and_owners() -> None:
    state = ClusterState(k3s_components=False)
    state.add_node("n1")
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }
    assert call(state, "POST", "/apis/apps/v1/namespaces/default/deployments", deploy).code == 201
    pods = state.pods(namespace="default")
    assert len(pods) == 3
    owner = pods[0]["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "ReplicaSet" and owner["controller"] is True
    call(
        state,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web",
        {"spec": {"replicas": 1}},
        content_type="application/merge-patch+json",
    )
    assert len(state.pods(namespace="default")) == 1
    status = call(state, "GET", "/apis/apps/v1/namespaces/default/deployments/web").body["status"]
    assert status["readyReplicas"] == 1
    call(state, "DELETE", "/apis/apps/v1/namespaces/default/deployments/web")
    assert state.pods(namespace="default") == []  # its ReplicaSet and pods went with it
    assert call(state, "GET", "/apis/apps/v1/namespaces/default/replicasets").body["items"] == []
    assert call(state, "POST", "/apis/apps/v1/namespaces/default/deployments", deploy).code == 201
    assert len(state.pods(namespace="default")) == 3
    call(state, "DELETE", "/api/v1/namespaces/default")
    assert state.pods(namespace="default") == []


def test_controllers_run_on_ticks_too(bundle: CABundle) -> None:
    api = EmulatedCluster(bundle, port=0, tick=0.05, k3s_components=False).start()
    try:
        api.state.add_node("n1")
        seen = threading.Event()

        def label_nodes(state: ClusterState) -> None:
            for node in state.store.view(("", "nodes")):
                if "seen" not in node["metadata"].get("labels", {}):
                    labels = {**node["metadata"].get("labels", {}), "seen": "yes"}
                    state.store.update(
                        ("", "nodes"), {**node, "metadata": {**node["metadata"], "labels": labels}}
                    )
                    seen.set()

        api.state.add_controller(label_nodes)
        assert seen.wait(5)  # no API write happened: the tick loop ran it
        assert api.state.node("n1")["metadata"]["labels"]["seen"] == "yes"  # type: ignore[index]
    finally:
        api.stop()


# -- the server --------------------------------------------------------------------------


def _kubeapi_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("goman-kubeapi")]


def test_binds_an_elastic_ip_and_stops_cleanly(bundle: CABundle) -> None:
    before = threading.active_count()
    api = EmulatedCluster(bundle, host="127.0.0.7", port=0).start()
    api.state.add_node("web-server-0", role="server")
    config = admin_kubeconfig(bundle, endpoint=api.endpoint, identity_arn=ARN, context="c")
    assert api.endpoint.startswith("https://127.0.0.7:")
    watched: list[str] = []
    kube = KubeClient(config)
    try:
        assert kube.version() == "v1.33.3+k3s1"  # the certificate names 127.0.0.7
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", api.port), timeout=2).close()

        def watch() -> None:
            with kube.http.stream(
                "GET", "/api/v1/nodes", params={"watch": "1", "timeoutSeconds": "60"}
            ) as response:
                for line in response.iter_lines():
                    watched.append(json.loads(line)["type"])

        watcher = threading.Thread(target=watch)
        watcher.start()
        deadline = time.monotonic() + 5
        while not watched and time.monotonic() < deadline:
            time.sleep(0.02)
        api.state.set_node_ready("web-server-0", False)
        while len(watched) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert watched[:2] == ["ADDED", "MODIFIED"]
        started = time.monotonic()
        api.stop()  # a watch and a keep-alive connection are open
        assert time.monotonic() - started < 5
        watcher.join(5)
        assert not watcher.is_alive()
    finally:
        kube.close()
        api.stop()
    assert _kubeapi_threads() == []
    assert threading.active_count() <= before
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.7", api.port), timeout=2).close()


def test_a_client_without_a_certificate_is_refused(bundle: CABundle) -> None:
    with EmulatedCluster(bundle, port=0) as api:
        import ssl

        ctx = ssl.create_default_context(cadata=bundle.server_ca_pem)
        with httpx2.Client(verify=ctx, trust_env=False) as client, pytest.raises(httpx2.HTTPError):
            client.get(f"{api.endpoint}/version")
        assert len(api.state.audit) == 0 and api.refusals


def test_reset_gives_a_fresh_cluster_behind_the_same_endpoint(bundle: CABundle) -> None:
    with EmulatedCluster(bundle, port=0) as api:
        api.state.add_node("n1")
        config = admin_kubeconfig(bundle, endpoint=api.endpoint, identity_arn=ARN, context="c")
        with KubeClient(config) as kube:
            assert [n.name for n in kube.nodes()] == ["n1"]
            fresh = api.reset()
            assert api.state is fresh
            assert kube.nodes() == []


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "status", "message"),
    [
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            {"metadata": {"name": "a", "labels": ["x"]}},
            "application/json",
            422,
            "metadata.labels",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            {"metadata": {"name": "../a"}},
            "application/json",
            422,
            "metadata.name",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            b"[[[",
            "application/json",
            400,
            "could not be decoded",
        ),
        (
            "PATCH",
            "/api/v1/nodes/web-agent-1",
            {"metadata": {"annotations": {"a": 1}}},
            "application/merge-patch+json",
            422,
            "metadata.annotations",
        ),
        ("PATCH", "/api/v1/nodes/web-agent-1", {"spec": {}}, "text/plain", 415, "unknown format"),
        (
            "DELETE",
            "/api/v1/nodes/web-agent-1/status",
            None,
            "application/json",
            405,
            "cannot be deleted",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/nodes",
            None,
            "application/json",
            404,
            "could not find",
        ),
    ],
    ids=[
        "labels list",
        "bad name",
        "bad json",
        "annotation number",
        "unknown patch",
        "delete status",
        "scoped node",
    ],
)
def test_malformed_requests_are_refused(
    state: ClusterState,
    method: str,
    path: str,
    body: Any,
    content_type: str,
    status: int,
    message: str,
) -> None:
    response = call(state, method, path, body, content_type=content_type)
    assert response.code == status and message in response.body["message"]
    assert call(state, "GET", "/api/v1/pods").code == 200  # the store is still sound
