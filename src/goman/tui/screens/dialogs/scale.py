"""Scale a cluster: the new number of workers, and what it will cost."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from goman.models.cluster import ClusterSummary
from goman.tui import format as fmt
from goman.tui.pricing import cluster_price
from goman.tui.screens.dialogs.base import Dialog
from goman.tui.screens.dialogs.create import workers_problem


class ScaleDialog(Dialog[int | None]):
    def __init__(self, summary: ClusterSummary) -> None:
        super().__init__()
        self.summary = summary

    def compose(self) -> ComposeResult:
        s = self.summary
        with Vertical(id="dialog", classes="dialog"):
            yield Label(Text.assemble("Scale ", fmt.plain(s.name)), classes="dialog-title")
            yield Static(
                fmt.plain(f"{s.mode} cluster, {s.workers} worker(s) now, {s.phase}."),
                classes="hint",
            )
            with Horizontal(classes="field"):
                yield Label("Workers")
                yield Input(str(s.workers), id="workers", compact=True, restrict=r"\d*")
            yield Static(id="problems", classes="error")
            yield Static(id="estimate", classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Scale", variant="primary", id="scale")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#workers", Input).focus()
        self._validate()

    def _validate(self) -> str:
        value = self.query_one("#workers", Input).value.strip()
        problem = workers_problem(value)
        self.query_one("#problems", Static).update(Text(problem))
        self.query_one("#workers", Input).set_class(bool(problem), "-invalid")
        self.query_one("#scale", Button).disabled = bool(problem)
        if problem:
            self.query_one("#estimate", Static).update("")
        else:
            servers = 3 if self.summary.mode == "ha" else 1
            total = cluster_price(
                servers + int(value), self.summary.instance_type, self.summary.region
            )
            self.query_one("#estimate", Static).update(
                Text(
                    f"{servers} server(s) + {int(value)} worker(s) ≈ {fmt.money(total)}/h"
                    " with disks and public IPs"
                )
            )
        return problem

    @on(Input.Changed)
    def _changed(self) -> None:
        self._validate()

    @on(Button.Pressed, "#scale")
    def action_submit(self) -> None:
        if not self._validate():
            self.dismiss(int(self.query_one("#workers", Input).value))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
