"""Nothing queued is lost: a command killed (SIGKILL) between a job's queue entry and its
document, a worker killed between a job's end and its queue entry, concurrent enqueuers
on `queue.json`, and a merged end/start write interrupted by a crash."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from goman.models.job import JobQueue
from tests.cli.cluster_helpers import PREFIX, live_instances, read_json, tag
from tests.conftest import BUCKET
from tests.jobs.crash_helpers import (
    Killer,
    popen_goman,
    read_job,
    request_body,
    resume_after_leases,
)

QUEUE_KEY = f"{PREFIX}queue.json"


class EndPoints:
    """Kills the watched process at a point: "queue-entry" arms the killer (which kills at
    the process's next request) on the PUT of queue.json that enters a new job, so the job
    document is never written; "job-end" kills inside the first PUT of queue.json after a
    job document said the job succeeded, so the queue never hears of it (killing at merely
    the next request would let a queue write already in flight from another thread land)."""

    def __init__(self, target: Killer, point: str) -> None:
        self.killer, self.point = target, point
        self.ended = False

    def hook(self, environ: dict[str, Any], start_response: Any) -> list[bytes] | None:
        k = self.killer
        if not k.may_arm(environ):
            return None
        path = str(environ.get("PATH_INFO", ""))
        if environ.get("REQUEST_METHOD") != "PUT":
            return None
        if self.point == "queue-entry" and path.endswith("/queue.json"):
            k.armed = True
        elif self.point == "job-end" and "/jobs/" in path:
            self.ended = self.ended or b'"status":"succeeded"' in request_body(environ)
        elif self.point == "job-end" and self.ended and path.endswith("/queue.json"):
            k.proc.kill()
            k.proc.wait()
            k.killed.set()
            start_response("503 Service Unavailable", [("Content-Length", "0")])
            return [b""]
        return None


def _queue(s3: Any) -> JobQueue:
    return JobQueue.model_validate_json(s3.get_object(Bucket=BUCKET, Key=QUEUE_KEY)["Body"].read())


def _job_exists(s3: Any, job_id: str) -> bool:
    found = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}jobs/{job_id}.json")
    return bool(found.get("Contents"))


def _killed_at(killer: Killer, sandbox: Any, point: str, proc: subprocess.Popen[bytes]) -> None:
    points = EndPoints(killer, point)
    sandbox.app.hooks.insert(sandbox.app.hooks.index(killer.hook) + 1, points.hook)
    try:
        killer.watch(proc, point)
        assert killer.killed.wait(60), f"never reached {point}"
    finally:
        sandbox.app.hooks.remove(points.hook)


def test_a_create_killed_between_the_queue_entry_and_the_job_document_is_run(
    goman: Any, goman_proc: Any, aws_env: dict[str, str], killer: Killer, sandbox: Any, s3: Any
) -> None:
    assert goman("init").exit_code == 0
    proc = popen_goman(aws_env, "cluster", "create", "halfway", "--workers", "1")
    _killed_at(killer, sandbox, "queue-entry", proc)
    doc = read_json(s3, BUCKET, f"{PREFIX}clusters/halfway.state.json")
    job_id = doc["status"]["job_id"]
    # The command died on the request after the entry: the job document was never written.
    assert not _job_exists(s3, job_id)
    entry = _queue(s3).jobs[job_id]
    assert entry.status == "pending" and entry.steps
    listed = goman("jobs", "list", "-o", "json").json()
    assert [(j["id"], j["status"]) for j in listed] == [(job_id, "pending")]

    resumed = goman_proc("worker", "--once", timeout=300)
    assert resumed.exit_code == 0, resumed.stderr
    assert "Ran 1 job(s)" in resumed.stderr
    job = read_job(s3, job_id)
    assert job["status"] == "succeeded" and job["attempts"] == 1
    doc = read_json(s3, BUCKET, f"{PREFIX}clusters/halfway.state.json")
    assert doc["status"]["phase"] == "Running"
    instances = live_instances(ec2_client(aws_env), doc["cluster_id"])
    assert sorted(tag(i, "goman:node") for i in instances) == [
        "halfway-agent-0",
        "halfway-server-0",
    ]
    assert _queue(s3).jobs[job_id].status == "succeeded"


def test_a_worker_killed_between_the_job_end_and_the_queue_is_noticed(
    goman: Any, goman_proc: Any, aws_env: dict[str, str], killer: Killer, sandbox: Any, s3: Any
) -> None:
    assert goman("config", "set", "job_lease_seconds", "10").exit_code == 0
    proc = popen_goman(aws_env, "cluster", "create", "ended")
    _killed_at(killer, sandbox, "job-end", proc)
    doc = read_json(s3, BUCKET, f"{PREFIX}clusters/ended.state.json")
    job_id = doc["status"]["last_job_id"]
    assert doc["status"]["phase"] == "Running"
    assert read_job(s3, job_id)["status"] == "succeeded"
    assert not _queue(s3).jobs[job_id].finished  # the end never reached the queue
    listed = goman("jobs", "list", "-o", "json").json()
    assert [(j["id"], j["status"]) for j in listed] == [(job_id, "succeeded")]  # the document

    # The queue's note of the claim keeps other workers off the job until the lease it
    # noted runs out; then a worker reads the document, and puts the entry right.
    noted = _queue(s3).jobs[job_id].lease_expires_at
    if noted is not None:
        resumed = resume_after_leases([{"lease": {"expires_at": noted.isoformat()}}], goman_proc)
    else:  # the note of the claim had not landed before the kill
        resumed = goman_proc("worker", "--once", timeout=120)
    assert resumed.exit_code == 0, resumed.stderr
    assert "Ran 0 job(s)" in resumed.stderr  # nothing to run: the entry is only put right
    assert _queue(s3).jobs[job_id].status == "succeeded"
    assert read_job(s3, job_id)["attempts"] == 1


ENQUEUER = """
import secrets, sys
from goman.aws.session import AwsContext
from goman.jobs import queue
from goman.jobs.plan import new_job_id, steps_for
from goman.models.job import Job
from goman.state.store import StateStore

store = StateStore(AwsContext.from_flag(None))
tag = sys.argv[1]
for i in range({count}):
    job = Job(id=new_job_id(), type="create", cluster=f"q{{tag}}-{{i}}",
              cluster_id=secrets.token_hex(12), steps=steps_for("create"))
    queue.enqueue(store, job)
    print(job.id, flush=True)
"""


def test_concurrent_enqueuers_lose_no_entry(aws_env: dict[str, str], s3: Any) -> None:
    processes, count = 4, 25
    env = {**os.environ, **aws_env}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ENQUEUER.format(count=count), str(n)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(processes)
    ]
    ids: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        ids += out.split()
    assert len(set(ids)) == processes * count
    queue = _queue(s3)
    assert set(queue.jobs) == set(ids)
    assert all(e.status == "pending" and e.steps for e in queue.jobs.values())
    assert all(_job_exists(s3, job_id) for job_id in ids)
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix=QUEUE_KEY)["Versions"]
    assert len(versions) == queue.revision == processes * count  # one write per entry


def test_a_merged_end_and_start_write_survives_a_crash(
    goman: Any, goman_proc: Any, aws_env: dict[str, str], killer: Killer, s3: Any
) -> None:
    """Killed right after the one write that ends launch-servers and starts the steps that
    waited for it: the next worker runs those again, and launch-servers not."""
    assert goman("config", "set", "job_lease_seconds", "10").exit_code == 0
    proc = popen_goman(aws_env, "cluster", "create", "merged", "--workers", "1")
    killer.watch(proc, "associate-endpoint")
    assert killer.killed.wait(60), "never reached the write that starts associate-endpoint"
    doc = read_json(s3, BUCKET, f"{PREFIX}clusters/merged.state.json")
    job = read_job(s3, doc["status"]["job_id"])
    steps = {s["name"]: s for s in job["steps"]}
    assert steps["launch-servers"]["status"] == "done"
    assert steps["launch-agents"]["status"] == steps["associate-endpoint"]["status"] == "running"
    assert steps["wait-ready"]["status"] == "pending"

    resumed = resume_after_leases([job], goman_proc)
    assert resumed.exit_code == 0, resumed.stderr
    job = read_job(s3, job["id"])
    assert job["status"] == "succeeded" and job["attempts"] == 2
    attempts = {s["name"]: s["attempts"] for s in job["steps"]}
    assert attempts["launch-servers"] == 1  # done before the crash: not run again
    assert attempts["launch-agents"] == attempts["associate-endpoint"] == 2
    doc = read_json(s3, BUCKET, f"{PREFIX}clusters/merged.state.json")
    instances = live_instances(ec2_client(aws_env), doc["cluster_id"])
    assert sorted(tag(i, "goman:node") for i in instances) == ["merged-agent-0", "merged-server-0"]


def ec2_client(aws_env: dict[str, str]) -> Any:
    import boto3

    return boto3.client("ec2", region_name="ap-south-1")
