"""What the TUI reads from the state bucket, and how cheaply.

Everything here blocks on the network and runs in Textual thread workers, never on the
event loop. Polling is one conditional GET per document: an unchanged document costs a
304 and no body, and the caller gets `None` ("nothing new") so nothing is re-rendered.
"""

from __future__ import annotations

import difflib
import threading
from dataclasses import dataclass
from typing import Generic, TypeVar

from goman.models.base import Document
from goman.models.cluster import ClusterDoc, ClusterIndex
from goman.models.job import Job
from goman.state import keys
from goman.state.store import NOT_MODIFIED, StateStore, Versioned, VersionInfo

D = TypeVar("D", bound=Document)


@dataclass(frozen=True)
class Identity:
    """Who and where: shown in the header."""

    account_id: str
    profile: str
    bucket: str
    region: str
    endpoint: str


class DocPoller(Generic[D]):
    """Follows one document by ETag.

    `poll()` returns `Changed(doc)` (doc is None when the document is absent), or `None`
    when nothing changed since the previous poll.
    """

    def __init__(self, store: StateStore, rel: str, model: type[D]) -> None:
        self.store = store
        self.rel = rel
        self.model = model
        self._etag: str | None = None
        self._seen = False  # a first answer (even "absent") has been delivered
        self._lock = threading.Lock()

    def poll(self) -> Changed[D] | None:
        with self._lock:
            got = self.store.get_if_changed(self.rel, self.model, self._etag)
            if got is NOT_MODIFIED:
                return None
            if got is None:
                # Absent costs a 404 each poll; report it once, not on every tick.
                if self._seen and self._etag is None:
                    return None
                self._etag, self._seen = None, True
                return Changed(None)
            assert isinstance(got, Versioned)
            self._etag, self._seen = got.etag, True
            return Changed(got.doc)

    def forget(self) -> None:
        """Make the next poll a full read (after this process wrote the document)."""
        with self._lock:
            self._etag, self._seen = None, False


@dataclass(frozen=True)
class Changed(Generic[D]):
    doc: D | None


def index_poller(store: StateStore) -> DocPoller[ClusterIndex]:
    return DocPoller(store, keys.INDEX, ClusterIndex)


def cluster_poller(store: StateStore, name: str) -> DocPoller[ClusterDoc]:
    return DocPoller(store, keys.cluster_state(name), ClusterDoc)


class JobsPoller:
    """All job documents, re-reading only those whose ETag changed since the last poll."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._etags: dict[str, str] = {}
        self._jobs: dict[str, Job] = {}
        self._delivered = False
        self._lock = threading.Lock()

    def poll(self) -> list[Job] | None:
        with self._lock:
            listing = {
                info.key: info.etag
                for info in self.store.ls(keys.JOBS_DIR)
                if info.key.endswith(".json")
            }
            changed = False
            for rel in list(self._etags):
                if rel not in listing:
                    del self._etags[rel]
                    self._jobs.pop(rel, None)
                    changed = True
            for rel, etag in listing.items():
                if self._etags.get(rel) == etag:
                    continue
                got = self.store.get(rel, Job)
                if got is None:
                    continue
                self._etags[rel], self._jobs[rel] = got.etag, got.doc
                changed = True
            if not changed and self._delivered:
                return None
            self._delivered = True
            return sorted(self._jobs.values(), key=lambda j: j.created_at, reverse=True)


def history(store: StateStore, name: str) -> list[VersionInfo]:
    return store.history(keys.cluster_state(name))


def diff_versions(store: StateStore, name: str, old: VersionInfo, new: VersionInfo) -> list[str]:
    """A unified diff of two versions of a cluster's state document (old → new)."""
    from goman.state.versions import pretty

    rel = keys.cluster_state(name)
    before = b"" if old.is_delete_marker else store.get_bytes(rel, old.version_id)[0]
    after = b"" if new.is_delete_marker else store.get_bytes(rel, new.version_id)[0]
    # Documents are stored compact: re-indented, a diff shows the fields that changed.
    return list(
        difflib.unified_diff(
            pretty(before).splitlines() if before else [],
            pretty(after).splitlines() if after else [],
            fromfile=f"{rel}@{old.version_id}",
            tofile=f"{rel}@{new.version_id}",
            lineterm="",
        )
    )
