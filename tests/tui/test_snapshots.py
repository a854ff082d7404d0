"""Screenshots of the main screens, compared with the accepted SVGs in __snapshots__.

Deterministic by construction: a fixed terminal size, a frozen clock, and documents with
fixed ids and times written straight into the sandbox.
Regenerate after an intended change with `uv run pytest tests/tui --snapshot-update`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable

from goman.models.cluster import ClusterDoc, ClusterSpec, ClusterStatus
from goman.models.job import Job, Lease, Step
from goman.state import keys
from goman.state.store import StateStore
from goman.tui.app import GomanApp
from goman.tui.widgets.clusters_table import ClustersTable
from tests.tui.conftest import FROZEN, fixed_nodes, seed_clusters, wait_for

SIZE = (120, 35)
JOB_ID = "20250701T115500-a1b2c3"


def frozen_app(store: StateStore) -> GomanApp:
    # A long poll interval: nothing may change between the first read and the screenshot.
    return GomanApp(store, poll_interval=3600, clock=lambda: FROZEN, sandbox=True)


def seed_fleet(store: StateStore) -> None:
    def doc(name: str, spec: dict[str, Any], minutes: int, **status: Any) -> ClusterDoc:
        return ClusterDoc(
            cluster_id=f"cid-{name}",
            spec=ClusterSpec(name=name, **spec),
            status=ClusterStatus(**status),
            created_at=FROZEN - timedelta(minutes=minutes),
        )

    seed_clusters(
        store,
        [
            doc(
                "web",
                {"workers": 2},
                3 * 24 * 60,
                phase="Running",
                endpoint="https://203.0.113.10:6443",
                nodes=fixed_nodes("web", 1, 2),
            ),
            doc(
                "data",
                {"mode": "ha", "instance_type": "m5.large"},
                95,
                phase="Running",
                endpoint="https://203.0.113.20:6443",
                nodes=fixed_nodes("data", 3, 0),
            ),
            doc("edge", {}, 4, phase="Provisioning", job_id=JOB_ID, job_step="launch-servers"),
            doc("old", {"workers": 1}, 600, phase="Failed", message="web-agent-0 failed"),
        ],
    )


def seed_jobs(store: StateStore) -> None:
    def step(name: str, status: str, start: int | None, end: int | None) -> Step:
        at = lambda m: None if m is None else FROZEN - timedelta(seconds=m)  # noqa: E731
        return Step(
            name=name,
            status=status,
            started_at=at(start),
            ended_at=at(end),
            attempts=1 if start else 0,
        )  # type: ignore[arg-type]

    running = Job(
        id=JOB_ID,
        type="create",
        cluster="edge",
        cluster_id="cid-edge",
        status="running",
        steps=[
            step("prepare", "done", 240, 238),
            step("network", "done", 238, 230),
            step("endpoint", "done", 230, 228),
            step("launch-servers", "running", 228, None),
            step("launch-agents", "pending", None, None),
            step("wait-ready", "pending", None, None),
        ],
        lease=Lease(
            owner="alice@laptop:4242:9f8e7d",
            acquired_at=FROZEN - timedelta(minutes=4),
            heartbeat_at=FROZEN,
            expires_at=FROZEN + timedelta(minutes=1),
        ),
        attempts=1,
        created_at=FROZEN - timedelta(minutes=4),
    )
    done = Job(
        id="20250628T120000-d4e5f6",
        type="create",
        cluster="web",
        cluster_id="cid-web",
        status="succeeded",
        steps=[step("prepare", "done", 300, 290), step("wait-ready", "done", 290, 100)],
        attempts=1,
        created_at=FROZEN - timedelta(days=3),
        finished_at=FROZEN - timedelta(days=3) + timedelta(minutes=3, seconds=20),
    )
    for job in (running, done):
        store.create(keys.job(job.id), job)


async def until_rows(pilot: Pilot[Any], rows: int) -> None:
    table = pilot.app.screen.query_one(ClustersTable)
    await wait_for(pilot, lambda: table.row_count == rows, what=f"{rows} rows")
    await pilot.pause()


def test_home_empty(snap_compare: Any, store: StateStore) -> None:
    app = frozen_app(store)

    async def loaded(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.index is not None and app.identity is not None)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=loaded)


def test_home_with_clusters(snap_compare: Any, store: StateStore) -> None:
    seed_fleet(store)
    app = frozen_app(store)
    assert snap_compare(app, terminal_size=SIZE, run_before=lambda p: until_rows(p, 4))


def test_detail(snap_compare: Any, store: StateStore) -> None:
    seed_fleet(store)
    app = frozen_app(store)

    async def opened(pilot: Pilot[Any]) -> None:
        await until_rows(pilot, 4)
        await pilot.press("down", "down", "down", "enter")  # data, edge, old, web: web
        nodes = pilot.app.screen.query_one("#nodes-table", DataTable)
        await wait_for(pilot, lambda: nodes.row_count == 3, what="web's nodes")
        await wait_for(pilot, lambda: pilot.app.screen.live is not None, what="the API's answer")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=opened)


def test_create_dialog(snap_compare: Any, store: StateStore) -> None:
    app = frozen_app(store)

    async def typed(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.index is not None)
        await pilot.press("c", *"Bad_Name")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=typed)


def test_jobs(snap_compare: Any, store: StateStore) -> None:
    seed_fleet(store)
    seed_jobs(store)
    app = frozen_app(store)

    async def opened(pilot: Pilot[Any]) -> None:
        await until_rows(pilot, 4)
        await pilot.press("j")
        jobs = pilot.app.screen.query_one("#jobs-table", DataTable)
        await wait_for(pilot, lambda: jobs.row_count == 2, what="two jobs")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=opened)


NARROW = (80, 24)


def test_home_at_80_columns(snap_compare: Any, store: StateStore) -> None:
    """Every essential footer key fits; the header keeps profile, region and its state."""
    seed_fleet(store)
    app = frozen_app(store)
    assert snap_compare(app, terminal_size=NARROW, run_before=lambda p: until_rows(p, 4))


def test_failed_detail_at_80_columns(snap_compare: Any, store: StateStore) -> None:
    """A Failed cluster: what to press comes first, then the whole message."""
    seed_fleet(store)
    app = frozen_app(store)

    async def opened(pilot: Pilot[Any]) -> None:
        await until_rows(pilot, 4)
        await pilot.press("down", "down", "enter")  # data, edge, old
        await wait_for(
            pilot,
            lambda: "web-agent-0 failed" in str(pilot.app.screen.query_one("#status").render()),
        )
        await wait_for(pilot, lambda: pilot.app.screen.live is not None, what="the API's answer")
        await pilot.pause()

    assert snap_compare(app, terminal_size=NARROW, run_before=opened)
