"""How a worker changes a job document: pure functions of the job (they may run more
than once, on a fresher version, when a write meets a 412)."""

from __future__ import annotations

from datetime import datetime

from goman.models.base import utcnow
from goman.models.cluster import ClusterDoc
from goman.models.job import Job

# A step that ended, with its message and when it ended (recorded with the next write).
Ended = tuple[str, str, datetime]


def holds(doc: ClusterDoc, job: Job) -> bool:
    return doc.status.job_id == job.id and doc.cluster_id == job.cluster_id


def start_step(job: Job, name: str, owner: str) -> Job:
    now = utcnow()
    for step in job.steps:
        if step.name == name:
            step.status = "running"
            step.started_at = now
            step.ended_at = None
            step.attempts += 1
            step.owner = owner
            step.message = ""
    return job


def end_step(job: Job, name: str, status: str, message: str, at: datetime | None = None) -> Job:
    for step in job.steps:
        if step.name == name:
            step.status = status  # type: ignore[assignment]
            step.ended_at = at or utcnow()
            step.message = message
    return job


def boundary(job: Job, *, ended: list[Ended], start: list[str], owner: str) -> Job:
    """One write: the steps that ended are done (at the time they ended), the ones that
    became ready start."""
    for name, message, at in ended:
        job = end_step(job, name, "done", message, at)
    for name in start:
        job = start_step(job, name, owner)
    return job


def succeeded(job: Job) -> Job:
    job.status = "succeeded"
    job.finished_at = utcnow()
    job.error = None
    job.lease = None
    return job
