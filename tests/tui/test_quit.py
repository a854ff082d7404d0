"""Quitting with a job running here: warned first, then the job is handed back to the queue
(no lease left, not cancelled), so another worker resumes it at once."""

from __future__ import annotations

from typing import Any

from goman.jobs import queue
from goman.jobs.worker import Worker
from goman.state.store import StateStore
from goman.tui.screens.dialogs import ConfirmQuit
from tests.cli.cluster_helpers import nodes_control
from tests.tui.conftest import wait_for


def _step(store: StateStore, job_id: str, name: str) -> str:
    return next(s.status for s in queue.get_job(store, job_id).steps if s.name == name)


async def test_quitting_hands_the_running_job_back(
    make_app: Any, store: StateStore, sandbox: Any
) -> None:
    nodes_control(sandbox, boot_delay=600)  # the nodes never report ready while we look
    app = make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: app.index is not None, what="index read")
        await pilot.press("c", *"web", "enter")
        await wait_for(pilot, app.runner.active, what="the create running here")
        job_id = app.runner.active()[0]
        await wait_for(
            pilot,
            lambda: _step(store, job_id, "wait-ready") == "running",
            timeout=30,
            what="the readiness wait",
        )
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmQuit)
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.runner.active(), what="the job handed back")
    assert app.return_code == 0

    job = queue.get_job(store, job_id)
    assert (job.status, job.lease, job.cancel_requested) == ("pending", None, False)
    assert _step(store, job_id, "wait-ready") == "pending"
    nodes_control(sandbox, boot_delay=0.3)
    # follow=False: a lease still held would raise LeaseHeld instead of running the job.
    assert Worker(store).run(job_id, follow=False).status == "succeeded"
