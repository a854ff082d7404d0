"""Two versions of a state document, side by side in one unified diff."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from goman.models.text import printable
from goman.state.store import VersionInfo
from goman.tui import format as fmt
from goman.tui.widgets.status_header import StatusHeader


def diff_text(lines: list[str]) -> Text:
    """The diff as text (the documents may hold anything: never markup, no controls)."""
    text = Text()
    for line in (printable(raw) for raw in lines):
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("@@"):
            style = "cyan"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        else:
            style = ""
        text.append(line + "\n", style=style)
    return text


class DiffScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("q", "back", "Back", show=False),
    ]

    def __init__(self, name: str, old: VersionInfo, new: VersionInfo, lines: list[str]) -> None:
        super().__init__()
        self.cluster = name
        self.old, self.new, self.lines = old, new, lines

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        title = fmt.plain(self.cluster, "bold")
        title.append_text(
            fmt.plain(
                f" state: {self.old.version_id} ({fmt.clock(self.old.last_modified)})"
                f" → {self.new.version_id} ({fmt.clock(self.new.last_modified)})"
            )
        )
        yield Static(title, id="detail-title")
        with VerticalScroll(id="diff"):
            yield Static(diff_text(self.lines) if self.lines else "The two versions are identical.")
        yield Footer(compact=True, show_command_palette=False)

    def action_back(self) -> None:
        self.dismiss(None)
