"""The step table: every step a job can run, by its name, with its retry policy.

Step names are part of the job document (`steps[].name`), so they are a stable contract;
which steps a job type runs, in order, is `goman.jobs.plan`. A new operation adds a module
here and its entries below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from goman.jobs.steps import create, delete, retry, scale
from goman.jobs.steps.common import DEFAULT_READY_TIMEOUT, TERMINATE_TIMEOUT, Policy, StepContext

StepFn = Callable[[StepContext, float], str]


@dataclass(frozen=True)
class StepDef:
    run: StepFn
    policy: Policy = field(default_factory=Policy)


STEPS: dict[str, StepDef] = {
    "replace-failed": StepDef(retry.replace_failed, Policy(attempts=3, timeout=TERMINATE_TIMEOUT)),
    "prepare": StepDef(create.prepare),
    "network": StepDef(create.network),
    "endpoint": StepDef(create.endpoint),
    "launch-servers": StepDef(create.launch_servers),
    "launch-agents": StepDef(create.launch_agents),
    "associate-endpoint": StepDef(create.associate_endpoint, Policy(attempts=3, timeout=300.0)),
    "remove-agents": StepDef(scale.remove_agents),
    "wait-ready": StepDef(create.wait_ready, Policy(attempts=1, timeout=DEFAULT_READY_TIMEOUT)),
    "finish": StepDef(create.finish),
    "terminate": StepDef(delete.terminate, Policy(attempts=3, timeout=TERMINATE_TIMEOUT)),
    "release-endpoint": StepDef(delete.release_endpoint),
    "delete-security-group": StepDef(delete.delete_security_group, Policy(3, 300.0)),
    "verify": StepDef(delete.verify),
    "remove-artefacts": StepDef(delete.remove_artefacts),
    "remove-state": StepDef(delete.remove_state),
}
