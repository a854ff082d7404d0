"""Detail, jobs, kubeconfig, help, command palette and the quit warning, on the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from textual.widgets import DataTable, Input, TabbedContent

from goman.clusters import service
from goman.jobs.worker import Worker
from goman.models.cluster import ClusterDoc
from goman.state.store import StateStore
from goman.tui.runner import JobRunner
from goman.tui.screens.detail import DetailScreen
from goman.tui.screens.dialogs import ConfirmQuit, KubeconfigDialog
from goman.tui.screens.diff import DiffScreen
from goman.tui.screens.help import HelpScreen
from goman.tui.screens.jobs import JobsScreen
from goman.tui.widgets.clusters_table import ClustersTable
from tests.tui.conftest import wait_for


def running_cluster(store: StateStore, name: str = "web", workers: int = 1) -> None:
    job = service.create_cluster(store, name, workers=workers)
    Worker(store).run(job.id)


async def test_detail_shows_spec_nodes_jobs_and_history_with_a_diff(
    make_app: Any, store: StateStore
) -> None:
    running_cluster(store)
    app = make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        table = app.screen.query_one(ClustersTable)
        await wait_for(pilot, lambda: "web" in table.rows, what="web listed")
        await pilot.press("enter")
        detail = app.screen
        assert isinstance(detail, DetailScreen)
        nodes = detail.query_one("#nodes-table", DataTable)
        await wait_for(pilot, lambda: nodes.row_count == 2, what="two nodes")
        server = [str(c) for c in nodes.get_row("web-server-0")]
        assert server[1] == "server" and server[2].startswith("i-") and server[8] == "ready"
        # READY, VERSION and PODS come from the cluster's API, asked in a worker.
        await wait_for(
            pilot,
            lambda: str(nodes.get_row("web-server-0")[9]) == "Ready",
            what="the API's view of the nodes",
        )
        server = [str(c) for c in nodes.get_row("web-server-0")]
        assert server[10] == "v1.33.3+k3s1" and int(server[11]) > 0
        assert "Kubernetes v1.33.3+k3s1" in str(detail.query_one("#api-note").render())
        assert "t3.medium" in str(detail.query_one("#spec").render())
        assert "Running" in str(detail.query_one("#status").render())

        await pilot.press("2")
        jobs = detail.query_one("#jobs-table", DataTable)
        steps = detail.query_one("#steps-table", DataTable)
        await wait_for(pilot, lambda: jobs.row_count == 1, what="the create job")
        assert str(jobs.get_row_at(0)[2]) == "succeeded"
        assert str(steps.get_row_at(0)[0]) == "prepare"

        await pilot.press("3")
        assert detail.query_one("#tabs", TabbedContent).active == "history"
        versions = detail.query_one("#versions-table", DataTable)
        await wait_for(pilot, lambda: versions.row_count >= 3, what="versions")
        await pilot.press("end", "space", "home", "v")  # the oldest version against the newest
        await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen), what="diff")
        diff = str(app.screen.query_one("#diff Static").render())
        latest = store.require("clusters/web.state.json", ClusterDoc).doc.revision
        assert f'+  "revision": {latest},' in diff  # the newest version is the "after" side
        assert '+    "phase": "Running"' in diff and '-    "phase": ' in diff
        await pilot.press("escape", "escape")
        assert not isinstance(app.screen, DetailScreen | DiffScreen)


async def test_detail_says_plainly_when_the_api_cannot_be_reached(
    make_app: Any, store: StateStore, sandbox: Any
) -> None:
    from goman.sandbox.nodes import find_emulator

    running_cluster(store, workers=0)
    emulator = find_emulator(sandbox)
    assert emulator is not None
    emulator.stop_apis()
    app = make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        table = app.screen.query_one(ClustersTable)
        await wait_for(pilot, lambda: "web" in table.rows, what="web listed")
        await pilot.press("enter")
        detail = app.screen
        assert isinstance(detail, DetailScreen)
        note = detail.query_one("#api-note")
        await wait_for(
            pilot, lambda: "cannot be reached from here" in str(note.render()), what="the note"
        )
        assert "api_cidrs" in str(note.render())
        nodes = detail.query_one("#nodes-table", DataTable)
        assert str(nodes.get_row("web-server-0")[9]) in {"", "-", "—"}


async def test_kubeconfig_dialog_merges_into_the_users_kubeconfig(
    make_app: Any, store: StateStore, aws_env: dict[str, str]
) -> None:
    running_cluster(store, workers=0)
    app = make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        table = app.screen.query_one(ClustersTable)
        await wait_for(pilot, lambda: "web" in table.rows, what="web listed")
        await pilot.press("k")
        dialog = app.screen
        assert isinstance(dialog, KubeconfigDialog)
        assert dialog.query_one("#path", Input).value == aws_env["KUBECONFIG"]
        assert "goman-default-web" in str(dialog.query_one("#summary").render())
        await pilot.click("#save")
        target = Path(aws_env["KUBECONFIG"])
        await wait_for(pilot, target.exists, what="kubeconfig written")
        config = yaml.safe_load(target.read_text())
        assert config["current-context"] == "goman-default-web"
        assert oct(target.stat().st_mode & 0o777) == "0o600"


async def test_jobs_screen_cancels_and_resumes(make_app: Any, store: StateStore) -> None:
    first = service.create_cluster(store, "one")
    second = service.create_cluster(store, "two")
    app = make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: app.index is not None, what="index")
        await pilot.press("j")
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        jobs = screen.query_one("#jobs-table", DataTable)
        await wait_for(pilot, lambda: jobs.row_count == 2, what="two jobs")
        jobs.move_cursor(row=jobs.get_row_index(first.id))
        await pilot.press("x")
        await wait_for(
            pilot,
            lambda: str(jobs.get_cell_at((jobs.get_row_index(first.id), 3))) == "cancelled",
            what="cancelled",
        )
        jobs.move_cursor(row=jobs.get_row_index(second.id))
        await pilot.press("u")
        await wait_for(
            pilot,
            lambda: str(jobs.get_cell_at((jobs.get_row_index(second.id), 3))) == "succeeded",
            timeout=60,
            what="resumed job done",
        )
        assert app.index is not None
        await wait_for(
            pilot, lambda: app.index.clusters["two"].phase == "Running", what="two Running"
        )


async def test_help_lists_every_key_and_the_palette_offers_every_action(
    make_app: Any, store: StateStore
) -> None:
    running_cluster(store, workers=0)
    app = make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: app.index is not None and app.index.clusters, what="index")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        from goman.tui.screens.help import sections

        keys = {key for _, rows in sections() for key, _ in rows}
        assert {"c", "enter", "s", "d", "k", "/", "o", "?", "j", "r", "q", "x", "u", "v"} <= keys
        await pilot.press("escape")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Create cluster", "Jobs", "Help", "Refresh", "Open web", "Scale web"} <= titles
        assert {"Delete web", "Kubeconfig web"} <= titles
        await pilot.press("ctrl+p")
        await pilot.press(*"Open web", "enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, DetailScreen), what="detail via palette"
        )


class _BusyRunner(JobRunner):
    """A runner that says a job is running here, without running anything."""

    def active(self) -> list[str]:
        return ["20250701T120000-abc123"]


async def test_quitting_with_a_job_running_warns(make_app: Any, store: StateStore) -> None:
    app = make_app(runner=_BusyRunner(store))
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmQuit)
        assert "stays resumable" in str(app.screen.query_one(".hint").render())
        await pilot.press("escape")
        assert app.is_running and not isinstance(app.screen, ConfirmQuit)
        await pilot.press("q", "y")
        await pilot.pause()
    assert app.return_code == 0


async def test_a_refused_action_shows_the_clis_message_and_the_screen_keeps_working(
    make_app: Any, store: StateStore
) -> None:
    first = service.create_cluster(store, "busy")
    app = make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        table = app.screen.query_one(ClustersTable)
        await wait_for(pilot, lambda: "busy" in table.rows, what="busy listed")
        await pilot.press("s", "backspace", "2", "enter")

        def errors() -> list[str]:
            return [n.message for n in app._notifications if n.severity == "error"]

        await wait_for(pilot, errors, what="an error notification")
        # The CLI's message, with the fix in the TUI's words: keys, not commands.
        assert f"Cluster 'busy' is busy: create job {first.id} is pending" in errors()[0]
        assert "fix: Wait for it (j: the jobs screen), or cancel it with x" in errors()[0]
        assert "goman jobs" not in errors()[0]
        await pilot.press("j")
        assert isinstance(app.screen, JobsScreen)
        jobs = app.screen.query_one("#jobs-table", DataTable)
        await wait_for(pilot, lambda: jobs.row_count == 1, what="the pending job")
        assert str(jobs.get_row_at(0)[0]) == first.id
