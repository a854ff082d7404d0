"""Rendering for every read command: `-o table|json|yaml`.

JSON and YAML are stable contracts (documented in the README); tables are for people.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import click

FORMATS = ("table", "json", "yaml")


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
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


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
        click.echo(table(rows(data), headers))
    elif text is not None:
        click.echo(text(data))
    else:
        click.echo(to_yaml(data), nl=False)


def kv(pairs: Sequence[tuple[str, Any]]) -> str:
    """`Key: value` lines, aligned."""
    width = max((len(k) for k, _ in pairs), default=0)
    return "\n".join(f"{k + ':':<{width + 1}} {_cell(v)}" for k, v in pairs)
