"""Durability: a create killed (SIGKILL) at every step is finished by the next worker with
exactly the desired instances; two workers racing for one job never both run a step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from goman.jobs.plan import CREATE_STEPS
from tests.cli.cluster_helpers import PREFIX, live_instances, read_json, tag
from tests.conftest import BUCKET
from tests.jobs.crash_helpers import Killer, popen_goman, read_job, resume_after_leases


def test_create_killed_at_each_step_is_finished_by_the_next_worker(
    goman: Any, goman_proc: Any, aws_env: dict[str, str], killer: Killer, s3: Any, ec2: Any
) -> None:
    assert goman("config", "set", "job_lease_seconds", "10").exit_code == 0
    points = [*CREATE_STEPS, "run-instances#1", "run-instances#2"]
    names = {}
    for n, point in enumerate(points):
        name = f"crash{n}"
        names[name] = point
        proc = popen_goman(aws_env, "cluster", "create", name, "--workers", "1", "--timeout", "60s")
        killer.watch(proc, point)
        assert killer.killed.wait(60), f"never reached {point}"
    state = {n: read_json(s3, BUCKET, f"{PREFIX}clusters/{n}.state.json") for n in names}
    jobs = {n: read_job(s3, state[n]["status"]["job_id"]) for n in names}
    assert all(j["status"] == "running" and j["lease"] for j in jobs.values())

    resumed = resume_after_leases(list(jobs.values()), goman_proc)
    assert resumed.exit_code == 0, resumed.stderr

    for name, point in names.items():
        doc = read_json(s3, BUCKET, f"{PREFIX}clusters/{name}.state.json")
        assert doc["status"]["phase"] == "Running", (point, doc["status"]["message"])
        instances = live_instances(ec2, doc["cluster_id"])
        assert sorted(tag(i, "goman:node") for i in instances) == [
            f"{name}-agent-0",
            f"{name}-server-0",
        ], point
        assert {n["instance_id"] for n in doc["status"]["nodes"]} == {
            i["InstanceId"] for i in instances
        }
        job = read_job(s3, jobs[name]["id"])
        assert job["status"] == "succeeded" and job["attempts"] == 2, point
    orphans = [r for r in goman("resources", "list", "-o", "json").json() if r["status"] != "ok"]
    assert orphans == []
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "tag-key", "Values": ["goman:cluster-id"]}]
    )["SecurityGroups"]
    addresses = ec2.describe_addresses(
        Filters=[{"Name": "tag-key", "Values": ["goman:cluster-id"]}]
    )["Addresses"]
    assert len(groups) == len(addresses) == len(names)


def test_two_workers_racing_for_one_job_run_each_step_once(
    goman: Any, aws_env: dict[str, str], s3: Any, ec2: Any
) -> None:
    job_id = goman("cluster", "create", "race", "--workers", "2", "--detach").stdout.strip()
    procs = [popen_goman(aws_env, "worker", "--once") for _ in range(3)]
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    job = read_job(s3, job_id)
    assert job["status"] == "succeeded"
    assert job["attempts"] == 1  # one claim won
    assert all(s["attempts"] == 1 for s in job["steps"])
    assert len({s["owner"] for s in job["steps"]}) == 1
    doc = read_json(s3, BUCKET, f"{PREFIX}clusters/race.state.json")
    assert len(live_instances(ec2, doc["cluster_id"])) == 3


def test_a_worker_whose_lease_was_taken_over_stops(goman: Any, aws_env: dict[str, str]) -> None:
    from goman.aws.session import AwsContext
    from goman.jobs import lease
    from goman.jobs.worker import Worker
    from goman.models.base import utcnow
    from goman.models.job import Job
    from goman.state import keys
    from goman.state.store import StateStore

    store = StateStore(AwsContext.from_flag(None))
    job_id = goman("cluster", "create", "takeover", "--detach").stdout.strip()
    lease.claim(store, job_id, "stalled-worker", seconds=60)
    with pytest.raises(lease.LeaseHeld):
        Worker(store).run(job_id, follow=False)

    def expire(job: Job | None) -> Job:
        # The stalled worker stopped renewing: its lease runs out (no wall-clock wait, so
        # a loaded machine cannot make the lease expire before the check above).
        assert job is not None and job.lease is not None
        job.lease.expires_at = utcnow() - timedelta(seconds=1)
        return job

    store.update(keys.job(job_id), Job, expire)
    done = Worker(store, owner="new-worker").run(job_id)
    assert done.status == "succeeded"
    assert {s.owner for s in done.steps} == {"new-worker"}
    with pytest.raises(lease.LeaseLost):
        lease.heartbeat(store, job_id, "stalled-worker", 10)
