"""A worker in a long readiness wait notices a cancel request, a lost lease and its stop
event within a second or so: cancelled, LeaseLost, or the job handed back (resumable)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from goman.clusters import service
from goman.clusters.state import load_cluster
from goman.jobs import queue
from goman.jobs.worker import Worker
from goman.models.base import utcnow
from goman.models.job import Job, Lease
from goman.state import keys
from goman.state.store import StateStore
from tests.cli.cluster_helpers import nodes_control

# Far longer than any wait below: a worker that only stopped at the readiness timeout
# would still be running when the test gives up on it.
READY_TIMEOUT = 120.0
GIVE_UP = 15.0


def _in_wait_ready(
    store: StateStore, sandbox: Any, run: Callable[[str], Job]
) -> tuple[str, threading.Thread, list[Job]]:
    """Start a create whose nodes never report ready, in a thread, and return once the
    worker is inside the readiness wait."""
    nodes_control(sandbox, boot_delay=600)
    job_id = service.create_cluster(store, "slow", ready_timeout=READY_TIMEOUT).id
    out: list[Job] = []
    thread = threading.Thread(target=lambda: out.append(run(job_id)), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = queue.get_job(store, job_id)
        if any(s.name == "wait-ready" and s.status == "running" for s in job.steps):
            return job_id, thread, out
        time.sleep(0.1)
    raise AssertionError("the worker never reached wait-ready")


def _ended(thread: threading.Thread, out: list[Job]) -> Job:
    thread.join(GIVE_UP)
    assert not thread.is_alive(), "the worker did not notice within the readiness wait"
    assert len(out) == 1
    return out[0]


def test_a_cancel_reaches_the_readiness_wait(store: StateStore, sandbox: Any) -> None:
    job_id, thread, out = _in_wait_ready(store, sandbox, lambda j: Worker(store).run(j))
    asked = queue.cancel_job(store, job_id)
    assert asked.cancel_requested and asked.status == "running"
    done = _ended(thread, out)
    assert done.status == "cancelled" and done.lease is None
    doc = load_cluster(store, "slow")
    assert doc.status.phase == "Failed" and doc.status.job_id is None
    assert "cancelled at step associate-endpoint" in doc.status.message


def test_a_lost_lease_reaches_the_readiness_wait(store: StateStore, sandbox: Any) -> None:
    job_id, thread, out = _in_wait_ready(
        store, sandbox, lambda j: Worker(store, owner="first").run(j, follow=False)
    )

    def take_over(job: Job | None) -> Job | None:
        assert job is not None
        now = utcnow()
        job.lease = Lease(owner="second", expires_at=now + timedelta(seconds=60))
        return job

    store.update(keys.job(job_id), Job, take_over)
    done = _ended(thread, out)
    # The first worker let go without another write: the job is the second worker's.
    assert done.status == "running"
    assert done.lease is not None and done.lease.owner == "second"
    step = next(s for s in done.steps if s.name == "wait-ready")
    assert (step.status, step.owner) == ("running", "first")
    assert load_cluster(store, "slow").status.job_id == job_id


def test_the_stop_event_hands_the_job_back_and_another_worker_resumes_it(
    store: StateStore, sandbox: Any
) -> None:
    stop = threading.Event()
    job_id, thread, out = _in_wait_ready(store, sandbox, lambda j: Worker(store, stop=stop).run(j))
    stop.set()
    done = _ended(thread, out)
    assert (done.status, done.lease, done.cancel_requested) == ("pending", None, False)
    assert next(s for s in done.steps if s.name == "wait-ready").status == "pending"
    doc = load_cluster(store, "slow")
    assert (doc.status.phase, doc.status.job_id) == ("Bootstrapping", job_id)

    # Resumable at once: no lease to wait out (follow=False raises LeaseHeld otherwise).
    nodes_control(sandbox, boot_delay=0.3)
    resumed = Worker(store).run(job_id, follow=False)
    assert resumed.status == "succeeded"
    assert load_cluster(store, "slow").status.phase == "Running"


def test_a_stopped_worker_starts_nothing(store: StateStore) -> None:
    stop = threading.Event()
    stop.set()
    job_id = service.create_cluster(store, "idle").id
    assert Worker(store, stop=stop).run(job_id).status == "pending"
    assert Worker(store, stop=stop).run_once() == 0
    assert queue.get_job(store, job_id).attempts == 0
