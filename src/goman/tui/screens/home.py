"""Home: every cluster of the profile, live."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from goman.models.cluster import ClusterSummary
from goman.tui import day2
from goman.tui.messages import IndexUpdated
from goman.tui.widgets.clusters_table import ClustersTable
from goman.tui.widgets.status_header import StatusHeader

if TYPE_CHECKING:
    from goman.tui.app import GomanApp

WELCOME = (
    "[b]No clusters yet.[/b]\n\n"
    "Press [b reverse] c [/] to create your first cluster: a [b]dev[/b] cluster is one K3s "
    "server, ready in a few minutes.\n"
    "Then press [b reverse] enter [/] on it to watch its nodes boot, "
    "[b reverse] k [/] for its kubeconfig, [b reverse] s [/] to scale, "
    "[b reverse] d [/] to delete.\n\n"
    "[b reverse] ? [/] lists every key; [b reverse] ctrl+p [/] searches every action."
)
LOADING = "Reading the cluster index…"


class HomeScreen(Screen[None]):
    AUTO_FOCUS = "#clusters"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "create", "Create"),
        Binding("enter", "open", "Detail"),
        Binding("s", "scale", "Scale"),
        Binding("d", "delete", "Delete"),
        # Not in the footer (it is full at 120 columns): listed by ? and the palette.
        Binding("t", "retry", "Retry a Failed cluster", show=False),
        Binding("u", "upgrade", "Upgrade K3s", show=False),
        Binding("p", "stop", "Stop (pause) its instances", show=False),
        Binding("g", "start", "Start a Stopped cluster", show=False),
        Binding("k", "kubeconfig", "Kubeconfig"),
        Binding("slash", "filter", "Filter", priority=True),
        Binding("o", "sort", "Sort", show=False),
        Binding("O", "reverse", "Reverse sort", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    @property
    def goman(self) -> GomanApp:
        return cast("GomanApp", self.app)

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        # In the flow under the header (not docked over it): the connection state stays seen.
        yield Input(
            placeholder="filter: type to narrow, enter to keep, escape to clear",
            id="filter",
            compact=True,
        )
        yield ClustersTable(id="clusters")
        yield Static(LOADING, id="empty")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one(ClustersTable)
        table.now = self.goman.now
        if self.goman.index is not None:
            self._show(self.goman.index.clusters.values())
        else:
            table.display = False
        # Ages follow the clock even when the index does not change: every second, so a
        # young cluster's age ticks (the column widens as the ages grow).
        self.set_interval(1, table.refresh_ages)

    @property
    def table(self) -> ClustersTable:
        return self.query_one(ClustersTable)

    def on_index_updated(self, message: IndexUpdated) -> None:
        self._show(message.index.clusters.values())

    def _show(self, summaries: Iterable[ClusterSummary]) -> None:
        self.table.show(list(summaries))
        self._update_empty()

    def _update_empty(self) -> None:
        table, empty = self.table, self.query_one("#empty", Static)
        if table.row_count:
            empty.display = False
            table.display = True
            return
        if table.summaries:
            text = Text("No cluster matches ")
            text.append(table.filter_text, style="bold")  # typed text, shown as text
            text.append(". Press ")
            text.append(" escape ", style="bold reverse")
            text.append(" to clear the filter.")
            empty.update(text)
        else:
            empty.update(WELCOME)
        empty.display = True
        table.display = bool(table.summaries)

    # -- filter and sort ----------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value.strip())
        self._update_empty()

    @on(Input.Submitted, "#filter")
    def _filter_kept(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = bool(box.value)
        self.table.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self.table.set_filter("")
        self._update_empty()
        self.table.focus()

    def action_sort(self) -> None:
        self.table.cycle_sort()

    def action_reverse(self) -> None:
        self.table.sort_by(self.table.sort_column, reverse=not self.table.sort_reverse)

    # -- actions on the selected cluster ---------------------------------------------------

    def selected_cluster(self) -> str | None:
        """The highlighted cluster (what the command palette offers actions for)."""
        return self.table.selected_name()

    def _selected(self) -> str | None:
        name = self.table.selected_name()
        if name is None:
            self.notify("No cluster selected: press c to create one.", severity="warning")
        return name

    @on(DataTable.RowSelected, "#clusters")
    def _row_selected(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        if (name := self._selected()) is not None:
            self.goman.open_cluster(name)

    def action_create(self) -> None:
        self.goman.create_cluster()

    def action_scale(self) -> None:
        if (name := self._selected()) is not None:
            self.goman.scale_cluster(name)

    def action_retry(self) -> None:
        if (name := self._selected()) is not None:
            self.goman.retry_cluster(name)

    def action_delete(self) -> None:
        if (name := self._selected()) is not None:
            self.goman.delete_cluster(name)

    def action_upgrade(self) -> None:
        if (name := self._selected()) is not None:
            day2.upgrade(self.goman, name)

    def action_stop(self) -> None:
        if (name := self._selected()) is not None:
            day2.stop(self.goman, name)

    def action_start(self) -> None:
        if (name := self._selected()) is not None:
            day2.start(self.goman, name)

    def action_kubeconfig(self) -> None:
        if (name := self._selected()) is not None:
            self.goman.kubeconfig(name)
