"""`goman cluster retry`: a Failed create or scale runs again, replacing only failed nodes."""

from __future__ import annotations

from typing import Any

from tests.cli.cluster_helpers import PREFIX, live_instances, nodes_control, read_json, tag
from tests.conftest import BUCKET


def _instances_by_node(ec2: Any, cluster_id: str) -> dict[str, str]:
    found = live_instances(ec2, cluster_id)
    by_node = {tag(i, "goman:node"): i["InstanceId"] for i in found}
    assert len(by_node) == len(found), "two live instances for one node"
    return by_node


def _state(s3: Any, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = read_json(s3, BUCKET, f"{PREFIX}clusters/{name}.state.json")
    return doc


def test_retry_replaces_the_failed_node_and_keeps_the_others(
    goman: Any, sandbox: Any, s3: Any, ec2: Any
) -> None:
    nodes_control(sandbox, fail=["web-agent-1"])
    created = goman("cluster", "create", "web", "--workers", "2", "--timeout", "60s")
    assert created.exit_code == 1
    got = goman("cluster", "get", "web", "-o", "json").json()
    assert got["phase"] == "Failed"
    # The document keeps the reason; each face says what to do in its own words.
    assert "web-agent-1 failed to bootstrap" in got["message"]
    assert "goman" not in got["message"]
    assert "fix:" in created.stderr and "`goman cluster retry web`" in created.stderr
    shown = goman("cluster", "get", "web").stdout
    assert "Next:" in shown and "`goman cluster retry web` tries again" in shown
    cid = _state(s3, "web")["cluster_id"]
    before = _instances_by_node(ec2, cid)
    assert sorted(before) == ["web-agent-0", "web-agent-1", "web-server-0"]

    nodes_control(sandbox, fail=[])
    retried = goman("cluster", "retry", "web")
    assert retried.exit_code == 0, retried.output
    assert f"web-agent-1 ({before['web-agent-1']})" in retried.stderr
    assert "replace-failed" in retried.stderr  # live progress names the new step

    got = goman("cluster", "get", "web", "-o", "json").json()
    assert got["phase"] == "Running", got["message"]
    assert all(n["phase"] == "ready" for n in got["nodes"])
    after = _instances_by_node(ec2, cid)
    assert sorted(after) == sorted(before)
    assert after["web-agent-1"] != before["web-agent-1"]
    assert after["web-server-0"] == before["web-server-0"]
    assert after["web-agent-0"] == before["web-agent-0"]
    old = ec2.describe_instances(InstanceIds=[before["web-agent-1"]])["Reservations"][0]
    assert old["Instances"][0]["State"]["Name"] == "terminated"
    assert {n["instance_id"] for n in got["nodes"]} == set(after.values())
    agent1 = next(n for n in _state(s3, "web")["status"]["nodes"] if n["name"] == "web-agent-1")
    assert agent1["launch"] == 1

    job = goman("jobs", "show", got["job"], "-o", "json").json()
    assert job["type"] == "create" and job["status"] == "succeeded"
    assert [s["name"] for s in job["steps"]][:2] == ["replace-failed", "prepare"]
    assert job["params"]["replace"] == [
        {"node": "web-agent-1", "instance_id": before["web-agent-1"]}
    ]
    assert {r["status"] for r in goman("resources", "list", "-o", "json").json()} == {"ok"}

    refused = goman("cluster", "retry", "web")
    assert refused.exit_code == 2
    assert "web' is Running" in refused.stderr and "Traceback" not in refused.output
    missing = goman("cluster", "retry", "ghost")
    assert missing.exit_code == 1
    assert "'ghost' does not exist" in missing.stderr and "Traceback" not in missing.output


def test_a_timed_out_scale_is_retried_without_replacing_anything(
    goman: Any, sandbox: Any, s3: Any, ec2: Any
) -> None:
    assert goman("cluster", "create", "sc", "--timeout", "60s").exit_code == 0
    nodes_control(sandbox, boot_delay=30)
    scaled = goman("cluster", "scale", "sc", "--workers", "1", "--timeout", "1s")
    assert scaled.exit_code == 1
    assert goman("cluster", "get", "sc", "-o", "json").json()["phase"] == "Failed"
    before = _instances_by_node(ec2, _state(s3, "sc")["cluster_id"])

    nodes_control(sandbox, boot_delay=0.3)
    retried = goman("cluster", "retry", "sc", "--timeout", "60s")
    assert retried.exit_code == 0, retried.output
    got = goman("cluster", "get", "sc", "-o", "json").json()
    assert (got["phase"], got["workers"]) == ("Running", 1)
    assert _instances_by_node(ec2, _state(s3, "sc")["cluster_id"]) == before  # waited, kept
    job = goman("jobs", "show", got["job"], "-o", "json").json()
    assert job["type"] == "scale" and job["params"]["replace"] == []


def test_a_failed_delete_is_not_retried(goman: Any) -> None:
    created = goman("cluster", "create", "del", "--detach").stdout.strip()
    assert goman("jobs", "cancel", created).exit_code == 0
    deleting = goman("cluster", "delete", "del", "--yes", "--detach").stdout.strip()
    assert goman("jobs", "cancel", deleting).exit_code == 0
    assert goman("cluster", "get", "del", "-o", "json").json()["phase"] == "Failed"
    refused = goman("cluster", "retry", "del")
    assert refused.exit_code == 2
    assert "`goman cluster delete del` again" in refused.stderr
