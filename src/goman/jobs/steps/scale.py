"""The steps only a scale runs (it also runs prepare, launch-agents, wait-ready and finish).

A scale-down takes the leaving agents out of the cluster before their instances go, one
idempotent step each, so a worker killed anywhere resumes without doing anything twice:
cordon (no new pods), drain (the Eviction API: PodDisruptionBudgets honoured, DaemonSet and
mirror pods left), delete the Node objects (none is left NotReady), then terminate.
"""

from __future__ import annotations

import time
from typing import Any

from goman.aws.errors import GomanError
from goman.aws.parallel import each
from goman.jobs.steps.common import StepContext, StepFailed, node_name, report_key
from goman.models.cluster import ClusterDoc

DEFAULT_DRAIN_TIMEOUT = 300.0


def leaving(doc: ClusterDoc) -> list[str]:
    """The agents a scale-down removes: the highest-numbered ones past spec.workers."""
    return sorted(
        n.name for n in doc.status.nodes if n.role == "agent" and n.index >= doc.spec.workers
    )


def _force(ctx: StepContext) -> bool:
    return bool(ctx.job.params.get("force"))


def _kube(ctx: StepContext) -> Any | None:
    """The cluster's API, or None when --force lets a cluster goman cannot reach go on."""
    from goman.clusters.access import kube_client

    try:
        return kube_client(ctx.store, ctx.cluster(), connect=5.0, read=20.0)
    except GomanError as exc:
        if _force(ctx):
            return None
        raise StepFailed(
            f"cannot use the cluster's Kubernetes API to drain the leaving agents: {exc.message}"
            " (pass --force to remove them without draining)"
        ) from None


def _each_node(ctx: StepContext, what: str, act: Any) -> str:
    names = leaving(ctx.cluster())
    if not names:
        return f"no agents to {what}"
    kube = _kube(ctx)
    if kube is None:
        return f"not {what}ed (--force, no API access): " + ", ".join(names)
    from goman.kube.errors import KubeError

    try:
        with kube:
            results = each(lambda name: act(kube, name), names)
    except KubeError as exc:
        if not _force(ctx):  # a forced drain never times out: it gives up on the pods
            raise StepFailed(f"{exc.message} {exc.hint}".strip()) from None
        return f"not {what}ed (--force): {exc.message}"
    return "; ".join(results)


def cordon_agents(ctx: StepContext, deadline: float) -> str:
    def act(kube: Any, name: str) -> str:
        return f"cordoned {name}" if kube.cordon(name) else f"{name} is not in the API"

    return _each_node(ctx, "cordon", act)


def drain_agents(ctx: StepContext, deadline: float) -> str:
    timeout = float(ctx.job.params.get("drain_timeout") or DEFAULT_DRAIN_TIMEOUT)
    force = _force(ctx)

    def act(kube: Any, name: str) -> str:
        result = kube.drain(name, timeout=timeout, force=force)
        if not result.found:
            return f"{name} is not in the API"
        text = f"drained {name} ({len(result.evicted)} pod(s) evicted)"
        if not result.complete:
            text += f"; --force left {len(result.remaining)} pod(s) to go with it"
        return text

    return _each_node(ctx, "drain", act)


def delete_nodes(ctx: StepContext, deadline: float) -> str:
    def act(kube: Any, name: str) -> str:
        return f"deleted Node {name}" if kube.delete_node(name) else f"Node {name} already gone"

    return _each_node(ctx, "delete", act)


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
