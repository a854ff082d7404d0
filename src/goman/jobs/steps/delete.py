"""The steps of a delete: remove every resource tagged with the cluster id, verify that
nothing is left, and only then the cluster's objects and its state document."""

from __future__ import annotations

import time

from goman.aws.errors import GomanError
from goman.clusters import index
from goman.clusters.state import find_cluster
from goman.jobs.steps.common import StepContext
from goman.models.cluster import ClusterDoc
from goman.state import keys


def terminate(ctx: StepContext, deadline: float) -> str:
    doc = ctx.cluster()
    ids = {n.instance_id for n in doc.status.nodes if n.instance_id}
    ids |= {i.instance_id for i in ctx.ec2.cluster_instances(doc.cluster_id)}
    if ids:
        ctx.ec2.terminate(sorted(ids))
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
    ids |= {r.id for r in ctx.tagged() if r.type == "elastic-ip"}
    for allocation in sorted(ids):
        ctx.ec2.release_eip(allocation)
    ctx.save(lambda d: setattr(d.status, "endpoint", None))
    return f"released {len(ids)} address(es)"


def delete_security_group(ctx: StepContext, deadline: float) -> str:
    doc = ctx.cluster()
    ids = {doc.status.security_group_id} if doc.status.security_group_id else set()
    ids |= {r.id for r in ctx.tagged() if r.type == "security-group"}
    for group in sorted(ids):
        ctx.ec2.delete_security_group(group, timeout=max(1.0, deadline - time.monotonic()))
    return f"deleted {len(ids)} security group(s)"


def verify(ctx: StepContext, deadline: float) -> str:
    """Nothing tagged with the cluster id may remain, or the state document stays."""
    left = [
        r for r in ctx.tagged() if not (r.type == "volume" and r.state in {"deleting", "deleted"})
    ]
    volumes = [r for r in left if r.type == "volume" and r.state == "available"]
    for volume in volumes:
        # Root volumes go with their instance; one left over (detached) is ours to remove.
        ctx.ec2.delete_volume(volume.id)
    left = [r for r in left if r not in volumes]
    if left:
        what = ", ".join(f"{r.type} {r.id} ({r.state})" for r in left)
        raise GomanError(f"still tagged with the cluster: {what}")
    return "nothing tagged with the cluster remains"


def remove_artefacts(ctx: StepContext, deadline: float) -> str:
    objs = ctx.store.ls(keys.cluster_dir(ctx.job.cluster))
    for obj in objs:
        ctx.store.delete(obj.key)
    return f"removed {len(objs)} object(s)"


def remove_state(ctx: StepContext, deadline: float) -> str:
    got = find_cluster(ctx.store, ctx.job.cluster)
    if got is not None and got.doc.cluster_id == ctx.job.cluster_id:
        ctx.store.delete(keys.cluster_state(ctx.job.cluster))
    index.remove(ctx.store, ctx.job.cluster, ctx.job.cluster_id)
    ctx.doc = None
    ctx.progress(None)
    return f"{ctx.job.cluster} deleted"
