"""The TUI's tables: text shown as text, and helpers for tables keyed by document ids."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from goman.models.job import Job
from goman.models.text import printable
from goman.tui import format as fmt


def safe_cell(value: Any) -> Any:
    """What a table may show of `value`: a DataTable parses a str cell as markup (so `[/]`
    from a forged document would crash it, `[@click=...]` run an action), hence text."""
    if isinstance(value, str):
        return Text(printable(value))
    if isinstance(value, Text) and printable(value.plain) != value.plain:
        return Text(printable(value.plain), style=value.style)
    return value


class SafeTable(DataTable[Any]):
    """Every table of the TUI: cells are turned into text on the way in (`safe_cell`), and a
    cell that grows (an age ticking from 59s to 1m0s) widens its column."""

    def add_row(self, *cells: Any, **kwargs: Any) -> Any:
        return super().add_row(*(safe_cell(c) for c in cells), **kwargs)

    def update_cell(
        self, row_key: Any, column_key: Any, value: Any, *, update_width: bool = True
    ) -> None:
        super().update_cell(row_key, column_key, safe_cell(value), update_width=update_width)


def cursor_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the cursor (None on an empty table)."""
    if table.row_count == 0:
        return None
    try:
        value = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    except Exception:  # the cursor can point past the end for a moment after a clear
        return None
    return None if value is None else str(value)


def show_steps(table: DataTable[Any], job: Job | None, now: datetime) -> None:
    """One row per step of `job`: status, start, duration, tries and message."""
    table.clear()
    if job is None:
        return
    for step in job.steps:
        table.add_row(
            fmt.plain(step.name),
            fmt.styled(step.status, fmt.STEP_STYLE),
            fmt.clock(step.started_at),
            fmt.elapsed(step.started_at, step.ended_at, now),
            str(step.attempts),
            fmt.plain(step.message),
        )
