"""Delete a cluster: the name must be typed, as with `goman cluster delete` without --yes."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class DeleteDialog(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.cluster = name

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog -danger"):
            yield Label(f"Delete {self.cluster}?", classes="dialog-title")
            yield Static(
                "This terminates every instance of the cluster, releases its endpoint and "
                "removes its security group and state. It cannot be undone.\n"
                f"Type [b]{self.cluster}[/b] to confirm.",
                classes="hint",
            )
            yield Input(placeholder=self.cluster, id="confirm", compact=True)
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

    @on(Input.Submitted)
    @on(Button.Pressed, "#delete")
    def action_submit(self) -> None:
        if self._confirmed():
            self.dismiss(True)
        else:
            self.notify(f"Type {self.cluster} exactly to delete it.", severity="warning")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
