from __future__ import annotations

from typing import Any

import pytest

from goman.aws.session import AwsContext
from goman.state.store import StateStore


@pytest.fixture
def store(aws_env: dict[str, str]) -> StateStore:
    return StateStore(AwsContext.from_flag(None))


@pytest.fixture
def fresh_store(aws_env: dict[str, str]) -> Any:
    """A new store (own session and clients) per call, like another process would have."""
    return lambda: StateStore(AwsContext.from_flag(None))
