"""Stop, start and the refusals of upgrade, through the CLI against the sandbox, with the
real kubectl on the cluster's API before and after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from goman.provision.prices import nodes_cost_per_hour, stopped_cost_per_hour
from tests.cli.cluster_helpers import PREFIX, create_ha, live_instances, read_json
from tests.cli.kube_helpers import cluster_api, kubectl_nodes, ready
from tests.conftest import BUCKET
from tests.provision.helpers import wait_for

NAME = "day2"
OLD = "v1.33.3+k3s1"


def _state(s3: Any) -> dict[str, Any]:
    doc: dict[str, Any] = read_json(s3, BUCKET, f"{PREFIX}clusters/{NAME}.state.json")
    return doc


@pytest.fixture
def ha(goman: Any) -> Iterator[None]:
    create_ha(goman, NAME, OLD)
    yield


def test_upgrade_refuses_before_anything_changes(goman: Any, s3: Any, ha: None) -> None:
    before = _state(s3)
    cases = {
        "v1.35.0+k3s1": "skips a minor version",
        "v1.32.9+k3s1": "does not downgrade",
        "1.34": "is not a K3s version",
        OLD: "already runs",
    }
    for version, said in cases.items():
        out = goman("cluster", "upgrade", NAME, "--k3s-version", version, "--yes")
        assert out.exit_code == 2, out.output
        assert said in out.stderr and "fix:" in out.stderr
    after = _state(s3)
    assert after["revision"] == before["revision"]  # not even the document was written
    assert after["spec"]["k3s_version"] == OLD
    jobs = goman("jobs", "list", "-o", "json").json()
    assert [j["type"] for j in jobs] == ["create"]


def test_stop_then_start_keeps_the_endpoint_and_costs_what_it_says(
    goman: Any, s3: Any, ec2: Any, sandbox: Any, ha: None, tmp_path: Path
) -> None:
    running = goman("cluster", "get", NAME, "-o", "json").json()
    before = kubectl_nodes(goman, NAME, tmp_path)
    assert len(before) == 5 and all(ready(n) for n in before)
    api = cluster_api(sandbox, goman, NAME)
    kubeconfig_server = yaml.safe_load((tmp_path / "config").read_text())["clusters"][0]["cluster"][
        "server"
    ]
    endpoint = running["endpoint"]
    cluster_id = _state(s3)["cluster_id"]
    assert running["cost_per_hour"] == nodes_cost_per_hour(5, "t3.medium", "ap-south-1")

    stopped = goman("cluster", "stop", NAME, "--yes")
    assert stopped.exit_code == 0, stopped.output
    assert "stop-agents" in stopped.stderr
    states = {i["InstanceId"]: i["State"]["Name"] for i in live_instances(ec2, cluster_id)}
    assert len(states) == 5 and set(states.values()) == {"stopped"}
    got = goman("cluster", "get", NAME, "-o", "json").json()
    assert got["phase"] == "Stopped" and got["endpoint"] == endpoint
    assert got["kubernetes"] == {
        "reachable": False,
        "version": None,
        "error": "the cluster is stopped",
    }
    # Their kubelets are gone: every Node turns NotReady (the node emulator notices a
    # stopped instance on its next look at EC2, as K3s notices missed heartbeats).
    wait_for(lambda: not any(ready(n) for n in api.state.nodes()), what="every Node NotReady")
    assert not any(ready(n) for n in api.state.nodes())
    idle = stopped_cost_per_hour(5, "ap-south-1")
    assert got["cost_per_hour"] == idle and idle is not None and idle < running["cost_per_hour"]
    row = next(r for r in goman("cluster", "list", "-o", "json").json() if r["name"] == NAME)
    assert row["phase"] == "Stopped" and row["cost_per_hour"] == idle
    # The order: every agent stopped before any server was asked to stop.
    job = goman("jobs", "show", got["job"], "-o", "json").json()
    assert [s["name"] for s in job["steps"]] == ["stop-agents", "stop-servers", "finish-stop"]
    agents, servers = job["steps"][0], job["steps"][1]
    assert agents["ended_at"] <= servers["started_at"]

    # What does not work on a stopped cluster says what to do instead.
    for args in (
        ("cluster", "scale", NAME, "--workers", "3"),
        ("cluster", "upgrade", NAME, "--k3s-version", "v1.34.1+k3s1", "--yes"),
        ("cluster", "kubeconfig", NAME),
    ):
        out = goman(*args)
        assert out.exit_code == 2, (args, out.output)
        assert f"fix: goman cluster start {NAME}" in out.stderr
    again = goman("cluster", "stop", NAME, "--yes")
    assert again.exit_code == 0 and "already Stopped" in again.stderr

    started = goman("cluster", "start", NAME, "--timeout", "60s")
    assert started.exit_code == 0, started.output
    states = {i["InstanceId"]: i["State"]["Name"] for i in live_instances(ec2, cluster_id)}
    assert len(states) == 5 and set(states.values()) == {"running"}
    got = goman("cluster", "get", NAME, "-o", "json").json()
    assert got["phase"] == "Running" and got["endpoint"] == endpoint
    assert got["cost_per_hour"] == running["cost_per_hour"]
    address = endpoint.removeprefix("https://").rsplit(":", 1)[0]
    described = ec2.describe_addresses(PublicIps=[address])["Addresses"][0]
    server0 = next(n for n in got["nodes"] if n["name"] == f"{NAME}-server-0")
    assert described["InstanceId"] == server0["instance_id"]

    items = kubectl_nodes(goman, NAME, tmp_path)
    assert len(items) == 5
    assert all(
        c["status"] == "True"
        for i in items
        for c in i["status"]["conditions"]
        if c["type"] == "Ready"
    )
    config = yaml.safe_load((tmp_path / "config").read_text())
    assert config["clusters"][0]["cluster"]["server"] == kubeconfig_server


def test_stop_asks_and_refuses_without_a_terminal(goman: Any, s3: Any, ha: None) -> None:
    out = goman("cluster", "stop", NAME)
    assert out.exit_code == 2 and "--yes" in out.stderr
    assert _state(s3)["status"]["phase"] == "Running"
