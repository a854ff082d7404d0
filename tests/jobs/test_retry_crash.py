"""A retry killed (SIGKILL) inside or right after `replace-failed` is finished by the next
worker with exactly one new instance for the failed node, and every other one kept."""

from __future__ import annotations

import re
from typing import Any

from tests.cli.cluster_helpers import PREFIX, live_instances, nodes_control, read_json, tag
from tests.conftest import BUCKET
from tests.jobs.crash_helpers import (
    Killer,
    popen_goman,
    read_job,
    request_body,
    resume_after_leases,
)

_BUMPED = re.compile(rb'"launch":\s*1\b')


class RetryPoints:
    """Arms the killer at points inside `replace-failed` (it kills at the next request)."""

    def __init__(self, target: Killer) -> None:
        self.killer = target

    def hook(self, environ: dict[str, Any], start_response: Any) -> list[bytes] | None:
        k = self.killer
        if not k.may_arm(environ):
            return None
        method, path = environ.get("REQUEST_METHOD"), str(environ.get("PATH_INFO", ""))
        if k.point == "after-terminate" and method == "POST":
            k.armed = b"Action=TerminateInstances" in request_body(environ)
        elif k.point == "after-launch-bump" and method == "PUT" and path.endswith(".state.json"):
            k.armed = bool(_BUMPED.search(request_body(environ)))
        return None


def test_retry_killed_in_replace_failed_is_finished_with_one_new_instance(
    goman: Any,
    goman_proc: Any,
    aws_env: dict[str, str],
    sandbox: Any,
    killer: Killer,
    s3: Any,
    ec2: Any,
) -> None:
    assert goman("config", "set", "job_lease_seconds", "10").exit_code == 0
    points = ["after-terminate", "after-launch-bump", "prepare"]
    names = {f"rt{n}": point for n, point in enumerate(points)}
    nodes_control(sandbox, fail=[f"{name}-agent-0" for name in names])
    for name in names:
        failed = goman("cluster", "create", name, "--workers", "1", "--timeout", "60s")
        assert failed.exit_code == 1, failed.output
    nodes_control(sandbox, fail=[])
    before = {}
    for name in names:
        cid = read_json(s3, BUCKET, f"{PREFIX}clusters/{name}.state.json")["cluster_id"]
        before[name] = {tag(i, "goman:node"): i["InstanceId"] for i in live_instances(ec2, cid)}

    # Right after the killer's own hook: it arms on one request, the killer kills at the next.
    arm = RetryPoints(killer)
    sandbox.app.hooks.insert(sandbox.app.hooks.index(killer.hook) + 1, arm.hook)
    try:
        for name, point in names.items():
            proc = popen_goman(aws_env, "cluster", "retry", name)
            killer.watch(proc, point)
            assert killer.killed.wait(60), f"never reached {point}"
    finally:
        sandbox.app.hooks.remove(arm.hook)

    jobs = {}
    for name in names:
        doc = read_json(s3, BUCKET, f"{PREFIX}clusters/{name}.state.json")
        jobs[name] = read_job(s3, doc["status"]["job_id"])
        assert jobs[name]["status"] == "running" and jobs[name]["lease"], names[name]
    resumed = resume_after_leases(list(jobs.values()), goman_proc)
    assert resumed.exit_code == 0, resumed.stderr

    for name, point in names.items():
        doc = read_json(s3, BUCKET, f"{PREFIX}clusters/{name}.state.json")
        assert doc["status"]["phase"] == "Running", (point, doc["status"]["message"])
        cid = doc["cluster_id"]
        now = {tag(i, "goman:node"): i["InstanceId"] for i in live_instances(ec2, cid)}
        assert len(now) == len(live_instances(ec2, cid)) == 2, point
        assert now[f"{name}-server-0"] == before[name][f"{name}-server-0"], point
        assert now[f"{name}-agent-0"] != before[name][f"{name}-agent-0"], point
        every = ec2.describe_instances(Filters=[{"Name": "tag:goman:cluster-id", "Values": [cid]}])
        ever = [i["InstanceId"] for r in every["Reservations"] for i in r["Instances"]]
        assert len(ever) == 3, (point, ever)  # the old agent, its one replacement, the server
        agent = next(n for n in doc["status"]["nodes"] if n["name"] == f"{name}-agent-0")
        assert (agent["launch"], agent["instance_id"]) == (1, now[f"{name}-agent-0"]), point
        job = read_job(s3, jobs[name]["id"])
        assert job["status"] == "succeeded" and job["attempts"] == 2, point
    assert {r["status"] for r in goman("resources", "list", "-o", "json").json()} == {"ok"}
