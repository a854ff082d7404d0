"""Every job of the profile: status, owner, step, elapsed; cancel and resume."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar, cast

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from goman.models.job import Job
from goman.tui import data
from goman.tui import format as fmt
from goman.tui.widgets.status_header import StatusHeader
from goman.tui.widgets.tables import SafeTable, cursor_key, show_steps

if TYPE_CHECKING:
    from goman.tui.app import GomanApp

_JOB_ID = re.compile(r"[0-9]{8}T[0-9]{6}-[0-9a-f]{1,32}")


class JobsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("x", "cancel_job", "Cancel job"),
        Binding("u", "resume_job", "Resume here"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[Job] = []
        self._busy = False

    @property
    def goman(self) -> GomanApp:
        return cast("GomanApp", self.app)

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        yield Static("[b]Jobs[/b]", id="detail-title")
        yield SafeTable(id="jobs-table", cursor_type="row", zebra_stripes=True)
        yield Static("Loading jobs…", id="jobs-empty")
        yield SafeTable(id="steps-table", cursor_type="row")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self._poller = data.JobsPoller(self.goman.store)
        self.query_one("#jobs-table", DataTable).add_columns(
            "JOB", "CLUSTER", "TYPE", "STATUS", "STEP", "CREATED", "ELAPSED", "TRIES", "OWNER"
        )
        self.query_one("#steps-table", DataTable).add_columns(
            "STEP", "STATUS", "STARTED", "TOOK", "TRIES", "MESSAGE"
        )
        self.refresh_data()
        self.set_interval(self.goman.poll_interval, self.refresh_data)

    def refresh_data(self) -> None:
        if not self._busy:
            self._busy = True
            self._load()

    @work(thread=True, group="jobs", exit_on_error=False)
    def _load(self) -> None:
        app = self.goman
        try:
            ok, jobs = app.read_reporting(self._poller.poll)
        finally:
            self._busy = False
        if ok and jobs is not None:
            app.later(self._show, jobs)

    def _show(self, jobs: list[Job]) -> None:
        self.jobs = jobs
        now = self.goman.now()
        here = set(self.goman.runner.active())
        table = self.query_one("#jobs-table", DataTable)
        keep = cursor_key(table)
        table.clear()
        for job in jobs:
            step = job.current_step
            owner = job.lease.owner if job.lease else None
            if job.id in here:
                owner = f"this TUI ({owner})" if owner else "this TUI"
            table.add_row(
                fmt.plain(job.id),
                fmt.plain(job.cluster),
                fmt.plain(job.type),
                fmt.styled(job.status, fmt.JOB_STYLE),
                fmt.cell(step.name if step and not job.finished else None),
                fmt.clock(job.created_at),
                fmt.elapsed(job.created_at, job.finished_at, now),
                str(job.attempts),
                fmt.cell(owner),
                key=job.id,
            )
        if keep is not None and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep), animate=False)
        empty = self.query_one("#jobs-empty", Static)
        empty.update("No jobs yet: creating, scaling or deleting a cluster makes one.")
        empty.display = not jobs
        self._show_steps()

    def selection_commands(self) -> Iterable[SystemCommand]:
        """For the command palette: what can be done to the highlighted job."""
        job = self._selected()
        # The palette reads titles as markup: only ids of goman's own shape go there.
        if job is None or job.finished or not _JOB_ID.fullmatch(job.id):
            return
        yield SystemCommand(
            f"Cancel job {job.id}", "Stop it (at its current step)", self.action_cancel_job
        )
        yield SystemCommand(
            f"Resume job {job.id} here", "Run it in this TUI", self.action_resume_job
        )

    def _selected(self) -> Job | None:
        key = cursor_key(self.query_one("#jobs-table", DataTable))
        return next((j for j in self.jobs if j.id == key), None)

    @on(DataTable.RowHighlighted, "#jobs-table")
    def _show_steps(self) -> None:
        show_steps(self.query_one("#steps-table", DataTable), self._selected(), self.goman.now())

    def action_back(self) -> None:
        self.dismiss(None)

    def action_cancel_job(self) -> None:
        job = self._selected()
        if job is None:
            return
        if job.finished:
            self.notify(f"Job {job.id} is already {job.status}.", severity="warning")
            return
        from goman.jobs.queue import cancel_job

        store = self.goman.store

        def done(result: Job) -> None:
            verb = "cancelled" if result.status == "cancelled" else "asked to stop at its next step"
            self.notify(f"Job {result.id} {verb}.", title="goman")
            self.goman.refresh_soon()

        self.goman.call_blocking(lambda: cancel_job(store, job.id), done)

    def action_resume_job(self) -> None:
        job = self._selected()
        if job is None:
            return
        if job.finished:
            self.notify(f"Job {job.id} is {job.status}: nothing to resume.", severity="warning")
            return
        if self.goman.runner.start(job.id):
            self.notify(
                f"Resuming job {job.id} here (after its current lease, if another worker holds it).",
                title="goman",
            )
        else:
            self.notify(f"Job {job.id} is already running here.", severity="warning")
        self.goman.refresh_soon()
