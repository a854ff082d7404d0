"""`queue.json`: finding work and listing jobs read it, not the job documents; it is
rebuildable; `worker --once` counts the jobs it ran; a lost lease costs one refused
write and one read, and the worker resumes the job once that lease runs out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest

from goman.aws.session import AwsContext
from goman.clusters import service
from goman.jobs import lease, queue
from goman.jobs.plan import new_job_id, steps_for
from goman.jobs.worker import Worker
from goman.models.base import utcnow
from goman.models.job import Job, Lease
from goman.state import keys
from goman.state.store import StateStore

EMULATOR = "HTTP_X_GOMAN_SANDBOX_GENERATION"


@contextmanager
def wire(sandbox: Any) -> Iterator[list[str]]:
    """Every request the sandbox serves meanwhile, as "METHOD path" (nodes left out)."""
    seen: list[str] = []

    def record(environ: dict[str, Any], start: Any) -> None:
        if not environ.get(EMULATOR):
            path = str(environ["PATH_INFO"]).replace("/goman-123456789012/state/default/", "")
            seen.append(f"{environ['REQUEST_METHOD']} {path}")

    sandbox.app.hooks.append(record)
    try:
        yield seen
    finally:
        sandbox.app.hooks.remove(record)


def _finished_jobs(store: StateStore, count: int) -> list[str]:
    ids = []
    for i in range(count):
        job = Job(
            id=new_job_id(),
            type="create",
            cluster=f"old{i}",
            cluster_id="0" * 24,
            steps=steps_for("create"),
        )
        queue.enqueue(store, job)
        done = store.update(
            keys.job(job.id),
            Job,
            lambda j: (
                j.model_copy(update={"status": "succeeded", "finished_at": utcnow()}) if j else None
            ),
        )
        assert done is not None
        queue.record_finished(store, done.doc)
        ids.append(job.id)
    return ids


def test_listing_and_finding_work_read_the_queue_not_the_jobs(
    goman: Any, store: StateStore, sandbox: Any
) -> None:
    assert goman("init").exit_code == 0
    finished = _finished_jobs(store, 12)
    assert goman("worker", "--once").exit_code == 0  # the day's pruning pass, once
    with wire(sandbox) as seen:
        listed = goman("jobs", "list", "-o", "json")
    assert sorted(j["id"] for j in listed.json()) == sorted(finished)
    assert seen == ["POST /", "GET queue.json"]  # identity, the queue: no job document
    with wire(sandbox) as seen:
        ran = goman("worker", "--once")
    assert "Ran 0 job(s)" in ran.stderr
    assert sorted(seen) == ["GET config.json", "GET queue.json", "POST /"]
    with wire(sandbox) as seen:
        every = goman("jobs", "list", "--all", "-o", "json")
    assert sorted(j["id"] for j in every.json()) == sorted(finished)
    assert sum(1 for s in seen if s.startswith("GET jobs/")) == len(finished)
    with wire(sandbox) as seen:
        status = goman("status", "-o", "json")
    assert status.json()["counts"] == {"clusters": 0, "jobs": 12}
    assert not [s for s in seen if "jobs/" in s or "list-type" in s]


def test_reindex_rebuilds_the_queue_and_keeps_entries_not_written_yet(
    goman: Any, store: StateStore, s3: Any
) -> None:
    created = service.create_cluster(store, "web")
    finished = _finished_jobs(store, 2)
    # An entry whose document its command never wrote (it died in between).
    intent = Job(
        id=new_job_id(),
        type="delete",
        cluster="web",
        cluster_id="1" * 24,
        steps=steps_for("delete"),
    )
    # The queue lost every other entry (say, a bad restore), but still has that one.
    s3.delete_object(Bucket="goman-123456789012", Key="state/default/queue.json")
    lonely = queue.JobQueue(jobs={intent.id: queue.entry_of(intent)})
    assert StateStore(AwsContext.from_flag(None)).create(keys.QUEUE, lonely)
    res = goman("state", "reindex", "-o", "json")
    assert res.exit_code == 0, res.output
    assert res.json() == {"clusters": ["web"], "queue": 4}
    rebuilt = queue.read_queue(StateStore(AwsContext.from_flag(None)))
    assert set(rebuilt.jobs) == {created.id, intent.id, *finished}
    assert rebuilt.jobs[created.id].status == "pending"
    assert {rebuilt.jobs[j].status for j in finished} == {"succeeded"}
    assert rebuilt.jobs[intent.id].steps == [s.name for s in steps_for("delete")]


def test_worker_once_counts_only_the_jobs_it_ran(
    goman: Any, store: StateStore, fresh_store: Any
) -> None:
    mine = service.create_cluster(store, "mine")
    theirs = service.create_cluster(store, "theirs")
    lease.claim(fresh_store(), theirs.id, "someone-else", seconds=300)  # alive elsewhere
    res = goman("worker", "--once")
    assert res.exit_code == 0, res.output
    assert "Ran 1 job(s)" in res.stderr
    assert queue.get_job(store, mine.id).status == "succeeded"
    assert queue.get_job(store, theirs.id).status == "running"


def test_a_lost_lease_costs_one_refused_write_and_the_worker_resumes_later(
    store: StateStore, fresh_store: Any, sandbox: Any
) -> None:
    job = service.create_cluster(store, "lost")
    worker = Worker(store, owner="first")
    lease.claim(store, job.id, "first", seconds=60)  # the version `store` holds now
    other = fresh_store()

    def take_over(j: Job | None) -> Job | None:
        assert j is not None
        j.lease = Lease(owner="second", expires_at=utcnow() + timedelta(seconds=60))
        return j

    taken = other.update(keys.job(job.id), Job, take_over)
    assert taken is not None
    with wire(sandbox) as seen, pytest.raises(lease.LeaseLost):
        lease.heartbeat(store, job.id, "first", 60)  # If-Match on the ETag it holds
    assert seen == [f"PUT jobs/{job.id}.json", f"GET jobs/{job.id}.json"]
    after = queue.get_job(other, job.id)
    assert after.revision == taken.doc.revision and after.lease is not None
    assert after.lease.owner == "second"  # the refused write changed nothing

    def expire(j: Job | None) -> Job | None:
        assert j is not None and j.lease is not None
        j.lease.expires_at = utcnow() - timedelta(seconds=1)
        return j

    other.update(keys.job(job.id), Job, expire)  # the second worker died
    done = worker.run(job.id)  # its held version is stale again: 412, read, claim
    assert done.status == "succeeded"
    assert {s.owner for s in done.steps} == {"first"}
    assert all(s.attempts == 1 for s in done.steps)
    assert done.attempts == 2


def test_a_profile_from_before_the_queue_gets_one_from_its_jobs(
    goman: Any, store: StateStore, s3: Any
) -> None:
    finished = _finished_jobs(store, 2)
    pending = service.create_cluster(store, "older")
    # As a goman from before queue.json left the profile: job documents only.
    s3.delete_object(Bucket="goman-123456789012", Key="state/default/queue.json")
    listed = goman("jobs", "list", "-o", "json").json()
    assert sorted(j["id"] for j in listed) == sorted([*finished, pending.id])
    ran = goman("worker", "--once")
    assert "Ran 1 job(s)" in ran.stderr, ran.output
    assert queue.get_job(store, pending.id).status == "succeeded"
