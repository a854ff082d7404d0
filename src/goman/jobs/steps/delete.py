"""The steps of a delete: remove every resource tagged with the cluster id, verify that
nothing is left, and only then the state document and the index row."""

from __future__ import annotations

import time

from goman.aws.errors import GomanError
from goman.aws.parallel import each, together
from goman.clusters import index
from goman.clusters.state import find_cluster
from goman.jobs.steps.common import WARNING, StepContext
from goman.models.cluster import ClusterDoc
from goman.state import keys
from goman.state.store import Conflict


def terminate(ctx: StepContext, deadline: float) -> str:
    doc = ctx.cluster()
    recorded = {n.instance_id for n in doc.status.nodes if n.instance_id}
    # The look-up made when the job started finds any instance the document missed, and
    # tells whose the recorded ones are: they go only once their tags say they are ours.
    found = {r.id for r in ctx.tagged_at_start() if r.type == "instance"}
    ids = set(ctx.ec2.owned("instance", recorded | found))
    ctx.ec2.terminate(ids)
    if ids:
        ctx.ec2.wait_terminated(sorted(ids), timeout=max(1.0, deadline - time.monotonic()))

    def change(d: ClusterDoc) -> None:
        for node in d.status.nodes:
            node.state = "terminated"
            node.phase = "terminated"

    ctx.save(change)
    return f"terminated {len(ids)} instance(s)"


def release_endpoint(ctx: StepContext, deadline: float) -> str:
    doc = ctx.cluster()
    ids = {doc.status.eip_allocation_id} if doc.status.eip_allocation_id else set()
    ids |= {r.id for r in ctx.tagged_at_start() if r.type == "elastic-ip"}
    # The endpoint is recorded as gone while the addresses go (their ids stay recorded
    # until the state document goes, so nothing released is forgotten if this fails).
    together(
        lambda: each(ctx.ec2.release_eip, sorted(ids)),
        lambda: ctx.save(lambda d: setattr(d.status, "endpoint", None)),
    )
    return f"released {len(ids)} address(es)"


def delete_security_group(ctx: StepContext, deadline: float) -> str:
    doc = ctx.cluster()
    ids = {doc.status.security_group_id} if doc.status.security_group_id else set()
    # Groups are made by the network step only, before the delete began: the look-up made
    # when the job started has them all.
    ids |= {r.id for r in ctx.tagged_at_start() if r.type == "security-group"}
    each(
        lambda group: ctx.ec2.delete_security_group(
            group, timeout=max(1.0, deadline - time.monotonic())
        ),
        sorted(ids),
    )
    return f"deleted {len(ids)} security group(s)"


def verify(ctx: StepContext, deadline: float) -> str:
    """Nothing tagged with the cluster id may remain, or the state document stays."""
    left = [
        r for r in ctx.tagged() if not (r.type == "volume" and r.state in {"deleting", "deleted"})
    ]
    volumes = [r for r in left if r.type == "volume" and r.state == "available"]
    # Root volumes go with their instance; one left over (detached) is ours to remove.
    each(lambda volume: ctx.ec2.delete_volume(volume.id), volumes)
    left = [r for r in left if r not in volumes]
    if left:
        what = ", ".join(f"{r.type} {r.id} ({r.state})" for r in left)
        raise GomanError(f"still tagged with the cluster: {what}")
    return "nothing tagged with the cluster remains"


def remove_artefacts(ctx: StepContext, deadline: float) -> str:
    """Every object of the cluster (join secret, key material, node reports, kubeconfig),
    old versions too where permitted: secrets must not outlive their cluster."""
    from goman.state.purge import purge_prefix

    prefix = keys.cluster_dir(ctx.job.cluster)
    purged = purge_prefix(ctx.store, prefix)
    left = purged.warning(ctx.store.key(prefix))
    if left is not None:
        return f"{WARNING}{left}"
    return f"removed {purged.objects} object(s) and their old versions"


def remove_state(ctx: StepContext, deadline: float) -> str:
    """The state document (only this cluster's: the name may be taken again) and its row,
    at once. The document goes with If-Match on the version this job last wrote."""
    job = ctx.job
    rel = keys.cluster_state(job.cluster)

    def drop_document() -> None:
        got = ctx.store.known(rel, ClusterDoc)
        for _ in range(5):
            got = got or find_cluster(ctx.store, job.cluster)
            if got is None or got.doc.cluster_id != job.cluster_id:
                return
            try:
                ctx.store.delete(rel, etag=got.etag)
                return
            except Conflict:
                got = None
        raise GomanError(f"the state document of {job.cluster} keeps changing; retrying")

    ctx.rows.flush()  # rows written behind go first: the removal is the row's last change
    together(drop_document, lambda: index.remove(ctx.store, job.cluster, job.cluster_id))
    ctx.doc = None
    ctx.progress(None)
    return f"{job.cluster} deleted"
