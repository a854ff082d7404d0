"""Markup and control characters from the bucket are shown as text, never interpreted.

The index, a cluster's state document and its job are forged with the raw boto3 client, as
someone with write access to the bucket would: names, endpoints, steps, node and job
messages full of Rich/Textual markup (`[/]` crashes a markup parser, `[@click=...]` would
run an action when clicked, `[link=...]` would hide a link) and terminal escapes.
"""

from __future__ import annotations

import json
from typing import Any

from textual.widgets import DataTable

from goman.models.cluster import ClusterDoc
from goman.models.job import Job, Step
from goman.state import keys
from goman.state.store import StateStore
from goman.tui.screens.detail import DetailScreen
from goman.tui.screens.dialogs import DeleteDialog, KubeconfigDialog, ScaleDialog
from goman.tui.screens.jobs import JobsScreen
from goman.tui.screens.problem import ProblemScreen
from goman.tui.widgets.clusters_table import ClustersTable
from tests.tui.conftest import fixed_nodes, seed_clusters, summary_doc, text_of, wait_for

CLICK = "[@click=app.quit]quit[/]"
LINK = "[link=https://evil.example]docs[/link]"
CRASH = "[/]"
ESCAPE = "\x1b]0;TITLE\x07"
# Names are validated (a row's name reaches commands); every other field may be forged.
OTHER_ENDPOINT = f"{LINK}[bold]big{CRASH}esc{ESCAPE}"


def forge(s3: Any, store: StateStore) -> str:
    """A real cluster `web` whose every free-text field is hostile, plus an index row
    `other` (no state document) whose are too. Returns the forged job's id."""
    doc = summary_doc(
        "web",
        phase="Failed",
        endpoint=f"https://203.0.113.5:6443{CLICK}",
        message=f"Create failed: {CRASH} {LINK} {ESCAPE}",
        job_id=None,
        last_job_id="20250701T115500-a1b2c3",
        nodes=fixed_nodes("web"),
    )
    doc.status.nodes[0].message = CRASH
    doc.status.nodes[0].az = CLICK
    seed_clusters(store, [doc])
    job = Job(
        id="20250701T115500-a1b2c3",
        type="create",
        cluster="web",
        cluster_id=doc.cluster_id,
        status="failed",
        steps=[Step(name="wait-ready", status="failed", message=f"{CRASH} {CLICK} {ESCAPE}")],
        error=CRASH,
    )
    store.create(keys.job(job.id), job)
    bucket, key = store.bucket, store.key(keys.INDEX)
    index = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    row = index["clusters"]["web"]
    row["job_step"] = CRASH
    index["clusters"]["other"] = {**row, "name": "other", "endpoint": OTHER_ENDPOINT}
    index["revision"] += 1
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(index).encode())
    return job.id


def plain_cells(table: DataTable[Any]) -> str:
    return " ".join(str(c) for i in range(table.row_count) for c in table.get_row_at(i))


async def test_markup_from_the_bucket_is_shown_as_text(
    make_app: Any, store: StateStore, s3: Any
) -> None:
    forge(s3, store)
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.screen.query_one(ClustersTable)
        await wait_for(pilot, lambda: table.row_count == 2, what="every row, forged ones too")
        shown = plain_cells(table)
        for literal in (CRASH, CLICK, LINK, "[bold]big"):
            assert literal in shown, literal
        assert "\x1b" not in shown and "\x07" not in shown and "escTITLE" not in shown
        assert "esc]0;TITLE" in shown  # the text stays; the control characters go

        # Clicking the forged [@click=app.quit] endpoint runs nothing.
        table.move_cursor(row=table.get_row_index("web"))
        await pilot.click(ClustersTable, offset=(60, table.get_row_index("web") + 1))
        await pilot.pause()
        assert app.is_running

        # Every dialog and screen that names the forged row's cluster.
        table.move_cursor(row=table.get_row_index("other"))
        for key, dialog in (("d", DeleteDialog), ("s", ScaleDialog), ("k", KubeconfigDialog)):
            await pilot.press(key)
            await wait_for(pilot, lambda d=dialog: isinstance(app.screen, d), what=str(dialog))
            await pilot.press("escape")
        await pilot.press("t")  # refused: the row has no state document behind it
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="detail")
        assert text_of(app, "#detail-title") == "other"
        await wait_for(
            pilot,
            lambda: any(n.severity == "error" for n in app._notifications),
            what="the missing cluster said as an error",
        )
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press("escape", "escape")

        # The real cluster: status, nodes, jobs and steps, all literal.
        table.move_cursor(row=table.get_row_index("web"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Create failed" in text_of(app, "#status"), what="status")
        status = text_of(app, "#status")
        assert CRASH in status and LINK in status and "\x1b" not in status
        nodes = app.screen.query_one("#nodes-table", DataTable)
        await wait_for(pilot, lambda: nodes.row_count == 1, what="the node")
        assert CLICK in plain_cells(nodes)
        await pilot.press("2")
        steps = app.screen.query_one("#steps-table", DataTable)
        await wait_for(pilot, lambda: steps.row_count == 1, what="the step")
        assert CLICK in plain_cells(steps) and "\x07" not in plain_cells(steps)
        await pilot.press("escape", "j")
        assert isinstance(app.screen, JobsScreen)
        jobs = app.screen.query_one("#jobs-table", DataTable)
        await wait_for(pilot, lambda: jobs.row_count == 1, what="the job")
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press("escape", "escape")
        assert app.is_running
    assert app.return_code in (None, 0)


async def test_a_forged_name_in_the_index_is_refused_not_shown(
    make_app: Any, store: StateStore, s3: Any
) -> None:
    forge(s3, store)
    bucket, key = store.bucket, store.key(keys.INDEX)
    index = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    index["clusters"][CRASH] = {**index["clusters"]["web"], "name": CRASH}
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(index).encode())
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: app.problem is not None, what="the invalid index said")
        assert app.problem is not None
        assert "clusters.json" in app.problem.message and "invalid" in app.problem.message
        assert isinstance(app.screen, ProblemScreen)  # shown with its fix, nothing listed
        assert app.is_running


async def test_the_palette_offers_no_forged_name(make_app: Any, store: StateStore, s3: Any) -> None:
    forge(s3, store)
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.screen.query_one(ClustersTable)
        await wait_for(pilot, lambda: table.row_count == 2, what="rows")
        for name in ["other", "web"]:
            table.move_cursor(row=table.get_row_index(name))
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert not any("[" in t or "\x1b" in t for t in titles), titles
        assert "Open web" in titles and "Retry web" in titles


def test_a_forged_document_is_still_a_document(store: StateStore, s3: Any) -> None:
    """The forgery above passes goman's own validation: these are the documents a bucket
    writer can really produce, not a broken file the store would refuse."""
    forge(s3, store)
    doc = store.require(keys.cluster_state("web"), ClusterDoc).doc
    assert CRASH in doc.status.message
