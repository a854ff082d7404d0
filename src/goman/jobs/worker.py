"""The worker: claims a job by CAS, runs its steps, records them, lets go.

The same Worker runs in the foreground of `goman cluster create`, inside the TUI and
headless in `goman worker`. While steps run, a background thread renews the lease and
watches the job document; a worker that finds its lease taken over stops before it starts
another step, or within a second inside a long wait (as it does for a cancel request).

Steps start by a CAS write naming this worker as the lease owner, so two workers racing
for one job never both start a step while the first one's lease is alive. A step starts
as soon as the steps it needs are done (`goman.jobs.steps`): one write records the steps
that just ended and starts the ones that became ready, and steps that do not wait for
each other run at once. The claim itself starts the first ones. Every write uses the
version of the job document this worker last wrote (If-Match on its ETag); only a 412
(a cancel request, a takeover) costs a read.

A worker given a `stop` event (the TUI, when it quits) hands its job back to the queue at
the first safe point once the event is set: between steps, or inside a long wait. The job
is not cancelled; the steps that were running are run again by the next worker.
"""

from __future__ import annotations

import contextlib
import functools
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from goman.aws.errors import GomanError
from goman.aws.parallel import spawn
from goman.clusters.state import find_cluster, update_cluster
from goman.jobs import lease, outcome, queue, record
from goman.jobs.heartbeat import Heartbeat, Writes
from goman.jobs.lease import LeaseHeld, LeaseLost
from goman.models.base import utcnow
from goman.models.cluster import ClusterDoc
from goman.models.config import AppConfig
from goman.models.job import Job, QueueEntry
from goman.state import keys
from goman.state.store import StateStore, Versioned

if TYPE_CHECKING:
    from goman.jobs.reconcile import Reconciler

ProgressFn = Callable[[Job, ClusterDoc | None], None]

# A step started this many times without finishing (crashes, takeovers) fails the job:
# the retry is bounded across workers, not only within one.
MAX_STEP_STARTS = 5
FOLLOW_POLL_SECONDS = 1.0
# How long steps still running get to stop (at their next wait, or when their call
# returns) when the job ends early: a lost lease, a Ctrl-C.
STEPS_STOP_SECONDS = 30.0


@dataclass
class _Outcome:
    """What the steps that ran at once came to."""

    # (step, message, when it ended), done: recorded with the next write
    ended: list[record.Ended] = field(default_factory=list)
    failed: tuple[str, str] | None = None  # (step, reason)
    interrupted: bool = False
    lost: bool = False


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
        self._config: AppConfig | None = None
        self._job: Job | None = None
        self._writes = Writes()  # this worker's writes of its job document
        self._progress_lock = threading.Lock()
        self._leased: dict[str, datetime] = {}  # job id -> when another worker's lease ends
        self._beat: Heartbeat | None = None
        self._halt = threading.Event()
        self._queue_lock = threading.Lock()
        self._later: list[QueueEntry] | None = None  # ended jobs' entries, inside a pass
        self._let_go: set[str] = set()  # jobs this worker ended or handed back

    @property
    def config(self) -> AppConfig:
        if self._config is None:
            # The version this process read last will do (a command read it just now).
            got = self.store.cached(keys.CONFIG, AppConfig)
            self._config = got.doc if got else AppConfig()
        return self._config

    @property
    def lease_seconds(self) -> int:
        return self.config.job_lease_seconds

    # -- the public face ------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def run(self, job_id: str, *, follow: bool = True) -> Job:
        """Run the job to its end and return it. If another worker holds it, follow that
        worker (follow=True) and take over if its lease expires, or raise LeaseHeld.
        Once the stop event is set, the job is returned as it is (handed back if held)."""
        return self._run(job_id, follow=follow)[0]

    def _run(self, job_id: str, *, follow: bool) -> tuple[Job, bool]:
        """The job as it ended here, and whether this worker ran any of its steps."""
        ran = False
        while True:
            if self.stopping:
                return queue.get_job(self.store, job_id), ran
            try:
                job, rec = self._claim(job_id)
            except LeaseHeld:
                if not follow:
                    raise
                job = self._follow(job_id)
                if job.finished or self.stopping:
                    return job, ran
                continue
            if job.finished:
                return job, ran
            ran = True
            self._note_in_queue(job)
            try:
                return self._drive(job, rec), ran
            except LeaseLost:
                if not follow:
                    return queue.get_job(self.store, job_id), ran

    def run_once(self) -> int:
        """Run every runnable job (pending, or running with an expired lease); returns how
        many this worker ran. Reads `queue.json`, and the documents of open jobs only."""
        with self._queue_lock:
            self._later = []
        try:
            return self._pass()
        finally:
            self._flush_queue()

    def _pass(self) -> int:
        from goman.aws.parallel import both

        entries, config = both(lambda: queue.open_entries(self.store), lambda: self.config)
        with contextlib.suppress(GomanError):
            queue.prune_if_due(self.store, config.job_retention_days)
        tried: set[str] = set()
        count = 0
        while not self.stopping:
            now = utcnow()
            todo = [
                e
                for e in entries
                if e.id not in tried
                and not (e.id in self._leased and self._leased[e.id] > now)
                and not queue.taken(e, self.owner, now)
            ]
            if not todo:
                return count
            ran_one = False
            for entry in self._spread(todo):
                if self.stopping:
                    break
                tried.add(entry.id)
                if self._try(entry):
                    count += 1
                    ran_one = True
                    break  # new jobs may have been queued meanwhile: look again
            if not ran_one:
                return count
            entries = queue.open_entries(self.store)
        return count

    def run_forever(self, stop: threading.Event, poll: float = 2.0) -> None:
        while not stop.is_set():
            self.run_once()
            stop.wait(poll)

    # -- finding work ---------------------------------------------------------------

    def _spread(self, entries: list[QueueEntry]) -> list[QueueEntry]:
        """Oldest first, but workers that look at once start at different jobs, so they
        rarely reach for the same one (each reach for a taken job costs a read)."""
        if len(entries) <= 1:
            return entries
        start = random.Random(self.owner).randrange(len(entries))
        return entries[start:] + entries[:start]

    def _try(self, entry: QueueEntry) -> bool:
        """Run the entry's job if it is runnable; whether this worker ran it."""
        from goman.aws.errors import CorruptDocumentError

        try:
            job = queue.document_for(self.store, entry)
        except CorruptDocumentError as exc:
            # A forged or broken job never runs, and never stops the others: it ends failed.
            self._keep_for_later(
                [
                    entry.model_copy(
                        update={"status": "failed", "error": exc.message, "finished_at": utcnow()}
                    )
                ]
            )
            return False
        if job is None:
            return False
        if job.finished:
            queue.record_finished(self.store, job)  # its worker stopped before saying so
            return False
        if not queue.runnable(job):
            if job.lease is not None:
                self._leased[job.id] = job.lease.expires_at
            return False
        try:
            return self._run(job.id, follow=False)[1]
        except (LeaseHeld, LeaseLost) as exc:
            held = getattr(exc, "job", None)
            if isinstance(held, Job) and held.lease is not None:
                self._leased[held.id] = held.lease.expires_at
            return False

    # -- internals ------------------------------------------------------------------

    def _note_in_queue(self, job: Job) -> None:
        """Tell other workers, through the queue, that this one runs the job (behind the
        claim: the steps do not wait for it, and a lost note only costs them a read)."""

        def note() -> None:
            # A moment's wait, different per worker: workers that claim at once would
            # otherwise all write the queue at once, and all but one be refused.
            time.sleep(random.uniform(0.0, 0.5))
            with self._queue_lock:
                ended = list(self._later or [])
                if self._later is not None:
                    self._later.clear()
            if job.id in self._let_go:
                # It ended (or was handed back) meanwhile: what ended says so already.
                if ended:
                    self._keep_for_later(ended)
                return
            try:
                queue.record_claim(self.store, job, ended)
            except GomanError:
                self._keep_for_later(ended)  # the ends are no hint: they go out later

        spawn(note, name=f"queue-{job.id}")

    def _keep_for_later(self, ended: list[QueueEntry]) -> None:
        with self._queue_lock:
            if self._later is not None:
                self._later[:0] = ended
                return
        with contextlib.suppress(GomanError):
            queue.record_entries(self.store, ended)

    def _progress(self, job: Job, doc: ClusterDoc | None) -> None:
        if self.on_progress is not None:
            with self._progress_lock:
                self.on_progress(job, doc)

    def _cluster(self, job: Job) -> ClusterDoc | None:
        got = find_cluster(self.store, job.cluster)
        return got.doc if got else None

    def _claim(self, job_id: str) -> tuple[Job, Reconciler | None]:
        """Claim the job and start its first steps in the same write. Meanwhile, when the
        job is known already, read the cluster's state document and start the look-ups
        its steps will need, so they are done when the steps need them."""
        from goman.aws.parallel import both
        from goman.jobs.steps import ready

        def start(job: Job) -> Job:
            done = [s.name for s in job.steps if s.status in {"done", "skipped"}]
            for name in ready(job, done):
                record.start_step(job, name, self.owner)
            return job

        def claim() -> Job:
            with self._writes.lock:
                job = lease.claim(self.store, job_id, self.owner, self.lease_seconds, start=start)
                self._writes.last = time.monotonic()
                return job

        from goman.jobs.params import problem

        self._halt = threading.Event()
        known = self.store.known(keys.job(job_id), Job)
        if known is not None and not known.doc.finished and problem(known.doc) is None:
            job, rec = both(claim, lambda: self._context(known.doc))
            rec.job = job
        else:
            job = claim()
            if job.finished:
                return job, None
            if problem(job) is not None:
                # Nothing is read or looked up for it: the check fails it (see _drive).
                return job, self._bare_context(job)
            rec = self._context(job)
        rec.prefetch([s.name for s in job.steps if s.status not in {"done", "skipped"}])
        return job, rec

    def _context(self, job: Job) -> Reconciler:
        """The steps' context, with the cluster's state document as it is now. When this
        process knows the document already (it just queued the job), the look-ups the
        steps need start from that version while the current one is read and the job
        claimed (a cluster's region and instance type never change); otherwise they start
        once the claim succeeded."""
        from goman.jobs.reconcile import Reconciler

        todo = [s.name for s in job.steps if s.status not in {"done", "skipped"}]
        known = self.store.known(keys.cluster_state(job.cluster), ClusterDoc)
        rec = Reconciler(
            self.store,
            job,
            doc=known.doc if known else None,
            progress=lambda d: self._progress(self._job_now(), d),
            should_stop=self._should_stop,
        )
        if known is not None:
            rec.prefetch(todo)
        rec.doc = self._cluster(job)
        return rec

    def _bare_context(self, job: Job) -> Reconciler:
        from goman.jobs.reconcile import Reconciler

        return Reconciler(self.store, job, doc=None, should_stop=self._should_stop)

    def _should_stop(self) -> bool:
        """Whether a step's long wait should end: a cancel, a lost lease, the stop event,
        or another step of the job failed."""
        beat = self._beat
        return (
            self.stopping
            or self._halt.is_set()
            or (beat is not None and (beat.lost.is_set() or beat.cancel.is_set()))
        )

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
        with self._writes.lock:
            self._job = lease.held_update(
                self.store, self._job.id, self.owner, self.lease_seconds, change
            )
            self._writes.last = time.monotonic()
        return self._job

    def _drive(self, job: Job, rec: Reconciler | None) -> Job:
        assert rec is not None
        self._job = job
        beat = Heartbeat(self.store, job.id, self.owner, self.lease_seconds, self._writes)
        self._beat = beat
        beat.start()
        halt = self._halt  # a step failed: the others stop at their next wait
        try:
            problem = rec.check()
            if problem is not None:
                return self._finish_failed(None, problem, [], touch_cluster=False)
            return self._steps(rec, job, beat, halt)
        except KeyboardInterrupt:
            # Give the job back at once so the next worker need not wait for the lease.
            with contextlib.suppress(Exception):
                released = lease.release(self.store, job.id, self.owner)
                if released is not None:
                    queue.record_claim(self.store, released)
            raise
        finally:
            beat.stop()
            rec.close()
            self._job = None
            self._beat = None

    def _steps(self, rec: Reconciler, job: Job, beat: Heartbeat, halt: threading.Event) -> Job:
        from goman.jobs.steps import ready

        done = {s.name for s in job.steps if s.status in {"done", "skipped"}}
        started = [s.name for s in job.steps if s.status == "running"]
        running: dict[Future[str], str] = {}
        result = _Outcome()
        try:
            while True:
                if job.cancel_requested:
                    return self._stop_all(rec, running, result, halt, cancel=True)
                too_often = next(
                    (s for s in job.steps if s.name in started and s.attempts > MAX_STEP_STARTS),
                    None,
                )
                if too_often is not None:
                    reason = (
                        f"step {too_often.name} was started {too_often.attempts - 1} times "
                        "without finishing"
                    )
                    result.failed = result.failed or (too_often.name, reason)
                    return self._stop_all(rec, running, result, halt)
                for name in started:
                    run = functools.partial(rec.run_step, name, job)
                    running[spawn(run, name=f"step-{name}")] = name
                self._progress(job, rec.doc)
                if not running:
                    break
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in finished:
                    _collect(future, running.pop(future), result, done)
                if result.failed or result.interrupted or result.lost or beat.lost.is_set():
                    return self._stop_all(rec, running, result, halt)
                if self.stopping:
                    return self._stop_all(rec, running, result, halt)
                started = ready(job, done, running.values())
                if not started and not running:
                    break  # the last step ended: recorded with the job's end
                # Steps that ended are recorded with the next start (or the job's end): a
                # write of their own would hold up the start that follows it.
                if started:
                    job = self._update(
                        functools.partial(
                            record.boundary, ended=result.ended, start=started, owner=self.owner
                        )
                    )
                    rec.job = job
                    result.ended = []
            ended = result.ended

            def succeed(j: Job) -> Job:
                return record.succeeded(record.boundary(j, ended=ended, start=[], owner=self.owner))

            job = self._update(succeed)
            rec.job = job
            self._progress(job, rec.doc)
            self._finished(job)
            return job
        finally:
            halt.set()  # whatever ended this (a lost lease too), no step goes on
            wait(list(running), timeout=STEPS_STOP_SECONDS)

    def _stop_all(
        self,
        rec: Reconciler,
        running: dict[Future[str], str],
        result: _Outcome,
        halt: threading.Event,
        *,
        cancel: bool = False,
    ) -> Job:
        """Let the steps still running end (they stop at their next wait), then record
        how the job ends: failed, lost, cancelled or handed back."""
        halt.set()
        if running:
            wait(list(running))
            for future, name in list(running.items()):
                _collect(future, name, result, set())
            running.clear()
        job = self._job_now()
        lost = result.lost or (self._beat_lost())
        if lost:
            raise LeaseLost(job.id, None)
        if result.failed is not None:
            step, reason = result.failed
            return self._finish_failed(step, reason, result.ended)
        if cancel or self._cancel_seen() or (result.interrupted and not self.stopping):
            return self._finish_cancelled(result.ended)
        return self._hand_back(rec.doc, result.ended)

    def _beat_lost(self) -> bool:
        return self._beat is not None and self._beat.lost.is_set()

    def _cancel_seen(self) -> bool:
        return self._beat is not None and self._beat.cancel.is_set()

    def _job_now(self) -> Job:
        assert self._job is not None
        return self._job

    def _finished(self, job: Job) -> None:
        """The queue learns that the job ended (after its document says so). Inside a
        pass over the queue the entry goes out with the next queue write (the note of the
        next claim, or the end of the pass): one write instead of two."""
        with self._queue_lock:
            self._let_go.add(job.id)
            if self._later is not None:
                self._later.append(queue.entry_of(job))
                return
        with contextlib.suppress(GomanError):
            queue.record_finished(self.store, job)

    def _flush_queue(self) -> None:
        """Write the entries kept for later (at the end of a pass)."""
        with self._queue_lock:
            entries, self._later = self._later or [], None
        if entries:
            with contextlib.suppress(GomanError):
                queue.record_entries(self.store, entries)

    def _hand_back(self, doc: ClusterDoc | None, ended: list[record.Ended]) -> Job:
        """Give the job back to the queue, not cancelled: any worker may resume it at once."""
        job = self._job_now()
        # If this write fails, the job is free anyway once its lease runs out.
        with contextlib.suppress(GomanError), self._writes.lock:
            job = (
                lease.release(
                    self.store,
                    job.id,
                    self.owner,
                    functools.partial(record.boundary, ended=ended, start=[], owner=self.owner),
                )
                or job
            )
        with self._queue_lock:
            self._let_go.add(job.id)
        with contextlib.suppress(GomanError):
            queue.record_claim(self.store, job)  # free in the queue too: resumed at once
        self._progress(job, doc)
        return job

    def _finish_failed(
        self,
        step: str | None,
        reason: str,
        ended: list[record.Ended],
        *,
        touch_cluster: bool = True,
    ) -> Job:
        def change(j: Job) -> Job:
            j = record.boundary(j, ended=ended, start=[], owner=self.owner)
            for s in j.steps:
                if s.status == "running" and s.name != step:
                    s.status = "pending"  # stopped because another step failed: not run
            if step is not None:
                j = record.end_step(j, step, "failed", reason)
            j.status = "failed"
            j.error = reason
            j.finished_at = utcnow()
            j.lease = None
            return j

        job = self._update(change)
        doc = None
        if touch_cluster:

            def on_cluster(d: ClusterDoc) -> ClusterDoc | None:
                return outcome.failed(d, job, reason) if record.holds(d, job) else None

            doc = update_cluster(self.store, job.cluster, on_cluster)
        self._finished(job)
        self._progress(job, doc)
        return job

    def _finish_cancelled(self, ended: list[record.Ended]) -> Job:
        def change(j: Job) -> Job:
            j = record.boundary(j, ended=ended, start=[], owner=self.owner)
            for s in j.steps:
                if s.status == "running":
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
                outcome.cancelled(d, job, done[-1] if done else None)
                if record.holds(d, job)
                else None
            ),
        )
        self._finished(job)
        self._progress(job, doc)
        return job


def _collect(future: Future[str], name: str, result: _Outcome, done: set[str]) -> None:
    from goman.jobs.reconcile import Interrupted, StepFailed

    try:
        message = future.result()
    except LeaseLost:
        result.lost = True
    except Interrupted:
        result.interrupted = True
    except StepFailed as exc:
        result.failed = result.failed or (name, exc.reason)
    except GomanError as exc:
        result.failed = result.failed or (name, exc.message)
    except Exception as exc:
        result.failed = result.failed or (name, f"{type(exc).__name__}: {exc}")
    else:
        result.ended.append((name, message, utcnow()))
        done.add(name)
