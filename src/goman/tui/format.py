"""How values look on screen: ages, durations, money, phases. Pure functions, no I/O.

Most values come from the bucket or from nodes and are untrusted: they reach the screen
only as `Text` built by `plain` (or the helpers below, which use it), never as a string a
widget would parse as markup, and without control characters.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rich.text import Text

from goman.models.text import printable

# k9s-like colours: green is settled, yellow is moving, red needs a person.
PHASE_STYLE = {
    "Running": "bold green",
    "Pending": "yellow",
    "Provisioning": "yellow",
    "Bootstrapping": "yellow",
    "Scaling": "cyan",
    "Upgrading": "cyan",
    "Stopping": "yellow",
    "Stopped": "dim",
    "Starting": "yellow",
    "Deleting": "magenta",
    "Deleted": "dim",
    "Failed": "bold red",
}

JOB_STYLE = {
    "pending": "yellow",
    "running": "cyan",
    "succeeded": "green",
    "failed": "bold red",
    "cancelled": "dim",
}

NODE_STYLE = {
    "pending": "dim",
    "launched": "yellow",
    "booting": "yellow",
    "installing": "cyan",
    "ready": "green",
    "failed": "bold red",
    "terminated": "dim",
}

STEP_STYLE = {
    "pending": "dim",
    "running": "cyan",
    "done": "green",
    "failed": "bold red",
    "skipped": "dim",
}


def plain(value: object, style: str = "") -> Text:
    """Untrusted text as it must reach the screen: as text (never markup), one line, with no
    control characters."""
    return Text(printable(value), style=style)


def cell(value: object, style: str = "") -> Text:
    """A table cell: the value as text, or a dim dash when there is none."""
    if value is None or value == "":
        return Text("-", style="dim")
    return plain(value, style)


def styled(value: str, styles: dict[str, str]) -> Text:
    return plain(value, styles.get(value, ""))


def phase(value: str) -> Text:
    return styled(value, PHASE_STYLE)


def duration(delta: timedelta) -> str:
    """Compact like kubectl: 45s, 12m, 3h5m, 4d2h."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds}s" if minutes < 10 and seconds else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"


def age(since: datetime | None, now: datetime) -> str:
    return "-" if since is None else duration(now - since)


def precise(delta: timedelta) -> str:
    """A duration to the second (how long a job or step took): 45s, 4m05s, 1h02m03s, 2d3h."""
    seconds = max(0, int(delta.total_seconds()))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours >= 24:
        return f"{hours // 24}d{hours % 24}h"
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def elapsed(start: datetime | None, end: datetime | None, now: datetime) -> str:
    if start is None:
        return "-"
    return precise((end or now) - start)


def money(per_hour: float | None) -> str:
    return "-" if per_hour is None else f"${per_hour:,.3f}"


def clock(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def nodes(ready: int, total: int) -> Text:
    style = "green" if total and ready == total else ("yellow" if total else "dim")
    return Text(f"{ready}/{total}", style=style)


def dash(value: object) -> str:
    return "-" if value in (None, "") else printable(value)
