"""What every step shares: the job's context (cluster document, EC2, waits) and the helpers
that name nodes, launch tokens and report keys.

A step is a function `(ctx, deadline) -> message`. It must be idempotent: run again after a
crash at any point, it finds what an earlier run made (by goman tags, by ClientToken, by the
ids recorded in the state document) and gives the same result.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict

from goman.aws.errors import GomanError
from goman.clusters.access import CA_BUNDLE as CA_BUNDLE
from goman.clusters.state import find_cluster, update_cluster
from goman.models.base import Document
from goman.models.cluster import ClusterDoc, NodeStatus
from goman.models.job import Job
from goman.state import keys
from goman.state.store import StateStore

JOIN_TOKEN = "secrets/join-token"
# Agents join with this one (K3s --agent-token): an agent's user-data never holds a URL
# to the server token, so a compromised agent cannot join as a server.
AGENT_TOKEN = "secrets/agent-token"
NODES_DIR = "nodes/"
API_PORT = 6443

# A step message that starts so is shown as a warning when the job ends (the job went
# on: something is left for the user to know about).
WARNING = "warning: "

DEFAULT_READY_TIMEOUT = 900.0  # K3s install on a fresh instance takes a few minutes
TERMINATE_TIMEOUT = 600.0
# Per role: K3s restarts on each node in turn (pull the image, drain, restart, Ready).
UPGRADE_TIMEOUT = 1800.0


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


class _Unread:
    """StepContext(doc=UNREAD): read the state document when the context is made."""


UNREAD = _Unread()


class _Change:
    """One state-document change waiting to be written (see StepContext.write)."""

    def __init__(self, change: Callable[[ClusterDoc], ClusterDoc | None], owned: bool) -> None:
        self.change = change
        self.owned = owned
        self.done = False
        self.doc: ClusterDoc | None = None
        self.error: BaseException | None = None


class StepContext:
    """One job against one cluster: the state document as last seen, EC2, and waits that
    notice a cancel request or a lost lease. Steps of one job may run at once on one
    context: their state-document changes are written one write at a time, and changes
    that arrive while a write is under way go out together in the next one."""

    poll_start = 0.25
    poll_max = 2.0

    def __init__(
        self,
        store: StateStore,
        job: Job,
        *,
        doc: ClusterDoc | _Unread | None = UNREAD,
        progress: Callable[[ClusterDoc | None], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        from goman.clusters.index import IndexWriter

        self.store = store
        self.job = job
        self.progress = progress or (lambda doc: None)
        self.should_stop = should_stop or (lambda: False)
        if isinstance(doc, _Unread):
            got = find_cluster(store, job.cluster)
            doc = got.doc if got else None
        self.doc: ClusterDoc | None = doc
        self.rows = IndexWriter(store)
        self._ec2: Any = None
        self._cond = threading.Condition()
        self._waiting: list[_Change] = []
        self._writing = False
        self._lookups: dict[str, Future[Any]] = {}
        self._lookups_lock = threading.Lock()
        self._unreachable = False  # a delete found the cluster's region unreachable

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.should_stop():
                raise Interrupted()
            time.sleep(min(0.25, max(0.0, end - time.monotonic())))

    def close(self) -> None:
        """Wait for the index rows written behind (the index may lag if that failed)."""
        self.rows.flush()

    # -- the cluster document -------------------------------------------------------

    def cluster(self) -> ClusterDoc:
        if self.doc is None:
            raise StepFailed(f"the state document of cluster {self.job.cluster} is gone")
        return self.doc

    def save(self, change: Callable[[ClusterDoc], None]) -> ClusterDoc:
        """Change the state document (only while it still names this job), then report."""

        def apply(doc: ClusterDoc) -> ClusterDoc:
            change(doc)
            return doc

        new = self.write(apply)
        if new is None:
            raise StepFailed(f"the state document of cluster {self.job.cluster} is gone")
        return new

    def write(
        self, change: Callable[[ClusterDoc], ClusterDoc | None], *, owned: bool = True
    ) -> ClusterDoc | None:
        """Apply `change` (None: no change) in the next write of the state document; with
        `owned`, only while the document still names this job. Returns the document as
        written (None if it is gone)."""
        mine = _Change(change, owned)
        batch: list[_Change] | None = None
        with self._cond:
            self._waiting.append(mine)
            while not mine.done and self._writing:
                self._cond.wait()
            if not mine.done:
                self._writing = True
                batch, self._waiting = self._waiting, []
        if batch is not None:
            try:
                doc = self._write(batch)
                for item in batch:
                    item.doc = doc
            except BaseException as exc:
                for item in batch:
                    item.error = exc
            finally:
                with self._cond:
                    for item in batch:
                        item.done = True
                    self._writing = False
                    self._cond.notify_all()
        if mine.error is not None:
            raise mine.error
        return mine.doc

    def _write(self, batch: list[_Change]) -> ClusterDoc | None:
        job = self.job

        def apply(doc: ClusterDoc) -> ClusterDoc | None:
            if any(c.owned for c in batch) and (
                doc.status.job_id != job.id or doc.cluster_id != job.cluster_id
            ):
                raise StepFailed(f"cluster {job.cluster} no longer belongs to job {job.id}")
            changed = False
            for item in batch:
                out = item.change(doc)
                if out is not None:
                    doc, changed = out, True
            if not changed:
                return None
            if doc.status.job_id == job.id:
                doc.status.job_step = next(
                    (s.name for s in job.steps if s.status == "running"), doc.status.job_step
                )
            return doc

        new = update_cluster(self.store, job.cluster, apply, rows=self.rows)
        if new is not None:
            self.doc = new
        self.progress(self.doc)
        return new

    def set_node(self, node: NodeStatus) -> None:
        def change(doc: ClusterDoc) -> None:
            others = [n for n in doc.status.nodes if n.name != node.name]
            doc.status.nodes = sorted([*others, node], key=lambda n: (n.role != "server", n.index))

        self.save(change)

    # -- EC2, and lookups made once per job ---------------------------------------------

    @property
    def ec2(self) -> Any:
        if self._ec2 is None:
            from goman.provision.ec2 import Ec2
            from goman.provision.ownership import Owner

            # A job changes only what is tagged with its own profile and cluster.
            owner = Owner(self.store.ctx.profile, self.job.cluster_id)
            self._ec2 = Ec2(self.store.ctx, self.cluster().spec.region, owner)
        return self._ec2

    def tagged(self) -> list[Any]:
        """What EC2 has tagged with this cluster's id (in this profile), now.

        A delete of a cluster that never recorded a resource, in a region that cannot be
        reached (its endpoint does not connect, or the account may not use it), finds
        nothing: nothing can have been made there, and the documents may go."""
        from goman.aws.errors import region_unreachable

        if self._unreachable:
            return []
        try:
            found = self.ec2.find_tagged(self.store.ctx.profile)
        except GomanError as exc:
            if self.job.type == "delete" and region_unreachable(exc) and not self._recorded_any():
                self._unreachable = True  # the steps after this one need not wait to learn it
                return []
            raise
        return [r for r in found if r.cluster_id == self.job.cluster_id]

    def _recorded_any(self) -> bool:
        doc = self.doc
        if doc is None:
            return True  # cannot tell: assume something was made
        return bool(
            doc.status.security_group_id
            or doc.status.eip_allocation_id
            or any(n.instance_id for n in doc.status.nodes)
        )

    def _lookup(self, name: str, fn: Callable[[], Any]) -> Future[Any]:
        """Start a read once per job (again only after it failed); later calls share it."""
        with self._lookups_lock:
            found = self._lookups.get(name)
            if found is None or (found.done() and found.exception() is not None):
                found = Future()
                self._lookups[name] = found
                threading.Thread(target=_fill, args=(found, fn), daemon=True).start()
            return found

    def prefetch(self, steps: list[str]) -> None:
        """Start the reads the steps to come will need, while earlier steps run."""
        if self.doc is None:
            return
        if {"network", "launch-servers", "launch-agents"} & set(steps):
            self.subnets_later()
        if {"launch-servers", "launch-agents"} & set(steps):
            self.ami_later()
            if not self._first_create():
                self._lookup("agent-token", self._agent_token_exists)
        if {"terminate", "release-endpoint", "delete-security-group"} & set(steps):
            self._lookup("tagged", self.tagged)

    def subnets_later(self) -> Future[Any]:
        return self._lookup("subnets", lambda: self.ec2.default_subnets())

    def ami_later(self) -> Future[Any]:
        instance_type = self.cluster().spec.instance_type
        return self._lookup("ami", lambda: self.ec2.find_ami(instance_type))

    def subnets(self) -> list[Any]:
        found: list[Any] = self.subnets_later().result()
        return found

    def ami(self) -> Any:
        return self.ami_later().result()

    def has_agent_token(self) -> bool:
        """Whether the cluster's agents join with their own token (one look per job; a
        first create's prepare step has just made it)."""
        if self._first_create():
            return True
        found: bool = self._lookup("agent-token", self._agent_token_exists).result()
        return found

    def _first_create(self) -> bool:
        """A create that is not a retry: a retried one may be of a cluster made before
        agents had a token of their own."""
        return self.job.type == "create" and not self.job.params.get("retry_of")

    def _agent_token_exists(self) -> bool:
        from goman.aws.errors import NotFoundError

        try:
            self.store.get_bytes(keys.cluster_artefact(self.job.cluster, AGENT_TOKEN))
        except NotFoundError:
            return False
        return True

    def tagged_at_start(self) -> list[Any]:
        """What was tagged with the cluster when the job began (its resources made before)."""
        found: list[Any] = self._lookup("tagged", self.tagged).result()
        return found


def _fill(future: Future[Any], fn: Callable[[], Any]) -> None:
    try:
        future.set_result(fn())
    except BaseException as exc:
        future.set_exception(exc)


def set_phase(doc: ClusterDoc, phase: str, message: str) -> None:
    doc.status.phase = phase  # type: ignore[assignment]
    doc.status.message = message
