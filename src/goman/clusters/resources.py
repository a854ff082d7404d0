"""Every goman-tagged AWS resource of this profile, matched against the index rows (which
list each cluster's recorded resources), and against the state documents where a row
cannot vouch for a resource.

status:
  ok        tagged with a cluster id whose state document records it (or, for volumes,
            whose cluster exists);
  orphaned  tagged, but no state document has that cluster id, or the cluster's document
            does not record it while no job is at work on the cluster (a job may be
            between creating a resource and recording it);
  missing   recorded in a state document but gone from EC2.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from goman.aws.parallel import each
from goman.clusters.index import recorded
from goman.models.cluster import NAME_RE, ClusterDoc, ClusterIndex, ClusterSummary
from goman.models.config import AppConfig
from goman.state import keys
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
    protected: bool = False  # its cluster is protected from deletion

    def view(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: data[k] for k in ("type", "id", "region", "cluster", "profile", "status")}


def _status(r: Any, doc: ClusterSummary | ClusterDoc | None) -> str | None:
    """ok/orphaned for a tagged resource, from a state document or an index row that has
    the cluster's id (None: the row cannot tell)."""
    if doc is None:
        return "orphaned"
    if r.type == "volume":
        return "ok"
    if isinstance(doc, ClusterDoc):
        ids: set[str] = set(recorded(doc))
        busy = doc.status.job_id is not None
    else:
        if doc.resources is None:
            return None  # a row from before rows listed resources
        ids, busy = set(doc.resources), doc.job_id is not None
    return "ok" if r.id in ids or busy else "orphaned"


def list_resources(
    store: StateStore, regions: list[str] | None = None, warnings: list[str] | None = None
) -> list[Resource]:
    """Matched against the index; what the index calls orphaned or missing is confirmed
    with the clusters' state documents (the index may lag them), so cleanup never acts on
    a row that was behind.

    A region that cannot be reached (its endpoint does not connect, or the account may
    not use it) is left out with one line in `warnings`; nothing of it is called missing."""
    from goman.aws.errors import GomanError, region_unreachable
    from goman.provision.ec2 import Ec2

    profile = store.ctx.profile
    got_index, got_config = store.get_many([(keys.INDEX, ClusterIndex), (keys.CONFIG, AppConfig)])
    rows = list(got_index.doc.clusters.values()) if got_index else []
    if regions is None:
        region = got_config.doc.region if got_config else AppConfig().region
        regions = sorted({region, *(r.region for r in rows)})
    by_id = {r.cluster_id: r for r in rows}

    unreachable: set[str] = set()

    def scan(region: str) -> list[Any]:
        try:
            return list(Ec2(store.ctx, region).find_tagged(profile))
        except GomanError as exc:
            if not region_unreachable(exc):
                raise
            unreachable.add(region)
            if warnings is not None:
                warnings.append(f"region {region} cannot be reached, so it was not scanned: {exc}")
            return []

    tagged = [r for found in each(scan, regions, limit=4) for r in found]
    regions = [r for r in regions if r not in unreachable]
    seen = {r.id for r in tagged}
    unsure = [r for r in tagged if _status(r, by_id.get(r.cluster_id)) != "ok"]
    gone = [
        (row, rid)
        for row in rows
        if row.region in regions
        for rid in (row.resources or [])
        if rid not in seen
    ]
    # The truth for the few the index cannot vouch for: their state documents.
    names = sorted(
        {r.cluster for r in unsure if NAME_RE.match(r.cluster)}
        | {row.name for row, _ in gone}
        | {row.name for row in rows if row.resources is None}
    )
    docs = [
        g.doc for g in store.get_many([(keys.cluster_state(n), ClusterDoc) for n in names]) if g
    ]
    truth = {d.cluster_id: d for d in docs}
    out: list[Resource] = []
    for r in tagged:
        status = _status(r, by_id.get(r.cluster_id))
        if status != "ok":
            status = _status(r, truth.get(r.cluster_id)) or "orphaned"
        doc = truth.get(r.cluster_id)
        row = by_id.get(r.cluster_id)
        protected = doc.spec.protected if doc else bool(row and row.protected)
        out.append(
            Resource(
                r.type,
                r.id,
                r.region,
                r.cluster,
                r.profile,
                status,
                r.cluster_id,
                r.state,
                protected,
            )
        )
    for doc in truth.values():
        if doc.spec.region not in regions:
            continue
        for rid, kind in recorded(doc).items():
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
    from goman.provision.ownership import Owner
    from goman.provision.tags import TAG_CLUSTER_ID, TAG_PROFILE

    removed: list[Resource] = []
    for region in sorted({o.region for o in orphans}):
        # Only what is tagged with this profile, as the report's look-up saw the tags.
        ec2 = Ec2(store.ctx, region, Owner(store.ctx.profile))
        here = [o for o in orphans if o.region == region and o.status == "orphaned"]
        for o in here:
            ec2.memory.remember(o.id, {TAG_PROFILE: o.profile, TAG_CLUSTER_ID: o.cluster_id})
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
    _remove_leftover_objects(store, removed)
    return removed


def _remove_leftover_objects(store: StateStore, removed: list[Resource]) -> None:
    """The objects (join secret, key material, node reports) of clusters whose resources
    were orphans: only where no state document has the name now (objects go by name, and
    a cluster of that name may have been created again)."""
    from goman.state.purge import purge_prefix

    names = sorted({r.cluster for r in removed if NAME_RE.fullmatch(r.cluster)})
    got = store.get_many([(keys.cluster_state(n), ClusterDoc) for n in names])
    each(
        lambda n: purge_prefix(store, keys.cluster_dir(n)),
        [n for n, g in zip(names, got, strict=True) if g is None],
    )
