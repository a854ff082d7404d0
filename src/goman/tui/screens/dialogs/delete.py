"""Delete a cluster: the name must be typed, as with `goman cluster delete` without --yes."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from goman.tui import format as fmt
from goman.tui.screens.dialogs.base import Dialog


class DeleteDialog(Dialog[bool]):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.cluster = name

    def compose(self) -> ComposeResult:
        name = fmt.plain(self.cluster)
        with Vertical(id="dialog", classes="dialog -danger"):
            yield Label(Text.assemble("Delete ", name, "?"), classes="dialog-title")
            yield Static(
                Text.assemble(
                    "This terminates every instance of the cluster, releases its endpoint and "
                    "removes its security group and state. It cannot be undone.\nType ",
                    fmt.plain(self.cluster, "bold"),
                    " to confirm.",
                ),
                classes="hint",
            )
            yield Input(placeholder=name.plain, id="confirm", compact=True)
            with Horizontal(classes="buttons"):
                yield Button("Delete", variant="error", id="delete", disabled=True)
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#confirm", Input).focus()

    def _confirmed(self) -> bool:
        return self.query_one("#confirm", Input).value.strip() == self.cluster

    @on(Input.Changed)
    def _changed(self) -> None:
        self.query_one("#delete", Button).disabled = not self._confirmed()

    @on(Button.Pressed, "#delete")
    def action_submit(self) -> None:
        if self._confirmed():
            self.dismiss(True)
        else:
            self.notify(f"Type {self.cluster} exactly to delete it.", severity="warning")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
