"""Everything the CLI prints, and `-o table|json|yaml` for every read.

JSON and YAML are stable contracts (documented in the README); tables are for people.

This module is the CLI's only way to the terminal. Much of what goman prints came from
the bucket or from a node (names, endpoints, messages, reports) and is untrusted: `echo`
removes control characters from every line it prints (`goman.models.text.printable`), on
a terminal and in a pipe alike, and table cells become one line each. JSON and YAML keep
every character, escaped by their encoders. Colours are added after cleaning, only to
goman's own labels, and never when NO_COLOR is set.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import click

from goman.models.text import printable

FORMATS = ("table", "json", "yaml")


def color() -> bool | None:
    """False when NO_COLOR asks for no colour (https://no-color.org); else Click decides
    (colours on a terminal, none in a pipe)."""
    return False if os.environ.get("NO_COLOR") else None


def echo(
    text: object = "",
    *,
    err: bool = False,
    nl: bool = True,
    label: str = "",
    fg: str | None = None,
    bold: bool = False,
) -> None:
    """Print one message for people, cleaned; `label` (goman's own words, e.g. "error: ")
    goes before it, in colour `fg` where colours are wanted."""
    line = printable(text, multiline=True)
    if label:
        line = click.style(label, fg=fg, bold=bold) + line
    click.echo(line, err=err, nl=nl, color=color())


def error(message: str) -> None:
    echo(message, err=True, label="error: ", fg="red", bold=True)


def fix(hint: str) -> None:
    echo(hint, err=True, label="  fix: ", fg="yellow")


def warning(message: str) -> None:
    echo(message, err=True, label="warning: ", fg="yellow")


def rewrite_line(text: str, width: int) -> None:
    """Replace the current terminal line (stderr) with `text`, cut to `width` columns so
    it never wraps (a wrapped line cannot be rewritten)."""
    line = printable(text)
    if len(line) > width:
        line = line[: max(0, width - 1)] + "…"
    # The carriage return and erase-line are goman's own control, not colour: always sent.
    click.echo("\r\033[K", err=True, nl=False, color=True)
    click.echo(line, err=True, nl=False, color=color())


def output_option(default: str = "table") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "-o",
        "--output",
        "fmt",
        type=click.Choice(FORMATS),
        default=default,
        show_default=True,
        help="Output format.",
    )


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "model_dump"):
        return _plain(value.model_dump(mode="json"))
    return value


def to_json(data: Any) -> str:
    return json.dumps(_plain(data), indent=2, sort_keys=False)


def to_yaml(data: Any) -> str:
    import yaml

    return str(yaml.safe_dump(_plain(data), sort_keys=False, default_flow_style=False))


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain aligned table (no colours: it is often piped)."""
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.upper().ljust(widths[i]) for i, h in enumerate(headers)).rstrip()]
    for row in cells:
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip())
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return printable(value)


def emit(
    data: Any,
    fmt: str,
    *,
    rows: Callable[[Any], Sequence[Sequence[Any]]] | None = None,
    headers: Sequence[str] = (),
    text: Callable[[Any], str] | None = None,
) -> None:
    """Print `data` as JSON/YAML, or as a table (rows+headers) or text for people."""
    if fmt == "json":
        click.echo(to_json(data))
    elif fmt == "yaml":
        click.echo(to_yaml(data), nl=False)
    elif rows is not None:
        echo(table(rows(data), headers))
    elif text is not None:
        echo(text(data))
    else:
        click.echo(to_yaml(data), nl=False)


def kv(pairs: Sequence[tuple[str, Any]]) -> str:
    """`Key: value` lines, aligned."""
    width = max((len(k) for k, _ in pairs), default=0)
    return "\n".join(f"{k + ':':<{width + 1}} {_cell(v)}" for k, v in pairs)
