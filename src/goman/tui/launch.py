"""Entry point of the terminal UI (`goman` with no command)."""

from __future__ import annotations

from typing import Any


def run_tui(app: Any) -> None:
    """Open the TUI on the CLI's AWS context and state store (already sandboxed if asked)."""
    from goman.tui.app import GomanApp

    sandbox = True if getattr(app, "use_sandbox", False) else None
    GomanApp(app.store, sandbox=sandbox).run()
