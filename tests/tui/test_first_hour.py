"""What a new user met in the first hour with the TUI: ages that tick, errors that are not
blips, a Failed message read whole with the keys to press, dialogs that Enter confirms,
a palette of goman's own actions, and a screen that works at 80 columns."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Select, Static, Tab
from textual.widgets._footer import FooterKey

from goman.aws.session import AwsContext
from goman.clusters import service
from goman.jobs.worker import Worker
from goman.models.job import Job
from goman.state import keys
from goman.state.store import StateStore
from goman.tui.screens.detail import DetailScreen
from goman.tui.screens.dialogs import CreateDialog, KubeconfigDialog, ScaleDialog
from goman.tui.screens.dialogs.base import Choice
from goman.tui.screens.problem import ProblemScreen
from goman.tui.widgets.clusters_table import ClustersTable
from goman.tui.widgets.status_header import StatusHeader
from tests.cli.cluster_helpers import nodes_control
from tests.tui.conftest import FROZEN, fixed_nodes, seed_clusters, summary_doc, text_of, wait_for
from tests.tui.test_lifecycle import cell

CLOCK = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


# -- long waits show that something is happening ------------------------------------------


async def test_ages_tick_and_the_column_widens(make_app: Any, store: StateStore) -> None:
    doc = summary_doc("web", phase="Provisioning")
    doc.created_at = FROZEN - timedelta(seconds=55)
    seed_clusters(store, [doc])
    now = [FROZEN]
    app = make_app(clock=lambda: now[0])
    async with app.run_test(size=(120, 35)) as pilot:
        table = app.screen.query_one(ClustersTable)
        await wait_for(pilot, lambda: cell(table, "web", "age") == "55s", what="55s")
        narrow = table.columns[next(k for k in table.columns if k.value == "age")].content_width
        now[0] = FROZEN + timedelta(seconds=12)  # nothing in the index changes
        await wait_for(pilot, lambda: cell(table, "web", "age") == "1m7s", what="1m7s")

        def age_width() -> int:
            return table.columns[next(k for k in table.columns if k.value == "age")].content_width

        # The table measures its columns again on its next refresh, after the cell changed.
        await wait_for(pilot, lambda: age_width() >= len("1m7s"), what="the AGE column widened")
        assert age_width() >= len("1m7s") > narrow

        await pilot.press("enter")
        await wait_for(pilot, lambda: "(1m7s ago)" in text_of(app, "#status"), what="1m7s ago")
        now[0] = FROZEN + timedelta(seconds=70)
        await wait_for(pilot, lambda: "(2m5s ago)" in text_of(app, "#status"), what="2m5s ago")


# -- errors that are not blips ----------------------------------------------------------


@pytest.mark.parametrize("case", ["unknown-profile", "no-credentials"])
async def test_a_permanent_error_stops_polling_and_shows_its_fix(
    case: str, make_app: Any, aws_env: dict[str, str], tmp_path: Path, monkeypatch: Any
) -> None:
    if case == "no-credentials":
        empty = tmp_path / "empty-config"
        empty.write_text("")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.delenv(name, raising=False)
    profile = "nosuch" if case == "unknown-profile" else None
    app = make_app(store=StateStore(AwsContext.from_flag(profile)))
    polls = [0]
    real_poll = app.index_poller.poll

    def counted() -> Any:
        polls[0] += 1
        return real_poll()

    app.index_poller.poll = counted  # type: ignore[method-assign]
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ProblemScreen), what="error screen")
        await pilot.pause()
        shown = text_of(app, "#problem")
        expected = {
            "unknown-profile": "AWS profile 'nosuch' was not found",
            "no-credentials": "No AWS credentials were found",
        }[case]
        assert expected in shown and "fix: " in shown and "r " in shown
        home = app.screen_stack[0]
        assert "stopped" in str(home.query_one("#connection", Static).render())
        assert not app.reconnecting
        seen = polls[0]
        await pilot.pause(1.0)  # five poll intervals: none of them asks AWS again
        assert polls[0] == seen
        await pilot.press("escape")
        assert not isinstance(app.screen, ProblemScreen)
        assert "stopped" in text_of(app, "#connection")  # the header keeps saying it
        await pilot.press("r")  # try again: the same answer, said again
        await wait_for(pilot, lambda: isinstance(app.screen, ProblemScreen), what="again")


async def test_the_failed_message_is_shown_whole_with_keys_to_press(
    make_app: Any, store: StateStore, sandbox: Any
) -> None:
    nodes_control(sandbox, fail=["web-server-0"])
    job = service.create_cluster(store, "web", ready_timeout=60)
    assert Worker(store).run(job.id).status == "failed"
    doc = service.get_cluster(store, "web")
    assert "goman" not in doc.status.message  # the reason only; faces add what to do
    # A long reason, as a real bootstrap failure can give.
    long_reason = "Create failed: " + " ".join(f"word{i}" for i in range(120)) + " THE-END."
    store.update(
        keys.cluster_state("web"),
        type(doc),
        lambda d: (
            d
            and d.model_copy(
                update={"status": d.status.model_copy(update={"message": long_reason})}
            )
        ),
    )
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(ClustersTable)
        await wait_for(pilot, lambda: "web" in table.rows, what="web")
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        await wait_for(pilot, lambda: "THE-END." in text_of(app, "#status"), what="whole message")
        status = text_of(app, "#status")
        assert status.index("press t to retry") < status.index("message")
        assert "goman " not in status
        panel = app.screen.query_one("#status-panel")
        hint_line = status[: status.index("press t")].count("\n")
        assert hint_line < panel.region.height  # seen without scrolling
        panel.scroll_end(animate=False)
        await pilot.pause()
        assert panel.scroll_y > 0  # the rest is a scroll away, not cut off


# -- dialogs and keys --------------------------------------------------------------------


async def test_enter_confirms_a_dialog_wherever_the_focus_is(
    make_app: Any, store: StateStore, aws_env: dict[str, str]
) -> None:
    seed_clusters(
        store,
        [
            summary_doc(
                "web",
                phase="Running",
                endpoint="https://203.0.113.5:6443",
                nodes=fixed_nodes("web"),
            )
        ],
    )
    from goman.provision.pki import generate_cluster_cas

    store.put_bytes(
        "clusters/web/secrets/ca-bundle.json",
        generate_cluster_cas().to_bytes(),
        create=True,
    )
    app = make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        table = app.screen.query_one(ClustersTable)
        await wait_for(pilot, lambda: "web" in table.rows, what="web")
        await pilot.press("k")
        dialog = app.screen
        assert isinstance(dialog, KubeconfigDialog)
        assert dialog.focused is dialog.query_one("#how")  # on the merge/file choice
        await pilot.press("enter")
        target = Path(aws_env["KUBECONFIG"])
        await wait_for(pilot, target.exists, what="kubeconfig merged by Enter")
        assert not isinstance(app.screen, KubeconfigDialog)

        await pilot.press("c")
        assert isinstance(app.screen, CreateDialog)
        await pilot.press(*"api", "tab")
        assert isinstance(app.screen.focused, Select)  # on the mode drop-down, closed
        await pilot.press("enter")
        await wait_for(pilot, lambda: "api" in table.rows, what="created by Enter")


async def test_the_chosen_option_shows_without_colour(make_app: Any, store: StateStore) -> None:
    seed_clusters(store, [summary_doc("web", phase="Running")])
    app = make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: "web" in app.screen.query_one(ClustersTable).rows)
        await pilot.press("k")
        merge, file = app.screen.query(Choice)

        def glyphs() -> tuple[str, str]:
            return str(merge.render())[:3], str(file.render())[:3]

        assert glyphs() == ("▐●▌", "▐ ▌")
        await pilot.press("down", "space")
        await pilot.pause()
        assert glyphs() == ("▐ ▌", "▐●▌")


async def test_the_palette_lists_goman_actions_for_the_selection(
    make_app: Any, store: StateStore
) -> None:
    seed_clusters(
        store,
        [
            summary_doc("web", phase="Running", endpoint="https://203.0.113.5:6443"),
            summary_doc("old", phase="Failed"),
        ],
    )
    app = make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        table = app.screen.query_one(ClustersTable)
        await wait_for(pilot, lambda: table.row_count == 2, what="rows")

        def titles() -> set[str]:
            return {c.title for c in app.get_system_commands(app.screen)}

        table.move_cursor(row=table.get_row_index("web"))
        running = titles()
        assert {"Scale web", "Delete web", "Kubeconfig web", "Open old"} <= running
        assert "Retry web" not in running and not any(
            t.endswith(" old") and not t.startswith("Open") for t in running
        )
        table.move_cursor(row=table.get_row_index("old"))
        failed = titles()
        assert {"Retry old", "Delete old"} <= failed
        assert "Scale old" not in failed and "Kubeconfig old" not in failed
        textual_own = {"Keys", "Maximize", "Screenshot", "Theme", "Change theme", "Minimize"}
        assert not (running | failed) & textual_own
        await pilot.press("ctrl+p", *"Retry", "enter")  # the palette runs what it lists
        await wait_for(
            pilot,
            lambda: any(
                "only a Failed" in n.message or "no longer recorded" in n.message
                for n in app._notifications
            ),
            what="the retry ran",
        )


async def test_the_filter_bar_leaves_the_connection_state_in_sight(
    make_app: Any, store: StateStore
) -> None:
    seed_clusters(store, [summary_doc("web")])
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.refreshed_at is not None, what="synced")
        await pilot.press("slash", "w")
        await pilot.pause()
        header = app.screen.query_one(StatusHeader)
        box = app.screen.query_one("#filter", Input)
        assert box.display and box.region.y > header.region.y
        connection = app.screen.query_one("#connection")
        under, _ = app.screen.get_widget_at(connection.region.x, connection.region.y)
        assert under is connection and "synced" in text_of(app, "#connection")


@pytest.mark.parametrize("screen", ["home", "detail", "jobs"])
async def test_nothing_essential_is_cut_at_80_columns(
    screen: str, make_app: Any, store: StateStore
) -> None:
    seed_clusters(store, [summary_doc("web", phase="Running", nodes=fixed_nodes("web"))])
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(ClustersTable)
        await wait_for(pilot, lambda: "web" in table.rows, what="web")
        essential = {
            "home": {"c", "s", "d", "k", "slash", "question_mark", "j", "q"},
            "detail": {"escape", "s", "d", "k", "1", "question_mark", "q"},
            "jobs": {"escape", "x", "u", "question_mark", "q"},
        }[screen]
        if screen == "detail":
            await pilot.press("enter")
        elif screen == "jobs":
            await pilot.press("j")
        await pilot.pause()
        keys_shown = {k.key: k for k in app.screen.query(FooterKey)}
        assert essential <= set(keys_shown), set(keys_shown)
        for key in essential:
            region = keys_shown[key].region
            assert region.width > 0 and region.right <= 80, (key, region)
        if screen == "detail":
            tabs = list(app.screen.query(Tab))
            assert [str(t.label) for t in tabs] == ["Nodes", "Jobs", "History"]
            assert all(t.region.width > 0 and t.region.right <= 80 for t in tabs)


# -- times and sizes ----------------------------------------------------------------------


async def test_job_tables_show_times_to_the_second(make_app: Any, store: StateStore) -> None:
    seed_clusters(store, [summary_doc("web")])
    job = service.create_cluster(store, "api", workers=0)
    app = make_app()
    async with app.run_test(size=(160, 35)) as pilot:
        await wait_for(pilot, lambda: app.index is not None, what="index")
        await pilot.press("j")
        jobs = app.screen.query_one("#jobs-table", DataTable)
        await wait_for(pilot, lambda: jobs.row_count == 1, what="the job")
        row = [str(c) for c in jobs.get_row(job.id)]
        assert any(CLOCK.match(c) for c in row), row
        assert re.fullmatch(r"\d+s|\d+m\d\ds", row[6]), row  # elapsed, to the second


async def test_scaling_to_the_same_size_says_so_and_queues_nothing(
    make_app: Any, store: StateStore
) -> None:
    job = service.create_cluster(store, "web", workers=1)
    Worker(store).run(job.id)
    app = make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        table = app.screen.query_one(ClustersTable)
        await wait_for(pilot, lambda: cell(table, "web", "phase") == "Running", what="Running")
        await pilot.press("s")
        assert isinstance(app.screen, ScaleDialog)
        await pilot.press("enter")  # still 1 worker
        await wait_for(
            pilot,
            lambda: any("already has 1 worker(s)" in n.message for n in app._notifications),
            what="nothing to do",
        )
    assert [o.key for o in store.ls(keys.JOBS_DIR)] == [keys.job(job.id)]
    assert store.require(keys.job(job.id), Job).doc.status == "succeeded"
