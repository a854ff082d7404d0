"""The steps that bring a cluster's nodes up: create runs all of them; scale reuses
prepare, launch-agents, wait-ready and finish.

No launch waits for another node to boot: server-0's private IP comes from RunInstances
itself, and every other node joins it.
"""

from __future__ import annotations

import functools
import secrets
import time

from goman.clusters.state import update_cluster
from goman.jobs import outcome
from goman.jobs.steps.common import (
    API_PORT,
    JOIN_TOKEN,
    KUBECONFIG,
    NODES_DIR,
    NodeReport,
    StepContext,
    StepFailed,
    client_token,
    node_name,
    report_key,
    set_phase,
)
from goman.models.cluster import ClusterDoc, NodeStatus
from goman.state import keys
from goman.state.store import Conflict


def prepare(ctx: StepContext, deadline: float) -> str:
    doc = ctx.cluster()
    # The join secret is written once and never replaced: nodes that already booted
    # hold it (the original tool regenerated it on every pass).
    try:
        ctx.store.put_bytes(
            keys.cluster_artefact(doc.name, JOIN_TOKEN),
            secrets.token_urlsafe(32).encode(),  # no newline: K3S_TOKEN_FILE is read as-is
            create=True,
            content_type="text/plain",
        )
        made = "join secret created"
    except Conflict:
        made = "join secret already there"

    def change(d: ClusterDoc) -> None:
        if ctx.job.type == "create":
            d.status.phase = "Provisioning"
            d.status.message = "Creating the network, endpoint and instances."
        else:
            d.status.phase = "Scaling"

    ctx.save(change)
    return made


def network(ctx: StepContext, deadline: float) -> str:
    doc = ctx.cluster()
    subnets = ctx.ec2.default_subnets()
    group = ctx.ec2.ensure_security_group(
        cluster=doc.name,
        cluster_id=doc.cluster_id,
        profile=ctx.store.ctx.profile,
        vpc_id=subnets[0].vpc_id,
        api_cidrs=list(doc.spec.api_cidrs),
    )

    def change(d: ClusterDoc) -> None:
        d.status.security_group_id = group

    ctx.save(change)
    return f"security group {group}"


def endpoint(ctx: StepContext, deadline: float) -> str:
    doc = ctx.cluster()
    allocation, address = ctx.ec2.ensure_eip(
        cluster=doc.name, cluster_id=doc.cluster_id, profile=ctx.store.ctx.profile
    )

    def change(d: ClusterDoc) -> None:
        d.status.eip_allocation_id = allocation
        d.status.eip_address = address
        d.status.endpoint = f"https://{address}:{API_PORT}"

    ctx.save(change)
    return f"endpoint {address} ({allocation})"


def _launch(ctx: StepContext, role: str, numbers: range) -> list[str]:
    from goman.provision.ec2 import NodeLaunch
    from goman.provision.tags import tags_for
    from goman.provision.userdata import NodeBootstrap, render_user_data

    doc = ctx.cluster()
    group = doc.status.security_group_id
    if not group or not doc.status.eip_address:
        raise StepFailed("the network and endpoint steps have not recorded their resources")
    subnets = ctx.ec2.default_subnets()
    ami = ctx.ec2.find_ami(doc.spec.instance_type)
    profile = ctx.store.ctx.profile
    launched: list[str] = []
    for i in numbers:
        doc = ctx.cluster()
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
            token_url=ctx.store.presign_get(keys.cluster_artefact(doc.name, JOIN_TOKEN)),
            report_url=ctx.store.presign_put(report_key(doc.name, name)),
            kubeconfig_url=(
                ctx.store.presign_put(keys.cluster_artefact(doc.name, KUBECONFIG))
                if first
                else None
            ),
            server_url=server_url,
            endpoint_host=doc.status.eip_address or "",
            bucket_owner=ctx.store.owner,
            cluster_init=first and doc.spec.mode == "ha",
        )
        # Servers go one per availability zone; agents spread the same way.
        subnet = subnets[i % len(subnets)]
        info = ctx.ec2.run_node(
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
        ctx.set_node(
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


def launch_servers(ctx: StepContext, deadline: float) -> str:
    doc = ctx.cluster()
    return "launched " + ", ".join(_launch(ctx, "server", range(doc.spec.servers)))


def launch_agents(ctx: StepContext, deadline: float) -> str:
    doc = ctx.cluster()
    if doc.spec.workers == 0:
        return "no workers wanted"
    return "launched " + ", ".join(_launch(ctx, "agent", range(doc.spec.workers)))


def associate_endpoint(ctx: StepContext, deadline: float) -> str:
    doc = ctx.cluster()
    server0 = doc.node(node_name(doc.name, "server", 0))
    if server0 is None or server0.instance_id is None or doc.status.eip_allocation_id is None:
        raise StepFailed("server-0 or the endpoint address was not recorded")
    ctx.ec2.associate_eip(
        doc.status.eip_allocation_id,
        server0.instance_id,
        timeout=max(1.0, deadline - time.monotonic()),
    )

    def change(d: ClusterDoc) -> None:
        node = d.node(server0.name)
        if node is not None:
            node.public_ip = d.status.eip_address

    ctx.save(change)
    return f"{doc.status.eip_address} -> {server0.instance_id}"


def _expected_nodes(doc: ClusterDoc) -> list[str]:
    return [node_name(doc.name, "server", i) for i in range(doc.spec.servers)] + [
        node_name(doc.name, "agent", i) for i in range(doc.spec.workers)
    ]


def wait_ready(ctx: StepContext, deadline: float) -> str:
    """Until every node reports ready (or one reports failed): one LIST per poll, and
    a GET only for the reports whose ETag changed."""
    doc = ctx.cluster()
    if ctx.job.type == "create":
        ctx.save(lambda d: set_phase(d, "Bootstrapping", "Waiting for the nodes to report ready."))
    expected = _expected_nodes(doc)
    seen: dict[str, str] = {}
    reports: dict[str, NodeReport] = {}
    delay = ctx.poll_start
    prefix = keys.cluster_artefact(doc.name, NODES_DIR)
    while True:
        changed: dict[str, NodeReport] = {}
        for obj in ctx.store.ls(prefix):
            node = obj.key[len(prefix) :].removesuffix(".json")
            if node in expected and seen.get(node) != obj.etag:
                got = ctx.store.get(obj.key, NodeReport)
                if got is not None:
                    changed[node] = got.doc
                    seen[node] = got.etag
        if changed:
            reports.update(changed)
            ctx.save(functools.partial(_apply_reports, reports=changed))
            delay = ctx.poll_start
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
        ctx.sleep(delay)
        delay = min(ctx.poll_max, delay * 1.5)
    _refresh_instances(ctx)
    return f"{len(expected)}/{len(expected)} nodes ready"


def _refresh_instances(ctx: StepContext) -> None:
    """Record what EC2 says now (state, addresses) about the recorded nodes."""
    doc = ctx.cluster()
    found = {i.instance_id: i for i in ctx.ec2.cluster_instances(doc.cluster_id)}

    def change(d: ClusterDoc) -> None:
        for node in d.status.nodes:
            info = found.get(node.instance_id or "")
            if info is None:
                continue
            node.state = info.state
            node.private_ip = info.private_ip or node.private_ip
            node.public_ip = info.public_ip or node.public_ip
            node.az = info.az or node.az

    ctx.save(change)


def _apply_reports(doc: ClusterDoc, reports: dict[str, NodeReport]) -> None:
    for node in doc.status.nodes:
        report = reports.get(node.name)
        if report is None:
            continue
        if report.phase in {"booting", "installing", "ready", "failed"}:
            node.phase = report.phase  # type: ignore[assignment]
        node.message = report.message


def finish(ctx: StepContext, deadline: float) -> str:
    job = ctx.job

    def change(d: ClusterDoc) -> ClusterDoc | None:
        if d.status.job_id != job.id:
            return None  # released already (a rerun of this step)
        set_phase(d, "Running", f"{len(d.status.nodes)} node(s) ready.")
        return outcome.release(d, job)

    doc = ctx.cluster()
    new = update_cluster(ctx.store, job.cluster, change)
    ctx.doc = new or doc
    ctx.progress(ctx.doc)
    return f"{doc.name} is Running"
