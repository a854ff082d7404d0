"""The steps of a stop and a start.

stop:   stop-agents, stop-servers (each: StopInstances, then wait until stopped), finish-stop
start:  start-servers, start-agents (StartInstances, wait until running), wait-nodes-ready
        (every node Ready through the Kubernetes API), finish-start

Agents stop first and start last, so workloads are never left on agents without a control
plane. The Elastic IP stays allocated and associated with server-0 throughout, so the
endpoint and every kubeconfig stay valid.
"""

from __future__ import annotations

import time

from goman.jobs import outcome
from goman.jobs.steps.common import StepContext, StepFailed, set_phase
from goman.jobs.steps.kubeapi import kube_client
from goman.models.cluster import ClusterDoc


def _ids(doc: ClusterDoc, role: str) -> list[str]:
    return sorted(n.instance_id for n in doc.status.nodes if n.role == role and n.instance_id)


def _power(ctx: StepContext, deadline: float, role: str, wanted: str) -> str:
    from goman.provision import power

    ids = _ids(ctx.cluster(), role)
    if not ids:
        return f"no {role}s"
    if wanted == "stopped":
        power.stop(ctx.ec2, ids)
    else:
        power.start(ctx.ec2, ids)
    last = power.wait_state(ctx.ec2, ids, wanted, timeout=max(1.0, deadline - time.monotonic()))
    found = {i.instance_id: i for i in last}

    def change(doc: ClusterDoc) -> None:
        for node in doc.status.nodes:
            info = found.get(node.instance_id or "")
            if info is None:
                continue
            node.state = info.state
            node.private_ip = info.private_ip or node.private_ip
            # A stopped instance loses its public address (the Elastic IP stays).
            node.public_ip = info.public_ip
            if wanted == "stopped":
                node.message = "stopped"

    ctx.save(change)
    return f"{len(ids)} {role}(s) {wanted}: " + ", ".join(ids)


def stop_agents(ctx: StepContext, deadline: float) -> str:
    ctx.save(lambda d: set_phase(d, "Stopping", "Stopping the agents, then the servers."))
    return _power(ctx, deadline, "agent", "stopped")


def stop_servers(ctx: StepContext, deadline: float) -> str:
    return _power(ctx, deadline, "server", "stopped")


def start_servers(ctx: StepContext, deadline: float) -> str:
    ctx.save(lambda d: set_phase(d, "Starting", "Starting the servers, then the agents."))
    return _power(ctx, deadline, "server", "running")


def start_agents(ctx: StepContext, deadline: float) -> str:
    return _power(ctx, deadline, "agent", "running")


def wait_nodes_ready(ctx: StepContext, deadline: float) -> str:
    """Every node the cluster records is Ready, as the Kubernetes API says. The API comes
    back a little after server-0 runs, so an unreachable API is asked again until the
    deadline; a kubeconfig or a certificate that is refused is not (waiting cannot fix it)."""
    from goman.kube.errors import KubeAuthError, KubeError, KubeTlsError

    doc = ctx.cluster()
    wanted = sorted(n.name for n in doc.status.nodes if n.instance_id)
    delay = ctx.poll_start
    last = "the Kubernetes API did not answer"
    with kube_client(ctx) as kube:
        while True:
            try:
                ready = {n.name for n in kube.nodes() if n.ready}
                waiting = [n for n in wanted if n not in ready]
                if not waiting:
                    break
                last = "not Ready: " + ", ".join(waiting)
            except (KubeAuthError, KubeTlsError):
                raise
            except KubeError as exc:
                last = str(exc).splitlines()[0]
            if time.monotonic() > deadline:
                raise StepFailed(f"the cluster did not come back in time ({last})")
            ctx.sleep(delay)
            delay = min(ctx.poll_max, delay * 1.5)

    def change(d: ClusterDoc) -> None:
        for node in d.status.nodes:
            if node.name in wanted:
                node.message = "Ready"

    ctx.save(change)
    return f"{len(wanted)}/{len(wanted)} nodes Ready"


def finish(ctx: StepContext, deadline: float, phase: str, message: str) -> str:
    job = ctx.job
    doc = ctx.cluster()

    def change(d: ClusterDoc) -> ClusterDoc | None:
        if d.status.job_id != job.id:
            return None  # released already (a rerun of this step)
        set_phase(d, phase, message)
        return outcome.release(d, job)

    ctx.doc = ctx.write(change, owned=False) or doc
    return f"{doc.name} is {phase}"


def finish_stop(ctx: StepContext, deadline: float) -> str:
    return finish(
        ctx, deadline, "Stopped", "Every instance is stopped; the endpoint address is kept."
    )


def finish_start(ctx: StepContext, deadline: float) -> str:
    return finish(ctx, deadline, "Running", "Every node is Ready again.")
