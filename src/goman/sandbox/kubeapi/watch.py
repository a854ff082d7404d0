"""Watches: a stream of JSON lines (`{"type": "ADDED|MODIFIED|DELETED|ERROR", "object": ...}`)
from the store's change log, until `timeoutSeconds` or the server stops."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from goman.sandbox.kubeapi.messages import Request, status_body
from goman.sandbox.kubeapi.objects import meta
from goman.sandbox.kubeapi.selectors import FieldSelector, LabelSelector

if TYPE_CHECKING:
    from goman.sandbox.kubeapi.api import KubeApi, Target

Obj = dict[str, Any]
MAX_WATCH_SECONDS = 300
WAKE = 0.25  # how often a quiet watch checks whether the server is stopping


def _line(kind: str, obj: Obj) -> bytes:
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"


def watch_stream(api: KubeApi, req: Request, t: Target) -> Iterator[bytes]:
    """Without a resourceVersion (or "0"): ADDED for every current object, then changes.
    With one: the changes after it, or a 410 ERROR when it is older than the change log."""
    labels = LabelSelector(req.query.get("labelSelector", ""))
    fields = FieldSelector(req.query.get("fieldSelector", ""))
    try:
        timeout = min(float(req.query.get("timeoutSeconds", MAX_WATCH_SECONDS)), MAX_WATCH_SECONDS)
    except ValueError:
        timeout = MAX_WATCH_SECONDS
    start = req.query.get("resourceVersion", "")
    store = api.store

    def wanted(obj: Obj) -> bool:
        if t.namespace is not None and meta(obj).get("namespace") != t.namespace:
            return False
        return labels.matches(obj) and fields.matches(obj)

    def stream() -> Iterator[bytes]:
        with store.lock:
            if start in {"", "0"}:
                rv = store.resource_version
                initial = api.select(req, t)
            else:
                try:
                    rv = int(start)
                except ValueError:
                    rv = -1
                initial = []
                if rv < 0 or rv < store.oldest_event_rv() - 1:
                    yield _line(
                        "ERROR", status_body(410, "Expired", f"too old resource version: {start}")
                    )
                    return
        for obj in initial:
            yield _line("ADDED", obj)
        deadline = time.monotonic() + timeout
        while not api.stopping.is_set() and time.monotonic() < deadline:
            with store.changed:
                events = store.events_after(rv, t.kind.key)
                if not events:
                    store.changed.wait(timeout=WAKE)
                    events = store.events_after(rv, t.kind.key)
            for event in events:
                rv = event.rv
                obj = api.present(t.kind, copy.deepcopy(event.obj))
                if wanted(obj):
                    yield _line(event.type, obj)

    return stream()
