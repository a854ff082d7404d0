"""Small helpers for DataTables keyed by document ids."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textual.widgets import DataTable

from goman.models.job import Job
from goman.tui import format as fmt


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
            step.name,
            fmt.styled(step.status, fmt.STEP_STYLE),
            fmt.clock(step.started_at),
            fmt.elapsed(step.started_at, step.ended_at, now),
            str(step.attempts),
            step.message,
        )
