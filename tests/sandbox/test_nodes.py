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
import yaml

from goman.provision.ec2 import Ec2, InstanceInfo
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
def store(aws_env: dict[str, str]) -> StateStore:
    st = StateStore(context())
    st.put_bytes(
        "clusters/web/secret/token", TOKEN.encode(), create=True, content_type="text/plain"
    )
    return st


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
        kubeconfig_url=store.presign_put("clusters/web/kubeconfig.yaml", 600) if server0 else None,
        server_url=None if server0 else "https://172.31.0.4:6443",
        endpoint_host="127.1.2.3",
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


def test_server0_boots_reports_and_uploads_a_kubeconfig(
    store: StateStore, ops: Ec2, s3: Any, sandbox: SandboxServer
) -> None:
    info = _launch(store, ops)
    final = _final(store, "web-server-0")
    assert final["phase"] == "ready" and final["role"] == "server"
    assert final["k3s_version"] == "v1.33.3+k3s1"
    assert _phases(s3, store, "web-server-0") == ["booting", "installing", "ready"]
    kubeconfig = yaml.safe_load(store.get_bytes("clusters/web/kubeconfig.yaml")[0])
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://127.1.2.3:6443"
    nodes = _control(sandbox)["nodes"]
    assert [(n["instance_id"], n["phase"]) for n in nodes] == [(info.instance_id, "ready")]


def test_agents_report_ready_without_a_kubeconfig(store: StateStore, ops: Ec2) -> None:
    _launch(store, ops, "web-agent-0")
    assert _final(store, "web-agent-0")["phase"] == "ready"
    assert not _exists(store, "clusters/web/kubeconfig.yaml")


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
    emulator._scan = lambda: {("a", "r", "i-1"): "%%%not base64", ("a", "r", "i-2"): None}  # type: ignore[method-assign]
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
