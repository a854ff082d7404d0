from __future__ import annotations

from collections.abc import Iterator

import pytest

from goman.sandbox.server import SandboxServer
from tests.jobs.crash_helpers import Killer


@pytest.fixture
def killer(sandbox: SandboxServer) -> Iterator[Killer]:
    """Installs a Killer as the sandbox's first hook for one test."""
    k = Killer()
    sandbox.app.hooks.insert(0, k.hook)
    try:
        yield k
    finally:
        sandbox.app.hooks.remove(k.hook)
