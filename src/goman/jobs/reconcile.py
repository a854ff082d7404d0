"""The reconciler: where the state documents and EC2 meet, one idempotent step at a time.

Phases of a cluster (status.phase):
  create:  Pending -> Provisioning (prepare .. associate-endpoint) -> Bootstrapping
           (wait-ready) -> Running
  scale:   Running -> Scaling -> Running
  delete:  Deleting -> (state document and index row removed: "Deleted")
  retry:   Failed -> (replace-failed, then the create or scale steps as above) -> Running
  any step that fails past its retries: Failed, with the reason in status.message.

Every step can be run again after a crash at any point and gives the same result:
resources are found by their goman tags before anything is created, RunInstances
carries a ClientToken that is fixed per (cluster, node, launch), and ids are recorded in
the state document right after each create. Failed never re-creates anything on its
own: only `replace-failed`, in a retry the user asked for, removes the instances the retry
command listed in the job's params, so that the launch steps start new ones. No launch
waits for another node to boot (server-0's private IP comes from RunInstances itself).
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict

from goman.aws.errors import GomanError, UsageError
from goman.clusters import index
from goman.clusters.state import find_cluster, update_cluster
from goman.jobs import outcome
from goman.jobs.lease import LeaseLost
from goman.models.base import Document
from goman.models.cluster import ClusterDoc, NodeStatus
from goman.models.job import Job
from goman.state import keys
from goman.state.store import Conflict, StateStore

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


POLICIES: dict[str, Policy] = {
    "associate-endpoint": Policy(attempts=3, timeout=300.0),
    "wait-ready": Policy(attempts=1, timeout=DEFAULT_READY_TIMEOUT),
    "terminate": Policy(attempts=3, timeout=TERMINATE_TIMEOUT),
    "replace-failed": Policy(attempts=3, timeout=TERMINATE_TIMEOUT),
    "delete-security-group": Policy(attempts=3, timeout=300.0),
}


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


class Reconciler:
    """Runs the steps of one job against one cluster."""

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

    # -- driving --------------------------------------------------------------------

    def check(self) -> str | None:
        """Why this job may not run against the cluster as it is now (None: it may)."""
        removed = any(s.name == "remove-state" and s.status == "done" for s in self.job.steps)
        if self.doc is None:
            if self.job.type == "delete":
                return None  # the state document went first; only the last checks remain
            return f"the state document of cluster {self.job.cluster} no longer exists"
        if self.doc.cluster_id != self.job.cluster_id:
            return f"cluster {self.job.cluster} was re-created since this job was queued"
        if self.doc.status.job_id != self.job.id and not removed:
            return (
                f"cluster {self.job.cluster} is not waiting for this job "
                f"(it names job {self.doc.status.job_id or 'none'})"
            )
        return None

    def run_step(self, name: str, job: Job) -> str:
        """Run one step with its bounded retries; returns a message for the job."""
        self.job = job
        fn = self._steps()[name]
        policy = POLICIES.get(name, Policy())
        if name == "wait-ready":
            policy = Policy(
                attempts=1, timeout=float(job.params.get("ready_timeout") or policy.timeout)
            )
        for attempt in range(policy.attempts):
            deadline = time.monotonic() + policy.timeout
            try:
                return fn(deadline)
            except (StepFailed, UsageError, LeaseLost, Interrupted):
                raise
            except GomanError:
                if attempt + 1 >= policy.attempts:
                    raise
                self._sleep(min(10.0, 1.0 * 2**attempt))
        raise AssertionError("unreachable")

    def _steps(self) -> dict[str, Callable[[float], str]]:
        return {
            "replace-failed": self.replace_failed,
            "prepare": self.prepare,
            "network": self.network,
            "endpoint": self.endpoint,
            "launch-servers": self.launch_servers,
            "launch-agents": self.launch_agents,
            "associate-endpoint": self.associate_endpoint,
            "remove-agents": self.remove_agents,
            "wait-ready": self.wait_ready,
            "finish": self.finish,
            "terminate": self.terminate,
            "release-endpoint": self.release_endpoint,
            "delete-security-group": self.delete_security_group,
            "verify": self.verify,
            "remove-artefacts": self.remove_artefacts,
            "remove-state": self.remove_state,
        }

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.should_stop():
                raise Interrupted()
            time.sleep(min(0.25, max(0.0, end - time.monotonic())))

    # -- the cluster document -------------------------------------------------------

    def _cluster(self) -> ClusterDoc:
        if self.doc is None:
            raise StepFailed(f"the state document of cluster {self.job.cluster} is gone")
        return self.doc

    def _save(self, change: Callable[[ClusterDoc], None]) -> ClusterDoc:
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

    def _set_node(self, node: NodeStatus) -> None:
        def change(doc: ClusterDoc) -> None:
            others = [n for n in doc.status.nodes if n.name != node.name]
            doc.status.nodes = sorted([*others, node], key=lambda n: (n.role != "server", n.index))

        self._save(change)

    @property
    def ec2(self) -> Any:
        if self._ec2 is None:
            from goman.provision.ec2 import Ec2

            self._ec2 = Ec2(self.store.ctx, self._cluster().spec.region)
        return self._ec2

    # -- create / scale steps -------------------------------------------------------

    def prepare(self, deadline: float) -> str:
        doc = self._cluster()
        # The join secret is written once and never replaced: nodes that already booted
        # hold it (the original tool regenerated it on every pass).
        try:
            self.store.put_bytes(
                keys.cluster_artefact(doc.name, JOIN_TOKEN),
                secrets.token_urlsafe(32).encode(),  # no newline: K3S_TOKEN_FILE is read as-is
                create=True,
                content_type="text/plain",
            )
            made = "join secret created"
        except Conflict:
            made = "join secret already there"

        def change(d: ClusterDoc) -> None:
            if self.job.type == "create":
                d.status.phase = "Provisioning"
                d.status.message = "Creating the network, endpoint and instances."
            else:
                d.status.phase = "Scaling"

        self._save(change)
        return made

    def replace_failed(self, deadline: float) -> str:
        """Remove the instances the retry command chose, so the launch steps start new ones.

        Exactly the (node, instance id) pairs in params["replace"] are touched: each one's
        instance is terminated (waited for), its report deleted, and, only while the
        document still records that instance, its launch counter bumped (a new ClientToken)
        and its instance id cleared. A rerun after a crash anywhere here finds the same
        pairs, terminates nothing else and bumps nothing twice."""
        doc = self._cluster()
        plan = [
            (str(p["node"]), str(p["instance_id"]))
            for p in self.job.params.get("replace") or []
            if p.get("node") and p.get("instance_id")
        ]
        names = ", ".join(node for node, _ in plan)
        if self.job.type == "create":
            message = f"Retrying: replacing {names}." if plan else "Retrying the create."
            self._save(lambda d: _set_phase(d, "Provisioning", message))
        else:
            message = f"Retrying the scale: replacing {names}." if plan else "Retrying the scale."
            self._save(lambda d: _set_phase(d, "Scaling", message))
        if not plan:
            return "no failed node to replace"
        ids = sorted({instance for _, instance in plan})
        self.ec2.terminate(ids)
        self.ec2.wait_terminated(ids, timeout=max(1.0, deadline - time.monotonic()))
        for node, _ in plan:
            # The old node's `failed` report would end the next readiness wait at once.
            self.store.delete(report_key(doc.name, node))

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

        self._save(change)
        return "replaced " + ", ".join(f"{node} ({instance})" for node, instance in plan)

    def network(self, deadline: float) -> str:
        doc = self._cluster()
        subnets = self.ec2.default_subnets()
        group = self.ec2.ensure_security_group(
            cluster=doc.name,
            cluster_id=doc.cluster_id,
            profile=self.store.ctx.profile,
            vpc_id=subnets[0].vpc_id,
            api_cidrs=list(doc.spec.api_cidrs),
        )

        def change(d: ClusterDoc) -> None:
            d.status.security_group_id = group

        self._save(change)
        return f"security group {group}"

    def endpoint(self, deadline: float) -> str:
        doc = self._cluster()
        allocation, address = self.ec2.ensure_eip(
            cluster=doc.name, cluster_id=doc.cluster_id, profile=self.store.ctx.profile
        )

        def change(d: ClusterDoc) -> None:
            d.status.eip_allocation_id = allocation
            d.status.eip_address = address
            d.status.endpoint = f"https://{address}:{API_PORT}"

        self._save(change)
        return f"endpoint {address} ({allocation})"

    def _launch(self, role: str, numbers: range) -> list[str]:
        from goman.provision.ec2 import NodeLaunch
        from goman.provision.tags import tags_for
        from goman.provision.userdata import NodeBootstrap, render_user_data

        doc = self._cluster()
        group = doc.status.security_group_id
        if not group or not doc.status.eip_address:
            raise StepFailed("the network and endpoint steps have not recorded their resources")
        subnets = self.ec2.default_subnets()
        ami = self.ec2.find_ami(doc.spec.instance_type)
        profile = self.store.ctx.profile
        launched: list[str] = []
        for i in numbers:
            doc = self._cluster()
            name = node_name(doc.name, role, i)
            known = doc.node(name)
            launch = known.launch if known else 0
            first = role == "server" and i == 0
            server_url = None
            if not first:
                server0 = doc.node(node_name(doc.name, "server", 0))
                if server0 is None or not server0.private_ip:
                    raise StepFailed("server-0 has no recorded private IP to join")
                server_url = f"https://{server0.private_ip}:{API_PORT}"
            boot = NodeBootstrap(
                cluster=doc.name,
                node=name,
                role=role,
                index=i,
                k3s_version=doc.spec.k3s_version,
                token_url=self.store.presign_get(keys.cluster_artefact(doc.name, JOIN_TOKEN)),
                report_url=self.store.presign_put(report_key(doc.name, name)),
                kubeconfig_url=(
                    self.store.presign_put(keys.cluster_artefact(doc.name, KUBECONFIG))
                    if first
                    else None
                ),
                server_url=server_url,
                endpoint_host=doc.status.eip_address or "",
                bucket_owner=self.store.owner,
                cluster_init=first and doc.spec.mode == "ha",
            )
            # Servers go one per availability zone; agents spread the same way.
            subnet = subnets[i % len(subnets)]
            info = self.ec2.run_node(
                NodeLaunch(
                    node=name,
                    role=role,
                    index=i,
                    instance_type=doc.spec.instance_type,
                    ami_id=ami.id,
                    subnet_id=subnet.id,
                    security_group_id=group,
                    user_data=render_user_data(boot),
                    tags=tags_for(doc.name, doc.cluster_id, profile, role=role, node=name),
                    client_token=client_token(doc.cluster_id, role, i, launch),
                )
            )
            phase = known.phase if known and known.instance_id == info.instance_id else "launched"
            self._set_node(
                NodeStatus(
                    name=name,
                    role=role,  # type: ignore[arg-type]
                    index=i,
                    instance_id=info.instance_id,
                    instance_type=info.instance_type or doc.spec.instance_type,
                    az=info.az or subnet.az,
                    state=info.state,
                    private_ip=info.private_ip,
                    public_ip=info.public_ip,
                    phase=phase,
                    launch=launch,
                )
            )
            launched.append(f"{name}={info.instance_id}")
        return launched

    def launch_servers(self, deadline: float) -> str:
        doc = self._cluster()
        return "launched " + ", ".join(self._launch("server", range(doc.spec.servers)))

    def launch_agents(self, deadline: float) -> str:
        doc = self._cluster()
        if doc.spec.workers == 0:
            return "no workers wanted"
        return "launched " + ", ".join(self._launch("agent", range(doc.spec.workers)))

    def associate_endpoint(self, deadline: float) -> str:
        doc = self._cluster()
        server0 = doc.node(node_name(doc.name, "server", 0))
        if server0 is None or server0.instance_id is None or doc.status.eip_allocation_id is None:
            raise StepFailed("server-0 or the endpoint address was not recorded")
        self.ec2.associate_eip(
            doc.status.eip_allocation_id,
            server0.instance_id,
            timeout=max(1.0, deadline - time.monotonic()),
        )

        def change(d: ClusterDoc) -> None:
            node = d.node(server0.name)
            if node is not None:
                node.public_ip = d.status.eip_address

        self._save(change)
        return f"{doc.status.eip_address} -> {server0.instance_id}"

    def remove_agents(self, deadline: float) -> str:
        """Scale-down: the highest-numbered agents go first."""
        doc = self._cluster()
        extra = [n for n in doc.status.nodes if n.role == "agent" and n.index >= doc.spec.workers]
        # Also any instance of such a node that EC2 has and the document lost.
        wanted = {node_name(doc.name, "agent", i) for i in range(doc.spec.workers)}
        found = [
            i
            for i in self.ec2.cluster_instances(doc.cluster_id)
            if i.role == "agent" and i.node not in wanted
        ]
        ids = sorted(
            {n.instance_id for n in extra if n.instance_id} | {i.instance_id for i in found}
        )
        if not ids:
            return "no agents to remove"
        self.ec2.terminate(ids)
        self.ec2.wait_terminated(ids, timeout=max(1.0, deadline - time.monotonic()))
        names = sorted({n.name for n in extra} | {i.node for i in found})
        for name in names:
            self.store.delete(report_key(doc.name, name))

        def change(d: ClusterDoc) -> None:
            d.status.nodes = [n for n in d.status.nodes if n.name not in names]

        self._save(change)
        return "removed " + ", ".join(names)

    def _expected_nodes(self, doc: ClusterDoc) -> list[str]:
        return [node_name(doc.name, "server", i) for i in range(doc.spec.servers)] + [
            node_name(doc.name, "agent", i) for i in range(doc.spec.workers)
        ]

    def wait_ready(self, deadline: float) -> str:
        """Until every node reports ready (or one reports failed): one LIST per poll, and
        a GET only for the reports whose ETag changed."""
        doc = self._cluster()
        if self.job.type == "create":
            self._save(
                lambda d: _set_phase(d, "Bootstrapping", "Waiting for the nodes to report ready.")
            )
        expected = self._expected_nodes(doc)
        seen: dict[str, str] = {}
        reports: dict[str, NodeReport] = {}
        delay = self.poll_start
        prefix = keys.cluster_artefact(doc.name, NODES_DIR)
        while True:
            changed: dict[str, NodeReport] = {}
            for obj in self.store.ls(prefix):
                node = obj.key[len(prefix) :].removesuffix(".json")
                if node in expected and seen.get(node) != obj.etag:
                    got = self.store.get(obj.key, NodeReport)
                    if got is not None:
                        changed[node] = got.doc
                        seen[node] = got.etag
            if changed:
                reports.update(changed)
                self._save(functools.partial(_apply_reports, reports=changed))
                delay = self.poll_start
            failed = [n for n in expected if n in reports and reports[n].phase == "failed"]
            if failed:
                name = failed[0]
                raise StepFailed(
                    f"node {name} failed to bootstrap: {reports[name].message or 'no reason given'}"
                )
            ready = [n for n in expected if n in reports and reports[n].phase == "ready"]
            if len(ready) == len(expected):
                break
            if time.monotonic() > deadline:
                waiting = [n for n in expected if n not in ready]
                raise StepFailed(
                    f"{len(ready)}/{len(expected)} nodes ready when the timeout was reached; "
                    f"not ready: {', '.join(waiting)}"
                )
            self._sleep(delay)
            delay = min(self.poll_max, delay * 1.5)
        self._refresh_instances()
        return f"{len(expected)}/{len(expected)} nodes ready"

    def _refresh_instances(self) -> None:
        """Record what EC2 says now (state, addresses) about the recorded nodes."""
        doc = self._cluster()
        found = {i.instance_id: i for i in self.ec2.cluster_instances(doc.cluster_id)}

        def change(d: ClusterDoc) -> None:
            for node in d.status.nodes:
                info = found.get(node.instance_id or "")
                if info is None:
                    continue
                node.state = info.state
                node.private_ip = info.private_ip or node.private_ip
                node.public_ip = info.public_ip or node.public_ip
                node.az = info.az or node.az

        self._save(change)

    def finish(self, deadline: float) -> str:
        job = self.job

        def change(d: ClusterDoc) -> ClusterDoc | None:
            if d.status.job_id != job.id:
                return None  # released already (a rerun of this step)
            _set_phase(d, "Running", f"{len(d.status.nodes)} node(s) ready.")
            return outcome.release(d, job)

        doc = self._cluster()
        new = update_cluster(self.store, job.cluster, change)
        self.doc = new or doc
        self.progress(self.doc)
        return f"{doc.name} is Running"

    # -- delete steps ---------------------------------------------------------------

    def _tagged(self) -> list[Any]:
        """What EC2 has tagged with this cluster's id (in this profile)."""
        return [
            r
            for r in self.ec2.find_tagged(self.store.ctx.profile)
            if r.cluster_id == self.job.cluster_id
        ]

    def terminate(self, deadline: float) -> str:
        doc = self._cluster()
        ids = {n.instance_id for n in doc.status.nodes if n.instance_id}
        ids |= {i.instance_id for i in self.ec2.cluster_instances(doc.cluster_id)}
        if ids:
            self.ec2.terminate(sorted(ids))
            self.ec2.wait_terminated(sorted(ids), timeout=max(1.0, deadline - time.monotonic()))

        def change(d: ClusterDoc) -> None:
            for node in d.status.nodes:
                node.state = "terminated"
                node.phase = "terminated"

        self._save(change)
        return f"terminated {len(ids)} instance(s)"

    def release_endpoint(self, deadline: float) -> str:
        doc = self._cluster()
        ids = {doc.status.eip_allocation_id} if doc.status.eip_allocation_id else set()
        ids |= {r.id for r in self._tagged() if r.type == "elastic-ip"}
        for allocation in sorted(ids):
            self.ec2.release_eip(allocation)
        self._save(lambda d: setattr(d.status, "endpoint", None))
        return f"released {len(ids)} address(es)"

    def delete_security_group(self, deadline: float) -> str:
        doc = self._cluster()
        ids = {doc.status.security_group_id} if doc.status.security_group_id else set()
        ids |= {r.id for r in self._tagged() if r.type == "security-group"}
        for group in sorted(ids):
            self.ec2.delete_security_group(group, timeout=max(1.0, deadline - time.monotonic()))
        return f"deleted {len(ids)} security group(s)"

    def verify(self, deadline: float) -> str:
        """Nothing tagged with the cluster id may remain, or the state document stays."""
        left = [
            r
            for r in self._tagged()
            if not (r.type == "volume" and r.state in {"deleting", "deleted"})
        ]
        volumes = [r for r in left if r.type == "volume" and r.state == "available"]
        for volume in volumes:
            # Root volumes go with their instance; one left over (detached) is ours to remove.
            self.ec2.delete_volume(volume.id)
        left = [r for r in left if r not in volumes]
        if left:
            what = ", ".join(f"{r.type} {r.id} ({r.state})" for r in left)
            raise GomanError(f"still tagged with the cluster: {what}")
        return "nothing tagged with the cluster remains"

    def remove_artefacts(self, deadline: float) -> str:
        objs = self.store.ls(keys.cluster_dir(self.job.cluster))
        for obj in objs:
            self.store.delete(obj.key)
        return f"removed {len(objs)} object(s)"

    def remove_state(self, deadline: float) -> str:
        got = find_cluster(self.store, self.job.cluster)
        if got is not None and got.doc.cluster_id == self.job.cluster_id:
            self.store.delete(keys.cluster_state(self.job.cluster))
        index.remove(self.store, self.job.cluster, self.job.cluster_id)
        self.doc = None
        self.progress(None)
        return f"{self.job.cluster} deleted"


def _set_phase(doc: ClusterDoc, phase: str, message: str) -> None:
    doc.status.phase = phase  # type: ignore[assignment]
    doc.status.message = message


def _apply_reports(doc: ClusterDoc, reports: dict[str, NodeReport]) -> None:
    for node in doc.status.nodes:
        report = reports.get(node.name)
        if report is None:
            continue
        if report.phase in {"booting", "installing", "ready", "failed"}:
            node.phase = report.phase  # type: ignore[assignment]
        node.message = report.message
