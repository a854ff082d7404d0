"""Runs jobs inside the TUI: the ones it starts, and the ones the user resumes.

Each job runs in its own daemon thread through the same `jobs.Worker` the CLI uses, so a
cluster created from the TUI progresses while the user watches. On quit, `stop` asks every
one of them to hand its job back to the queue (not cancelled) and waits a few seconds at
most, so any worker (`goman worker`, or another TUI) can resume it at once; a job whose
step cannot stop in time is resumed once its lease runs out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from goman.aws.errors import GomanError, map_error
from goman.state.store import StateStore

ProgressCallback = Callable[..., None]
ErrorCallback = Callable[[str, GomanError], None]


class JobRunner:
    """Background threads, one per job started here."""

    def __init__(
        self,
        store: StateStore,
        *,
        on_progress: ProgressCallback | None = None,
        on_error: ErrorCallback | None = None,
    ) -> None:
        self.store = store
        self.on_progress = on_progress
        self.on_error = on_error
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self, job_id: str) -> bool:
        """Run `job_id` here; False if it is already running in this process."""
        with self._lock:
            thread = self._threads.get(job_id)
            if thread is not None and thread.is_alive():
                return False
            thread = threading.Thread(
                target=self._run, args=(job_id,), name=f"goman-job-{job_id}", daemon=True
            )
            self._threads[job_id] = thread
        thread.start()
        return True

    def active(self) -> list[str]:
        """Jobs whose thread is still running here."""
        with self._lock:
            return [jid for jid, t in self._threads.items() if t.is_alive()]

    def stop(self, timeout: float) -> list[str]:
        """Ask every job running here to hand itself back, and wait up to `timeout` seconds
        for them; returns the ones still running (they are free when their lease ends)."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return self.active()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for every job started here (tests and benchmarks)."""
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout)

    def _run(self, job_id: str) -> None:
        from goman.jobs.worker import Worker

        try:
            Worker(self.store, on_progress=self.on_progress, stop=self._stop).run(job_id)
        except Exception as exc:
            if self.on_error is not None:
                self.on_error(job_id, map_error(exc, profile=self.store.ctx.profile))
