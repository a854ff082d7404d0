"""Upgrade and stop a cluster: the same questions `goman cluster upgrade` and `cluster stop`
ask without --yes (start asks nothing, as on the CLI)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from goman.models.k3s_version import K3sVersion
from goman.tui import format as fmt
from goman.tui.screens.dialogs.base import Dialog


class UpgradeDialog(Dialog[str | None]):
    """The K3s version to move to; the refusals (older, a skipped minor) come from the
    use case, as on the CLI."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.cluster = name

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(Text.assemble("Upgrade ", fmt.plain(self.cluster)), classes="dialog-title")
            yield Static(
                "Servers are upgraded one at a time, then the agents; each node is cordoned "
                "and restarted in turn. One minor version at a time.",
                classes="hint",
            )
            with Horizontal(classes="field"):
                yield Label("K3s version")
                yield Input(placeholder="v1.34.1+k3s1", id="version", compact=True)
            yield Static(id="problems", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Upgrade", variant="primary", id="upgrade", disabled=True)
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#version", Input).focus()

    def _problem(self) -> str:
        value = self.query_one("#version", Input).value.strip()
        if not value:
            return ""
        try:
            K3sVersion.parse(value)
        except ValueError:
            return "Not a K3s version: use one like v1.34.1+k3s1."
        return ""

    @on(Input.Changed)
    def _changed(self) -> None:
        problem = self._problem()
        self.query_one("#problems", Static).update(Text(problem))
        value = self.query_one("#version", Input).value.strip()
        self.query_one("#upgrade", Button).disabled = bool(problem) or not value

    @on(Button.Pressed, "#upgrade")
    def action_submit(self) -> None:
        value = self.query_one("#version", Input).value.strip()
        if value and not self._problem():
            self.dismiss(value)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class StopDialog(Dialog[bool]):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.cluster = name

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(
                Text.assemble("Stop ", fmt.plain(self.cluster), "?"), classes="dialog-title"
            )
            yield Static(
                "Every instance stops (agents first); its API is down until started again. "
                "The disks and the endpoint address are kept, and still cost a little.",
                classes="hint",
            )
            with Horizontal(classes="buttons"):
                yield Button("Stop", variant="warning", id="stop")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#stop", Button).focus()

    @on(Button.Pressed, "#stop")
    def action_submit(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
