"""The TUI's upgrade, stop and start: the same use cases and questions as the CLI."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from textual.app import SystemCommand

if TYPE_CHECKING:
    from goman.models.cluster import ClusterSummary
    from goman.tui.app import GomanApp


def day2_commands(app: GomanApp, s: ClusterSummary) -> Iterable[SystemCommand]:
    """The palette's entries for a cluster that no job holds."""
    name = s.name
    if s.phase == "Running":
        yield SystemCommand(
            f"Upgrade {name}", "Move it to a newer K3s version", lambda: upgrade(app, name)
        )
        yield SystemCommand(
            f"Stop {name}", "Stop its instances; disks and endpoint stay", lambda: stop(app, name)
        )
    if s.phase == "Stopped":
        yield SystemCommand(
            f"Start {name}", "Start its instances and wait for Ready", lambda: start(app, name)
        )


def upgrade(app: GomanApp, name: str) -> None:
    from goman.tui.screens.dialogs import UpgradeDialog

    def submitted(version: str | None) -> None:
        if not version:
            return
        from goman.clusters import service

        app.call_blocking(
            lambda: service.upgrade_cluster(app.store, name, version),
            lambda job: app.start_job(job, f"Upgrading to {version}:"),
        )

    app.push_screen(UpgradeDialog(name), submitted)


def stop(app: GomanApp, name: str) -> None:
    from goman.tui.screens.dialogs import StopDialog

    def confirmed(ok: bool | None) -> None:
        if not ok:
            return
        from goman.clusters import service

        def started(job: Any) -> None:
            if job is None:
                app.notify(f"{name} is already Stopped: nothing to do.")
            app.start_job(job, "Stopping")

        app.call_blocking(lambda: service.stop_cluster(app.store, name), started)

    app.push_screen(StopDialog(name), confirmed)


def start(app: GomanApp, name: str) -> None:
    from goman.clusters import service

    def started(job: Any) -> None:
        if job is None:
            app.notify(f"{name} is already Running: nothing to do.")
        app.start_job(job, "Starting")

    app.call_blocking(lambda: service.start_cluster(app.store, name), started)
