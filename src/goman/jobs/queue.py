"""The job queue: `jobs/{id}.json` documents, and `queue.json`, the small document that
says which jobs are open and which finished lately.

Finding runnable work and listing recent jobs read `queue.json`, not the job documents:
a profile with 10,000 finished jobs costs one GET. The queue holds every unfinished job
and the RECENT_FINISHED most recently finished ones; older finished jobs are read only on
request (`goman jobs list --all`, `goman jobs show ID`).

Writes, each a CAS on `queue.json`:
- enqueue: the queue entry first, then the job document. The entry carries what the job
  document holds when it is created (type, cluster, params, steps), so if the command that
  queues a job dies between the two writes, the next worker that meets the entry writes
  the job document from it and runs it: a queued job is never lost. The two writes carry
  the same content, so whichever lands first is the job (the other finds it there).
- finish: after the job document records the end (a `goman worker` pass sends it with
  its next claim note, or at the end of the pass). A worker that dies between the two
  leaves an entry marked open whose document says finished; the next worker that reads
  the document (or `goman state reindex`) marks the entry finished.
- claim (and hand-back): who runs the job and until when its lease ran then, written
  behind the claim; other workers skip a job the queue says is taken until that time.
  Only a hint: the job document's lease decides. Heartbeats and steps do not touch
  `queue.json`; the job document has the live detail.

`goman state reindex` rebuilds `queue.json` from the job documents (keeping entries whose
document is not written yet). Retention: a finished job's document is deleted
`job_retention_days` (config.json, default 30) after it finished, by a worker, at most
once a day (`prune_if_due`); job ids start with their creation time, so the pass reads
only jobs created before the cutoff. Jobs that have not finished are never pruned.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime, timedelta

from goman.aws.errors import AlreadyExistsError, NotFoundError, UsageError
from goman.aws.parallel import each
from goman.jobs import lease
from goman.models.base import utcnow
from goman.models.cluster import ClusterDoc
from goman.models.job import Job, JobQueue, QueueEntry, Step
from goman.state import keys
from goman.state.store import MAX_CAS_ATTEMPTS, NOT_MODIFIED, StateStore, Versioned

RECENT_FINISHED = 100
PRUNE_EVERY = timedelta(days=1)


def _valid_id(job_id: str) -> str:
    if not job_id or "/" in job_id or job_id.startswith(".") or len(job_id) > 100:
        raise UsageError(f"{job_id!r} is not a job id.", "See the ids with `goman jobs list`.")
    return job_id


# -- queue.json -----------------------------------------------------------------------------


def entry_of(job: Job) -> QueueEntry:
    """The entry of a job; an open one also carries what writing its document needs."""
    open_ = not job.finished
    return QueueEntry(
        id=job.id,
        type=job.type,
        cluster=job.cluster,
        cluster_id=job.cluster_id,
        status=job.status,
        owner=job.lease.owner if job.lease and open_ else None,
        lease_expires_at=job.lease.expires_at if job.lease and open_ else None,
        created_at=job.created_at,
        created_by=job.created_by,
        finished_at=job.finished_at,
        attempts=job.attempts if job.finished else 0,
        error=job.error,
        params=dict(job.params) if open_ else None,
        steps=[s.name for s in job.steps] if open_ else None,
    )


def job_of(entry: QueueEntry) -> Job:
    """The job document an open entry stands for (as `enqueue` writes it)."""
    return Job(
        id=entry.id,
        type=entry.type,
        cluster=entry.cluster,
        cluster_id=entry.cluster_id,
        params=dict(entry.params or {}),
        steps=[Step(name=name) for name in entry.steps or []],
        created_at=entry.created_at,
        created_by=entry.created_by,
        updated_at=entry.created_at,
    )


def _trimmed(entries: dict[str, QueueEntry]) -> dict[str, QueueEntry]:
    """Every open entry, and the RECENT_FINISHED most recently finished ones."""
    done = sorted(
        (e for e in entries.values() if e.finished),
        key=lambda e: (e.finished_at or e.created_at, e.id),
        reverse=True,
    )
    keep = {e.id for e in done[:RECENT_FINISHED]}
    return {k: e for k, e in entries.items() if not e.finished or k in keep}


def _adopt_older_jobs(store: StateStore) -> None:
    """A profile kept by a goman from before `queue.json` has job documents and no queue:
    the first command that needs the queue builds it from them (one LIST tells)."""
    if store.known(keys.QUEUE, JobQueue) is not None or store.get(keys.QUEUE, JobQueue):
        return
    if any(_is_job_key(o.key) for o in itertools.islice(store.iter_ls(keys.JOBS_DIR), 1000)):
        rebuild(store)


def _put_entries(
    store: StateStore, entries: list[QueueEntry], attempts: int = MAX_CAS_ATTEMPTS
) -> None:
    _adopt_older_jobs(store)

    def change(queue: JobQueue | None) -> JobQueue | None:
        queue = queue or JobQueue()
        merged = dict(queue.jobs)
        for entry in entries:
            if merged.get(entry.id) == entry:
                continue
            if merged.get(entry.id) is not None and merged[entry.id].finished:
                continue  # finished stays finished
            merged[entry.id] = entry
        merged = _trimmed(merged)
        if merged == queue.jobs:
            return None
        queue.jobs = merged
        return queue

    store.update(keys.QUEUE, JobQueue, change, attempts=attempts)


def read_queue(store: StateStore) -> JobQueue:
    """The queue, at one request: a conditional GET (a 304, no body) when this store
    already knows the current version."""
    known = store.known(keys.QUEUE, JobQueue)
    if known is None:
        got = store.get(keys.QUEUE, JobQueue)
        if got is None:
            _adopt_older_jobs(store)
            got = store.known(keys.QUEUE, JobQueue)
        return got.doc if got else JobQueue()
    fresh = store.get_if_changed(keys.QUEUE, JobQueue, known.etag)
    if fresh is NOT_MODIFIED:
        return known.doc
    return fresh.doc if isinstance(fresh, Versioned) else JobQueue()


def open_entries(store: StateStore) -> list[QueueEntry]:
    """Unfinished jobs as the queue knows them, oldest first."""
    queue = read_queue(store)
    return sorted(
        (e for e in queue.jobs.values() if not e.finished), key=lambda e: (e.created_at, e.id)
    )


def record_finished(store: StateStore, job: Job) -> None:
    """Mark a finished job's entry finished (after its document says so)."""
    if job.finished:
        _put_entries(store, [entry_of(job)])


def record_entries(store: StateStore, entries: list[QueueEntry]) -> None:
    """Entries a worker kept to write together (jobs that ended)."""
    _put_entries(store, entries)


def record_claim(store: StateStore, job: Job, ended: list[QueueEntry] | None = None) -> None:
    """Say in the queue who runs the job now (a hint for other workers, so they do not
    read the documents of jobs that are taken; a finished entry is never reopened), with
    the entries of jobs this worker ended before. A note lost would cost every other
    worker a read of the job's document, so it is retried as any write is."""
    _put_entries(store, [*(ended or []), entry_of(job)])


def taken(entry: QueueEntry, owner: str, now: datetime) -> bool:
    """Whether the queue says another worker runs the job under a lease not yet run out."""
    return (
        entry.owner is not None
        and entry.owner != owner
        and entry.lease_expires_at is not None
        and entry.lease_expires_at > now
    )


# -- job documents --------------------------------------------------------------------------


def enqueue(store: StateStore, job: Job) -> Job:
    """Queue a job: its entry, then its document (see the module doc for why that order).
    A job whose parameters are not valid for its type is refused before either write."""
    from goman.jobs.params import problem

    why = problem(job)
    if why is not None:
        raise UsageError(
            f"Cannot queue this job: {why}.", "This is a bug in goman; please report it."
        )
    _put_entries(store, [entry_of(job)])
    try:
        return store.create(keys.job(job.id), job).doc
    except AlreadyExistsError:
        got = store.get(keys.job(job.id), Job)  # a worker wrote it from the entry first
        if got is None:
            raise
        return got.doc


def get_job(store: StateStore, job_id: str) -> Job:
    got = store.get(keys.job(_valid_id(job_id)), Job)
    if got is None:
        raise NotFoundError(
            f"Job {job_id} does not exist (profile '{store.ctx.profile}').",
            "See the jobs there are with `goman jobs list`.",
        )
    return got.doc


def document_for(store: StateStore, entry: QueueEntry) -> Job | None:
    """The job document of an entry; written from the entry if the command that queued the
    job stopped before it did (None if the entry cannot stand for a job)."""
    got = store.get(keys.job(entry.id), Job)
    if got is not None:
        return got.doc
    if entry.finished or not entry.steps:
        return None
    try:
        return store.create(keys.job(entry.id), job_of(entry)).doc
    except AlreadyExistsError:
        again = store.get(keys.job(entry.id), Job)
        return again.doc if again else None


def list_jobs(store: StateStore) -> list[Job]:
    """Every job document, newest first (one GET per job: for `jobs list --all`)."""
    rels = [o.key for o in store.ls(keys.JOBS_DIR) if _is_job_key(o.key)]

    def load(rel: str) -> Job | None:
        got = store.get(rel, Job)
        return got.doc if got else None

    jobs = [j for j in each(load, rels) if j is not None]
    jobs.sort(key=lambda j: (j.created_at, j.id), reverse=True)
    return jobs


def recent_jobs(store: StateStore) -> list[Job]:
    """Unfinished and recently finished jobs, newest first, from `queue.json` and the
    documents of the unfinished ones (for their live status). A finished job here carries
    only what a listing shows (no steps)."""
    queue = read_queue(store)
    opened = [e for e in queue.jobs.values() if not e.finished]
    docs = store.get_many([(keys.job(e.id), Job) for e in opened])
    live = {e.id: got.doc for e, got in zip(opened, docs, strict=True) if got is not None}
    out: list[Job] = []
    for entry in queue.jobs.values():
        job = live.get(entry.id)
        if job is None:
            job = job_of(entry) if not entry.finished else _finished_row(entry)
        out.append(job)
    out.sort(key=lambda j: (j.created_at, j.id), reverse=True)
    return out


def _finished_row(entry: QueueEntry) -> Job:
    return Job(
        id=entry.id,
        type=entry.type,
        cluster=entry.cluster,
        cluster_id=entry.cluster_id,
        status=entry.status,
        attempts=entry.attempts,
        error=entry.error,
        created_at=entry.created_at,
        created_by=entry.created_by,
        updated_at=entry.finished_at or entry.created_at,
        finished_at=entry.finished_at,
    )


def _is_job_key(rel: str) -> bool:
    return rel.startswith(keys.JOBS_DIR) and rel.endswith(".json") and rel.count("/") == 1


def runnable(job: Job, now: datetime | None = None) -> bool:
    if job.status == "pending":
        return not lease.live(job, now)
    return job.status == "running" and not lease.live(job, now)


def rebuild(store: StateStore) -> int:
    """Rebuild `queue.json` from the job documents; returns how many entries it holds.
    Open entries whose document is not written yet are kept (see `enqueue`)."""
    jobs = list_jobs(store)

    def change(queue: JobQueue | None) -> JobQueue | None:
        absent = queue is None
        queue = queue or JobQueue()
        entries = {j.id: entry_of(j) for j in jobs}
        for job_id, entry in queue.jobs.items():
            if job_id not in entries and not entry.finished:
                entries[job_id] = entry
        entries = _trimmed(entries)
        if entries == queue.jobs and not absent:
            return None
        queue.jobs = entries
        return queue

    got = store.update(keys.QUEUE, JobQueue, change)
    return len(got.doc.jobs) if got else 0


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
        record_finished(store, job)
    return job


# -- retention ------------------------------------------------------------------------------


def prune_jobs(store: StateStore, retention_days: int, now: datetime | None = None) -> list[str]:
    """Delete finished jobs that finished more than `retention_days` ago; returns their ids.

    Job ids start with their creation time (`plan.new_job_id`), and S3 lists keys in
    order, so the listing stops at the first job created after the cutoff: a job created
    later cannot have finished before it."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    stamp = cutoff.strftime("%Y%m%dT%H%M%S")
    candidates: list[str] = []
    for obj in store.iter_ls(keys.JOBS_DIR):
        if not _is_job_key(obj.key):
            continue
        job_id = obj.key[len(keys.JOBS_DIR) : -len(".json")]
        if job_id >= stamp:
            break
        candidates.append(job_id)

    def old(job_id: str) -> str | None:
        got = store.get(keys.job(job_id), Job)
        if got is None or not got.doc.finished:
            return None
        ended = got.doc.finished_at or got.doc.updated_at
        if ended >= cutoff:
            return None
        store.delete(keys.job(job_id), etag=got.etag)
        return job_id

    gone = [j for j in each(old, candidates) if j is not None]
    if gone:
        _drop_entries(store, gone)
    return gone


def _drop_entries(store: StateStore, ids: Iterable[str]) -> None:
    drop = set(ids)

    def change(queue: JobQueue | None) -> JobQueue | None:
        if queue is None or not drop & set(queue.jobs):
            return None
        queue.jobs = {k: e for k, e in queue.jobs.items() if k not in drop}
        return queue

    store.update(keys.QUEUE, JobQueue, change)


def prune_if_due(store: StateStore, retention_days: int) -> list[str]:
    """Prune at most once per PRUNE_EVERY per profile: the worker that records the pass in
    `queue.json` (by CAS) does it, the others skip it."""
    now = utcnow()
    known = store.known(keys.QUEUE, JobQueue)
    if known is not None and _recent(known.doc.pruned_at, now):
        return []  # the version just read says a pass was made lately: no request
    claimed: list[bool] = []

    def claim(queue: JobQueue | None) -> JobQueue | None:
        claimed[:] = []
        queue = queue or JobQueue()
        if _recent(queue.pruned_at, now):
            return None
        queue.pruned_at = now
        claimed.append(True)
        return queue

    store.update(keys.QUEUE, JobQueue, claim)
    return prune_jobs(store, retention_days, now) if claimed else []


def _recent(pruned_at: datetime | None, now: datetime) -> bool:
    return pruned_at is not None and now - pruned_at < PRUNE_EVERY
