"""The top bar: where goman is pointed (account, profile, bucket, region), a SANDBOX badge
and whether the last refresh worked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, Static

from goman.models.text import printable
from goman.tui.data import Identity

# The app attributes this bar follows (reactives on GomanApp).
WATCHED = ("identity", "sandbox", "refreshed_at", "reconnecting", "problem")


def where_text(identity: Identity | None) -> Text:
    # One line: cut at the end rather than wrap the region out of sight.
    text = Text(no_wrap=True, overflow="ellipsis")
    if identity is None:
        text.append("connecting…", style="dim")
        return text
    # Most telling first: a narrow terminal cuts the end (the bucket is goman-{account}).
    for label, value in (
        ("profile", identity.profile),
        ("region", identity.region),
        ("account", identity.account_id),
        ("bucket", identity.bucket),
    ):
        if text:
            text.append("  ")
        text.append(f"{label} ", style="dim")
        text.append(printable(value), style="bold")
    return text


def connection_text(
    refreshed_at: datetime | None, reconnecting: bool, stopped: bool = False
) -> Text:
    if stopped:
        return Text("● stopped: an error to fix (r retries)", style="bold red")
    if reconnecting:
        text = Text("● reconnecting…", style="bold red")
        if refreshed_at is not None:
            text.append(f" last ok {refreshed_at:%H:%M:%S}", style="dim")
        return text
    if refreshed_at is None:
        return Text("○ loading…", style="dim")
    text = Text("● ", style="green")
    text.append(f"synced {refreshed_at:%H:%M:%S}")
    return text


class StatusHeader(Horizontal):
    """One line on every screen. It only shows what the app knows; it never raises."""

    def compose(self) -> ComposeResult:
        yield Label(" goman ", id="brand")
        yield Static(id="where")
        yield Label(" SANDBOX ", id="sandbox-badge")
        yield Static(id="connection")

    def on_mount(self) -> None:
        for name in WATCHED:
            self.watch(self.app, name, self._changed, init=False)
        self._changed()

    def _changed(self, *_: Any) -> None:
        app = self.app
        self.query_one("#where", Static).update(where_text(getattr(app, "identity", None)))
        badge = self.query_one("#sandbox-badge", Label)
        badge.display = bool(getattr(app, "sandbox", False))
        if getattr(app, "embedded_sandbox", False):
            badge.update(" SANDBOX · embedded: state is lost on exit ")
        reconnecting = bool(getattr(app, "reconnecting", False))
        stopped = getattr(app, "problem", None) is not None
        connection = self.query_one("#connection", Static)
        connection.set_class(reconnecting or stopped, "-reconnecting")
        connection.update(
            connection_text(getattr(app, "refreshed_at", None), reconnecting, stopped)
        )
