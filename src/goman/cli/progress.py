"""Live progress of a job on stderr, for people (stdout stays for what scripts read).

What it shows: the time since the job started here, the job and its step, the cluster's
phase, and each node's bootstrap phase (`booting`, `installing`, `ready`, `failed`, ...):

    01:42  create web  wait-ready  [Bootstrapping]  nodes 1/3 ready: ready server-0 · installing agent-0 · booting agent-1

On a terminal the line is rewritten at least once a second by a ticker thread, so the
clock moves even while a node takes minutes to boot. Without a terminal (a log file, CI)
a line is printed whenever what it shows changes, and once every HEARTBEAT_SECONDS while
nothing does: the log shows the job is alive without one line a second.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from goman.cli.output import echo, rewrite_line

if TYPE_CHECKING:
    from goman.models.cluster import ClusterDoc
    from goman.models.job import Job

TICK_SECONDS = 0.5
HEARTBEAT_SECONDS = 30.0
# Nodes are listed by phase, the ones that need a look first.
_PHASE_ORDER = ("failed", "booting", "installing", "launched", "pending", "ready", "terminated")


def describe(job: Job, doc: ClusterDoc | None) -> str:
    """The progress line without its clock."""
    step = job.current_step
    where = job.status if job.finished else (step.name if step else job.status)
    parts = [f"{job.type} {job.cluster}", where]
    if doc is not None:
        parts.append(f"[{doc.status.phase}]")
        if doc.status.nodes and job.type != "delete":
            total = doc.spec.servers + doc.spec.workers
            parts.append(f"nodes {doc.nodes_ready}/{total} ready: {node_phases(doc)}")
    return "  ".join(parts)


def node_phases(doc: ClusterDoc) -> str:
    """`ready server-0 · installing agent-0,agent-1`: every node under its phase."""
    prefix = f"{doc.name}-"
    by_phase: dict[str, list[str]] = {}
    for node in doc.status.nodes:
        by_phase.setdefault(node.phase, []).append(node.name.removeprefix(prefix))
    ordered = sorted(by_phase, key=lambda p: _PHASE_ORDER.index(p) if p in _PHASE_ORDER else 99)
    return " · ".join(f"{phase} {','.join(by_phase[phase])}" for phase in ordered)


def clock_text(seconds: float) -> str:
    whole = int(seconds)
    minutes, secs = divmod(whole, 60)
    if minutes >= 60:
        return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


class Progress:
    """Called by the worker with each new view of the job; draws it (see the module doc)."""

    def __init__(
        self,
        *,
        tty: bool | None = None,
        tick: float = TICK_SECONDS,
        heartbeat: float = HEARTBEAT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.tick = tick
        self.heartbeat = heartbeat
        self.clock = clock
        self.started = clock()
        self.state = ""
        self._job_id: str | None = None
        self._final = False
        self._printed_at = 0.0
        self._drawn = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __call__(self, job: Job, doc: ClusterDoc | None) -> None:
        state = describe(job, doc)
        with self._lock:
            if job.id != self._job_id:
                # `goman worker` runs one job after another: each has its own clock.
                self._job_id, self.started, self._final = job.id, self.clock(), False
            if state == self.state:
                return
            self.state = state
            self._draw()
            if job.finished:
                # The last word on this job: the clock stops, the line stays as it is.
                self._final = True
                self._end_line()
        self._start_ticker()

    def _start_ticker(self) -> None:
        if self._ticker is None and not self._stop.is_set():
            self._ticker = threading.Thread(target=self._run, name="progress", daemon=True)
            self._ticker.start()

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            self.redraw()

    def redraw(self) -> None:
        """One tick: the line again on a terminal (its clock moved), in a log only when
        nothing was printed for a heartbeat."""
        with self._lock:
            if self._stop.is_set() or not self.state or self._final:
                return
            if self.tty or self.clock() - self._printed_at >= self.heartbeat:
                self._draw()

    def _draw(self) -> None:
        """Under the lock: the line, with the time since the job started."""
        now = self.clock()
        text = f"{clock_text(now - self.started)}  {self.state}"
        if self.tty:
            rewrite_line(text, shutil.get_terminal_size((100, 24)).columns - 1)
        else:
            echo(text, err=True)
        self._printed_at = now
        self._drawn = True

    def done(self) -> None:
        """Stop redrawing; end the rewritten line so what follows starts on its own."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        with self._lock:
            self._end_line()

    def _end_line(self) -> None:
        if self.tty and self._drawn:
            echo("", err=True)
        self._drawn = False
