"""Small helpers for DataTables keyed by document ids."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable


def cursor_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the cursor (None on an empty table)."""
    if table.row_count == 0:
        return None
    try:
        value = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    except Exception:  # the cursor can point past the end for a moment after a clear
        return None
    return None if value is None else str(value)
