"""`replace-failed`: the first step of a retry the user asked for (`goman cluster retry`)."""

from __future__ import annotations

import time

from goman.aws.parallel import each
from goman.jobs.steps.common import StepContext, report_key, set_phase
from goman.models.cluster import ClusterDoc


def replace_failed(ctx: StepContext, deadline: float) -> str:
    """Remove the instances the retry command chose, so the launch steps start new ones.

    Exactly the (node, instance id) pairs in params["replace"] are touched: each one's
    instance is terminated (waited for), its report deleted, and, only while the
    document still records that instance, its launch counter bumped (a new ClientToken)
    and its instance id cleared. A rerun after a crash anywhere here finds the same
    pairs, terminates nothing else and bumps nothing twice."""
    doc = ctx.cluster()
    plan = [
        (str(p["node"]), str(p["instance_id"]))
        for p in ctx.job.params.get("replace") or []
        if p.get("node") and p.get("instance_id")
    ]
    names = ", ".join(node for node, _ in plan)
    if ctx.job.type == "create":
        message = f"Retrying: replacing {names}." if plan else "Retrying the create."
        ctx.save(lambda d: set_phase(d, "Provisioning", message))
    else:
        message = f"Retrying the scale: replacing {names}." if plan else "Retrying the scale."
        ctx.save(lambda d: set_phase(d, "Scaling", message))
    if not plan:
        return "no failed node to replace"
    ids = sorted({instance for _, instance in plan})
    ctx.ec2.terminate(ids)
    ctx.ec2.wait_terminated(ids, timeout=max(1.0, deadline - time.monotonic()))
    # The old node's `failed` report would end the next readiness wait at once.
    each(lambda pair: ctx.store.delete(report_key(doc.name, pair[0])), plan)
    gone = _delete_nodes(ctx, sorted({node for node, _ in plan}))

    def change(d: ClusterDoc) -> None:
        for node, instance in plan:
            known = d.node(node)
            if known is None or known.instance_id != instance:
                continue  # bumped by an earlier run of this step, or already relaunched
            known.launch += 1
            known.instance_id = None
            known.state = "terminated"
            known.phase = "pending"
            known.private_ip = None
            known.public_ip = None
            known.message = f"{instance} terminated by a retry; a new instance follows."

    ctx.save(change)
    return "replaced " + ", ".join(f"{node} ({instance})" for node, instance in plan) + gone


def _delete_nodes(ctx: StepContext, names: list[str]) -> str:
    """The replaced nodes' Node objects go too (their new instances register afresh), when
    the API can be reached: when server-0 itself is replaced, it cannot, and there is no
    Node left to delete."""
    from goman.aws.errors import GomanError
    from goman.clusters.access import kube_client

    try:
        with kube_client(ctx.store, ctx.cluster(), connect=3.0, read=10.0) as kube:
            deleted = [name for name in names if kube.delete_node(name)]
    except GomanError as exc:
        return f"; Node objects not deleted ({exc.message})"
    return f"; deleted Node {', '.join(deleted)}" if deleted else ""
