"""Fix hints in the TUI's own words.

The use cases phrase their hints for the CLI ("cancel it with `goman jobs cancel ID`").
Inside the TUI the same step is a key away, so the commands it has keys for are said as
keys; anything else (an `aws` command, a setting) is left as it is.
"""

from __future__ import annotations

import re

_ID = r"[^`]*"
_KEYS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), words)
    for pattern, words in (
        (rf"cancel it with `goman jobs cancel{_ID}`", "cancel it with x on the jobs screen (j)"),
        (rf"`goman jobs cancel{_ID}`", "x on the jobs screen (j)"),
        (rf"\(`goman jobs (show|list){_ID}`\)", "(j: the jobs screen)"),
        (rf"`goman jobs (show|list){_ID}`", "the jobs screen (j)"),
        (rf"`goman worker{_ID}`", "u on the jobs screen (j)"),
        (rf"with `goman cluster get{_ID}`", "in the cluster's detail (enter)"),
        (rf"`goman cluster get{_ID}`", "the cluster's detail (enter)"),
        (r"`goman cluster list`", "the cluster list"),
        (rf"Run `goman cluster delete{_ID}` again", "Press d again"),
        (rf"with `goman cluster delete{_ID}`", "with d"),
        (rf"`goman cluster delete{_ID}`", "d"),
        (rf"`goman cluster retry{_ID}`", "t"),
        (rf"`goman cluster scale{_ID}`", "s"),
        (rf"`goman cluster kubeconfig{_ID}`", "k"),
        (rf"`goman cluster create{_ID}`", "c"),
    )
)


def for_tui(hint: str) -> str:
    """`hint` with the goman commands the TUI has keys for said as those keys."""
    for pattern, words in _KEYS:
        hint = pattern.sub(words, hint)
    return hint
