"""Asking before anything destructive, the same way for every command.

On a terminal goman asks; `--yes` (`-y`) skips the question. Without a terminal (a
script, a pipe, CI) there is nobody to ask: a destructive command refuses (exit 2) unless
`--yes` is given, so `echo y | goman ...` never deletes anything by accident. Ctrl-C at a
question is an interrupt like any other (exit 130).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

YES_HELP = "Do not ask for confirmation (needed without a terminal)."


def yes_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("-y", "--yes", is_flag=True, help=YES_HELP)


def must_ask(yes: bool, what: str) -> bool:
    """Whether to ask; raises a usage error when asking is needed but impossible."""
    from goman.aws.errors import UsageError

    if yes:
        return False
    if not sys.stdin.isatty():
        raise UsageError(
            f"This {what} and needs confirmation, but there is no terminal to ask on.",
            "Pass --yes (-y) to go ahead.",
        )
    return True


def confirm(question: str, yes: bool, what: str) -> bool:
    """Yes (or --yes) to go on; no to stop."""
    if not must_ask(yes, what):
        return True
    return click.confirm(question, default=False, err=True)


def typed(question: str, expected: str, yes: bool, what: str) -> bool:
    """The user types `expected` (e.g. a cluster's name) to go on."""
    if not must_ask(yes, what):
        return True
    answer = click.prompt(question, default="", show_default=False, err=True)
    return str(answer).strip() == expected
