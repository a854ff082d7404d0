"""Job leases: who runs a job now, until when. Every change is a CAS on the job document,
made on the version the worker last wrote (If-Match on its ETag; a read only after a 412).

A worker holds a job while `lease.owner` is its id. It renews the lease (heartbeat) well
before `expires_at`; a lease that has expired may be taken over by any worker, and the
old holder finds out at its next write (LeaseLost) and stops before its next step.
Expiry compares against the local clock: keep worker clocks in sync (NTP).
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

from goman.aws.errors import ConflictError, NotFoundError
from goman.models.base import utcnow
from goman.models.job import Job, Lease
from goman.state import keys
from goman.state.store import StateStore


class LeaseHeld(ConflictError):
    """Another worker holds a live lease on the job."""

    def __init__(self, job: Job) -> None:
        assert job.lease is not None
        super().__init__(
            f"Job {job.id} is being run by {job.lease.owner} (lease until "
            f"{job.lease.expires_at:%H:%M:%S} UTC).",
            "Follow it with `goman jobs show " + job.id + "`; if that worker died, any "
            "worker takes the job over once the lease expires.",
        )
        self.job = job


class LeaseLost(ConflictError):
    """This worker's lease was taken over: it must stop touching the job."""

    def __init__(self, job_id: str, owner: str | None) -> None:
        super().__init__(
            f"Job {job_id} was taken over by {owner or 'nobody'}; this worker stopped.",
            f"See `goman jobs show {job_id}`.",
        )


def new_owner_id() -> str:
    user = os.environ.get("USER") or os.environ.get("USERNAME") or "user"
    return f"{user}@{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def live(job: Job, now: datetime | None = None) -> bool:
    return job.lease is not None and job.lease.expires_at > (now or utcnow())


def claim(
    store: StateStore,
    job_id: str,
    owner: str,
    seconds: int,
    *,
    start: Callable[[Job], Job] | None = None,
) -> Job:
    """Take the job (LeaseHeld if someone else holds a live lease). Finished: returned as is.
    `start` changes the job in the same write (the worker starts its first steps)."""

    def change(job: Job | None) -> Job | None:
        if job is None:
            raise NotFoundError(f"Job {job_id} does not exist.", "See `goman jobs list`.")
        if job.finished:
            return None
        now = utcnow()
        if job.lease is not None and job.lease.owner != owner and live(job, now):
            raise LeaseHeld(job)
        job.lease = Lease(
            owner=owner,
            acquired_at=now,
            heartbeat_at=now,
            expires_at=now + timedelta(seconds=seconds),
        )
        job.status = "running"
        job.attempts += 1
        job.updated_at = now
        return start(job) if start is not None else job

    got = store.update(keys.job(job_id), Job, change)
    if got is None:
        raise NotFoundError(f"Job {job_id} does not exist.", "See `goman jobs list`.")
    return got.doc


def held_update(
    store: StateStore, job_id: str, owner: str, seconds: int, change: Callable[[Job], Job]
) -> Job:
    """Apply `change` only while `owner` holds the job; renews the lease in the same write."""

    def apply(job: Job | None) -> Job | None:
        if job is None or job.lease is None or job.lease.owner != owner:
            raise LeaseLost(job_id, job.lease.owner if job and job.lease else None)
        now = utcnow()
        job = change(job)
        if job.lease is not None:
            job.lease.heartbeat_at = now
            job.lease.expires_at = now + timedelta(seconds=seconds)
        job.updated_at = now
        return job

    got = store.update(keys.job(job_id), Job, apply)
    assert got is not None
    return got.doc


def heartbeat(store: StateStore, job_id: str, owner: str, seconds: int) -> Job:
    return held_update(store, job_id, owner, seconds, lambda job: job)


def release(
    store: StateStore, job_id: str, owner: str, record: Callable[[Job], Job] | None = None
) -> Job | None:
    """Give an unfinished job back to the queue at once (e.g. on Ctrl-C): any worker may
    take it without waiting for the lease to expire. A step that was running will rerun.
    `record` changes the job in the same write (the worker records steps that ended)."""

    def change(job: Job | None) -> Job | None:
        if job is None or job.lease is None or job.lease.owner != owner:
            return None
        if record is not None:
            job = record(job)
        job.lease = None
        if not job.finished:
            job.status = "pending"
            for step in job.steps:
                if step.status == "running":
                    step.status = "pending"
        job.updated_at = utcnow()
        return job

    got = store.update(keys.job(job_id), Job, change)
    return got.doc if got else None
