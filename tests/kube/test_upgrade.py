"""K3s's automated upgrade through the API against the sandbox's emulated
system-upgrade-controller: the pinned manifest, the two Plans, servers one at a time
before agents, and the real kubectl showing the new version on every node."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from goman.kube.client import KubeClient
from goman.kube.upgrade import (
    AGENT_PLAN,
    SERVER_PLAN,
    apply_plans,
    controller_manifest,
    has_controller,
    install_controller,
    observe,
    plans,
)
from goman.sandbox.kubeapi.cluster import ClusterState
from goman.sandbox.kubeapi.upgrade import UPGRADES_ANNOTATION
from tests.kube.helpers import Emulated, emulated, kubectl, write_kubeconfig

OLD, NEW = "v1.33.3+k3s1", "v1.34.1+k3s1"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Emulated]:
    yield from emulated()


@pytest.fixture
def ha(cluster: Emulated) -> ClusterState:
    """Three servers (embedded etcd) and two agents, all on OLD."""
    state = cluster.api.reset()
    for i in range(3):
        state.add_node(f"web-server-{i}", role="server", etcd=True, internal_ip=f"172.31.0.{i + 4}")
    for i in range(2):
        state.add_node(f"web-agent-{i}", internal_ip=f"172.31.1.{i + 4}")
    return state


def test_the_manifest_is_pinned_and_the_plans_follow_the_k3s_docs() -> None:
    docs = list(yaml.safe_load_all(controller_manifest()))
    kinds = {d["kind"] for d in docs}
    assert {"Namespace", "ServiceAccount", "CustomResourceDefinition", "Deployment"} <= kinds
    deploy = next(d for d in docs if d["kind"] == "Deployment")
    image = deploy["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith("rancher/system-upgrade-controller:v") and "latest" not in image
    server, agent = plans(NEW)
    assert server["metadata"]["name"] == SERVER_PLAN and agent["metadata"]["name"] == AGENT_PLAN
    for plan in (server, agent):
        spec = plan["spec"]
        assert spec["cordon"] is True and spec["version"] == NEW
        assert spec["upgrade"]["image"] == "rancher/k3s-upgrade"
        assert spec["serviceAccountName"] == "system-upgrade"
    assert server["spec"]["concurrency"] == 1
    assert server["spec"]["nodeSelector"]["matchExpressions"][0]["operator"] == "In"
    assert agent["spec"]["nodeSelector"]["matchExpressions"][0]["operator"] == "DoesNotExist"
    assert agent["spec"]["prepare"]["args"] == ["prepare", SERVER_PLAN]


def test_plans_without_the_controller_change_nothing(cluster: Emulated, ha: ClusterState) -> None:
    with KubeClient(cluster.kubeconfig) as kube:
        assert not has_controller(kube)
        kube.apply(
            [
                d
                for d in yaml.safe_load_all(controller_manifest())
                if d["kind"] in {"Namespace", "CustomResourceDefinition"}
            ]
        )
        apply_plans(kube, NEW)
        time.sleep(1.0)  # several of the emulated controller's steps
        assert {n.version for n in observe(kube)} == {OLD}


def test_servers_one_at_a_time_then_agents_and_kubectl_shows_the_new_version(
    cluster: Emulated, ha: ClusterState, tmp_path: Path
) -> None:
    order: list[str] = []  # nodes in the order they were first seen cordoned
    with KubeClient(cluster.kubeconfig) as kube:
        install_controller(kube)
        assert has_controller(kube)
        apply_plans(kube, NEW)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            nodes = observe(kube)
            cordoned = [n.name for n in nodes if not n.schedulable]
            assert len(cordoned) <= 1, cordoned  # concurrency 1, for servers and agents
            order += [n for n in cordoned if n not in order]
            if all(n.done(NEW) for n in nodes):
                break
            time.sleep(0.05)
        assert all(n.done(NEW) for n in observe(kube))
        # Re-applying the same Plans (as a resumed job does) upgrades nobody again.
        apply_plans(kube, NEW)
        time.sleep(1.0)
    servers = [n for n in order if "server" in n]
    agents = [n for n in order if "agent" in n]
    assert order == servers + agents and len(servers) == 3 and len(agents) == 2
    home = tmp_path
    config = write_kubeconfig(home / "config", cluster.kubeconfig)
    out = kubectl(home, config, "get", "nodes", "-o", "json")
    assert out.returncode == 0, out.stderr
    items = json.loads(out.stdout)["items"]
    assert {i["status"]["nodeInfo"]["kubeletVersion"] for i in items} == {NEW}
    assert {i["metadata"]["annotations"][UPGRADES_ANNOTATION] for i in items} == {"1"}
    got = kubectl(home, config, "get", "plans", "-n", "system-upgrade", "-o", "json")
    assert got.returncode == 0, got.stderr
    status = {p["metadata"]["name"]: p["status"] for p in json.loads(got.stdout)["items"]}
    assert {s["latestVersion"] for s in status.values()} == {NEW}
    assert not any("applying" in s for s in status.values())
