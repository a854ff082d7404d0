"""Get a cluster's kubeconfig: merge it into the user's kubeconfig, or write a file."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, RadioSet, Static

from goman.tui import format as fmt
from goman.tui.kubeconfig import default_file_path, default_merge_path
from goman.tui.screens.dialogs.base import Choice, Dialog


@dataclass(frozen=True)
class KubeconfigRequest:
    merge: bool
    path: str
    context: str


class KubeconfigDialog(Dialog[KubeconfigRequest | None]):
    def __init__(self, name: str, profile: str) -> None:
        super().__init__()
        self.cluster = name
        self.context_name = f"goman-{profile}-{name}"

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog -wide"):
            yield Label(
                Text.assemble("Kubeconfig of ", fmt.plain(self.cluster)), classes="dialog-title"
            )
            with RadioSet(id="how", compact=True):
                yield Choice("Merge into my kubeconfig", value=True, id="merge")
                yield Choice("Write a separate file", id="file")
            with Horizontal(classes="field"):
                yield Label("Path")
                yield Input(str(default_merge_path()), id="path", compact=True)
            with Horizontal(classes="field"):
                yield Label("Context")
                yield Input(self.context_name, id="context", compact=True)
            yield Static(id="summary", classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self._describe()
        self.query_one("#how", RadioSet).focus()

    @property
    def merging(self) -> bool:
        return self.query_one("#merge", Choice).value

    @on(RadioSet.Changed)
    def _how_changed(self) -> None:
        path = default_merge_path() if self.merging else default_file_path(self.cluster)
        self.query_one("#path", Input).value = str(path)
        self._describe()

    @on(Input.Changed)
    def _describe(self) -> None:
        path = self.query_one("#path", Input).value.strip()
        context = self.query_one("#context", Input).value.strip()
        # What was typed is shown as typed: a path with [brackets] is not markup.
        if self.merging:
            text = Text.assemble(
                "Merges context ",
                fmt.plain(context, "bold"),
                " into ",
                fmt.plain(path, "bold"),
                ", keeping every other entry, and makes it the current context.",
            )
        else:
            text = Text.assemble(
                "Writes ",
                fmt.plain(path, "bold"),
                " (mode 0600) with context ",
                fmt.plain(context, "bold"),
                ".",
            )
        text.append("\nenter saves, escape cancels; ↑ ↓ or space choose merge or file.", "dim")
        self.query_one("#summary", Static).update(text)
        self.query_one("#save", Button).disabled = not (path and context)

    @on(Button.Pressed, "#save")
    def action_submit(self) -> None:
        path = self.query_one("#path", Input).value.strip()
        context = self.query_one("#context", Input).value.strip()
        if path and context:
            self.dismiss(KubeconfigRequest(merge=self.merging, path=path, context=context))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
