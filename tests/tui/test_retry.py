"""Retry from the TUI: `t` on a Failed cluster runs its create again here, replacing the
node that failed; on any other cluster it says why not."""

from __future__ import annotations

from typing import Any

from goman.clusters import service
from goman.clusters.state import load_cluster
from goman.jobs.worker import Worker
from goman.state.store import StateStore
from goman.tui.screens.detail import DetailScreen
from goman.tui.screens.help import sections
from goman.tui.widgets.clusters_table import ClustersTable
from tests.cli.cluster_helpers import live_instances, nodes_control, tag
from tests.tui.conftest import text_of, wait_for
from tests.tui.test_lifecycle import cell


async def test_retry_a_failed_cluster_from_the_tui(
    make_app: Any, store: StateStore, sandbox: Any, ec2: Any
) -> None:
    nodes_control(sandbox, fail=["web-agent-0"])
    created = service.create_cluster(store, "web", workers=1, ready_timeout=60)
    assert Worker(store).run(created.id).status == "failed"
    cid = load_cluster(store, "web").cluster_id
    old = {tag(i, "goman:node"): i["InstanceId"] for i in live_instances(ec2, cid)}
    nodes_control(sandbox, fail=[])

    app = make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        table = app.screen.query_one(ClustersTable)
        await wait_for(pilot, lambda: cell(table, "web", "phase") == "Failed", what="Failed")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Retry web" in titles
        assert "t" in {key for _, rows in sections() for key, _ in rows}

        await pilot.press("enter")  # the detail screen says which key retries
        assert isinstance(app.screen, DetailScreen)
        await wait_for(
            pilot, lambda: "press t to retry" in text_of(app, "#status"), what="the retry hint"
        )
        await pilot.press("t")
        await wait_for(
            pilot,
            lambda: (
                cell(table, "web", "phase") == "Running" and cell(table, "web", "nodes") == "2/2"
            ),
            timeout=60,
            what="Running again",
        )
        await wait_for(
            pilot, lambda: "press t to retry" not in text_of(app, "#status"), what="hint gone"
        )

        await pilot.press("escape", "t")  # home: a Running cluster is not retried

        def warnings() -> list[str]:
            return [n.message for n in app._notifications if n.severity == "warning"]

        await wait_for(pilot, warnings, what="a warning")
        assert warnings() == ["Cluster web is Running: only a Failed cluster can be retried."]

    now = {tag(i, "goman:node"): i["InstanceId"] for i in live_instances(ec2, cid)}
    assert sorted(now) == ["web-agent-0", "web-server-0"]
    assert now["web-server-0"] == old["web-server-0"]
    assert now["web-agent-0"] != old["web-agent-0"]
