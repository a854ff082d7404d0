"""What every step shares: the job's context (cluster document, EC2, waits) and the helpers
that name nodes, launch tokens and report keys.

A step is a function `(ctx, deadline) -> message`. It must be idempotent: run again after a
crash at any point, it finds what an earlier run made (by goman tags, by ClientToken, by the
ids recorded in the state document) and gives the same result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict

from goman.aws.errors import GomanError
from goman.clusters.state import find_cluster, update_cluster
from goman.models.base import Document
from goman.models.cluster import ClusterDoc, NodeStatus
from goman.models.job import Job
from goman.state import keys
from goman.state.store import StateStore

JOIN_TOKEN = "secrets/join-token"
KUBECONFIG = "kubeconfig.yaml"
NODES_DIR = "nodes/"
API_PORT = 6443

DEFAULT_READY_TIMEOUT = 900.0  # K3s install on a fresh instance takes a few minutes
TERMINATE_TIMEOUT = 600.0


@dataclass(frozen=True)
class Policy:
    attempts: int = 3  # within one worker's run; starts across workers are bounded too
    timeout: float = 300.0


class StepFailed(GomanError):
    """A failure that retrying cannot fix (a node reported failure, a timeout)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Interrupted(Exception):
    """A long wait stopped early: the job was cancelled or its lease was lost."""


class NodeReport(Document):
    """What a node PUTs to clusters/{name}/nodes/{node}.json through its presigned URL."""

    model_config = ConfigDict(extra="ignore")

    node: str = ""
    role: str = ""
    phase: str = "booting"  # booting | installing | ready | failed
    message: str = ""
    k3s_version: str = ""
    at: str = ""


def node_name(cluster: str, role: str, index: int) -> str:
    return f"{cluster}-{role}-{index}"


def client_token(cluster_id: str, role: str, index: int, launch: int) -> str:
    """Fixed per (cluster, node, launch): a retried RunInstances returns the first instance."""
    return f"{cluster_id[:20]}-{role[0]}{index}-{launch}"


def report_key(cluster: str, node: str) -> str:
    return keys.cluster_artefact(cluster, f"{NODES_DIR}{node}.json")


class StepContext:
    """One job against one cluster: the state document as last seen, EC2, and waits that
    notice a cancel request or a lost lease."""

    poll_start = 0.25
    poll_max = 2.0

    def __init__(
        self,
        store: StateStore,
        job: Job,
        *,
        progress: Callable[[ClusterDoc | None], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        self.job = job
        self.progress = progress or (lambda doc: None)
        self.should_stop = should_stop or (lambda: False)
        got = find_cluster(store, job.cluster)
        self.doc: ClusterDoc | None = got.doc if got else None
        self._ec2: Any = None

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.should_stop():
                raise Interrupted()
            time.sleep(min(0.25, max(0.0, end - time.monotonic())))

    # -- the cluster document -------------------------------------------------------

    def cluster(self) -> ClusterDoc:
        if self.doc is None:
            raise StepFailed(f"the state document of cluster {self.job.cluster} is gone")
        return self.doc

    def save(self, change: Callable[[ClusterDoc], None]) -> ClusterDoc:
        """Change the state document (only while it still names this job), then report."""
        job = self.job

        def apply(doc: ClusterDoc) -> ClusterDoc | None:
            if doc.status.job_id != job.id or doc.cluster_id != job.cluster_id:
                raise StepFailed(f"cluster {job.cluster} no longer belongs to job {job.id}")
            change(doc)
            doc.status.job_step = next(
                (s.name for s in job.steps if s.status == "running"), doc.status.job_step
            )
            return doc

        new = update_cluster(self.store, job.cluster, apply)
        if new is None:
            raise StepFailed(f"the state document of cluster {job.cluster} is gone")
        self.doc = new
        self.progress(new)
        return new

    def set_node(self, node: NodeStatus) -> None:
        def change(doc: ClusterDoc) -> None:
            others = [n for n in doc.status.nodes if n.name != node.name]
            doc.status.nodes = sorted([*others, node], key=lambda n: (n.role != "server", n.index))

        self.save(change)

    @property
    def ec2(self) -> Any:
        if self._ec2 is None:
            from goman.provision.ec2 import Ec2

            self._ec2 = Ec2(self.store.ctx, self.cluster().spec.region)
        return self._ec2

    def tagged(self) -> list[Any]:
        """What EC2 has tagged with this cluster's id (in this profile)."""
        return [
            r
            for r in self.ec2.find_tagged(self.store.ctx.profile)
            if r.cluster_id == self.job.cluster_id
        ]


def set_phase(doc: ClusterDoc, phase: str, message: str) -> None:
    doc.status.phase = phase  # type: ignore[assignment]
    doc.status.message = message
