"""`goman state restore` as a use case: bring a version back, and keep the index true.

`state/` restores any document; only this layer knows that a cluster's state document has
a row in `clusters/clusters.json`. Restoring one brings its row back (or up to date) at
once, so the cluster is listed again without waiting for `goman state reindex`.
"""

from __future__ import annotations

from typing import Any

from goman.clusters import index
from goman.models.cluster import ClusterDoc
from goman.state import keys
from goman.state.store import StateStore
from goman.state.versions import restore


def restore_document(store: StateStore, rel: str, version: str) -> dict[str, Any]:
    """Restore `version` of `rel`; JSON shape: the restore, plus `index` ("updated" when a
    cluster's index row was written, else null)."""
    result = restore(store, rel, version).as_dict()
    result["index"] = None
    if keys.is_cluster_state(rel):
        got = store.get(rel, ClusterDoc)
        if got is not None:
            index.upsert(store, got.doc)
            result["index"] = "updated"
    return result
