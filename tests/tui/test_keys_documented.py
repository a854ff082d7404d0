"""The key tables of the README and docs/tui.md say what the TUI really does: every key the
screens bind (as `?` lists them, from the bindings themselves) is documented where it
works, and nothing documented there is a key the TUI does not have."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from goman.tui.screens.help import sections

ROOT = Path(__file__).resolve().parents[2]
WHERE = {
    "Everywhere": "everywhere",
    "Clusters (home)": "clusters",
    "Cluster detail": "cluster detail",
    "Jobs": "jobs",
    "Dialogs": "dialogs",
}
NOT_KEYS = {"mouse", "click", "header"}


def tokens(keys: str) -> set[str]:
    """`o` / `shift+o`, `1` `2` `3`, `esc`: the single keys named."""
    found = set()
    for chunk in re.split(r"[\s/]+", keys.replace("`", " ")):
        if chunk and chunk not in NOT_KEYS:
            found.add({"esc": "escape"}.get(chunk, chunk))
    return found


def bound() -> dict[str, set[str]]:
    return {WHERE[title]: set().union(*(tokens(k) for k, _ in rows)) for title, rows in sections()}


def documented(path: Path, header: str) -> dict[str, set[str]]:
    """Key tokens per "Where" in the markdown table that starts with `header`."""
    text = path.read_text()
    table = text[text.index(header) :].split("\n\n", 1)[0].splitlines()[2:]
    out: dict[str, set[str]] = {}
    where = ""
    for line in table:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        where = cells[0] or where
        keys = " ".join(re.findall(r"`([^`]+)`", cells[1]))
        out.setdefault(where, set()).update(tokens(keys))
    return out


@pytest.mark.parametrize(
    ("doc", "header", "all_keys"),
    [
        ("docs/tui.md", "| Where | Key | Action |", True),
        ("README.md", "| Where | Keys |", False),
    ],
)
def test_the_key_tables_match_the_bindings(doc: str, header: str, all_keys: bool) -> None:
    written = documented(ROOT / doc, header)
    for where, keys in bound().items():
        # The README leaves out moving in tables; docs/tui.md has everything.
        wanted = keys if all_keys else keys - {"↑", "↓", "pgup", "pgdn", "home", "end", "tab"}
        wanted -= {"shift+tab"} if not all_keys else set()
        assert wanted <= written[where], (doc, where, wanted - written[where])
        assert written[where] <= keys, (doc, where, written[where] - keys)
