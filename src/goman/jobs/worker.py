"""The worker: claims a job by CAS, runs its steps one by one, records each, lets go.

The same Worker runs in the foreground of `goman cluster create`, inside the TUI and
headless in `goman worker`. While a step runs, a background thread renews the lease and
watches the job document; a worker that finds its lease taken over stops before its next
step, or within a second inside a long wait (as it does for a cancel request). A step is
started only by a CAS write naming this worker as the lease owner, so two workers racing
for one job never both start a step while the first one's lease is alive.

A worker given a `stop` event (the TUI, when it quits) hands its job back to the queue at
the first safe point once the event is set: between steps, or inside a long wait. The job
is not cancelled; the step that was running is run again by the next worker.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable

from goman.aws.errors import GomanError
from goman.clusters.state import find_cluster, update_cluster
from goman.jobs import lease, outcome, queue
from goman.jobs.lease import LeaseHeld, LeaseLost
from goman.models.base import utcnow
from goman.models.cluster import ClusterDoc
from goman.models.job import Job
from goman.state import keys
from goman.state.config import load_config
from goman.state.store import StateStore, Versioned

ProgressFn = Callable[[Job, ClusterDoc | None], None]

# A step started this many times without finishing (crashes, takeovers) fails the job:
# the retry is bounded across workers, not only within one.
MAX_STEP_STARTS = 5
FOLLOW_POLL_SECONDS = 1.0
# How often a running job's document is read (a conditional GET: 304 while unchanged), so
# a cancel request or a takeover reaches a long wait within about a second.
WATCH_SECONDS = 1.0


class Worker:
    def __init__(
        self,
        store: StateStore,
        *,
        owner: str | None = None,
        on_progress: ProgressFn | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.store = store
        self.owner = owner or lease.new_owner_id()
        self.on_progress = on_progress
        self.stop = stop
        self._lease_seconds: int | None = None
        self._job: Job | None = None

    @property
    def lease_seconds(self) -> int:
        if self._lease_seconds is None:
            self._lease_seconds = load_config(self.store).job_lease_seconds
        return self._lease_seconds

    # -- the public face ------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def run(self, job_id: str, *, follow: bool = True) -> Job:
        """Run the job to its end and return it. If another worker holds it, follow that
        worker (follow=True) and take over if its lease expires, or raise LeaseHeld.
        Once the stop event is set, the job is returned as it is (handed back if held)."""
        while True:
            if self.stopping:
                return queue.get_job(self.store, job_id)
            try:
                job = lease.claim(self.store, job_id, self.owner, self.lease_seconds)
            except LeaseHeld:
                if not follow:
                    raise
                job = self._follow(job_id)
                if job.finished or self.stopping:
                    return job
                continue
            if job.finished:
                return job
            try:
                return self._drive(job)
            except LeaseLost:
                if not follow:
                    return queue.get_job(self.store, job_id)

    def run_once(self) -> int:
        """Prune old jobs, then run every runnable job; returns how many were run."""
        with contextlib.suppress(GomanError):
            queue.prune_jobs(self.store, load_config(self.store).job_retention_days)
        tried: set[str] = set()
        while True:
            todo = [j for j in queue.runnable_jobs(self.store) if j.id not in tried]
            if not todo or self.stopping:
                return len(tried)
            for job in todo:
                if self.stopping:
                    break
                tried.add(job.id)
                with contextlib.suppress(LeaseHeld, LeaseLost):
                    self.run(job.id, follow=False)

    def run_forever(self, stop: threading.Event, poll: float = 2.0) -> None:
        while not stop.is_set():
            self.run_once()
            stop.wait(poll)

    # -- internals ------------------------------------------------------------------

    def _progress(self, job: Job, doc: ClusterDoc | None) -> None:
        if self.on_progress is not None:
            self.on_progress(job, doc)

    def _cluster(self, job: Job) -> ClusterDoc | None:
        got = find_cluster(self.store, job.cluster)
        return got.doc if got else None

    def _follow(self, job_id: str) -> Job:
        """Watch a job another worker runs until it finishes or its lease expires."""
        job = queue.get_job(self.store, job_id)
        etag: str | None = None
        while not job.finished and lease.live(job) and not self.stopping:
            if self.stop is not None:
                if self.stop.wait(FOLLOW_POLL_SECONDS):
                    break
            else:
                time.sleep(FOLLOW_POLL_SECONDS)
            got = self.store.get_if_changed(keys.job(job_id), Job, etag)
            if not isinstance(got, Versioned):
                continue
            job, etag = got.doc, got.etag
            self._progress(job, self._cluster(job))
        return job

    def _update(self, change: Callable[[Job], Job]) -> Job:
        assert self._job is not None
        self._job = lease.held_update(
            self.store, self._job.id, self.owner, self.lease_seconds, change
        )
        return self._job

    def _drive(self, job: Job) -> Job:
        from goman.jobs.reconcile import Interrupted, Reconciler, StepFailed

        self._job = job
        beat = _Heartbeat(self.store, job.id, self.owner, self.lease_seconds)
        beat.start()

        def should_stop() -> bool:
            return beat.lost.is_set() or beat.cancel.is_set() or self.stopping

        try:
            rec = Reconciler(
                self.store,
                job,
                progress=lambda doc: self._progress(self._job_now(), doc),
                should_stop=should_stop,
            )
            problem = rec.check()
            if problem is not None:
                return self._finish_failed(None, problem, touch_cluster=False)
            for name in [s.name for s in job.steps if s.status not in {"done", "skipped"}]:
                if beat.lost.is_set():
                    raise LeaseLost(job.id, None)
                if self.stopping:
                    return self._hand_back(rec.doc)
                job = self._update(functools.partial(_start_step, name=name, owner=self.owner))
                if job.cancel_requested:
                    return self._finish_cancelled(name)
                step = next(s for s in job.steps if s.name == name)
                if step.attempts > MAX_STEP_STARTS:
                    return self._finish_failed(
                        name, f"step {name} was started {step.attempts - 1} times without finishing"
                    )
                self._progress(job, rec.doc)
                try:
                    message = rec.run_step(name, job)
                except LeaseLost:
                    raise
                except Interrupted:
                    if beat.lost.is_set():
                        raise LeaseLost(job.id, None) from None
                    if self.stopping and not beat.cancel.is_set():
                        return self._hand_back(rec.doc)
                    return self._finish_cancelled(name)
                except StepFailed as exc:
                    return self._finish_failed(name, exc.reason)
                except GomanError as exc:
                    return self._finish_failed(name, exc.message)
                except Exception as exc:
                    return self._finish_failed(name, f"{type(exc).__name__}: {exc}")
                job = self._update(
                    functools.partial(_end_step, name=name, status="done", message=message)
                )
                self._progress(job, rec.doc)
            job = self._update(_succeeded)
            self._progress(job, rec.doc)
            return job
        except KeyboardInterrupt:
            # Give the job back at once so the next worker need not wait for the lease.
            with contextlib.suppress(Exception):
                lease.release(self.store, job.id, self.owner)
            raise
        finally:
            beat.stop()
            self._job = None

    def _job_now(self) -> Job:
        assert self._job is not None
        return self._job

    def _hand_back(self, doc: ClusterDoc | None) -> Job:
        """Give the job back to the queue, not cancelled: any worker may resume it at once."""
        job = self._job_now()
        # If this write fails, the job is free anyway once its lease runs out.
        with contextlib.suppress(GomanError):
            job = lease.release(self.store, job.id, self.owner) or job
        self._progress(job, doc)
        return job

    def _finish_failed(self, step: str | None, reason: str, *, touch_cluster: bool = True) -> Job:
        def change(j: Job) -> Job:
            if step is not None:
                j = _end_step(j, step, "failed", reason)
            j.status = "failed"
            j.error = reason
            j.finished_at = utcnow()
            j.lease = None
            return j

        job = self._update(change)
        doc = None
        if touch_cluster:

            def on_cluster(d: ClusterDoc) -> ClusterDoc | None:
                return outcome.failed(d, job, reason) if _holds(d, job) else None

            doc = update_cluster(self.store, job.cluster, on_cluster)
        self._progress(job, doc)
        return job

    def _finish_cancelled(self, step: str) -> Job:
        def change(j: Job) -> Job:
            for s in j.steps:
                if s.name == step:
                    s.status = "pending"
            j.status = "cancelled"
            j.finished_at = utcnow()
            j.lease = None
            return j

        job = self._update(change)
        done = [s.name for s in job.steps if s.status == "done"]
        doc = update_cluster(
            self.store,
            job.cluster,
            lambda d: (
                outcome.cancelled(d, job, done[-1] if done else None) if _holds(d, job) else None
            ),
        )
        self._progress(job, doc)
        return job


def _holds(doc: ClusterDoc, job: Job) -> bool:
    return doc.status.job_id == job.id and doc.cluster_id == job.cluster_id


def _start_step(job: Job, name: str, owner: str) -> Job:
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


def _end_step(job: Job, name: str, status: str, message: str) -> Job:
    for step in job.steps:
        if step.name == name:
            step.status = status  # type: ignore[assignment]
            step.ended_at = utcnow()
            step.message = message
    return job


def _succeeded(job: Job) -> Job:
    job.status = "succeeded"
    job.finished_at = utcnow()
    job.error = None
    job.lease = None
    return job


class _Heartbeat:
    """Renews the lease every third of its length while the worker runs a job, and reads
    the job document every WATCH_SECONDS to learn of a cancel request or a takeover."""

    def __init__(self, store: StateStore, job_id: str, owner: str, seconds: int) -> None:
        self.store, self.job_id, self.owner, self.seconds = store, job_id, owner, seconds
        self.lost = threading.Event()
        self.cancel = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{job_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        every = max(1.0, self.seconds / 3)
        next_beat = time.monotonic() + every
        etag: str | None = None
        while not self._stop.wait(min(WATCH_SECONDS, every)):
            try:
                if time.monotonic() >= next_beat:
                    job = lease.heartbeat(self.store, self.job_id, self.owner, self.seconds)
                    next_beat = time.monotonic() + every
                else:
                    got = self.store.get_if_changed(keys.job(self.job_id), Job, etag)
                    if not isinstance(got, Versioned):
                        continue  # unchanged (or gone, which the next write reports)
                    job, etag = got.doc, got.etag
                    if not job.finished and (job.lease is None or job.lease.owner != self.owner):
                        self.lost.set()
                        return
            except LeaseLost:
                self.lost.set()
                return
            except Exception:
                continue  # a missed beat is fine: the next one comes well before expiry
            if job.cancel_requested:
                self.cancel.set()
            if job.finished:
                return
