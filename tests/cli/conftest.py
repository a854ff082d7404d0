"""CLI fixtures: goman on a pseudo-terminal."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.cli.terminal import Terminal


@pytest.fixture
def terminal(aws_env: dict[str, str]) -> Iterator[Callable[..., Terminal]]:
    """terminal("cluster", "delete", "web") runs goman on a terminal of its own."""
    started: list[Terminal] = []

    def start(*args: str, env: dict[str, str] | None = None, **kw: Any) -> Terminal:
        term = Terminal(list(args), {**os.environ, **aws_env, **(env or {})}, **kw)
        started.append(term)
        return term

    yield start
    for term in started:
        term.close()
