"""The steps of an upgrade: K3s's automated upgrade, driven and watched through the API.

install-upgrader  apply the pinned system-upgrade-controller if the cluster lacks it
apply-plans       the server and agent Plans at the target version (server-side apply)
upgrade-servers   wait until every server runs the target version, Ready and uncordoned
upgrade-agents    the same for the agents (their Plan waits for the servers' by itself)
finish-upgrade    the spec records the new version; the cluster is Running again

Every step is idempotent: applying the same manifest and Plans again changes nothing, and
the controller never upgrades a node that already carries the Plan's hash, so a job
resumed after a crash upgrades only the nodes not done yet.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from goman.jobs import outcome
from goman.jobs.steps.common import StepContext, StepFailed, set_phase
from goman.jobs.steps.kubeapi import kube_client
from goman.models.cluster import ClusterDoc


def target(ctx: StepContext) -> str:
    version = str(ctx.job.params.get("k3s_version") or "")
    if not version:
        raise StepFailed("the upgrade job names no K3s version")
    return version


def install_upgrader(ctx: StepContext, deadline: float) -> str:
    from goman.kube.upgrade import has_controller, install_controller

    version = target(ctx)
    ctx.save(lambda d: set_phase(d, "Upgrading", f"Upgrading to K3s {version}."))
    with kube_client(ctx) as kube:
        if has_controller(kube):
            return "system-upgrade-controller already installed"
        applied = install_controller(kube)
    return f"installed the system-upgrade-controller ({len(applied)} objects)"


def apply_plans(ctx: StepContext, deadline: float) -> str:
    from goman.kube.upgrade import apply_plans as apply

    version = target(ctx)
    with kube_client(ctx) as kube:
        applied = apply(kube, version)
    return "applied " + ", ".join(applied)


def _wait(ctx: StepContext, deadline: float, servers: bool) -> str:
    from goman.kube.upgrade import AGENT_PLAN, SERVER_PLAN, applying, observe

    version = target(ctx)
    plan = SERVER_PLAN if servers else AGENT_PLAN
    role = "server" if servers else "agent"
    seen: dict[str, str] = {}
    delay = ctx.poll_start
    with kube_client(ctx) as kube:
        while True:
            nodes = [n for n in observe(kube) if n.server == servers]
            done = [n for n in nodes if n.done(version)]
            news = {
                n.name: n.describe(version)
                for n in nodes
                if seen.get(n.name) != n.describe(version)
            }
            if news:
                seen.update(news)
                ctx.save(_record(news, version, done_count=len(done), total=len(nodes), role=role))
                delay = ctx.poll_start
            if len(done) == len(nodes) and not applying(kube, plan):
                return f"{len(nodes)} {role}(s) on {version}" if nodes else f"no {role}s"
            if time.monotonic() > deadline:
                late = [n for n in nodes if not n.done(version)]
                first = late[0]
                raise StepFailed(
                    f"node {first.name} was not upgraded to {version} in time "
                    f"(it is {first.describe(version).split(' (', 1)[-1].rstrip(')')}); "
                    f"{len(done)}/{len(nodes)} {role}s done"
                )
            ctx.sleep(delay)
            delay = min(ctx.poll_max, delay * 1.5)


def _record(
    news: dict[str, str], version: str, *, done_count: int, total: int, role: str
) -> Callable[[ClusterDoc], None]:
    def change(doc: ClusterDoc) -> None:
        for node in doc.status.nodes:
            if node.name in news:
                node.message = news[node.name]
        doc.status.message = f"Upgrading to K3s {version}: {done_count}/{total} {role}s done."

    return change


def upgrade_servers(ctx: StepContext, deadline: float) -> str:
    return _wait(ctx, deadline, servers=True)


def upgrade_agents(ctx: StepContext, deadline: float) -> str:
    return _wait(ctx, deadline, servers=False)


def finish_upgrade(ctx: StepContext, deadline: float) -> str:
    job = ctx.job
    version = target(ctx)
    doc = ctx.cluster()

    def change(d: ClusterDoc) -> ClusterDoc | None:
        if d.status.job_id != job.id:
            return None  # released already (a rerun of this step)
        d.spec.k3s_version = version
        set_phase(d, "Running", f"Upgraded to K3s {version}.")
        return outcome.release(d, job)

    ctx.doc = ctx.write(change, owned=False) or doc
    return f"{doc.name} runs K3s {version}"
