"""The home screen: header, live cluster table, filter, sort, empty state."""

from __future__ import annotations

from typing import Any

from goman.state.store import StateStore
from goman.tui.widgets.clusters_table import ClustersTable
from tests.tui.conftest import seed_clusters, summary_doc, text_of, wait_for


async def test_empty_state_tells_a_new_user_what_to_press(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: app.index is not None, what="first index read")
        await pilot.pause()
        assert "Press  c  to create" in text_of(app, "#empty")
        assert app.identity is not None
        assert app.identity.account_id == "123456789012"
        assert app.sandbox, "a loopback endpoint is the sandbox"
        header = text_of(app, "#where")
        assert "goman-123456789012" in header and "profile default" in header
        assert "synced" in text_of(app, "#connection")


async def test_clusters_show_with_phase_nodes_and_job(make_app: Any, store: StateStore) -> None:
    seed_clusters(
        store,
        [
            summary_doc("web", phase="Running", endpoint="https://203.0.113.5:6443"),
            summary_doc("api", phase="Provisioning", job_id="j-1", job_step="launch-servers"),
        ],
    )
    app = make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        table = app.screen.query_one(ClustersTable)
        await wait_for(pilot, lambda: table.row_count == 2, what="two rows")
        assert [str(k.value) for k in table.rows] == ["api", "web"]
        web = [str(c) for c in table.get_row("web")]
        assert web[:4] == ["web", "dev", "Running", "0/1"]
        assert web[4] == "https://203.0.113.5:6443"
        api = [str(c) for c in table.get_row("api")]
        assert "launch-servers" in api[7]


async def test_filter_by_typing_and_sort_by_column(make_app: Any, store: StateStore) -> None:
    seed_clusters(
        store,
        [
            summary_doc("alpha", phase="Running"),
            summary_doc("beta", phase="Failed"),
            summary_doc("gamma"),
        ],
    )
    app = make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        table = app.screen.query_one(ClustersTable)
        await wait_for(pilot, lambda: table.row_count == 3, what="three rows")
        await pilot.press("slash", *"be")
        assert [str(k.value) for k in table.rows] == ["beta"]
        await pilot.press("enter")  # keeps the filter, back to the table
        assert table.has_focus and table.row_count == 1
        await pilot.press("escape")
        assert table.row_count == 3
        await pilot.press("slash", *"zzz")
        assert "No cluster matches" in text_of(app, "#empty")
        await pilot.press("escape")
        # Sort: o cycles the column (name -> mode -> phase), O reverses it.
        await pilot.press("o", "o")
        assert table.sort_column == "phase"
        assert next(iter(table.rows)).value == "beta"  # Failed first: it needs a person
        await pilot.press("O")
        assert [str(k.value) for k in table.rows][-1] == "beta"


async def test_header_click_sorts_with_the_mouse(make_app: Any, store: StateStore) -> None:
    seed_clusters(store, [summary_doc("alpha"), summary_doc("beta")])
    app = make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        table = app.screen.query_one(ClustersTable)
        await wait_for(pilot, lambda: table.row_count == 2, what="rows")
        await pilot.click(ClustersTable, offset=(2, 0))  # the NAME header
        await pilot.pause()
        assert table.sort_reverse and [str(k.value) for k in table.rows] == ["beta", "alpha"]
