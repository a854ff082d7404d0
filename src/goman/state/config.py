"""`config.json`: the profile's defaults, read with defaults when absent."""

from __future__ import annotations

from goman.models.config import AppConfig
from goman.state import keys
from goman.state.store import StateStore, Versioned


def load_config(store: StateStore) -> AppConfig:
    """The stored configuration, or the defaults if none was written yet."""
    got = store.get(keys.CONFIG, AppConfig)
    return got.doc if got else AppConfig()


def ensure_config(store: StateStore) -> tuple[Versioned[AppConfig], bool]:
    """Write the defaults if absent; returns the document and whether it was created."""
    existing = store.get(keys.CONFIG, AppConfig)
    if existing is not None:
        return existing, False
    from goman.aws.errors import AlreadyExistsError

    try:
        return store.create(keys.CONFIG, AppConfig()), True
    except AlreadyExistsError:
        return store.require(keys.CONFIG, AppConfig), False
