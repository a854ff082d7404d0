"""`goman cluster upgrade` end to end: the CLI, the job, the cluster's Kubernetes API with
the emulated system-upgrade-controller, and the real kubectl."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.cli.cluster_helpers import PREFIX, create_ha, read_json
from tests.cli.kube_helpers import cluster_api, kubectl_nodes
from tests.conftest import BUCKET
from tests.jobs.crash_helpers import popen_goman, read_job, resume_after_leases

OLD, NEW = "v1.33.3+k3s1", "v1.34.1+k3s1"
UPGRADES = "sandbox.goman.dev/upgrades"


def versions(items: list[dict[str, Any]]) -> dict[str, str]:
    return {i["metadata"]["name"]: i["status"]["nodeInfo"]["kubeletVersion"] for i in items}


def test_upgrade_by_one_minor_then_new_nodes_join_on_it(
    goman: Any, s3: Any, tmp_path: Path
) -> None:
    create_ha(goman, "up", OLD)
    out = goman("cluster", "upgrade", "up", "--k3s-version", NEW, "--yes", "--timeout", "60s")
    assert out.exit_code == 0, out.output
    for step in ("install-upgrader", "apply-plans", "upgrade-servers", "upgrade-agents"):
        assert step in out.stderr
    items = kubectl_nodes(goman, "up", tmp_path)
    assert set(versions(items).values()) == {NEW} and len(items) == 5
    assert {i["metadata"]["annotations"][UPGRADES] for i in items} == {"1"}
    assert not any(i["spec"].get("unschedulable") for i in items)
    got = goman("cluster", "get", "up", "-o", "json").json()
    assert got["phase"] == "Running" and got["k3s_version"] == NEW
    recorded = read_json(s3, BUCKET, f"{PREFIX}clusters/up.state.json")["status"]["nodes"]
    assert {n["message"] for n in recorded} == {f"{n['name']} upgraded to {NEW}" for n in recorded}
    job = goman("jobs", "show", got["job"], "-o", "json").json()
    assert job["type"] == "upgrade" and job["status"] == "succeeded"
    # A node added later joins on the new version.
    scaled = goman("cluster", "scale", "up", "--workers", "3", "--timeout", "60s")
    assert scaled.exit_code == 0, scaled.output
    report = read_json(s3, BUCKET, f"{PREFIX}clusters/up/nodes/up-agent-2.json")
    assert report["k3s_version"] == NEW


def test_sigkill_mid_upgrade_is_finished_by_the_next_worker_without_repeating_nodes(
    goman: Any, goman_proc: Any, aws_env: dict[str, str], s3: Any, sandbox: Any, tmp_path: Path
) -> None:
    assert goman("config", "set", "job_lease_seconds", "10").exit_code == 0
    create_ha(goman, "kill", OLD)
    api = cluster_api(sandbox, goman, "kill")
    queued = goman("cluster", "upgrade", "kill", "--k3s-version", NEW, "--yes", "--detach")
    assert queued.exit_code == 0, queued.output
    job_id = queued.stdout.strip()
    worker = popen_goman(aws_env, "worker", "--once")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = [n for n in api.state.nodes() if n["metadata"]["annotations"].get(UPGRADES)]
            if len(done) >= 2:
                break
            time.sleep(0.05)
        worker.kill()  # SIGKILL: no handler runs, the lease stays until it runs out
        worker.wait()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert 2 <= len(done) < 5, "the kill should land in the middle of the upgrade"
    killed = read_job(s3, job_id)
    assert killed["status"] == "running"
    resumed = resume_after_leases([killed], goman_proc)
    assert resumed.exit_code == 0, resumed.output
    finished = read_job(s3, job_id)
    assert finished["status"] == "succeeded" and finished["attempts"] == 2
    items = kubectl_nodes(goman, "kill", tmp_path)
    assert set(versions(items).values()) == {NEW}
    # Every node was upgraded exactly once: the nodes done before the kill were left alone.
    assert {i["metadata"]["name"]: i["metadata"]["annotations"][UPGRADES] for i in items} == {
        i["metadata"]["name"]: "1" for i in items
    }
    assert goman("cluster", "get", "kill", "-o", "json").json()["k3s_version"] == NEW


def test_a_failed_upgrade_names_the_node_and_retry_resumes_it(goman: Any, tmp_path: Path) -> None:
    create_ha(goman, "slow", OLD)
    out = goman("cluster", "upgrade", "slow", "--k3s-version", NEW, "--yes", "--timeout", "0.1s")
    assert out.exit_code == 1, out.output
    got = goman("cluster", "get", "slow", "-o", "json").json()
    assert got["phase"] == "Failed" and got["k3s_version"] == OLD
    assert got["message"].startswith("Upgrade failed: node slow-server-")
    assert "not upgraded to " + NEW in got["message"]
    assert "goman cluster retry slow" in out.stderr
    retried = goman("cluster", "retry", "slow", "--timeout", "60s")
    assert retried.exit_code == 0, retried.output
    got = goman("cluster", "get", "slow", "-o", "json").json()
    assert got["phase"] == "Running" and got["k3s_version"] == NEW
    items = kubectl_nodes(goman, "slow", tmp_path)
    assert set(versions(items).values()) == {NEW}
    assert {i["metadata"]["annotations"][UPGRADES] for i in items} == {"1"}
