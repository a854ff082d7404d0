"""The lease heartbeat and the watch of a running job's document."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from goman.jobs import lease
from goman.jobs.lease import LeaseLost
from goman.models.job import Job
from goman.state import keys
from goman.state.store import StateStore, Versioned

# How often a running job's document is read (a conditional GET: 304 while unchanged), so
# a cancel request or a takeover reaches a long wait within about a second.
WATCH_SECONDS = 1.0


@dataclass
class Writes:
    """A worker's writes of its job document: one at a time, and when the last one was."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    last: float = 0.0


class Heartbeat:
    """Renews the lease when a third of it has passed since the worker last wrote the job
    document (a step boundary renews it too), and reads the job document every
    WATCH_SECONDS (a 304 while unchanged) to learn of a cancel request or a takeover."""

    def __init__(
        self, store: StateStore, job_id: str, owner: str, seconds: int, writes: Writes
    ) -> None:
        self.store, self.job_id, self.owner, self.seconds = store, job_id, owner, seconds
        self.writes = writes
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
        rel = keys.job(self.job_id)
        seen: str | None = None
        while not self._stop.wait(min(WATCH_SECONDS, every)):
            try:
                if time.monotonic() - self.writes.last >= every:
                    with self.writes.lock:
                        job = lease.heartbeat(self.store, self.job_id, self.owner, self.seconds)
                        self.writes.last = time.monotonic()
                else:
                    # A version this process wrote or read since the last look (the
                    # worker's own writes, a cancel from this process) is looked at
                    # without a request; otherwise a conditional GET (a 304 if unchanged).
                    known = self.store.known(rel, Job)
                    if known is not None and known.etag != seen:
                        job, seen = known.doc, known.etag
                    else:
                        got = self.store.get_if_changed(rel, Job, seen)
                        if not isinstance(got, Versioned):
                            continue  # unchanged (or gone, which the next write reports)
                        job, seen = got.doc, got.etag
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
