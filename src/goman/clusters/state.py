"""Reading and changing one cluster's state document, with its index row kept in step."""

from __future__ import annotations

from collections.abc import Callable

from goman.aws.errors import NotFoundError, UsageError
from goman.clusters import index
from goman.models.base import utcnow
from goman.models.cluster import ClusterDoc, ClusterSummary, check_name
from goman.state import keys
from goman.state.store import StateStore, Versioned


def valid_name(name: str) -> str:
    try:
        return check_name(name)
    except ValueError as exc:
        raise UsageError(str(exc), "Example: goman cluster create web-1") from None


def find_cluster(store: StateStore, name: str) -> Versioned[ClusterDoc] | None:
    return store.get(keys.cluster_state(valid_name(name)), ClusterDoc)


def load_cluster(store: StateStore, name: str) -> ClusterDoc:
    got = find_cluster(store, name)
    if got is None:
        raise NotFoundError(
            f"Cluster {name!r} does not exist (profile '{store.ctx.profile}').",
            "See the clusters there are with `goman cluster list`.",
        )
    return got.doc


def update_cluster(
    store: StateStore,
    name: str,
    change: Callable[[ClusterDoc], ClusterDoc | None],
    *,
    rows: index.IndexWriter | None = None,
) -> ClusterDoc | None:
    """CAS-update an existing state document (None if it is gone), then its index row if
    the change touched a field the row shows (through `rows`, written behind, if given).

    `change` gets a copy of the current document and may run more than once; returning
    None writes nothing.
    """
    before: list[ClusterSummary] = []

    def apply(doc: ClusterDoc | None) -> ClusterDoc | None:
        if doc is None:
            return None
        before[:] = [index.summary_of(doc)]
        new = change(doc)
        if new is not None:
            new.status.updated_at = utcnow()
        return new

    got = store.update(keys.cluster_state(name), ClusterDoc, apply)
    if got is None:
        return None
    if before and not index.same_row(before[0], index.summary_of(got.doc)):
        if rows is not None:
            rows.upsert(got.doc)
        else:
            index.upsert(store, got.doc)
    return got.doc
