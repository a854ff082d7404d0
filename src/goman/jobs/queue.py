"""The job queue: `jobs/{id}.json` documents, read and changed by CAS.

Retention: a finished job (succeeded, failed or cancelled) stays listable for
`job_retention_days` (config.json, default 30) after it finished; workers prune older
ones (`prune_jobs`, run by `goman worker` before it looks for work). Jobs that have not
finished are never pruned.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from goman.aws.errors import NotFoundError, UsageError
from goman.jobs import lease
from goman.models.base import utcnow
from goman.models.cluster import ClusterDoc
from goman.models.job import Job
from goman.state import keys
from goman.state.store import StateStore


def enqueue(store: StateStore, job: Job) -> Job:
    return store.create(keys.job(job.id), job).doc


def _valid_id(job_id: str) -> str:
    if not job_id or "/" in job_id or job_id.startswith(".") or len(job_id) > 100:
        raise UsageError(f"{job_id!r} is not a job id.", "See the ids with `goman jobs list`.")
    return job_id


def get_job(store: StateStore, job_id: str) -> Job:
    got = store.get(keys.job(_valid_id(job_id)), Job)
    if got is None:
        raise NotFoundError(
            f"Job {job_id} does not exist (profile '{store.ctx.profile}').",
            "See the jobs there are with `goman jobs list`.",
        )
    return got.doc


def list_jobs(store: StateStore) -> list[Job]:
    """Every job document, newest first."""
    rels = [o.key for o in store.ls(keys.JOBS_DIR) if o.key.endswith(".json")]

    def load(rel: str) -> Job | None:
        got = store.get(rel, Job)
        return got.doc if got else None

    with ThreadPoolExecutor(max_workers=8) as pool:
        jobs = [j for j in pool.map(load, rels) if j is not None]
    jobs.sort(key=lambda j: (j.created_at, j.id), reverse=True)
    return jobs


def runnable(job: Job, now: datetime | None = None) -> bool:
    if job.status == "pending":
        return not lease.live(job, now)
    return job.status == "running" and not lease.live(job, now)


def runnable_jobs(store: StateStore) -> list[Job]:
    """Pending jobs, and running ones whose worker's lease expired; oldest first."""
    now = utcnow()
    return sorted(
        (j for j in list_jobs(store) if runnable(j, now)), key=lambda j: (j.created_at, j.id)
    )


def cancel_job(store: StateStore, job_id: str) -> Job:
    """Ask a job to stop. A job nobody runs stops at once; a running one at its next step."""
    from goman.clusters.state import update_cluster
    from goman.jobs import outcome

    now = utcnow()

    def change(job: Job | None) -> Job | None:
        if job is None:
            raise NotFoundError(f"Job {job_id} does not exist.", "See `goman jobs list`.")
        if job.finished:
            return None
        if lease.live(job, now):
            job.cancel_requested = True
        else:
            job.cancel_requested = True
            job.status = "cancelled"
            job.finished_at = now
            job.lease = None
            for step in job.steps:
                if step.status == "running":
                    step.status = "pending"
        job.updated_at = now
        return job

    got = store.update(keys.job(_valid_id(job_id)), Job, change)
    if got is None:
        raise NotFoundError(f"Job {job_id} does not exist.", "See `goman jobs list`.")
    job = got.doc
    if job.status == "cancelled":
        done = [s.name for s in job.steps if s.status == "done"]
        at = done[-1] if done else None

        def on_cluster(doc: ClusterDoc) -> ClusterDoc | None:
            if doc.status.job_id != job.id:
                return None
            return outcome.cancelled(doc, job, at)

        update_cluster(store, job.cluster, on_cluster)
    return job


def prune_jobs(store: StateStore, retention_days: int, now: datetime | None = None) -> list[str]:
    """Delete finished jobs that finished more than `retention_days` ago; returns their ids."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    gone: list[str] = []
    for job in list_jobs(store):
        ended = job.finished_at or job.updated_at
        if job.finished and ended < cutoff:
            store.delete(keys.job(job.id))
            gone.append(job.id)
    return gone
