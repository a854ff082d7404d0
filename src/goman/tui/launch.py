"""Entry point of the terminal UI (`goman` with no command)."""

from __future__ import annotations

from typing import Any

from goman.aws.errors import GomanError


def run_tui(app: Any) -> None:
    raise GomanError(
        "The terminal UI is not part of this build yet.",
        "Use the CLI: `goman --help` lists every command.",
    )
