"""The versions of documents a store last read or wrote: the ETags its writes go out on.

A store writes with If-Match on the version it holds instead of reading first; a 412
(someone else wrote since) makes it read. This memory is per store (per process), bounded,
and only ever a starting point: every write is still conditional.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import ValidationError

from goman.models.base import Document

D = TypeVar("D", bound=Document)

# How many documents' last versions a store remembers (a job, its cluster, the index, the
# queue and the config are what one command writes; a worker pass touches a few more).
KNOWN_VERSIONS = 256
# How long a document whose held version was found stale is read before it is written.
CONTENDED_SECONDS = 60.0


@dataclass(frozen=True)
class Versioned(Generic[D]):
    """A document as read: the parsed body, its ETag and its S3 version id."""

    doc: D
    etag: str
    version_id: str | None


class _Seen:
    """A version as stored: kept as its body, parsed again when asked for (a parse is
    what a copy would cost, and a read that is never written again pays nothing)."""

    __slots__ = ("body", "etag", "version_id")

    def __init__(self, body: bytes, etag: str, version_id: str | None) -> None:
        self.body, self.etag, self.version_id = body, etag, version_id


class KnownVersions:
    """Last version seen per key, and keys last found missing; thread-safe."""

    def __init__(self) -> None:
        self._versions: OrderedDict[str, _Seen] = OrderedDict()
        self._absent: set[str] = set()
        self._contended: dict[str, float] = {}  # key -> when a held version was stale
        self._lock = threading.Lock()

    def contend(self, rel: str) -> None:
        """A write on the version held was refused: others write `rel` too."""
        with self._lock:
            if len(self._contended) >= KNOWN_VERSIONS:
                self._contended.clear()
            self._contended[rel] = time.monotonic()

    def contended(self, rel: str) -> bool:
        with self._lock:
            when = self._contended.get(rel)
        return when is not None and time.monotonic() - when < CONTENDED_SECONDS

    def remember(self, rel: str, body: bytes, etag: str, version_id: str | None) -> None:
        with self._lock:
            self._absent.discard(rel)
            self._versions[rel] = _Seen(body, etag, version_id)
            self._versions.move_to_end(rel)
            while len(self._versions) > KNOWN_VERSIONS:
                self._versions.popitem(last=False)

    def forget(self, rel: str, *, absent: bool = False) -> None:
        with self._lock:
            self._versions.pop(rel, None)
            if absent and len(self._absent) < KNOWN_VERSIONS:
                self._absent.add(rel)
            else:
                self._absent.discard(rel)

    def get(self, rel: str, model: type[D]) -> Versioned[D] | None:
        with self._lock:
            seen = self._versions.get(rel)
        if seen is None:
            return None
        try:
            doc = model.model_validate_json(seen.body)
        except ValidationError:
            return None  # another kind of document, or one that does not validate
        return Versioned(doc, seen.etag, seen.version_id)

    def absent(self, rel: str) -> bool:
        with self._lock:
            return rel in self._absent
