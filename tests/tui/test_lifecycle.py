"""A user's whole flow from the TUI, on the sandbox: create, watch it run, scale, delete."""

from __future__ import annotations

from typing import Any

from textual import events
from textual.widgets import Input

from goman.tui.screens.dialogs import CreateDialog, DeleteDialog, ScaleDialog
from goman.tui.widgets.clusters_table import ClustersTable
from tests.tui.conftest import wait_for


def cell(table: ClustersTable, name: str, column: str) -> str:
    if name not in table.rows:
        return ""
    return str(table.get_cell(name, column))


async def test_create_scale_delete_from_the_tui(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        table = app.screen.query_one(ClustersTable)
        await wait_for(pilot, lambda: app.index is not None, what="index read")

        await pilot.press("c")
        assert isinstance(app.screen, CreateDialog)
        await pilot.press(*"web", "enter")
        await wait_for(pilot, lambda: "web" in table.rows, what="web listed")
        await wait_for(
            pilot, lambda: cell(table, "web", "phase") == "Running", timeout=60, what="Running"
        )
        assert cell(table, "web", "nodes") == "1/1"
        assert cell(table, "web", "endpoint").startswith("https://")

        await pilot.press("s")
        assert isinstance(app.screen, ScaleDialog)
        await pilot.press("backspace", "1", "enter")
        await wait_for(pilot, lambda: cell(table, "web", "phase") == "Scaling", what="Scaling")
        await wait_for(
            pilot,
            lambda: (
                cell(table, "web", "phase") == "Running" and cell(table, "web", "nodes") == "2/2"
            ),
            timeout=60,
            what="scaled to 2 nodes",
        )

        await pilot.press("d")
        dialog = app.screen
        assert isinstance(dialog, DeleteDialog)
        await pilot.press(*"we", "enter")  # not the name: refused
        assert app.screen is dialog
        await pilot.press("b", "enter")
        await wait_for(pilot, lambda: "web" not in table.rows, timeout=60, what="web gone")
        assert "Press  c  to create" in str(app.screen.query_one("#empty").render())


async def test_create_dialog_refuses_invalid_input_inline(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: app.index is not None, what="index read")
        await pilot.press("c")
        dialog = app.screen
        assert isinstance(dialog, CreateDialog)
        await pilot.press(*"Web_1")
        problems = str(dialog.query_one("#problems").render())
        assert "not a valid cluster name" in problems
        assert dialog.query_one("#name", Input).has_class("-invalid")
        assert dialog.query_one("#create").disabled
        await pilot.press("enter")  # refused: the dialog stays
        assert app.screen is dialog

        name = dialog.query_one("#name", Input)
        name.value = ""
        await pilot.press(*"ok-1")
        await pilot.pause()
        assert str(dialog.query_one("#problems").render()).strip() == ""
        region = dialog.query_one("#region", Input)
        region.focus()
        await pilot.press(*"xx")
        assert "is not an AWS region" in str(dialog.query_one("#problems").render())
        await pilot.press("enter")
        assert app.screen is dialog
        await pilot.press("escape")
        assert not isinstance(app.screen, CreateDialog)
        assert app.index is not None and not app.index.clusters


def burst(app: Any, *keys: str) -> None:
    """Keys as a terminal delivers a fast typist's or a slow link's input: all at once,
    before the app has handled the first (pilot.press would wait after each)."""
    chars = {"minus": "-", "enter": "\r", "backspace": "\x7f"}
    for key in keys:
        app.post_message(events.Key(key, chars.get(key, key)))


async def test_enter_right_after_typing_submits_what_was_typed(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        table = app.screen.query_one(ClustersTable)
        await wait_for(pilot, lambda: app.index is not None, what="index read")
        await pilot.press("c")
        assert isinstance(app.screen, CreateDialog)
        burst(app, "o", "k", "minus", "1", "enter")
        await wait_for(pilot, lambda: "ok-1" in table.rows, what="ok-1 listed")
        await wait_for(
            pilot, lambda: cell(table, "ok-1", "phase") == "Running", timeout=60, what="Running"
        )

        await pilot.press("s")
        assert isinstance(app.screen, ScaleDialog)
        burst(app, "backspace", "1", "enter")
        await wait_for(pilot, lambda: cell(table, "ok-1", "phase") == "Scaling", what="Scaling")
