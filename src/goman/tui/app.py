"""The goman terminal UI: a live console over the state bucket, k9s-style.

The app owns what every screen shares: where goman points (the header), the cluster index
(polled with a conditional GET), the connection state, and the job runner. Screens ask the
app to run use cases (`clusters.service`, `jobs.queue`) in thread workers; errors come back
as notifications with the CLI's text, its commands turned into the TUI's keys.

Only the network's passing trouble is retried (`goman.aws.transient`): the header says
"reconnecting" and polling goes on. An error a person must fix (no credentials, unknown
profile, access denied, a squatted bucket, a damaged index) stops the polling and opens
an error screen with the fix; `r` tries again.

Everything shown that came from the bucket is text, never markup (`tui.format.plain`,
`SafeTable`, and `notify` below), and has no control characters.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen

from goman.aws.errors import GomanError, map_error
from goman.aws.transient import is_transient
from goman.models.cluster import NAME_RE, ClusterIndex, ClusterSummary
from goman.models.config import AppConfig
from goman.models.text import printable
from goman.state.store import StateStore
from goman.tui.data import Identity, index_poller
from goman.tui.day2 import day2_commands
from goman.tui.hints import for_tui
from goman.tui.messages import IndexUpdated, JobCrashed, JobProgressed
from goman.tui.runner import JobRunner

T = TypeVar("T")

DEFAULT_POLL_SECONDS = 2.0
# On quit, how long the jobs running here get to hand themselves back to the queue.
HAND_BACK_SECONDS = 5.0
# Exit code after SIGTERM (128 + 15), as the CLI.
TERMINATED = 143


def _utcnow() -> datetime:
    return datetime.now(UTC)


def is_loopback(url: str) -> bool:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname in {"127.0.0.1", "localhost", "::1"}


class GomanApp(App[None]):
    """`goman` with no command."""

    CSS_PATH = "goman.tcss"
    TITLE = "goman"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS: ClassVar[list[BindingType]] = [
        # The footer fits 80 columns: refresh (it is live anyway) is listed by ? only, and
        # the palette comes last, the first to go on a narrower terminal.
        Binding("question_mark", "help", "Help"),
        Binding("j", "jobs", "Jobs"),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+p", "command_palette", "Actions"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    identity: reactive[Identity | None] = reactive(None)
    sandbox: reactive[bool] = reactive(False)
    refreshed_at: reactive[datetime | None] = reactive(None)
    reconnecting: reactive[bool] = reactive(False)
    # An error a person must fix: polling has stopped until `r`.
    problem: reactive[GomanError | None] = reactive(None)

    def __init__(
        self,
        store: StateStore,
        *,
        poll_interval: float = DEFAULT_POLL_SECONDS,
        clock: Callable[[], datetime] | None = None,
        sandbox: bool | None = None,
        runner: JobRunner | None = None,
        embedded_sandbox: bool = False,
    ) -> None:
        """`clock` freezes "now" for reproducible screenshots; `sandbox=None` detects it
        from the endpoint (loopback means a sandbox)."""
        super().__init__()
        self.store = store
        self.poll_interval = poll_interval
        self.clock = clock or _utcnow
        self._sandbox_hint = sandbox
        # The sandbox lives in this process (`--sandbox` found none running): quitting ends it.
        self.embedded_sandbox = embedded_sandbox
        self.config = AppConfig()
        self.index: ClusterIndex | None = None
        self.index_poller = index_poller(store)
        self.runner = runner or JobRunner(
            store, on_progress=self._job_progressed, on_error=self._job_crashed
        )
        self._polling = False
        self._outage: GomanError | None = None
        self._reported: set[str] = set()
        self._quitting = False
        # Set by `goman` itself (not by tests, which share one event loop and process).
        self.handle_sigterm = False

    # -- start-up and polling ---------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        from goman.tui.screens.home import HomeScreen

        return HomeScreen()

    def on_mount(self) -> None:
        if self._sandbox_hint is not None:
            self.sandbox = self._sandbox_hint
        if self.handle_sigterm:
            self._catch_sigterm()
        self.poll()
        self.set_interval(self.poll_interval, self.poll)

    def now(self) -> datetime:
        return self.clock()

    def poll(self) -> None:
        """One tick: connect if not yet connected, then one conditional GET of the index."""
        if self._polling or self.problem is not None:
            return  # the previous tick is still waiting, or a person must fix something
        self._polling = True
        self._poll_worker()

    @work(thread=True, group="poll", exit_on_error=False)
    def _poll_worker(self) -> None:
        def read() -> Any:
            if self.identity is None:
                self._connect()
            return self.index_poller.poll()

        try:
            ok, changed = self.read_reporting(read, main=True)
        finally:
            self._polling = False
        if ok and changed is not None:
            self.later(self._index_changed, changed.doc or ClusterIndex())

    def read_reporting(self, read: Callable[[], T], *, main: bool = False) -> tuple[bool, T | None]:
        """Run one read from a worker thread and report the connection state it shows:
        every screen's polling goes through here, so they all say "reconnecting" alike.

        A failure that is not the network's stops everything when it is the main poll
        (`main`: who am I, and the index); a screen's own read (a history the identity may
        not list, say) only says so, once."""
        try:
            value = read()
        except Exception as exc:
            error = self._error(exc)
            if is_transient(exc):
                self.later(self.connection_failed, error)
            elif main:
                self.later(self.stopped_by, error)
            else:
                self.later(self.read_failed, error)
            return False, None
        self.later(self.connection_ok)
        return True, value

    def later(self, fn: Callable[..., Any], *args: Any) -> None:
        """Hand a result from a worker thread to the event loop (dropped while quitting)."""
        # RuntimeError: the app has stopped and nobody is left to show it.
        with contextlib.suppress(RuntimeError):
            self.call_from_thread(fn, *args)

    def _connect(self) -> None:
        from goman.state.config import load_config

        ctx = self.store.ctx
        endpoint = ctx.endpoint_url("s3")
        identity = Identity(
            account_id=ctx.account_id,
            profile=ctx.profile,
            bucket=ctx.bucket,
            region=AppConfig().region,
            endpoint=endpoint,
        )
        config = load_config(self.store)
        identity = Identity(**{**identity.__dict__, "region": config.region})

        def apply() -> None:
            self.config = config
            self.identity = identity
            if self._sandbox_hint is None:
                self.sandbox = is_loopback(endpoint)

        self.later(apply)

    def _index_changed(self, index: ClusterIndex) -> None:
        self.index = index
        self.screen_stack[0].post_message(IndexUpdated(index))

    def connection_ok(self) -> None:
        self.refreshed_at = self.now()
        if self._outage is not None:
            self._outage = None
            self.reconnecting = False
            self.notify("Connection restored.", title="goman", timeout=4)

    def connection_failed(self, error: GomanError) -> None:
        """The network failed: say so once per outage and keep trying on every tick."""
        self.reconnecting = True
        if self._outage is None or self._outage.message != error.message:
            self.show_error(error)
        self._outage = error

    def stopped_by(self, error: GomanError) -> None:
        """An error retrying cannot fix: stop polling and show it with its fix."""
        from goman.tui.screens.problem import ProblemScreen

        self.reconnecting = False
        self.problem = error
        if self.screen_stack and not isinstance(self.screen, ProblemScreen):
            self.push_screen(ProblemScreen(error))

    def read_failed(self, error: GomanError) -> None:
        """A screen's own read failed for good: say it once (it is not the connection)."""
        if error.message not in self._reported:
            self._reported.add(error.message)
            self.show_error(error)

    def try_again(self) -> None:
        """After the user fixed something: poll again from scratch."""
        self.problem = None
        self._reported.clear()
        self.refresh_soon()

    def refresh_soon(self) -> None:
        if not self.screen_stack:
            return  # a job's news arriving while the app shuts down
        self.poll()
        refresh = getattr(self.screen, "refresh_data", None)
        if callable(refresh):
            refresh()

    def _job_progressed(self, *_: Any) -> None:
        self.post_message(JobProgressed())  # thread-safe: called from the job's thread

    def _job_crashed(self, job_id: str, error: GomanError) -> None:
        self.post_message(JobCrashed(job_id, error))

    def on_job_progressed(self, _message: JobProgressed) -> None:
        self.refresh_soon()

    def on_job_crashed(self, message: JobCrashed) -> None:
        self.show_error(message.error)
        self.refresh_soon()

    # -- errors and blocking calls ----------------------------------------------------

    def _error(self, exc: BaseException) -> GomanError:
        try:
            profile = self.store.ctx.profile
        except Exception:  # pragma: no cover - the profile is plain data
            profile = ""
        return map_error(exc, profile=profile)

    def show_error(self, error: GomanError) -> None:
        """The CLI's `error:` and `fix:` lines, as a notification, in the TUI's words."""
        body = error.message + (f"\nfix: {for_tui(error.hint)}" if error.hint else "")
        self.notify(body, title="error", severity="error", timeout=12)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every notification, from every screen: text, never markup (a message may quote a
        name or an error from the bucket), and no control characters."""
        super().notify(
            printable(message, multiline=True),
            title=printable(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def call_blocking(
        self,
        fn: Callable[[], T],
        on_done: Callable[[T], None] | None = None,
        *,
        group: str = "action",
    ) -> None:
        """Run a use case off the event loop; its result (or error) comes back here."""

        def body() -> None:
            try:
                result = fn()
            except Exception as exc:
                self.later(self.show_error, self._error(exc))
                return
            if on_done is not None:
                self.later(on_done, result)

        self.run_worker(body, thread=True, group=group, exit_on_error=False)

    # -- use cases --------------------------------------------------------------------

    def start_job(self, job: Any, verb: str) -> None:
        """A use case wrote a job: run it here, and show it."""
        self.index_poller.forget()
        if job is None:
            self.refresh_soon()
            return
        self.runner.start(job.id)
        self.notify(f"{verb} {job.cluster}: job {job.id} started.", title="goman", timeout=5)
        self.refresh_soon()

    # -- actions ------------------------------------------------------------------------

    def action_help(self) -> None:
        from goman.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_jobs(self) -> None:
        from goman.tui.screens.jobs import JobsScreen

        if not isinstance(self.screen, JobsScreen):
            self.push_screen(JobsScreen())

    def action_refresh(self) -> None:
        if self.problem is not None:
            self.try_again()
        else:
            self.refresh_soon()

    async def action_quit(self) -> None:
        if self._quitting:
            return  # already handing jobs back; that ends in a few seconds
        active = self.runner.active()
        if not active:
            self.exit()
            return
        from goman.tui.screens.dialogs import ConfirmQuit

        def answered(quit_anyway: bool | None) -> None:
            if quit_anyway:
                self._hand_back_and_exit()

        if not isinstance(self.screen, ConfirmQuit):
            self.push_screen(ConfirmQuit(active, self.config.job_lease_seconds), answered)

    def _hand_back_and_exit(self, return_code: int = 0) -> None:
        """Stop the jobs running here at their next safe point, un-cancelled, so another
        worker can resume them at once instead of waiting out their lease; then exit."""
        self._quitting = True
        self.notify(
            "Handing the running job(s) back to the queue…",
            title="goman",
            timeout=HAND_BACK_SECONDS,
        )

        def body() -> None:
            self.runner.stop(HAND_BACK_SECONDS)
            self.later(lambda: self.exit(return_code=return_code))

        self.run_worker(body, thread=True, group="quit", exit_on_error=False)

    def _catch_sigterm(self) -> None:
        """SIGTERM is a quit without the question: jobs running here are handed back at
        once (their leases released), and goman exits 143, as the CLI does."""
        import asyncio

        def terminated() -> None:
            if not self._quitting:
                self._hand_back_and_exit(TERMINATED)

        # Not on the main thread (or no signals here): the default, ending the process.
        with contextlib.suppress(RuntimeError, ValueError, NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminated)

    def open_cluster(self, name: str) -> None:
        from goman.tui.screens.detail import DetailScreen

        self.push_screen(DetailScreen(name))

    def create_cluster(self) -> None:
        from goman.tui.screens.dialogs import CreateDialog, CreateRequest

        existing = set(self.index.clusters) if self.index else set()

        def submitted(request: CreateRequest | None) -> None:
            if request is None:
                return
            from goman.clusters import service

            def warn(text: str) -> None:
                self.later(lambda: self.notify(f"warning: {text}", severity="warning", timeout=12))

            self.call_blocking(
                lambda: service.create_cluster(
                    self.store, request.name, on_warning=warn, **request.options()
                ),
                lambda job: self.start_job(job, "Creating"),
            )

        self.push_screen(CreateDialog(self.config, existing), submitted)

    def scale_cluster(self, name: str) -> None:
        from goman.tui.screens.dialogs import ScaleDialog

        summary = self.index.clusters.get(name) if self.index else None
        if summary is None:
            self.notify(f"No cluster named {name}.", severity="warning")
            return

        def submitted(workers: int | None) -> None:
            if workers is None:
                return
            from goman.clusters import service

            def started(job: Any) -> None:
                if job is None:
                    self.notify(f"{name} already has {workers} worker(s): nothing to do.")
                self.start_job(job, "Scaling")

            self.call_blocking(lambda: service.scale_cluster(self.store, name, workers), started)

        self.push_screen(ScaleDialog(summary), submitted)

    def retry_cluster(self, name: str) -> None:
        """Run a Failed cluster's create or scale again here (failed nodes are replaced)."""
        summary = self.index.clusters.get(name) if self.index else None
        if summary is None:
            self.notify(f"No cluster named {name}.", severity="warning")
            return
        if summary.phase != "Failed":
            self.notify(
                f"Cluster {name} is {summary.phase}: only a Failed cluster can be retried.",
                severity="warning",
            )
            return
        from goman.clusters import service

        self.call_blocking(
            lambda: service.retry_cluster(self.store, name),
            lambda job: self.start_job(job, "Retrying"),
        )

    def delete_cluster(self, name: str) -> None:
        from goman.tui.screens.dialogs import DeleteDialog

        summary = self.index.clusters.get(name) if self.index else None
        if summary is not None and summary.protected:
            from goman.clusters.service import protected_error

            refused = protected_error(name)
            self.notify(f"{refused.message}\n{refused.hint}", severity="error", timeout=8)
            return

        def confirmed(ok: bool | None) -> None:
            if not ok:
                return
            from goman.clusters import service

            self.call_blocking(
                lambda: service.delete_cluster(self.store, name),
                lambda job: self.start_job(job, "Deleting"),
            )

        self.push_screen(DeleteDialog(name), confirmed)

    def kubeconfig(self, name: str) -> None:
        from goman.tui.screens.dialogs import KubeconfigDialog, KubeconfigRequest

        profile = self.store.ctx.profile

        def submitted(request: KubeconfigRequest | None) -> None:
            if request is None:
                return
            from goman.tui.kubeconfig import save_kubeconfig

            self.call_blocking(
                lambda: save_kubeconfig(self.store, name, request),
                lambda text: self.notify(text, title="kubeconfig", timeout=8),
            )

        self.push_screen(KubeconfigDialog(name, profile), submitted)

    # -- command palette ---------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """goman's own actions (not Textual's themes, keys or screenshots): the app's, then
        those that apply to the selected cluster as it is now, then "Open" for the others.

        The palette reads titles as markup: only valid cluster names (no `[`, no spaces)
        ever reach it; a forged name in the index is simply not offered."""
        yield SystemCommand("Create cluster", "Open the create dialog", self.create_cluster)
        yield SystemCommand("Jobs", "All jobs: cancel and resume", self.action_jobs)
        yield SystemCommand("Help", "Every key", self.action_help)
        yield SystemCommand("Refresh", "Poll the state bucket now", self.action_refresh)
        yield SystemCommand("Quit", "Leave goman (asks if a job runs here)", self.action_quit)
        more = getattr(screen, "selection_commands", None)
        if callable(more):
            yield from more()
        clusters = self.index.clusters if self.index else {}
        pick = getattr(screen, "selected_cluster", None)
        selected = pick() if callable(pick) else None
        summary = clusters.get(selected) if selected and NAME_RE.fullmatch(selected) else None
        if summary is not None:
            yield from self._cluster_commands(summary, screen)
        for name in sorted(clusters):
            if name != selected and NAME_RE.fullmatch(name):
                yield SystemCommand(
                    f"Open {name}", f"Detail of cluster {name}", self._bind(self.open_cluster, name)
                )

    def _cluster_commands(self, s: ClusterSummary, screen: Screen[Any]) -> Iterable[SystemCommand]:
        from goman.tui.screens.detail import DetailScreen

        name = s.name
        busy = s.job_id is not None
        if not isinstance(screen, DetailScreen):
            yield SystemCommand(
                f"Open {name}", f"Detail of cluster {name}", self._bind(self.open_cluster, s.name)
            )
        if s.phase == "Running" and not busy:
            yield SystemCommand(
                f"Scale {name}",
                "Change its number of workers",
                self._bind(self.scale_cluster, s.name),
            )
        if not busy:
            yield from day2_commands(self, s)
        if s.phase == "Failed" and not busy:
            yield SystemCommand(
                f"Retry {name}",
                "Run its failed create or scale again, replacing failed nodes",
                self._bind(self.retry_cluster, s.name),
            )
        if s.phase != "Deleting":
            yield SystemCommand(
                f"Delete {name}",
                "Delete it and everything it has",
                self._bind(self.delete_cluster, s.name),
            )
        if s.endpoint:
            yield SystemCommand(
                f"Kubeconfig {name}",
                "Write or merge its kubeconfig",
                self._bind(self.kubeconfig, s.name),
            )

    @staticmethod
    def _bind(fn: Callable[[str], None], name: str) -> Callable[[], None]:
        return lambda: fn(name)
