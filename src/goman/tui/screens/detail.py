"""One cluster: spec and status, its nodes, its jobs with their steps, and the S3 version
history of its state document with a diff of any two versions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from goman.models.cluster import ClusterDoc
from goman.models.job import Job
from goman.models.text import printable
from goman.state.store import VersionInfo
from goman.tui import data, day2
from goman.tui import format as fmt
from goman.tui.widgets.status_header import StatusHeader
from goman.tui.widgets.tables import SafeTable, cursor_key, show_steps

if TYPE_CHECKING:
    from goman.clusters.access import LiveCluster
    from goman.tui.app import GomanApp

LIVE_INTERVAL = 10.0  # seconds between two questions to the cluster's API


def _row(text: Text, label: str, value: object, style: str = "") -> None:
    text.append(f"{label:<14}", style="dim")
    text.append_text(fmt.plain(value, style) if not isinstance(value, Text) else value)
    text.append("\n")


def spec_text(doc: ClusterDoc) -> Text:
    s = doc.spec
    text = Text()
    for label, value in (
        ("mode", f"{s.mode} ({s.servers} server{'s' if s.servers > 1 else ''})"),
        ("workers", str(s.workers)),
        ("instance type", s.instance_type),
        ("region", s.region),
        ("k3s", s.k3s_version),
        ("api from", ", ".join(s.api_cidrs)),
    ):
        _row(text, label, value)
    return text


def next_keys(doc: ClusterDoc, last_job: Job | None) -> str | None:
    """What to press about a Failed cluster (the CLI names commands instead)."""
    if doc.status.phase != "Failed" or doc.status.job_id is not None:
        return None
    if last_job is not None and last_job.type == "delete":
        return "press d to delete it again"
    return "press t to retry, d to delete"


def status_text(doc: ClusterDoc, now: Any, last_job: Job | None = None) -> Text:
    """Phase first, then what to press (if anything), then the rest; the message last and
    whole: it wraps, and the panel scrolls when it is long."""
    st = doc.status
    text = Text()
    _row(text, "phase", fmt.phase(st.phase))
    keys = next_keys(doc, last_job)
    if keys:
        _row(text, "", Text(keys, style="bold"))
    total = doc.spec.servers + doc.spec.workers
    _row(text, "nodes ready", f"{doc.nodes_ready}/{total}")
    _row(text, "endpoint", fmt.dash(st.endpoint))
    _row(text, "job", f"{st.job_id} ({st.job_step or 'queued'})" if st.job_id else "-")
    _row(text, "created", f"{fmt.clock(doc.created_at)} ({fmt.age(doc.created_at, now)} ago)")
    text.append(f"{'message':<14}", style="dim")
    text.append(printable(st.message or "-", multiline=True))
    return text


class DetailScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("s", "scale", "Scale"),
        Binding("d", "delete", "Delete"),
        # Not in the footer (it would push quit out at 120 columns): a Failed cluster's
        # status names the key, and ? and the palette list it.
        Binding("t", "retry", "Retry a Failed cluster", show=False),
        Binding("u", "upgrade", "Upgrade K3s", show=False),
        Binding("p", "stop", "Stop (pause) its instances", show=False),
        Binding("g", "start", "Start a Stopped cluster", show=False),
        Binding("k", "kubeconfig", "Kubeconfig"),
        # One footer entry for the three tab keys, so the footer fits 80 columns.
        Binding("1", "tab('nodes')", "Tabs", key_display="1-3"),
        Binding("2", "tab('jobs')", "Jobs tab", show=False),
        Binding("3", "tab('history')", "History tab", show=False),
        Binding("space", "mark", "Mark version", show=False),
        Binding("v", "diff", "Diff versions", show=False),
    ]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.cluster = name
        self.doc: ClusterDoc | None = None
        self.jobs: list[Job] = []
        self.versions: list[VersionInfo] = []
        self.marked: str | None = None
        self._busy = False
        self.live: LiveCluster | None = None  # what the cluster's API said last
        self._live_busy = False

    @property
    def goman(self) -> GomanApp:
        return cast("GomanApp", self.app)

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        yield Static(fmt.plain(self.cluster, "bold"), id="detail-title")
        with Horizontal(id="summary"):
            with Vertical(classes="panel", id="spec-panel"):
                yield Static("SPEC", classes="panel-title")
                yield Static("loading…", id="spec")
            with VerticalScroll(classes="panel", id="status-panel"):
                yield Static("STATUS", classes="panel-title")
                yield Static("loading…", id="status")
        with TabbedContent(id="tabs", initial="nodes"):
            with TabPane("Nodes", id="nodes"):
                yield Static("Kubernetes API: asking…", id="api-note", classes="hint")
                yield SafeTable(id="nodes-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Jobs", id="jobs"):
                yield SafeTable(id="jobs-table", cursor_type="row")
                yield SafeTable(id="steps-table", cursor_type="row")
            with TabPane("History", id="history"):
                yield Static(
                    "space marks a version; v diffs the marked version with the highlighted "
                    "one (or the highlighted one with the version before it).",
                    classes="hint",
                )
                yield SafeTable(id="versions-table", cursor_type="row")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self._cluster_poller = data.cluster_poller(self.goman.store, self.cluster)
        self._jobs_poller = data.JobsPoller(self.goman.store)
        self.query_one("#nodes-table", DataTable).add_columns(
            "NODE",
            "ROLE",
            "INSTANCE",
            "TYPE",
            "AZ",
            "PRIVATE IP",
            "PUBLIC IP",
            "STATE",
            "BOOTSTRAP",
            "READY",
            "VERSION",
            "PODS",
        )
        self.query_one("#jobs-table", DataTable).add_columns(
            "JOB", "TYPE", "STATUS", "STEP", "OWNER", "CREATED", "ELAPSED"
        )
        self.query_one("#steps-table", DataTable).add_columns(
            "STEP", "STATUS", "STARTED", "TOOK", "TRIES", "MESSAGE"
        )
        self.query_one("#versions-table", DataTable).add_columns(
            " ", "VERSION", "MODIFIED", "SIZE", ""
        )
        self.refresh_data()
        self.set_interval(self.goman.poll_interval, self.refresh_data)
        self.set_interval(LIVE_INTERVAL, self.refresh_live)
        # "created … ago" follows the clock between two changes of the document.
        self.set_interval(1, self._tick)

    def _tick(self) -> None:
        if self.doc is not None:
            self._show_status(self.doc)

    def selected_cluster(self) -> str:
        """The cluster shown (what the command palette offers actions for)."""
        return self.cluster

    # -- data ---------------------------------------------------------------------------

    def refresh_data(self) -> None:
        if not self._busy:
            self._busy = True
            self._load(self._history_wanted())

    def refresh_live(self) -> None:
        """Ask the cluster's API (in a worker: an API that does not answer never blocks)."""
        if self.doc is not None and not self._live_busy:
            self._live_busy = True
            self._load_live(self.doc)

    @work(thread=True, group="detail-live", exit_on_error=False)
    def _load_live(self, doc: ClusterDoc) -> None:
        from goman.clusters.access import live_view

        try:
            live = live_view(self.goman.store, doc, timeout=3.0)
        finally:
            self._live_busy = False
        self.goman.later(self._apply_live, live)

    def _apply_live(self, live: LiveCluster) -> None:
        self.live = live
        if live.reachable:
            note = f"Kubernetes {live.version}: READY, VERSION and PODS come from its API."
        else:
            note = f"The Kubernetes API cannot be reached from here: {live.error}"
        self.query_one("#api-note", Static).update(fmt.plain(note))
        if self.doc is not None:
            self._show_doc(self.doc)

    def _history_wanted(self) -> bool:
        return self.query_one("#tabs", TabbedContent).active == "history"

    @work(thread=True, group="detail", exit_on_error=False)
    def _load(self, with_history: bool) -> None:
        app = self.goman

        def read() -> tuple[Any, Any]:
            return self._cluster_poller.poll(), self._jobs_poller.poll()

        try:
            ok, got = app.read_reporting(read)
            versions: list[VersionInfo] | None = None
            if ok and with_history:
                # On its own: an identity without s3:ListBucketVersions still sees the rest.
                _, versions = app.read_reporting(lambda: data.history(app.store, self.cluster))
        finally:
            self._busy = False
        if ok and got is not None:
            app.later(self._apply, *got, versions)

    def _apply(
        self,
        changed: data.Changed[ClusterDoc] | None,
        jobs: list[Job] | None,
        versions: list[VersionInfo] | None,
    ) -> None:
        if changed is not None:
            if changed.doc is None:
                if self.doc is not None or not self.jobs:
                    self.notify(f"Cluster {self.cluster} no longer exists.", title="goman")
                self.doc = None
                self._show_missing()
            else:
                first = self.doc is None
                self.doc = changed.doc
                self._show_doc(changed.doc)
                if first:
                    self.refresh_live()
        if jobs is not None:
            self.jobs = [j for j in jobs if j.cluster == self.cluster]
            self._show_jobs()
            if self.doc is not None:
                self._show_status(self.doc)  # the retry hint depends on the last job
        if versions is not None and versions != self.versions:
            self.versions = versions
            self._show_versions()

    def _show_missing(self) -> None:
        self.query_one("#status", Static).update(
            Text("This cluster does not exist (any more).", style="bold red")
        )
        self.query_one("#nodes-table", DataTable).clear()

    def _show_doc(self, doc: ClusterDoc) -> None:
        self.query_one("#spec", Static).update(spec_text(doc))
        self._show_status(doc)
        table = self.query_one("#nodes-table", DataTable)
        table.clear()
        nodes = self.live.nodes if self.live is not None else {}
        for n in doc.status.nodes:
            live = nodes.get(n.name)
            table.add_row(
                fmt.plain(n.name, "bold"),
                fmt.plain(n.role),
                fmt.cell(n.instance_id),
                fmt.cell(n.instance_type),
                fmt.cell(n.az),
                fmt.cell(n.private_ip),
                fmt.cell(n.public_ip),
                fmt.cell(n.state),
                fmt.styled(n.phase, fmt.NODE_STYLE),
                fmt.cell(None if live is None else ("Ready" if live.ready else "NotReady")),
                fmt.cell(None if live is None else live.version),
                fmt.cell(None if live is None else str(live.pods)),
                key=n.name,
            )

    def _show_status(self, doc: ClusterDoc) -> None:
        last = next((j for j in self.jobs if j.id == doc.status.last_job_id), None)
        self.query_one("#status", Static).update(status_text(doc, self.goman.now(), last))

    def _show_jobs(self) -> None:
        now = self.goman.now()
        table = self.query_one("#jobs-table", DataTable)
        keep = cursor_key(table)
        table.clear()
        for job in self.jobs:
            step = job.current_step
            table.add_row(
                fmt.plain(job.id),
                fmt.plain(job.type),
                fmt.styled(job.status, fmt.JOB_STYLE),
                fmt.cell(step.name if step and not job.finished else None),
                fmt.cell(job.lease.owner if job.lease else None),
                fmt.clock(job.created_at),
                fmt.elapsed(job.created_at, job.finished_at, now),
                key=job.id,
            )
        if keep is not None and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep), animate=False)
        self._show_steps()

    def _show_steps(self) -> None:
        key = cursor_key(self.query_one("#jobs-table", DataTable))
        job = next((j for j in self.jobs if j.id == key), None)
        show_steps(self.query_one("#steps-table", DataTable), job, self.goman.now())

    @on(DataTable.RowHighlighted, "#jobs-table")
    def _job_highlighted(self) -> None:
        self._show_steps()

    def _show_versions(self) -> None:
        table = self.query_one("#versions-table", DataTable)
        keep = cursor_key(table)
        table.clear()
        for v in self.versions:
            mark = Text("●", style="bold yellow") if v.version_id == self.marked else " "
            note = "delete marker" if v.is_delete_marker else ("latest" if v.is_latest else "")
            table.add_row(
                mark,
                fmt.plain(v.version_id),
                fmt.clock(v.last_modified),
                f"{v.size} B",
                note,
                key=v.version_id,
            )
        if keep is not None and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep), animate=False)

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        if self._history_wanted():
            self.refresh_data()

    # -- actions --------------------------------------------------------------------------

    def action_back(self) -> None:
        self.dismiss(None)

    def action_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab
        target = {"nodes": "#nodes-table", "jobs": "#jobs-table", "history": "#versions-table"}
        self.query_one(target[tab], DataTable).focus()

    def action_scale(self) -> None:
        self.goman.scale_cluster(self.cluster)

    def action_retry(self) -> None:
        self.goman.retry_cluster(self.cluster)

    def action_delete(self) -> None:
        self.goman.delete_cluster(self.cluster)

    def action_upgrade(self) -> None:
        day2.upgrade(self.goman, self.cluster)

    def action_stop(self) -> None:
        day2.stop(self.goman, self.cluster)

    def action_start(self) -> None:
        day2.start(self.goman, self.cluster)

    def action_kubeconfig(self) -> None:
        self.goman.kubeconfig(self.cluster)

    def _show_diff(self, screen: Screen[None]) -> None:
        self.app.push_screen(screen)

    def _highlighted_version(self) -> VersionInfo | None:
        key = cursor_key(self.query_one("#versions-table", DataTable))
        return next((v for v in self.versions if v.version_id == key), None)

    def action_mark(self) -> None:
        if not self._history_wanted():
            return
        version = self._highlighted_version()
        if version is not None:
            self.marked = None if self.marked == version.version_id else version.version_id
            self._show_versions()

    def action_diff(self) -> None:
        if not self._history_wanted():
            self.action_tab("history")
            return
        new = self._highlighted_version()
        if new is None:
            return
        old: VersionInfo | None
        if self.marked and self.marked != new.version_id:
            old = next((v for v in self.versions if v.version_id == self.marked), None)
        else:
            older = self.versions[self.versions.index(new) + 1 :]
            old = older[0] if older else None
        if old is None:
            self.notify(
                "This is the first version: mark another one with space.", severity="warning"
            )
            return
        # The list is newest first; S3 times have one-second resolution, positions do not.
        if self.versions.index(old) < self.versions.index(new):
            old, new = new, old
        from goman.tui.screens.diff import DiffScreen

        store, name = self.goman.store, self.cluster
        self.goman.call_blocking(
            lambda: data.diff_versions(store, name, old, new),
            lambda lines: self._show_diff(DiffScreen(name, old, new, lines)),
        )
