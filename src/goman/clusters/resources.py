"""Every goman-tagged AWS resource of this profile, matched against the state documents.

status:
  ok        tagged with a cluster id whose state document records it (or, for volumes,
            whose cluster exists);
  orphaned  tagged, but no state document has that cluster id, or the cluster's document
            does not record it while no job is at work on the cluster (a job may be
            between creating a resource and recording it);
  missing   recorded in a state document but gone from EC2.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from goman.models.cluster import ClusterDoc
from goman.state import keys
from goman.state.config import load_config
from goman.state.store import StateStore


@dataclass(frozen=True)
class Resource:
    type: str  # instance | security-group | elastic-ip | volume
    id: str
    region: str
    cluster: str
    profile: str
    status: str  # ok | orphaned | missing
    cluster_id: str = ""
    state: str = ""

    def view(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: data[k] for k in ("type", "id", "region", "cluster", "profile", "status")}


def _docs(store: StateStore) -> list[ClusterDoc]:
    rels = [o.key for o in store.ls(keys.CLUSTERS_DIR) if keys.is_cluster_state(o.key)]

    def load(rel: str) -> ClusterDoc | None:
        got = store.get(rel, ClusterDoc)
        return got.doc if got else None

    with ThreadPoolExecutor(max_workers=8) as pool:
        return [d for d in pool.map(load, rels) if d is not None]


def _recorded(doc: ClusterDoc) -> dict[str, str]:
    """id -> type of what the document says the cluster has."""
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


def list_resources(store: StateStore, regions: list[str] | None = None) -> list[Resource]:
    from goman.provision.ec2 import Ec2

    profile = store.ctx.profile
    docs = _docs(store)
    if regions is None:
        regions = sorted({load_config(store).region, *(d.spec.region for d in docs)})
    by_id = {d.cluster_id: d for d in docs}

    def scan(region: str) -> list[Any]:
        return list(Ec2(store.ctx, region).find_tagged(profile))

    with ThreadPoolExecutor(max_workers=4) as pool:
        tagged = [r for found in pool.map(scan, regions) for r in found]
    out: list[Resource] = []
    seen: set[str] = set()
    for r in tagged:
        seen.add(r.id)
        doc = by_id.get(r.cluster_id)
        if doc is None:
            status = "orphaned"
        elif r.type == "volume" or r.id in _recorded(doc):
            status = "ok"
        else:
            status = "ok" if doc.status.job_id else "orphaned"
        out.append(
            Resource(r.type, r.id, r.region, r.cluster, r.profile, status, r.cluster_id, r.state)
        )
    for doc in docs:
        if doc.spec.region not in regions:
            continue
        for rid, kind in _recorded(doc).items():
            if rid not in seen:
                out.append(
                    Resource(
                        kind, rid, doc.spec.region, doc.name, profile, "missing", doc.cluster_id
                    )
                )
    return sorted(out, key=lambda x: (x.region, x.cluster, x.type, x.id))


def cleanup_orphans(store: StateStore, orphans: list[Resource]) -> list[Resource]:
    """Remove orphaned resources: instances first (and wait), then addresses, groups, volumes."""
    from goman.provision.ec2 import Ec2

    removed: list[Resource] = []
    for region in sorted({o.region for o in orphans}):
        ec2 = Ec2(store.ctx, region)
        here = [o for o in orphans if o.region == region and o.status == "orphaned"]
        instances = [o.id for o in here if o.type == "instance"]
        if instances:
            ec2.terminate(instances)
            ec2.wait_terminated(instances, timeout=600)
        for o in here:
            if o.type == "elastic-ip":
                ec2.release_eip(o.id)
        for o in here:
            if o.type == "security-group":
                ec2.delete_security_group(o.id)
        for o in here:
            if o.type == "volume" and o.state == "available":
                ec2.delete_volume(o.id)
        removed.extend(here)
    return removed
