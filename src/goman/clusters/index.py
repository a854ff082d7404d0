"""`clusters/clusters.json`: one summary per cluster, kept in step with the state files.

The state files are the truth; the index exists so `cluster list` costs one GET. A change
of a state document that changes its row (phase, nodes ready, endpoint, the job and its
step, the resources it records, ...) is followed by a CAS update of that row; other
changes leave the index alone. A row is only replaced by one taken from a newer revision
of the state document, so a slow writer cannot put an older view back. A crash between the
two writes leaves the row behind by one change until the next write, or until
`goman state reindex` rebuilds it.

A job's steps write the rows behind them (`IndexWriter`): the next step does not wait for
the index, rows changed meanwhile are written together, and the job waits for the last
one before it ends.
"""

from __future__ import annotations

import threading
import time

from goman.aws.errors import ConflictError, CorruptDocumentError
from goman.models.cluster import ClusterDoc, ClusterIndex, ClusterSummary
from goman.state import keys
from goman.state.store import MAX_CAS_ATTEMPTS, StateStore


def cost_per_hour(doc: ClusterDoc) -> float | None:
    """What the cluster costs now: the instances it has (with their root volumes and public
    addresses), not the ones it asks for. A stopped instance costs only its volume, and
    the endpoint's Elastic IP is billed while server-0 is stopped. No instance, no cost."""
    try:
        from goman.provision.prices import nodes_cost_per_hour, stopped_cost_per_hour
    except ImportError:  # pragma: no cover - prices are optional information
        return None
    by_type: dict[str, int] = {}
    stopped = 0
    endpoint_idle = False
    for node in doc.status.nodes:
        if not node.instance_id or node.state in {"terminated", "shutting-down"}:
            continue
        if node.state in {"stopping", "stopped"}:
            stopped += 1
            endpoint_idle |= node.role == "server" and node.index == 0
            continue
        itype = node.instance_type or doc.spec.instance_type
        by_type[itype] = by_type.get(itype, 0) + 1
    total = 0.0
    for itype, count in by_type.items():
        cost = nodes_cost_per_hour(count, itype, doc.spec.region)
        if cost is None:
            return None
        total += cost
    if stopped:
        idle = stopped_cost_per_hour(
            stopped,
            doc.spec.region,
            addresses=1 if endpoint_idle and doc.status.eip_allocation_id else 0,
        )
        if idle is None:
            return None
        total += idle
    return round(total, 4)


def recorded(doc: ClusterDoc) -> dict[str, str]:
    """id -> type of the AWS resources the document says the cluster has."""
    out = {
        n.instance_id: "instance"
        for n in doc.status.nodes
        if n.instance_id and n.phase != "terminated"
    }
    if doc.status.security_group_id:
        out[doc.status.security_group_id] = "security-group"
    if doc.status.eip_allocation_id:
        out[doc.status.eip_allocation_id] = "elastic-ip"
    return out


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
        resources=sorted(recorded(doc)),
        protected=doc.spec.protected,
    )


def same_row(a: ClusterSummary | None, b: ClusterSummary | None) -> bool:
    """Equal but for the revision they were taken from."""
    if a is None or b is None:
        return a is b
    return a.model_copy(update={"revision": 0}) == b.model_copy(update={"revision": 0})


def list_clusters(store: StateStore) -> list[ClusterSummary]:
    """From the index only (one GET): `goman state reindex` repairs it if it drifted."""
    return sorted(read_index(store).clusters.values(), key=lambda s: s.name)


def read_index(store: StateStore) -> ClusterIndex:
    got = store.get(keys.INDEX, ClusterIndex)
    return got.doc if got else ClusterIndex()


def _put_rows(index: ClusterIndex, rows: list[ClusterSummary]) -> bool:
    """Put rows newer than those present into the index; whether anything changed."""
    merged = dict(index.clusters)
    for row in rows:
        old = merged.get(row.name)
        if (
            old is not None
            and old.cluster_id == row.cluster_id
            and (old.revision >= row.revision or same_row(old, row))
        ):
            continue  # older than what is there, or only its revision is newer
        merged[row.name] = row
    if merged == index.clusters:
        return False
    index.clusters = merged
    return True


def upsert(store: StateStore, doc: ClusterDoc) -> None:
    row = summary_of(doc)

    def change(index: ClusterIndex | None) -> ClusterIndex | None:
        index = index or ClusterIndex()
        return index if _put_rows(index, [row]) else None

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


MAX_INTERVAL = 8.0


class IndexWriter:
    """Writes index rows behind the state-document writes of one process: `upsert`
    returns at once; rows changed meanwhile go out together in one CAS write, at most one
    write per `interval` seconds, fewer while other processes write the index too (it is
    shared by every cluster of the profile); `flush` writes what is left at once and
    waits."""

    def __init__(self, store: StateStore, interval: float = 2.0) -> None:
        self.store = store
        self.interval = interval
        self._rows: dict[str, ClusterSummary] = {}
        self._cond = threading.Condition()
        self._busy = False
        self._hurry = False
        import random  # (not at module level: `cluster list` imports this module)

        self._random = random.Random()
        # The first row waits a moment too: workers that start jobs at once would all
        # write the index at once, and all but one would be refused.
        self._last = time.monotonic() - interval * self._random.uniform(0.5, 1.0)
        self._pause = interval
        self.error: Exception | None = None

    def upsert(self, doc: ClusterDoc) -> None:
        row = summary_of(doc)
        with self._cond:
            old = self._rows.get(row.name)
            if old is None or old.cluster_id != row.cluster_id or old.revision < row.revision:
                self._rows[row.name] = row
            if self._busy:
                return
            self._busy = True
        threading.Thread(target=self._run, name="index-writer", daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._hurry and (wait := self._last + self._pause - time.monotonic()) > 0:
                    self._cond.wait(wait)
                rows = list(self._rows.values())
                self._rows.clear()
                if not rows:
                    self._busy = False
                    self._cond.notify_all()
                    return

            def change(
                index: ClusterIndex | None, rows: list[ClusterSummary] = rows
            ) -> ClusterIndex | None:
                index = index or ClusterIndex()
                return index if _put_rows(index, rows) else None

            try:
                # One try unless a flush waits: after a 412 the rows wait a while (longer
                # while others keep writing) and go out with the ones changed meanwhile,
                # so writers of one index do not keep refusing each other.
                self.store.update(
                    keys.INDEX,
                    ClusterIndex,
                    change,
                    attempts=MAX_CAS_ATTEMPTS if self._hurry else 1,
                )
                self._pause = self.interval
            except ConflictError:
                with self._cond:
                    for row in rows:
                        newer = self._rows.get(row.name)
                        if newer is None or newer.revision < row.revision:
                            self._rows[row.name] = row
                self._pause = min(MAX_INTERVAL, self._pause * 2) * self._random.uniform(0.5, 1.0)
            except Exception as exc:  # the index lags; `goman state reindex` repairs it
                self.error = exc
            self._last = time.monotonic()

    def flush(self, timeout: float = 60.0) -> None:
        """Write what is queued now and wait for it (a failure is kept in `error`)."""
        with self._cond:
            self._hurry = True
            self._cond.notify_all()
            self._cond.wait_for(lambda: not self._busy, timeout=timeout)
            self._hurry = False


def reindex(store: StateStore) -> list[str]:
    """Rebuild the index from the state files; returns the names indexed."""
    from goman.aws.parallel import each

    rels = [o.key for o in store.ls(keys.CLUSTERS_DIR) if keys.is_cluster_state(o.key)]

    def load(rel: str) -> ClusterDoc | None:
        got = store.get(rel, ClusterDoc)
        return got.doc if got else None

    docs = [d for d in each(load, rels) if d is not None]
    rows = {d.name: summary_of(d) for d in docs}

    def change(index: ClusterIndex | None) -> ClusterIndex | None:
        index = index or ClusterIndex()
        if index.clusters == rows:
            return None
        index.clusters = dict(rows)
        return index

    try:
        store.update(keys.INDEX, ClusterIndex, change)
    except CorruptDocumentError:
        # The index is what this rebuilds: an invalid one (a forged row, say) is replaced,
        # with If-Match on the version found, from the state documents alone.
        _, etag, _ = store.get_bytes(keys.INDEX)
        store.put(keys.INDEX, ClusterIndex(clusters=dict(rows)), etag)
    return sorted(rows)
