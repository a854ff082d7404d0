"""The home screen's table of clusters: filterable by typing, sortable by any column."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from goman.models.cluster import ClusterSummary
from goman.tui import format as fmt
from goman.tui.widgets.tables import SafeTable, cursor_key

COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "NAME"),
    ("mode", "MODE"),
    ("phase", "PHASE"),
    ("nodes", "NODES"),
    ("endpoint", "ENDPOINT"),
    ("cost", "COST/H"),
    ("age", "AGE"),
    ("job", "JOB"),
)

_PHASE_ORDER = {
    p: i
    for i, p in enumerate(
        [
            "Failed",
            "Pending",
            "Provisioning",
            "Bootstrapping",
            "Scaling",
            "Upgrading",
            "Stopping",
            "Starting",
            "Deleting",
            "Running",
            "Stopped",
            "Deleted",
        ]
    )
}

# How each column sorts; ties always fall back to the name so the order is stable.
SORT_KEYS: dict[str, Callable[[ClusterSummary], Any]] = {
    "name": lambda s: s.name,
    "mode": lambda s: s.mode,
    "phase": lambda s: _PHASE_ORDER.get(s.phase, 99),
    "nodes": lambda s: (s.nodes_ready, s.nodes_total),
    "endpoint": lambda s: s.endpoint or "",
    "cost": lambda s: s.cost_per_hour if s.cost_per_hour is not None else -1.0,
    # Youngest first reads like "recent activity" (as in k9s): sort by -created.
    "age": lambda s: -s.created_at.timestamp(),
    "job": lambda s: s.job_step or "",
}

LOCK = "\N{LOCK}"  # beside the name of a cluster protected from deletion


def matches(summary: ClusterSummary, text: str) -> bool:
    if not text:
        return True
    needle = text.lower()
    return any(
        needle in (value or "").lower()
        for value in (summary.name, summary.phase, summary.mode, summary.region, summary.endpoint)
    )


def job_cell(summary: ClusterSummary) -> Text:
    if not summary.job_id:
        return Text("-", style="dim")
    return fmt.plain(f"▶ {summary.job_step or 'queued'}", "cyan")


class ClustersTable(SafeTable):
    """Rows keyed by cluster name, so the cursor stays on its cluster across refreshes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.summaries: list[ClusterSummary] = []
        self.filter_text = ""
        self.sort_column = "name"
        self.sort_reverse = False
        self.now: Callable[[], datetime] = datetime.now

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        for key, label in COLUMNS:
            if key == self.sort_column:
                label = f"{label} {'▼' if self.sort_reverse else '▲'}"
            self.add_column(label, key=key)

    def shown_rows(self) -> list[ClusterSummary]:
        rows = [s for s in self.summaries if matches(s, self.filter_text)]
        rows.sort(key=lambda s: s.name)
        rows.sort(key=SORT_KEYS[self.sort_column], reverse=self.sort_reverse)
        return rows

    def show(self, summaries: list[ClusterSummary]) -> None:
        self.summaries = list(summaries)
        self.rebuild()

    def set_filter(self, text: str) -> None:
        if text != self.filter_text:
            self.filter_text = text
            self.rebuild()

    def sort_by(self, column: str, *, reverse: bool | None = None) -> None:
        if reverse is None:
            reverse = not self.sort_reverse if column == self.sort_column else False
        self.sort_column, self.sort_reverse = column, reverse
        self.clear(columns=True)
        self._add_columns()
        self.rebuild()

    def cycle_sort(self) -> None:
        keys = [k for k, _ in COLUMNS]
        self.sort_by(keys[(keys.index(self.sort_column) + 1) % len(keys)], reverse=False)

    def selected_name(self) -> str | None:
        return cursor_key(self)

    def rebuild(self) -> None:
        keep = self.selected_name()
        self.clear()
        now = self.now()
        for summary in self.shown_rows():
            self.add_row(*self._cells(summary, now), key=summary.name)
        if keep is not None and keep in self.rows:
            self.move_cursor(row=self.get_row_index(keep), animate=False)

    def refresh_ages(self) -> None:
        """Ages move with the clock, not with the index: update that column alone (it
        widens as the values grow, from 59s to 1m0s)."""
        now = self.now()
        by_name = {s.name: s for s in self.summaries}
        for row_key in self.rows:
            summary = by_name.get(str(row_key.value))
            if summary is not None:
                self.update_cell(row_key, "age", fmt.age(summary.created_at, now))

    @staticmethod
    def _cells(s: ClusterSummary, now: datetime) -> tuple[Any, ...]:
        return (
            fmt.plain(s.name + (f" {LOCK}" if s.protected else ""), "bold"),
            fmt.plain(s.mode),
            fmt.phase(s.phase),
            fmt.nodes(s.nodes_ready, s.nodes_total),
            fmt.cell(s.endpoint),
            fmt.money(s.cost_per_hour),
            fmt.age(s.created_at, now),
            job_cell(s),
        )

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        """A click on a column header sorts by it (a second click reverses)."""
        event.stop()
        if event.column_key.value is not None:
            self.sort_by(str(event.column_key.value))
