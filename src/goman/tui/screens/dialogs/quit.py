"""The warning shown when quitting while this TUI runs a job."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ConfirmQuit(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stay", "Stay"),
        Binding("y", "leave", "Quit anyway"),
    ]

    def __init__(self, job_ids: list[str], lease_seconds: int) -> None:
        super().__init__()
        self.job_ids = job_ids
        self.lease_seconds = lease_seconds

    def compose(self) -> ComposeResult:
        jobs = ", ".join(self.job_ids)
        with Vertical(id="dialog", classes="dialog -warning"):
            yield Label("Jobs are running here", classes="dialog-title")
            if getattr(self.app, "embedded_sandbox", False):
                text = (
                    f"This TUI is running job(s) {jobs}.\n\n"
                    "The sandbox runs inside this goman (embedded): quitting ends it, and "
                    "every cluster, job and document in it is lost."
                )
            else:
                text = (
                    f"This TUI is running job(s) {jobs}.\n\n"
                    "Quitting stops them at their next safe point (a few seconds at most) and "
                    "hands them back to the queue, not cancelled; nothing is lost. Each stays "
                    "resumable: `goman worker` or the jobs screen (j, then u) of any goman "
                    "finishes it, at once (or, for a step that could not stop in time, once its "
                    f"lease runs out, within {self.lease_seconds}s)."
                )
            yield Static(text, classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Quit anyway", variant="warning", id="leave")
                yield Button("Stay", variant="primary", id="stay")

    def on_mount(self) -> None:
        self.query_one("#stay", Button).focus()

    @on(Button.Pressed, "#leave")
    def action_leave(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#stay")
    def action_stay(self) -> None:
        self.dismiss(False)
