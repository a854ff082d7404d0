"""The node emulator on the shared sandbox: it boots goman instances by the protocol."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import replace
from typing import Any

import pytest

from goman.kube.client import KubeClient
from goman.kube.errors import KubeUnreachableError
from goman.provision.ec2 import Ec2, InstanceInfo
from goman.provision.pki import CABundle, admin_kubeconfig, generate_cluster_cas
from goman.provision.userdata import NodeBootstrap, render_user_data
from goman.sandbox.nodes import (
    CONTROL_PATH,
    GENERATION_HEADER,
    NodeEmulator,
    _Node,
    find_emulator,
    is_loopback,
)
from goman.sandbox.server import SandboxServer
from goman.state.store import StateStore
from tests.conftest import TEST_BOOT_DELAY
from tests.provision.helpers import context, ec2_ops, launch_for, wait_for

TOKEN = "K10-join-secret"
BUNDLE_KEY = "clusters/web/secrets/ca-bundle.json"
HOST = "127.1.2.3"


@pytest.fixture(scope="module")
def bundle() -> CABundle:
    return generate_cluster_cas()


def _control(sandbox: SandboxServer, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        sandbox.endpoint + CONTROL_PATH,
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        out: dict[str, Any] = json.loads(resp.read())
    return out


@pytest.fixture
def store(aws_env: dict[str, str], bundle: CABundle) -> StateStore:
    st = StateStore(context())
    st.put_bytes(
        "clusters/web/secret/token", TOKEN.encode(), create=True, content_type="text/plain"
    )
    st.put_bytes(BUNDLE_KEY, bundle.to_bytes(), create=True, content_type="application/json")
    return st


def _kube(bundle: CABundle) -> KubeClient:
    config = admin_kubeconfig(
        bundle,
        endpoint=f"https://{HOST}:6443",
        identity_arn="arn:aws:iam::123456789012:user/tester",
        context="t",
    )
    return KubeClient(config, unreachable_hint="the sandbox's emulated API")


@pytest.fixture
def ops(aws_env: dict[str, str]) -> Ec2:
    return ec2_ops()


def _report_key(node: str) -> str:
    return f"clusters/web/nodes/{node}.json"


def _launch(
    store: StateStore, ops: Ec2, node: str = "web-server-0", **changes: Any
) -> InstanceInfo:
    server0 = node == "web-server-0"
    b = NodeBootstrap(
        cluster="web",
        node=node,
        role="server" if "server" in node else "agent",
        index=int(node.rsplit("-", 1)[1]),
        k3s_version="v1.33.3+k3s1",
        token_url=store.presign_get("clusters/web/secret/token", 600),
        report_url=store.presign_put(_report_key(node), 600),
        ca_bundle_url=store.presign_get(BUNDLE_KEY, 600) if server0 else None,
        server_url=None if server0 else "https://172.31.0.4:6443",
        endpoint_host=HOST,
        bucket_owner=store.owner,
        cluster_init=False,
    )
    b = replace(b, **changes)
    return ops.run_node(launch_for(ops, node, role=b.role, user_data=render_user_data(b)))


def _report(store: StateStore, node: str) -> dict[str, Any] | None:
    got = store.get_bytes(_report_key(node)) if _exists(store, _report_key(node)) else None
    return None if got is None else dict(json.loads(got[0]))


def _exists(store: StateStore, rel: str) -> bool:
    return any(o.key == rel for o in store.ls(rel))


def _final(store: StateStore, node: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        report = _report(store, node)
        return report if report and report["phase"] in {"ready", "failed"} else None

    return wait_for(done, timeout=15, what=f"{node} to finish booting")


def _phases(s3: Any, store: StateStore, node: str) -> list[str]:
    key = store.key(_report_key(node))
    versions = s3.list_object_versions(Bucket=store.bucket, Prefix=key).get("Versions", [])
    bodies = [
        s3.get_object(Bucket=store.bucket, Key=key, VersionId=v["VersionId"])["Body"].read()
        for v in reversed([v for v in versions if v["Key"] == key])
    ]
    return [json.loads(b)["phase"] for b in bodies]


def test_server0_boots_reports_and_serves_the_clusters_api(
    store: StateStore, ops: Ec2, s3: Any, sandbox: SandboxServer, bundle: CABundle
) -> None:
    info = _launch(store, ops)
    final = _final(store, "web-server-0")
    assert final["phase"] == "ready" and final["role"] == "server"
    assert final["k3s_version"] == "v1.33.3+k3s1"
    assert _phases(s3, store, "web-server-0") == ["booting", "installing", "ready"]
    nodes = _control(sandbox)["nodes"]
    assert [(n["instance_id"], n["phase"]) for n in nodes] == [(info.instance_id, "ready")]
    # Nothing is uploaded but reports; the API at the endpoint trusts the bucket's CAs.
    assert [o.key for o in store.ls("clusters/web/") if "kubeconfig" in o.key] == []
    with _kube(bundle) as kube:
        (node,) = kube.nodes()
        assert (node.name, node.ready, node.kubelet_version) == (
            "web-server-0",
            True,
            "v1.33.3+k3s1",
        )
        assert kube.version().startswith("v1.33.3")


def test_nodes_join_go_notready_and_the_api_ends_with_the_cluster(
    store: StateStore, ops: Ec2, sandbox: SandboxServer, bundle: CABundle
) -> None:
    # The agent is launched first: it joins once server-0 has started the API.
    agent = _launch(store, ops, "web-agent-0")
    server = _launch(store, ops)
    _final(store, "web-agent-0")
    _final(store, "web-server-0")
    with _kube(bundle) as kube:
        wait_for(lambda: len(kube.nodes()) == 2, what="both nodes in the API")
        assert all(n.ready for n in kube.nodes())
        ops.terminate([agent.instance_id])
        wait_for(
            lambda: [n.name for n in kube.nodes() if not n.ready] == ["web-agent-0"],
            what="the agent to go NotReady",
        )
    ops.terminate([server.instance_id])
    emulator = find_emulator(sandbox)
    assert emulator is not None
    wait_for(lambda: emulator.api(HOST) is None, what="the API to stop with the cluster")
    with _kube(bundle) as kube, pytest.raises(KubeUnreachableError):
        kube.nodes()


def test_reset_stops_the_clusters_apis(store: StateStore, ops: Ec2, sandbox: SandboxServer) -> None:
    _launch(store, ops)
    _final(store, "web-server-0")
    emulator = find_emulator(sandbox)
    assert emulator is not None and emulator.api(HOST) is not None
    req = urllib.request.Request(f"{sandbox.endpoint}/moto-api/reset", method="POST", data=b"")
    urllib.request.urlopen(req, timeout=10).read()
    assert emulator.api(HOST) is None


def test_a_hostile_bundle_fails_server0(store: StateStore, ops: Ec2, s3: Any) -> None:
    s3.put_object(Bucket=store.bucket, Key=store.key(BUNDLE_KEY), Body=b'{"files": {"../x": ""}}')
    _launch(store, ops)
    final = _final(store, "web-server-0")
    assert final["phase"] == "failed" and "CA bundle was refused" in final["message"]


def test_agents_report_ready_and_upload_nothing(store: StateStore, ops: Ec2) -> None:
    _launch(store, ops, "web-agent-0")
    assert _final(store, "web-agent-0")["phase"] == "ready"
    assert {o.key for o in store.ls("clusters/web/")} == {
        "clusters/web/secret/token",
        BUNDLE_KEY,
        _report_key("web-agent-0"),
    }


def test_instances_without_goman_user_data_are_left_alone(
    store: StateStore, ops: Ec2, sandbox: SandboxServer
) -> None:
    plain = ops.run_node(launch_for(ops, "web-agent-7", user_data="#!/bin/bash\necho hi\n"))
    _launch(store, ops, "web-agent-0")
    _final(store, "web-agent-0")
    tracked = {n["instance_id"] for n in _control(sandbox)["nodes"]}
    assert plain.instance_id not in tracked
    assert not _exists(store, _report_key("web-agent-7"))


def test_fail_pattern_makes_matching_nodes_fail(
    store: StateStore, ops: Ec2, sandbox: SandboxServer
) -> None:
    state = _control(sandbox, {"fail": ["web-agent-*"], "boot_delay": 0})
    assert state["fail"] == ["web-agent-*"] and state["boot_delay"] == 0
    _launch(store, ops, "web-agent-1")
    _launch(store, ops, "web-server-0")
    failed = _final(store, "web-agent-1")
    assert failed["phase"] == "failed"
    assert "web-agent-*" in failed["message"]
    assert _final(store, "web-server-0")["phase"] == "ready"


def test_unreadable_secret_reports_failed(store: StateStore, ops: Ec2) -> None:
    _launch(store, ops, "web-agent-0", token_url=store.presign_get("clusters/web/missing", 600))
    final = _final(store, "web-agent-0")
    assert final["phase"] == "failed"
    assert "join secret" in final["message"]


def test_terminated_instances_are_forgotten(
    store: StateStore, ops: Ec2, sandbox: SandboxServer
) -> None:
    _control(sandbox, {"boot_delay": 600})
    info = _launch(store, ops, "web-agent-0")

    def tracked() -> set[str]:
        return {n["instance_id"] for n in _control(sandbox)["nodes"]}

    wait_for(lambda: info.instance_id in tracked(), what="the emulator to notice the instance")
    ops.terminate([info.instance_id])
    wait_for(lambda: info.instance_id not in tracked(), what="the emulator to forget it")
    assert not _exists(store, _report_key("web-agent-0"))


def test_a_stopped_node_is_kept_and_a_start_does_not_bootstrap_it_again(
    store: StateStore, ops: Ec2, sandbox: SandboxServer
) -> None:
    from goman.provision import power

    info = _launch(store, ops, "web-agent-0")
    assert _final(store, "web-agent-0")["phase"] == "ready"
    _, _, first = store.get_bytes(_report_key("web-agent-0"))

    def tracked() -> dict[str, Any]:
        return {n["instance_id"]: n for n in _control(sandbox)["nodes"]}

    power.stop(ops, [info.instance_id])
    power.wait_state(ops, [info.instance_id], "stopped", timeout=30)
    wait_for(lambda: tracked()[info.instance_id]["stopped"], what="the node to be stopped")
    power.start(ops, [info.instance_id])
    power.wait_state(ops, [info.instance_id], "running", timeout=30)
    wait_for(lambda: not tracked()[info.instance_id]["stopped"], what="the node to run again")
    # User-data runs on the first boot only: no report is written again.
    _, _, after = store.get_bytes(_report_key("web-agent-0"))
    assert after == first and tracked()[info.instance_id]["phase"] == "ready"


def test_reset_restores_defaults_and_forgets_nodes(
    store: StateStore, ops: Ec2, sandbox: SandboxServer
) -> None:
    _control(sandbox, {"boot_delay": 600, "fail": ["*"]})
    info = _launch(store, ops, "web-agent-0")
    wait_for(
        lambda: any(n["instance_id"] == info.instance_id for n in _control(sandbox)["nodes"]),
        what="the emulator to notice the instance",
    )
    req = urllib.request.Request(f"{sandbox.endpoint}/moto-api/reset", method="POST", data=b"")
    urllib.request.urlopen(req, timeout=10).read()
    state = _control(sandbox)
    assert state == {"boot_delay": TEST_BOOT_DELAY, "fail": [], "nodes": []}


def test_requests_planned_before_a_reset_are_refused(sandbox: SandboxServer) -> None:
    assert find_emulator(sandbox) is not None
    req = urllib.request.Request(
        f"{sandbox.endpoint}/anything", headers={GENERATION_HEADER: "-1"}, method="GET"
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 409


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1]", b'{"fail": "web-*"}', b'{"boot_delay": -1}', b'{"boot_delay": "x"}'],
)
def test_control_route_rejects_bad_input(sandbox: SandboxServer, body: bytes) -> None:
    req = urllib.request.Request(sandbox.endpoint + CONTROL_PATH, data=body, method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 400


def test_only_loopback_urls_are_ever_requested(monkeypatch: pytest.MonkeyPatch) -> None:
    assert is_loopback("http://127.0.0.1:4566/b/k?x=1")
    assert is_loopback("http://localhost/b")
    assert not is_loopback("https://goman-1.s3.ap-south-1.amazonaws.com/k")
    assert not is_loopback("http://54.1.2.3:6443/")
    assert not is_loopback("file:///etc/passwd")
    from goman.sandbox import nodes

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the emulator tried to open a connection")

    monkeypatch.setattr(nodes._OPENER, "open", refuse)
    emulator = NodeEmulator()
    node = _Node(("a", "r", "i"), {"GOMAN_NODE": "x", "GOMAN_REPORT_URL": "http://54.1.2.3/"}, 0, 0)
    assert emulator._request(node, "PUT", "http://54.1.2.3/r", b"{}", "application/json") is None
    assert emulator._request(node, "GET", "https://s3.amazonaws.com/b/k") is None


def test_tick_survives_garbage_user_data() -> None:
    emulator = NodeEmulator(boot_delay=0)
    emulator._scan = lambda: {  # type: ignore[method-assign]
        ("a", "r", "i-1"): ("%%%not base64", "", ""),
        ("a", "r", "i-2"): (None, "", ""),
    }
    emulator.tick()
    assert emulator.snapshot()["nodes"] == []


def test_serve_takes_boot_delay_and_fail_patterns() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "goman",
            "sandbox",
            "serve",
            "--port",
            "0",
            "--boot-delay",
            "0.1",
            "--fail-node",
            "web-agent-*",
            "--fail-node",
            "api-server-2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "serving on http://127.0.0.1:" in first, first + (
            proc.stderr.read() if proc.stderr else ""
        )
        endpoint = first.split("serving on ", 1)[1].split()[0]
        with urllib.request.urlopen(endpoint + CONTROL_PATH, timeout=10) as resp:
            state = json.loads(resp.read())
        assert state["boot_delay"] == 0.1
        assert state["fail"] == ["web-agent-*", "api-server-2"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
