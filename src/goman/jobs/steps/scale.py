"""The step only a scale runs (it also runs prepare, launch-agents, wait-ready and finish)."""

from __future__ import annotations

import time

from goman.aws.parallel import each
from goman.jobs.steps.common import StepContext, node_name, report_key
from goman.models.cluster import ClusterDoc


def remove_agents(ctx: StepContext, deadline: float) -> str:
    """Scale-down: the highest-numbered agents go first."""
    doc = ctx.cluster()
    extra = [n for n in doc.status.nodes if n.role == "agent" and n.index >= doc.spec.workers]
    # Also any instance of such a node that EC2 has and the document lost.
    wanted = {node_name(doc.name, "agent", i) for i in range(doc.spec.workers)}
    found = [
        i
        for i in ctx.ec2.cluster_instances(doc.cluster_id)
        if i.role == "agent" and i.node not in wanted
    ]
    ids = sorted({n.instance_id for n in extra if n.instance_id} | {i.instance_id for i in found})
    if not ids:
        return "no agents to remove"
    ctx.ec2.terminate(ids)
    ctx.ec2.wait_terminated(ids, timeout=max(1.0, deadline - time.monotonic()))
    names = sorted({n.name for n in extra} | {i.node for i in found})
    each(lambda name: ctx.store.delete(report_key(doc.name, name)), names)

    def change(d: ClusterDoc) -> None:
        d.status.nodes = [n for n in d.status.nodes if n.name not in names]

    ctx.save(change)
    return "removed " + ", ".join(names)
