"""Upgrade and stop from the TUI: `u` and `p` ask what the CLI asks, and run the same
jobs here; the refusals read as on the CLI."""

from __future__ import annotations

from typing import Any

from textual.widgets import Button

from goman.clusters import service
from goman.clusters.state import load_cluster
from goman.jobs.worker import Worker
from goman.state.store import StateStore
from goman.tui.screens.dialogs import StopDialog, UpgradeDialog
from goman.tui.screens.help import sections
from goman.tui.widgets.clusters_table import ClustersTable
from tests.cli.cluster_helpers import live_instances
from tests.tui.conftest import wait_for
from tests.tui.test_lifecycle import cell


async def test_stop_and_upgrade_keys_ask_first(make_app: Any, store: StateStore, ec2: Any) -> None:
    created = service.create_cluster(store, "web", workers=1, ready_timeout=60)
    assert Worker(store).run(created.id).status == "succeeded"
    cid = load_cluster(store, "web").cluster_id
    keys = {key: what for _, rows in sections() for key, what in rows}
    assert {"u", "p", "g"} <= set(keys)

    app = make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        table = app.screen.query_one(ClustersTable)
        await wait_for(pilot, lambda: cell(table, "web", "phase") == "Running", what="Running")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Upgrade web", "Stop web"} <= titles and "Start web" not in titles

        # Upgrade: a malformed version cannot be submitted; a skipped minor is refused.
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, UpgradeDialog), what="the dialog")
        await pilot.press(*"1.34")
        assert app.screen.query_one("#upgrade", Button).disabled
        await pilot.press(*["backspace"] * 4, *"v1.35.0+k3s1", "enter")

        def errors() -> list[str]:
            return [n.message for n in app._notifications if n.severity == "error"]

        await wait_for(pilot, errors, what="the refusal")
        assert "skips a minor version" in errors()[0]
        assert load_cluster(store, "web").status.phase == "Running"

        # Stop: escape changes nothing; enter on the dialog stops every instance.
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, StopDialog), what="the dialog")
        await pilot.press("escape")
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, StopDialog), what="the dialog")
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: cell(table, "web", "phase") == "Stopped", timeout=60, what="Stopped"
        )
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Start web" in titles and "Stop web" not in titles
    states = {i["State"]["Name"] for i in live_instances(ec2, cid)}
    assert states == {"stopped"}
