"""Entry point of the terminal UI (`goman` with no command)."""

from __future__ import annotations

from typing import Any


def run_tui(app: Any) -> int:
    """Open the TUI on the CLI's AWS context and state store (already sandboxed if asked);
    returns the exit code (143 after SIGTERM, as the CLI)."""
    from goman.tui.app import HAND_BACK_SECONDS, GomanApp

    sandbox = True if getattr(app, "use_sandbox", False) else None
    store = app.store  # starts the sandbox, if asked for, so `sandbox_embedded` is known
    embedded = bool(getattr(app, "sandbox_embedded", False))
    tui = GomanApp(store, sandbox=sandbox, embedded_sandbox=embedded)
    tui.handle_sigterm = True
    try:
        tui.run()
    finally:
        # However the app ended (a quit hands jobs back already), do not leave a job
        # leased to a process that is about to exit.
        tui.runner.stop(HAND_BACK_SECONDS)
    return int(tui.return_code or 0)
