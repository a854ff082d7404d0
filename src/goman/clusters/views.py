"""The JSON shapes of every read (the CLI's `-o json|yaml` contract, docs/clusters.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from goman.models.cluster import ClusterDoc, ClusterSummary
from goman.models.job import Job

if TYPE_CHECKING:
    from goman.clusters.access import LiveCluster


def summary_view(s: ClusterSummary) -> dict[str, Any]:
    return {
        "name": s.name,
        "mode": s.mode,
        "region": s.region,
        "phase": s.phase,
        "nodes_ready": s.nodes_ready,
        "nodes_total": s.nodes_total,
        "endpoint": s.endpoint,
        "cost_per_hour": s.cost_per_hour,
        "created_at": s.created_at,
        "protected": s.protected,
    }


def cluster_view(doc: ClusterDoc, live: LiveCluster | None = None) -> dict[str, Any]:
    """The cluster as `cluster get` shows it; with `live` (what its Kubernetes API said),
    a top-level `kubernetes` and one per node (null where the API said nothing)."""
    view = _cluster_view(doc)
    if live is None:
        return view
    view["kubernetes"] = {"reachable": live.reachable, "version": live.version}
    if live.error:
        view["kubernetes"]["error"] = live.error
    for node in view["nodes"]:
        got = live.nodes.get(node["name"])
        node["kubernetes"] = (
            None
            if got is None
            else {"ready": got.ready, "version": got.version, "schedulable": got.schedulable}
        )
    return view


def _cluster_view(doc: ClusterDoc) -> dict[str, Any]:
    from goman.clusters.index import cost_per_hour

    return {
        "name": doc.name,
        "mode": doc.spec.mode,
        "region": doc.spec.region,
        "phase": doc.status.phase,
        "workers": doc.spec.workers,
        "k3s_version": doc.spec.k3s_version,
        "endpoint": doc.status.endpoint,
        "cost_per_hour": cost_per_hour(doc),
        "nodes": [
            {
                "name": n.name,
                "role": n.role,
                "instance_id": n.instance_id,
                "instance_type": n.instance_type,
                "az": n.az,
                "state": n.state,
                "private_ip": n.private_ip,
                "public_ip": n.public_ip,
                "phase": n.phase,
            }
            for n in doc.status.nodes
        ],
        "job": doc.status.job_id or doc.status.last_job_id,
        "message": doc.status.message,
        "protected": doc.spec.protected,
    }


def job_row_view(job: Job) -> dict[str, Any]:
    step = job.current_step
    return {
        "id": job.id,
        "type": job.type,
        "cluster": job.cluster,
        "status": job.status,
        "step": step.name if step and not job.finished else None,
        "owner": job.lease.owner if job.lease else None,
        "attempts": job.attempts,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "error": job.error,
    }


def job_view(job: Job) -> dict[str, Any]:
    return {
        **job_row_view(job),
        "cluster_id": job.cluster_id,
        "params": dict(job.params),
        "lease_expires_at": job.lease.expires_at if job.lease else None,
        "cancel_requested": job.cancel_requested,
        "created_by": job.created_by,
        "steps": [
            {
                "name": s.name,
                "status": s.status,
                "started_at": s.started_at,
                "ended_at": s.ended_at,
                "attempts": s.attempts,
                "owner": s.owner,
                "message": s.message,
            }
            for s in job.steps
        ],
    }
