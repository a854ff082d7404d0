"""`?`: every key of every screen, read from the bindings themselves so it cannot go stale."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

# Keys that DataTables, inputs and the palette give every screen.
COMMON: list[tuple[str, str]] = [
    ("↑ ↓ pgup pgdn home end", "Move in a table"),
    ("tab / shift+tab", "Next / previous field or table"),
    ("mouse", "Click rows, headers (sort), tabs and buttons"),
]
# Longer words than the footer has room for.
_SAID = {
    "command_palette": "Command palette: goman's actions for what is selected, open any cluster",
    "tab('nodes')": "Nodes tab",
}


def key_rows(
    bindings: list[BindingType], extra: list[tuple[str, str]] | None = None
) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for item in bindings:
        if not isinstance(item, Binding) or not item.description:
            continue
        key = {"question_mark": "?", "slash": "/", "O": "shift+o"}.get(item.key, item.key)
        rows.append((key, _SAID.get(item.action, item.description)))
    return rows + (extra or [])


def sections() -> list[tuple[str, list[tuple[str, str]]]]:
    from goman.tui.app import GomanApp
    from goman.tui.screens.detail import DetailScreen
    from goman.tui.screens.dialogs import CreateDialog
    from goman.tui.screens.home import HomeScreen
    from goman.tui.screens.jobs import JobsScreen

    everywhere = [
        b for b in GomanApp.BINDINGS if not (isinstance(b, Binding) and b.key == "ctrl+c")
    ]
    return [
        ("Everywhere", key_rows(everywhere, COMMON)),
        (
            "Clusters (home)",
            key_rows(HomeScreen.BINDINGS, [("click header", "Sort by that column")]),
        ),
        ("Cluster detail", key_rows(DetailScreen.BINDINGS)),
        ("Jobs", key_rows(JobsScreen.BINDINGS)),
        (
            "Dialogs",
            [
                ("enter", "Confirm, wherever the focus is (on a button: press it)"),
                *key_rows(CreateDialog.BINDINGS),
                ("space / ↑ ↓", "Choose an option, open a drop-down"),
                ("escape", "Cancel"),
            ],
        ),
    ]


def help_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(justify="right", style="bold cyan", no_wrap=True)
    table.add_column()
    for title, rows in sections():
        table.add_row("", Text(title, style="bold underline"))
        for key, what in rows:
            table.add_row(key, what)
        table.add_row("", "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog", classes="dialog -wide"):
            yield Static("Keys", classes="dialog-title")
            yield Static(help_table())

    def action_close(self) -> None:
        self.dismiss(None)
