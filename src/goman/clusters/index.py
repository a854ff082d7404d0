"""`clusters/clusters.json`: one summary per cluster, kept in step with the state files.

The state files are the truth; the index exists so `cluster list` costs one GET. Every
change of a state document is followed by a CAS update of its row here. A row is only
replaced by one taken from a newer revision of the state document, so a slow writer
cannot put an older view back. A crash between the two writes leaves the row behind by
one change until the next write, or until `goman state reindex` rebuilds it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from goman.models.cluster import ClusterDoc, ClusterIndex, ClusterSummary
from goman.state import keys
from goman.state.store import StateStore


def cost_per_hour(doc: ClusterDoc) -> float | None:
    """What the cluster costs now: the instances it has (with their root volumes and public
    addresses), not the ones it asks for. No instance, no cost: $0/h."""
    try:
        from goman.provision.prices import nodes_cost_per_hour
    except ImportError:  # pragma: no cover - prices are optional information
        return None
    by_type: dict[str, int] = {}
    for node in doc.status.nodes:
        if node.instance_id and node.state not in {"terminated", "shutting-down"}:
            itype = node.instance_type or doc.spec.instance_type
            by_type[itype] = by_type.get(itype, 0) + 1
    total = 0.0
    for itype, count in by_type.items():
        cost = nodes_cost_per_hour(count, itype, doc.spec.region)
        if cost is None:
            return None
        total += cost
    return round(total, 4)


def summary_of(doc: ClusterDoc) -> ClusterSummary:
    return ClusterSummary(
        name=doc.name,
        cluster_id=doc.cluster_id,
        mode=doc.spec.mode,
        region=doc.spec.region,
        phase=doc.status.phase,
        workers=doc.spec.workers,
        instance_type=doc.spec.instance_type,
        nodes_ready=doc.nodes_ready,
        nodes_total=doc.spec.servers + doc.spec.workers,
        endpoint=doc.status.endpoint,
        cost_per_hour=cost_per_hour(doc),
        created_at=doc.created_at,
        job_id=doc.status.job_id,
        job_step=doc.status.job_step,
        revision=doc.revision,
    )


def list_clusters(store: StateStore) -> list[ClusterSummary]:
    """From the index only (one GET): `goman state reindex` repairs it if it drifted."""
    return sorted(read_index(store).clusters.values(), key=lambda s: s.name)


def read_index(store: StateStore) -> ClusterIndex:
    got = store.get(keys.INDEX, ClusterIndex)
    return got.doc if got else ClusterIndex()


def upsert(store: StateStore, doc: ClusterDoc) -> None:
    row = summary_of(doc)

    def change(index: ClusterIndex | None) -> ClusterIndex | None:
        index = index or ClusterIndex()
        old = index.clusters.get(row.name)
        if old is not None and old.cluster_id == row.cluster_id and old.revision >= row.revision:
            return None
        index.clusters = {**index.clusters, row.name: row}
        return index

    store.update(keys.INDEX, ClusterIndex, change)


def remove(store: StateStore, name: str, cluster_id: str | None = None) -> None:
    """Drop the row (only the row of `cluster_id`, when given: a new cluster may reuse the name)."""

    def change(index: ClusterIndex | None) -> ClusterIndex | None:
        if index is None or name not in index.clusters:
            return None
        if cluster_id is not None and index.clusters[name].cluster_id != cluster_id:
            return None
        index.clusters = {k: v for k, v in index.clusters.items() if k != name}
        return index

    store.update(keys.INDEX, ClusterIndex, change)


def reindex(store: StateStore) -> list[str]:
    """Rebuild the index from the state files; returns the names indexed."""
    rels = [o.key for o in store.ls(keys.CLUSTERS_DIR) if keys.is_cluster_state(o.key)]

    def load(rel: str) -> ClusterDoc | None:
        got = store.get(rel, ClusterDoc)
        return got.doc if got else None

    with ThreadPoolExecutor(max_workers=8) as pool:
        docs = [d for d in pool.map(load, rels) if d is not None]
    rows = {d.name: summary_of(d) for d in docs}

    def change(index: ClusterIndex | None) -> ClusterIndex | None:
        index = index or ClusterIndex()
        if index.clusters == rows:
            return None
        index.clusters = dict(rows)
        return index

    store.update(keys.INDEX, ClusterIndex, change)
    return sorted(rows)
