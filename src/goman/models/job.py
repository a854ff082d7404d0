"""`jobs/{id}.json`: a durable background job, resumable by any worker."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from goman.models.base import Document, Part, utcnow

# A job id names its document (`jobs/{id}.json`): one plain path segment, nothing else.
# New ids look like 20261126T064850-46512d.
JOB_ID_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")


def check_job_id(value: str) -> str:
    if not JOB_ID_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid job id: use 1-64 letters, digits, '-' and '_', "
            "starting with a letter or digit"
        )
    return value


JobId = Annotated[str, AfterValidator(check_job_id)]

JobType = Literal["create", "scale", "delete", "upgrade", "stop", "start"]
JobStatus = Literal["pending", "running", "succeeded", "failed", "cancelled"]
StepStatus = Literal["pending", "running", "done", "failed", "skipped"]


class Step(Part):
    name: str
    status: StepStatus = "pending"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    attempts: int = 0
    message: str = ""
    owner: str | None = None  # the worker that last started it


class Lease(Part):
    owner: str  # e.g. "alice@host:1234:ab12cd"
    acquired_at: datetime = Field(default_factory=utcnow)
    heartbeat_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class Job(Document):
    id: JobId
    type: JobType
    cluster: str
    cluster_id: str
    status: JobStatus = "pending"
    params: dict[str, Any] = Field(default_factory=dict)
    steps: list[Step] = Field(default_factory=list)
    lease: Lease | None = None
    attempts: int = 0  # how many times a worker has claimed it
    error: str | None = None
    cancel_requested: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = ""
    updated_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status in {"succeeded", "failed", "cancelled"}

    @property
    def current_step(self) -> Step | None:
        for step in self.steps:
            if step.status in {"running", "failed"}:
                return step
        for step in self.steps:
            if step.status == "pending":
                return step
        return None


class QueueEntry(Part):
    """One job in `queue.json`: enough to find runnable work and list recent jobs without
    reading job documents. While the job is open it also carries what a worker needs to
    write the job document, should the command that queued it stop before it did."""

    id: JobId  # it names a document: a forged one makes `queue.json` invalid, like any field
    type: JobType
    cluster: str
    cluster_id: str
    status: JobStatus = "pending"
    # Who claimed it, and until when its lease ran at the claim (heartbeats do not write
    # here: past that time only the job document knows whether the lease is alive).
    owner: str | None = None
    lease_expires_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = ""
    finished_at: datetime | None = None
    attempts: int = 0
    error: str | None = None
    params: dict[str, Any] | None = None
    steps: list[str] | None = None

    @property
    def finished(self) -> bool:
        return self.status in {"succeeded", "failed", "cancelled"}


class JobQueue(Document):
    """`queue.json`: every unfinished job and the most recently finished ones."""

    jobs: dict[str, QueueEntry] = Field(default_factory=dict)
    pruned_at: datetime | None = None  # when a worker last pruned old job documents
