"""The step table: every step a job can run, by its name, with its retry policy and the
steps it needs done first.

Step names are part of the job document (`steps[].name`), so they are a stable contract;
which steps a job type has, and in which order they are listed, is `goman.jobs.plan`. A
step starts as soon as every step it needs (among the job's own) is done, so steps that
do not depend on each other run at once: the join secret, the security group and the
Elastic IP; the agents and the endpoint's association; the security group's deletion and
the removal of the cluster's objects. A new operation adds a module here and its entries
below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from goman.jobs.steps import create, delete, power, retry, scale, upgrade
from goman.jobs.steps.common import (
    DEFAULT_READY_TIMEOUT,
    TERMINATE_TIMEOUT,
    UPGRADE_TIMEOUT,
    Policy,
    StepContext,
)
from goman.models.job import Job

StepFn = Callable[[StepContext, float], str]


@dataclass(frozen=True)
class StepDef:
    run: StepFn
    policy: Policy = field(default_factory=Policy)
    needs: tuple[str, ...] = ()  # steps that must be done first, when the job has them


STEPS: dict[str, StepDef] = {
    "replace-failed": StepDef(retry.replace_failed, Policy(attempts=3, timeout=TERMINATE_TIMEOUT)),
    "prepare": StepDef(create.prepare, needs=("replace-failed",)),
    "network": StepDef(create.network, needs=("replace-failed",)),
    "endpoint": StepDef(create.endpoint, needs=("replace-failed",)),
    "launch-servers": StepDef(create.launch_servers, needs=("prepare", "network", "endpoint")),
    # Agents join server-0's private address, so they wait for the servers to launch
    # (not to boot); in a scale, there is no launch-servers step to wait for.
    "launch-agents": StepDef(create.launch_agents, needs=("prepare", "launch-servers")),
    "associate-endpoint": StepDef(
        create.associate_endpoint, Policy(attempts=3, timeout=300.0), needs=("launch-servers",)
    ),
    # A scale-down: cordon, drain, delete the Node objects, then terminate the instances.
    "cordon-agents": StepDef(scale.cordon_agents, needs=("prepare",)),
    "drain-agents": StepDef(
        scale.drain_agents, Policy(attempts=1, timeout=3600.0), needs=("cordon-agents",)
    ),
    "delete-nodes": StepDef(scale.delete_nodes, needs=("drain-agents",)),
    "remove-agents": StepDef(scale.remove_agents, needs=("prepare", "delete-nodes")),
    "wait-ready": StepDef(
        create.wait_ready,
        Policy(attempts=1, timeout=DEFAULT_READY_TIMEOUT),
        needs=("launch-agents", "associate-endpoint", "remove-agents"),
    ),
    "finish": StepDef(create.finish, needs=("wait-ready",)),
    "terminate": StepDef(delete.terminate, Policy(attempts=3, timeout=TERMINATE_TIMEOUT)),
    "release-endpoint": StepDef(delete.release_endpoint),
    # A security group cannot go while an instance still uses it.
    "delete-security-group": StepDef(
        delete.delete_security_group, Policy(3, 300.0), needs=("terminate",)
    ),
    # The cluster's objects (join secret, node reports, kubeconfig) serve no purpose once
    # its instances are gone; the state document itself stays until verify passed.
    "remove-artefacts": StepDef(delete.remove_artefacts, needs=("terminate",)),
    "verify": StepDef(
        delete.verify, needs=("terminate", "release-endpoint", "delete-security-group")
    ),
    "remove-state": StepDef(delete.remove_state, needs=("verify", "remove-artefacts")),
    # An upgrade: one after the other (the Plans need the controller's CRD; agents follow
    # servers). A failed wait is not retried: the node and reason go to the user.
    "install-upgrader": StepDef(upgrade.install_upgrader, Policy(attempts=3, timeout=120.0)),
    "apply-plans": StepDef(upgrade.apply_plans, Policy(3, 120.0), needs=("install-upgrader",)),
    "upgrade-servers": StepDef(
        upgrade.upgrade_servers,
        Policy(attempts=1, timeout=UPGRADE_TIMEOUT),
        needs=("apply-plans",),
    ),
    "upgrade-agents": StepDef(
        upgrade.upgrade_agents,
        Policy(attempts=1, timeout=UPGRADE_TIMEOUT),
        needs=("upgrade-servers",),
    ),
    "finish-upgrade": StepDef(upgrade.finish_upgrade, needs=("upgrade-agents",)),
    # Stop: agents, then servers. Start: servers, then agents, then Ready through the API.
    "stop-agents": StepDef(power.stop_agents, Policy(3, TERMINATE_TIMEOUT)),
    "stop-servers": StepDef(
        power.stop_servers, Policy(3, TERMINATE_TIMEOUT), needs=("stop-agents",)
    ),
    "finish-stop": StepDef(power.finish_stop, needs=("stop-servers",)),
    "start-servers": StepDef(power.start_servers, Policy(3, TERMINATE_TIMEOUT)),
    "start-agents": StepDef(
        power.start_agents, Policy(3, TERMINATE_TIMEOUT), needs=("start-servers",)
    ),
    "wait-nodes-ready": StepDef(
        power.wait_nodes_ready,
        Policy(attempts=1, timeout=DEFAULT_READY_TIMEOUT),
        needs=("start-agents",),
    ),
    "finish-start": StepDef(power.finish_start, needs=("wait-nodes-ready",)),
}

# Steps whose timeout the job's `ready_timeout` (the command's --timeout) replaces.
WAITS: frozenset[str] = frozenset(
    {"wait-ready", "upgrade-servers", "upgrade-agents", "wait-nodes-ready"}
)


def needs(job: Job, name: str) -> set[str]:
    """The steps of this job that `name` waits for."""
    own = {s.name for s in job.steps}
    return set(STEPS[name].needs) & own


def ready(job: Job, done: Iterable[str], busy: Iterable[str] = ()) -> list[str]:
    """Steps not done and not busy whose needs are all done, in the job's order."""
    finished, running = set(done), set(busy)
    return [
        s.name
        for s in job.steps
        if s.name not in finished and s.name not in running and needs(job, s.name) <= finished
    ]
