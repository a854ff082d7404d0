"""The steps that bring a cluster's nodes up: create runs all of them; scale reuses
prepare, launch-agents, wait-ready and finish.

No launch waits for another node to boot: server-0's private IP comes from RunInstances
itself, and every other node joins it. Nodes that do not wait for each other are
launched at once (each with its own RunInstances, its own fixed ClientToken, and looked
for by its tags first), at most LAUNCH_AT_ONCE at a time.
"""

from __future__ import annotations

import functools
import secrets
import time
from typing import Any

from goman.aws.parallel import both, each
from goman.jobs import outcome
from goman.jobs.steps.common import (
    AGENT_TOKEN,
    API_PORT,
    CA_BUNDLE,
    JOIN_TOKEN,
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

LAUNCH_AT_ONCE = 10


def _ca_bundle() -> bytes:
    from goman.provision.pki import generate_cluster_cas

    return generate_cluster_cas().to_bytes()


def _create_once(ctx: StepContext, rel: str, make: Any, content_type: str) -> bool:
    """Write the secret `rel` only if it does not exist yet: True if this call wrote it."""
    from goman.state.lifecycle import SECRET_TAGGING

    try:
        ctx.store.put_bytes(
            keys.cluster_artefact(ctx.cluster().name, rel),
            make(),
            create=True,
            content_type=content_type,
            # Their old versions expire by this tag (state/lifecycle.py).
            tagging=SECRET_TAGGING,
        )
        return True
    except Conflict:
        return False


def prepare(ctx: StepContext, deadline: float) -> str:
    # Secrets are written once and never replaced: nodes that already booted hold them
    # (the original tool regenerated the join secret on every pass), and K3s never lets
    # its CAs change. Only a create whose servers were never launched makes the agent
    # token and the CA bundle: a cluster created before they existed (a retried create
    # included) keeps its one token and the CAs its servers made.
    def token() -> bytes:
        return secrets.token_urlsafe(32).encode()  # no newline: token files are read as-is

    wanted: list[tuple[str, str, Any, str]] = [("join secret", JOIN_TOKEN, token, "text/plain")]
    fresh = not any(n.instance_id for n in ctx.cluster().status.nodes)
    if ctx.job.type == "create" and fresh:
        wanted += [
            ("agent token", AGENT_TOKEN, token, "text/plain"),
            ("CA bundle", CA_BUNDLE, _ca_bundle, "application/json"),
        ]
    written = each(lambda w: _create_once(ctx, w[1], w[2], w[3]), wanted)
    made = ", ".join(
        f"{w[0]} {'created' if new else 'already there'}"
        for w, new in zip(wanted, written, strict=True)
    )

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
    subnets = ctx.subnets()

    def record(group: str) -> None:
        ctx.save(lambda d: setattr(d.status, "security_group_id", group))

    # The group's id is recorded while its rules are put in place.
    group = ctx.ec2.ensure_security_group(
        cluster=doc.name,
        cluster_id=doc.cluster_id,
        profile=ctx.store.ctx.profile,
        vpc_id=subnets[0].vpc_id,
        api_cidrs=list(doc.spec.api_cidrs),
        found=record,
    )
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
    """Launch (or find) the nodes; each is recorded as soon as RunInstances answers.
    Servers after server-0 join server-0's private address, so server-0 goes first."""
    doc = ctx.cluster()
    if not doc.status.security_group_id or not doc.status.eip_address:
        raise StepFailed("the network and endpoint steps have not recorded their resources")
    subnets, ami = ctx.subnets(), ctx.ami()

    def one(i: int) -> str:
        return _launch_node(ctx, role, i, subnets, ami)

    todo = list(numbers)
    if role == "server" and todo and todo[0] == 0:
        first = one(0)  # recorded before the others start: they read its private address
        return [first, *each(one, todo[1:], limit=LAUNCH_AT_ONCE)]
    return each(one, todo, limit=LAUNCH_AT_ONCE)


def _launch_node(ctx: StepContext, role: str, i: int, subnets: list[Any], ami: Any) -> str:
    from goman.provision.ec2 import NodeLaunch
    from goman.provision.tags import tags_for
    from goman.provision.userdata import NodeBootstrap, render_user_data

    doc = ctx.cluster()
    group = doc.status.security_group_id or ""
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
    split = ctx.has_agent_token()
    token = AGENT_TOKEN if role == "agent" and split else JOIN_TOKEN
    boot = NodeBootstrap(
        cluster=doc.name,
        node=name,
        role=role,
        index=i,
        k3s_version=doc.spec.k3s_version,
        token_url=ctx.store.presign_get(keys.cluster_artefact(doc.name, token)),
        report_url=ctx.store.presign_put(report_key(doc.name, name)),
        ca_bundle_url=(
            ctx.store.presign_get(keys.cluster_artefact(doc.name, CA_BUNDLE)) if first else None
        ),
        agent_token_url=(
            ctx.store.presign_get(keys.cluster_artefact(doc.name, AGENT_TOKEN))
            if role == "server" and split
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
            tags=tags_for(doc.name, doc.cluster_id, ctx.store.ctx.profile, role=role, node=name),
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
    return f"{name}={info.instance_id}"


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
        # Not recorded as pointing at server-0 yet: associate without looking first.
        look=server0.public_ip == doc.status.eip_address,
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
    a GET only for the reports whose ETag changed (those of one poll at once)."""
    doc = ctx.cluster()
    expected = _expected_nodes(doc)
    prefix = keys.cluster_artefact(doc.name, NODES_DIR)

    def listing() -> list[Any]:
        return ctx.store.ls(prefix)

    if ctx.job.type == "create":
        _, objs = both(
            lambda: ctx.save(
                lambda d: set_phase(d, "Bootstrapping", "Waiting for the nodes to report ready.")
            ),
            listing,
        )
    else:
        objs = listing()
    seen: dict[str, str] = {}
    reports: dict[str, NodeReport] = {}
    delay = ctx.poll_start
    while True:
        fresh = [
            (node, obj)
            for obj in objs
            if (node := obj.key[len(prefix) :].removesuffix(".json")) in expected
            and seen.get(node) != obj.etag
        ]
        got = each(lambda item: ctx.store.get(item[1].key, NodeReport), fresh)
        changed: dict[str, NodeReport] = {}
        for (node, _), report in zip(fresh, got, strict=True):
            if report is not None:
                changed[node] = report.doc
                seen[node] = report.etag
        reports.update(changed)
        failed = [n for n in expected if n in reports and reports[n].phase == "failed"]
        ready = [n for n in expected if n in reports and reports[n].phase == "ready"]
        if len(ready) == len(expected) and not failed:
            break  # the last reports are recorded with what EC2 says, below
        if changed:
            ctx.save(functools.partial(_apply_reports, reports=changed))
            delay = ctx.poll_start
        if failed:
            name = failed[0]
            raise StepFailed(
                f"node {name} failed to bootstrap: {reports[name].message or 'no reason given'}"
            )
        if time.monotonic() > deadline:
            waiting = [n for n in expected if n not in ready]
            raise StepFailed(
                f"{len(ready)}/{len(expected)} nodes ready when the timeout was reached; "
                f"not ready: {', '.join(waiting)}"
            )
        ctx.sleep(delay)
        delay = min(ctx.poll_max, delay * 1.5)
        objs = listing()
    _refresh_instances(ctx, changed)
    confirmed = _confirm_in_api(ctx, expected, deadline)
    return f"{len(expected)}/{len(expected)} nodes ready{confirmed}"


def _confirm_in_api(ctx: StepContext, expected: list[str], deadline: float) -> str:
    """Every node Ready through the Kubernetes API (the reports only say the bootstrap
    ended). A cluster created before goman built its kubeconfig, with no usable one, is
    taken on its reports alone."""
    from goman.aws.errors import GomanError
    from goman.clusters.access import kube_client
    from goman.kube.errors import KubeError

    try:
        kube = kube_client(ctx.store, ctx.cluster(), connect=3.0, read=10.0)
    except KubeError:
        raise
    except GomanError as exc:
        return f" (not confirmed through the API: {exc.message})"
    delay = ctx.poll_start
    with kube:
        while True:
            try:
                ready = {n.name for n in kube.nodes() if n.ready}
                missing = [n for n in expected if n not in ready]
                if not missing:
                    return ", Ready in the Kubernetes API"
                why = f"not Ready in the Kubernetes API: {', '.join(missing)}"
            except KubeError as exc:
                why = f"{exc.message} {exc.hint}".strip()
            if time.monotonic() > deadline:
                raise StepFailed(f"every node reported ready, but {why}")
            ctx.sleep(delay)
            delay = min(ctx.poll_max, delay * 1.5)


def _refresh_instances(ctx: StepContext, reports: dict[str, NodeReport]) -> None:
    """Record the last reports, and what EC2 says now (state, addresses) about the nodes."""
    doc = ctx.cluster()
    found = {i.instance_id: i for i in ctx.ec2.cluster_instances(doc.cluster_id)}

    def change(d: ClusterDoc) -> None:
        _apply_reports(d, reports)
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
    doc = ctx.cluster()

    def change(d: ClusterDoc) -> ClusterDoc | None:
        if d.status.job_id != job.id:
            return None  # released already (a rerun of this step)
        set_phase(d, "Running", f"{len(d.status.nodes)} node(s) ready.")
        return outcome.release(d, job)

    ctx.doc = ctx.write(change, owned=False) or doc
    return f"{doc.name} is Running"
