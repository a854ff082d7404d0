"""A cluster's life through the CLI, against the sandbox and its emulated nodes."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.cli.cluster_helpers import (
    PREFIX,
    goman_tagged,
    keys_under,
    live_instances,
    nodes_control,
    read_json,
    tag,
)
from tests.conftest import BUCKET

LIST_FIELDS = {
    "name",
    "mode",
    "region",
    "phase",
    "nodes_ready",
    "nodes_total",
    "endpoint",
    "cost_per_hour",
    "created_at",
    "protected",
}
GET_FIELDS = {
    "name",
    "mode",
    "region",
    "phase",
    "workers",
    "k3s_version",
    "endpoint",
    "cost_per_hour",
    "nodes",
    "job",
    "message",
    "protected",
    "kubernetes",
}
NODE_FIELDS = {
    "name",
    "role",
    "instance_id",
    "instance_type",
    "az",
    "state",
    "private_ip",
    "public_ip",
    "phase",
    "kubernetes",
}


def _cluster_id(s3: Any, name: str) -> str:
    return str(read_json(s3, BUCKET, f"{PREFIX}clusters/{name}.state.json")["cluster_id"])


def test_dev_cluster_create_scale_kubeconfig_delete(
    goman: Any, s3: Any, ec2: Any, tmp_path: Path
) -> None:
    created = goman("cluster", "create", "web", "--workers", "1", "--timeout", "60s")
    assert created.exit_code == 0, created.output
    assert "wait-ready" in created.stderr  # live progress names the steps

    listed = goman("cluster", "list", "-o", "json").json()
    assert [set(row) for row in listed] == [LIST_FIELDS]
    assert listed[0]["phase"] == "Running"
    assert (listed[0]["nodes_ready"], listed[0]["nodes_total"]) == (2, 2)

    got = goman("cluster", "get", "web", "-o", "json").json()
    assert set(got) == GET_FIELDS
    assert {n["name"] for n in got["nodes"]} == {"web-server-0", "web-agent-0"}
    assert all(set(n) == NODE_FIELDS and n["phase"] == "ready" for n in got["nodes"])
    assert got["endpoint"].startswith("https://") and got["endpoint"].endswith(":6443")

    cid = _cluster_id(s3, "web")
    instances = live_instances(ec2, cid)
    assert sorted(tag(i, "goman:node") for i in instances) == ["web-agent-0", "web-server-0"]
    server = next(i for i in instances if tag(i, "goman:role") == "server")
    assert server["MetadataOptions"]["HttpTokens"] == "required"
    address = ec2.describe_addresses(Filters=[{"Name": "tag:goman:cluster-id", "Values": [cid]}])
    assert address["Addresses"][0]["InstanceId"] == server["InstanceId"]

    # kubeconfig: a file of its own, and merged next to an existing entry
    kfile = tmp_path / "web.yaml"
    assert goman("cluster", "kubeconfig", "web", "--file", str(kfile)).exit_code == 0
    assert stat.S_IMODE(kfile.stat().st_mode) == 0o600
    view = subprocess.run(
        ["kubectl", "--kubeconfig", str(kfile), "config", "view", "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"goman-default-web"' in view.stdout
    kube = Path(os.environ["KUBECONFIG"])
    kube.parent.mkdir(parents=True, exist_ok=True)
    kube.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "other", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "other", "user": {"token": "x"}}],
                "contexts": [{"name": "other", "context": {"cluster": "other", "user": "other"}}],
                "current-context": "other",
            }
        )
    )
    assert goman("cluster", "kubeconfig", "web", "--merge").exit_code == 0
    contexts = subprocess.run(
        ["kubectl", "--kubeconfig", str(kube), "config", "get-contexts", "-o", "name"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(contexts) == ["goman-default-web", "other"]
    assert stat.S_IMODE(kube.stat().st_mode) == 0o600

    # scale up, then down: the highest-numbered agents go
    assert goman("cluster", "scale", "web", "--workers", "3").exit_code == 0
    nodes = sorted(tag(i, "goman:node") for i in live_instances(ec2, cid))
    assert nodes == ["web-agent-0", "web-agent-1", "web-agent-2", "web-server-0"]
    agent0 = next(
        i["InstanceId"] for i in live_instances(ec2, cid) if tag(i, "goman:node") == "web-agent-0"
    )
    assert goman("cluster", "scale", "web", "--workers", "1").exit_code == 0
    left = live_instances(ec2, cid)
    assert sorted(tag(i, "goman:node") for i in left) == ["web-agent-0", "web-server-0"]
    assert agent0 in {i["InstanceId"] for i in left}
    got = goman("cluster", "get", "web", "-o", "json").json()
    assert (got["phase"], got["workers"], len(got["nodes"])) == ("Running", 1, 2)

    deleted = goman("cluster", "delete", "web", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert goman_tagged(ec2) == []
    assert keys_under(s3, BUCKET, f"{PREFIX}clusters/web") == []
    assert goman("cluster", "list", "-o", "json").json() == []
    jobs = goman("jobs", "list", "-o", "json").json()
    assert [j["type"] for j in jobs] == ["delete", "scale", "scale", "create"]
    assert {j["status"] for j in jobs} == {"succeeded"}


def test_ha_cluster_puts_one_server_per_zone(goman: Any, s3: Any, ec2: Any) -> None:
    created = goman("cluster", "create", "prod", "--mode", "ha", "--timeout", "60s")
    assert created.exit_code == 0, created.output
    got = goman("cluster", "get", "prod", "-o", "json").json()
    assert got["phase"] == "Running"
    servers = [n for n in got["nodes"] if n["role"] == "server"]
    assert len(servers) == 3 and len({n["az"] for n in servers}) == 3
    assert goman("cluster", "delete", "prod", "--yes").exit_code == 0
    assert goman_tagged(ec2) == []


def test_a_failed_node_fails_the_cluster_and_delete_still_cleans_up(
    goman: Any, sandbox: Any, ec2: Any
) -> None:
    nodes_control(sandbox, fail=["bad-agent-0"])
    created = goman("cluster", "create", "bad", "--workers", "1", "--timeout", "60s")
    assert created.exit_code == 1
    assert "bad-agent-0" in created.stderr
    got = goman("cluster", "get", "bad", "-o", "json").json()
    assert got["phase"] == "Failed"
    assert "bad-agent-0" in got["message"]
    # Failed re-creates nothing: the two instances made are still the only ones.
    assert len(live_instances(ec2)) == 2
    assert goman("cluster", "delete", "bad", "--yes").exit_code == 0
    assert goman_tagged(ec2) == []


def test_readiness_timeout_fails_with_the_nodes_not_ready(goman: Any, sandbox: Any) -> None:
    nodes_control(sandbox, boot_delay=30)
    created = goman("cluster", "create", "slow", "--timeout", "1s")
    assert created.exit_code == 1
    got = goman("cluster", "get", "slow", "-o", "json").json()
    assert got["phase"] == "Failed" and "slow-server-0" in got["message"]
    assert goman("cluster", "delete", "slow", "--yes").exit_code == 0


def test_detach_only_queues_and_a_worker_runs_it(goman: Any) -> None:
    queued = goman("cluster", "create", "bg", "--detach")
    assert queued.exit_code == 0
    job_id = queued.stdout.strip()
    assert goman("cluster", "get", "bg", "-o", "json").json()["phase"] == "Pending"
    assert goman("jobs", "show", job_id, "-o", "json").json()["status"] == "pending"
    ran = goman("worker", "--once")
    assert ran.exit_code == 0, ran.output
    assert goman("jobs", "show", job_id, "-o", "json").json()["status"] == "succeeded"
    assert goman("cluster", "get", "bg", "-o", "json").json()["phase"] == "Running"
    assert goman("worker", "--once").exit_code == 0  # nothing left: still fine


def test_a_second_mutating_command_names_the_running_job(goman: Any) -> None:
    job_id = goman("cluster", "create", "busy", "--detach").stdout.strip()
    refused = goman("cluster", "delete", "busy", "--yes")
    assert refused.exit_code == 1
    assert job_id in refused.stderr and "goman jobs cancel" in refused.stderr
    refused = goman("cluster", "scale", "busy", "--workers", "2")
    assert refused.exit_code == 1 and job_id in refused.stderr


def test_cancel_a_queued_create_then_delete(goman: Any, ec2: Any, s3: Any) -> None:
    job_id = goman("cluster", "create", "gone", "--detach").stdout.strip()
    assert goman("jobs", "cancel", job_id).exit_code == 0
    job = goman("jobs", "show", job_id, "-o", "json").json()
    assert job["status"] == "cancelled"
    got = goman("cluster", "get", "gone", "-o", "json").json()
    assert got["phase"] == "Failed" and "cancelled" in got["message"]
    assert goman("worker", "--once").exit_code == 0
    assert live_instances(ec2) == []  # a cancelled job is never run
    assert goman("cluster", "delete", "gone", "--yes").exit_code == 0
    assert keys_under(s3, BUCKET, f"{PREFIX}clusters/gone") == []


def test_delete_asks_for_the_name_and_a_missing_cluster_is_fine(goman: Any, terminal: Any) -> None:
    assert goman("cluster", "create", "keep", "--detach").exit_code == 0
    term = terminal("cluster", "delete", "keep")
    term.expect_text("Type its name to confirm")
    term.type("nope\n")
    assert term.finish() == 1 and "did not match" in term.text
    # Without a terminal there is nobody to ask: a piped answer deletes nothing.
    piped = goman("cluster", "delete", "keep", input="keep\n")
    assert piped.exit_code == 2 and "--yes" in piped.stderr
    assert goman("cluster", "get", "keep").exit_code == 0
    missing = goman("cluster", "delete", "nothere", "--yes")
    assert missing.exit_code == 0 and "does not exist" in missing.stderr
    missing = goman("cluster", "delete", "nothere")
    assert missing.exit_code == 0 and "does not exist" in missing.stderr


def test_invalid_input_is_refused_before_anything_is_written(goman: Any, s3: Any) -> None:
    for args in (
        ["Bad_Name"],
        ["x" * 41],
        ["ok", "--instance-type", "huge"],
        ["ok", "--region", "mars"],
        ["ok", "--k3s-version", "latest"],
        ["ok", "--api-cidr", "10.0.0.1/8"],
        ["ok", "--workers", "-1"],
        ["ok", "--timeout", "soon"],
    ):
        result = goman("cluster", "create", *args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", []) if _bucket(s3) else []
    assert [o["Key"] for o in listed if "/clusters/" in o["Key"] or "/jobs/" in o["Key"]] == []


def _bucket(s3: Any) -> bool:
    return any(b["Name"] == BUCKET for b in s3.list_buckets().get("Buckets", []))


def test_kubeconfig_before_ready_says_why(goman: Any) -> None:
    assert goman("cluster", "create", "early", "--detach").exit_code == 0
    result = goman("cluster", "kubeconfig", "early")
    assert result.exit_code == 1 and "no kubeconfig yet" in result.stderr
    assert goman("cluster", "get", "ghost").exit_code == 1
