"""The TUI shows a protected cluster's lock and refuses to delete it."""

from __future__ import annotations

from typing import Any

from goman.state import keys
from goman.tui.screens.dialogs import DeleteDialog
from goman.tui.widgets.clusters_table import LOCK, ClustersTable
from tests.tui.conftest import seed_clusters, summary_doc, wait_for


async def test_a_protected_cluster_shows_a_lock_and_is_not_deleted(
    make_app: Any, store: Any
) -> None:
    doc = summary_doc("web", phase="Running")
    doc.spec.protected = True
    seed_clusters(store, [doc, summary_doc("free", phase="Running")])
    app = make_app()
    notes: list[str] = []
    app.notify = lambda message, **kw: notes.append(str(message))  # type: ignore[method-assign]
    async with app.run_test(size=(120, 35)) as pilot:
        table = app.screen.query_one(ClustersTable)
        await wait_for(pilot, lambda: "web" in table.rows, what="web listed")
        assert str(table.get_cell("web", "name")) == f"web {LOCK}"
        assert str(table.get_cell("free", "name")) == "free"
        table.move_cursor(row=table.get_row_index("web"))
        await pilot.press("d")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, DeleteDialog)
        assert any("goman cluster unprotect web" in n for n in notes), notes
    assert store.get(keys.cluster_state("web"), type(doc)).doc.status.phase == "Running"
