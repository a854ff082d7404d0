"""Durability: a create killed (SIGKILL) at every step is finished by the next worker with
exactly the desired instances; two workers racing for one job never both run a step."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from goman.jobs.plan import CREATE_STEPS
from goman.sandbox.server import SandboxServer
from tests.cli.cluster_helpers import PREFIX, live_instances, read_json, tag
from tests.conftest import BUCKET

EMULATOR_HEADER = "HTTP_X_GOMAN_SANDBOX_GENERATION"


def _body(environ: dict[str, Any]) -> bytes:
    """Read a request body and put it back for the server."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    return raw


class Killer:
    """A sandbox hook: once the watched process reaches a point, SIGKILL it the moment it
    sends its next request. Deterministic: the kill happens inside that request."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.point = ""
        self.armed = False
        self.run_instances = 0
        self.killed = threading.Event()

    def watch(self, proc: subprocess.Popen[bytes], point: str) -> None:
        self.proc, self.point, self.armed, self.run_instances = proc, point, False, 0
        self.killed.clear()

    def hook(self, environ: dict[str, Any], start_response: Any) -> list[bytes] | None:
        if self.proc is None or self.killed.is_set() or environ.get(EMULATOR_HEADER):
            return None
        if self.armed:
            self.proc.kill()
            self.proc.wait()
            self.killed.set()
            start_response("503 Service Unavailable", [("Content-Length", "0")])
            return [b""]
        method, path = environ.get("REQUEST_METHOD"), str(environ.get("PATH_INFO", ""))
        if self.point.startswith("run-instances#") and method == "POST":
            if b"Action=RunInstances" in _body(environ):
                self.run_instances += 1
                self.armed = self.run_instances == int(self.point.split("#")[1])
        elif method == "PUT" and "/jobs/" in path:
            raw = _body(environ)
            doc = json.loads(raw[raw.index(b"{") : raw.rindex(b"}") + 1])
            self.armed = any(
                s["name"] == self.point and s["status"] == "running" for s in doc["steps"]
            )
        return None


@pytest.fixture
def killer(sandbox: SandboxServer) -> Iterator[Killer]:
    k = Killer()
    sandbox.app.hooks.insert(0, k.hook)
    try:
        yield k
    finally:
        sandbox.app.hooks.remove(k.hook)


def _popen(aws_env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "goman", *args],
        env={**os.environ, **aws_env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _job(s3: Any, job_id: str) -> dict[str, Any]:
    data: dict[str, Any] = read_json(s3, BUCKET, f"{PREFIX}jobs/{job_id}.json")
    return data


def test_create_killed_at_each_step_is_finished_by_the_next_worker(
    goman: Any, goman_proc: Any, aws_env: dict[str, str], killer: Killer, s3: Any, ec2: Any
) -> None:
    assert goman("config", "set", "job_lease_seconds", "10").exit_code == 0
    points = [*CREATE_STEPS, "run-instances#1", "run-instances#2"]
    names = {}
    for n, point in enumerate(points):
        name = f"crash{n}"
        names[name] = point
        proc = _popen(aws_env, "cluster", "create", name, "--workers", "1", "--timeout", "60s")
        killer.watch(proc, point)
        assert killer.killed.wait(60), f"never reached {point}"
    state = {n: read_json(s3, BUCKET, f"{PREFIX}clusters/{n}.state.json") for n in names}
    jobs = {n: _job(s3, state[n]["status"]["job_id"]) for n in names}
    assert all(j["status"] == "running" and j["lease"] for j in jobs.values())

    expiry = max(datetime.fromisoformat(j["lease"]["expires_at"]) for j in jobs.values())
    deadline = time.monotonic() + 30
    while datetime.now(expiry.tzinfo) <= expiry and time.monotonic() < deadline:
        time.sleep(0.2)
    resumed = goman_proc("worker", "--once", timeout=300)
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
        job = _job(s3, jobs[name]["id"])
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
    procs = [_popen(aws_env, "worker", "--once") for _ in range(3)]
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    job = _job(s3, job_id)
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
