"""TUI fixtures: a GomanApp on the test sandbox, polling fast, and a way to wait for what
a user would wait for (bounded, never a bare sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from textual.pilot import Pilot

from goman.models.cluster import ClusterDoc, ClusterIndex, ClusterSpec, ClusterStatus, NodeStatus
from goman.state import keys
from goman.state.store import StateStore
from goman.tui.app import GomanApp

FROZEN = datetime(2025, 7, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def make_app(store: StateStore) -> Iterator[Callable[..., GomanApp]]:
    apps: list[GomanApp] = []

    def make(store: StateStore = store, **kwargs: Any) -> GomanApp:
        kwargs.setdefault("poll_interval", 0.2)
        app = GomanApp(store, **kwargs)
        apps.append(app)
        return app

    yield make
    # A job a test started must not outlive it: the next test resets the sandbox.
    for app in apps:
        app.runner.wait(timeout=60)


async def wait_for(
    pilot: Pilot[Any], check: Callable[[], object], timeout: float = 20.0, what: str = ""
) -> None:
    """Let the app run until `check()` is truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what or check}")


def text_of(app: GomanApp, selector: str) -> str:
    """The plain text a Static shows."""
    from textual.widgets import Static

    return str(app.screen.query_one(selector, Static).render())


def summary_doc(name: str, **status: Any) -> ClusterDoc:
    return ClusterDoc(
        cluster_id=f"id-{name}",
        spec=ClusterSpec(name=name),
        status=ClusterStatus(**status),
        created_at=FROZEN,
    )


def seed_clusters(store: StateStore, docs: list[ClusterDoc]) -> None:
    """Write state documents and their index rows directly, as another goman would have."""
    from goman.clusters.index import summary_of

    for doc in docs:
        store.create(keys.cluster_state(doc.name), doc)
    store.update(
        keys.INDEX,
        ClusterIndex,
        lambda idx: ClusterIndex(
            clusters={**(idx.clusters if idx else {}), **{d.name: summary_of(d) for d in docs}}
        ),
    )


def fixed_nodes(name: str, servers: int = 1, agents: int = 0) -> list[NodeStatus]:
    nodes = []
    for i in range(servers):
        nodes.append(
            NodeStatus(
                name=f"{name}-server-{i}",
                role="server",
                index=i,
                instance_id=f"i-0server{i:010d}",
                instance_type="t3.medium",
                az=f"ap-south-1{'abc'[i % 3]}",
                state="running",
                private_ip=f"10.0.{i}.10",
                public_ip=f"203.0.113.{10 + i}",
                phase="ready",
            )
        )
    for i in range(agents):
        nodes.append(
            NodeStatus(
                name=f"{name}-agent-{i}",
                role="agent",
                index=i,
                instance_id=f"i-0agent{i:011d}",
                instance_type="t3.medium",
                az="ap-south-1a",
                state="running",
                private_ip=f"10.0.1.{20 + i}",
                public_ip=None,
                phase="installing",
            )
        )
    return nodes
