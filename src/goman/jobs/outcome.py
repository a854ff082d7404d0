"""How a finished job leaves its cluster document. Pure functions of documents."""

from __future__ import annotations

from goman.models.cluster import ClusterDoc
from goman.models.job import Job


def release(doc: ClusterDoc, job: Job) -> ClusterDoc:
    """Free the cluster for the next mutating job (only if this job holds it)."""
    if doc.status.job_id == job.id:
        doc.status.job_id = None
        doc.status.job_step = None
    doc.status.last_job_id = job.id
    return doc


def failed(doc: ClusterDoc, job: Job, reason: str) -> ClusterDoc:
    """Failed keeps every recorded resource: nothing is re-created or removed silently.

    The message is the reason only: what to do next depends on who reads it (the CLI
    names commands, the TUI keys), so each face adds its own words."""
    doc.status.phase = "Failed"
    what = job.type.capitalize()
    doc.status.message = f"{what} failed: {reason.rstrip('.')}."
    return release(doc, job)


def cancelled(doc: ClusterDoc, job: Job, at_step: str | None) -> ClusterDoc:
    where = f" at step {at_step}" if at_step else " before it started"
    if job.type == "scale":
        # What exists now is what the cluster is: record it as the desired size again.
        agents = [n for n in doc.status.nodes if n.role == "agent"]
        doc.spec.workers = len(agents)
        all_ready = all(n.phase == "ready" for n in doc.status.nodes)
        doc.status.phase = "Running" if all_ready else "Failed"
        doc.status.message = f"Scale cancelled{where}; the cluster has {len(agents)} worker(s)."
        return release(doc, job)
    what = job.type.capitalize()
    doc.status.phase = "Failed"
    doc.status.message = f"{what} cancelled{where}."
    return release(doc, job)
