"""The emulated API's objects, in memory: one lock, one resourceVersion counter, and a short
log of changes for watches.

Objects are plain dicts shaped like Kubernetes objects. The store fills in what the API
server owns (uid, resourceVersion, creationTimestamp, generation) and hands out deep copies,
so no caller can change a stored object behind the lock's back.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]
TypeKey = tuple[str, str]  # (group, plural)
ObjKey = tuple[str, str]  # (namespace or "", name)

EVENT_LOG = 2000


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Event:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    key: TypeKey
    obj: Obj


class Store:
    def __init__(self) -> None:
        # Re-entrant: controllers run under it and call back into the store.
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._rv = 0
        self._objects: dict[TypeKey, dict[ObjKey, Obj]] = {}
        self._events: deque[Event] = deque(maxlen=EVENT_LOG)

    @property
    def resource_version(self) -> int:
        with self.lock:
            return self._rv

    def oldest_event_rv(self) -> int:
        with self.lock:
            return self._events[0].rv if self._events else self._rv

    def events_after(self, rv: int, key: TypeKey) -> list[Event]:
        with self.lock:
            return [e for e in self._events if e.rv > rv and e.key == key]

    def _bump(self, obj: Obj) -> None:
        self._rv += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self._rv)

    def _record(self, kind: str, key: TypeKey, obj: Obj) -> None:
        self._events.append(Event(self._rv, kind, key, copy.deepcopy(obj)))
        self.changed.notify_all()

    # -- reads --------------------------------------------------------------------------

    def get(self, key: TypeKey, namespace: str, name: str) -> Obj | None:
        with self.lock:
            found = self._objects.get(key, {}).get((namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def objects(self, key: TypeKey, namespace: str | None = None) -> list[Obj]:
        """Objects of a type, sorted by namespace and name; `namespace=None` means all."""
        with self.lock:
            items = self._objects.get(key, {})
            return [
                copy.deepcopy(obj)
                for (ns, _), obj in sorted(items.items())
                if namespace is None or ns == namespace
            ]

    def view(self, key: TypeKey, namespace: str | None = None) -> list[Obj]:
        """Like `objects`, without copies: for controllers that only read (under the lock).
        Never change what this returns; copy first (writes copy what they are given)."""
        with self.lock:
            items = self._objects.get(key, {})
            return [
                obj
                for (ns, _), obj in sorted(items.items())
                if namespace is None or ns == namespace
            ]

    # -- writes -------------------------------------------------------------------------

    def create(self, key: TypeKey, obj: Obj) -> Obj:
        """Store a new object; the caller checked it does not exist."""
        with self.lock:
            meta = obj.setdefault("metadata", {})
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            meta["generation"] = 1
            meta.pop("deletionTimestamp", None)
            self._bump(obj)
            stored = copy.deepcopy(obj)
            self._objects.setdefault(key, {})[(meta.get("namespace", ""), meta["name"])] = stored
            self._record("ADDED", key, stored)
            return copy.deepcopy(stored)

    def update(self, key: TypeKey, obj: Obj) -> Obj:
        """Replace a stored object, keeping what the API server owns. No change, no new
        resourceVersion (controllers re-write their objects on every tick)."""
        with self.lock:
            obj = copy.deepcopy(obj)
            meta = obj.setdefault("metadata", {})
            ident = (meta.get("namespace", ""), meta["name"])
            old = self._objects.get(key, {}).get(ident)
            if old is None:
                raise KeyError(ident)
            old_meta = old["metadata"]
            for owned in ("uid", "creationTimestamp", "resourceVersion", "generation"):
                if owned in old_meta:
                    meta[owned] = old_meta[owned]
            if obj == old:
                return copy.deepcopy(old)
            if obj.get("spec") != old.get("spec"):
                meta["generation"] = int(old_meta.get("generation", 1)) + 1
            self._bump(obj)
            self._objects[key][ident] = obj
            self._record("MODIFIED", key, obj)
            stored = obj
            return copy.deepcopy(stored)

    def delete(self, key: TypeKey, namespace: str, name: str) -> Obj | None:
        with self.lock:
            old = self._objects.get(key, {}).pop((namespace, name), None)
            if old is None:
                return None
            old["metadata"]["deletionTimestamp"] = now_rfc3339()
            self._bump(old)
            self._record("DELETED", key, old)
            return copy.deepcopy(old)

    def types(self) -> list[TypeKey]:
        with self.lock:
            return list(self._objects)
