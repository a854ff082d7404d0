"""Which steps each job type runs, in order. Pure data: the reconciler gives them meaning.

Step names are part of the job document (`steps[].name`), so they are a stable contract.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from goman.models.job import JobType, Step

CREATE_STEPS: tuple[str, ...] = (
    "prepare",
    "network",
    "endpoint",
    "launch-servers",
    "launch-agents",
    "associate-endpoint",
    "wait-ready",
    "finish",
)
SCALE_STEPS: tuple[str, ...] = (
    "prepare",
    "launch-agents",
    "cordon-agents",
    "drain-agents",
    "delete-nodes",
    "remove-agents",
    "wait-ready",
    "finish",
)
# Verify before the state document goes: if anything is left, the cluster stays visible
# (Failed, with what is left) and `cluster delete` can be run again.
DELETE_STEPS: tuple[str, ...] = (
    "terminate",
    "release-endpoint",
    "delete-security-group",
    "verify",
    "remove-artefacts",
    "remove-state",
)

UPGRADE_STEPS: tuple[str, ...] = (
    "install-upgrader",
    "apply-plans",
    "upgrade-servers",
    "upgrade-agents",
    "finish-upgrade",
)
STOP_STEPS: tuple[str, ...] = ("stop-agents", "stop-servers", "finish-stop")
START_STEPS: tuple[str, ...] = ("start-servers", "start-agents", "wait-nodes-ready", "finish-start")

# A retry of a Failed create or scale runs this first, then that job type's own steps.
# It removes exactly the instances the retry command chose (nodes that reported `failed`),
# so the launch steps that follow start new ones; every other node is found and kept.
REPLACE_FAILED = "replace-failed"

STEPS: dict[JobType, tuple[str, ...]] = {
    "create": CREATE_STEPS,
    "scale": SCALE_STEPS,
    "delete": DELETE_STEPS,
    "upgrade": UPGRADE_STEPS,
    "stop": STOP_STEPS,
    "start": START_STEPS,
}


def steps_for(job_type: JobType, *, retry: bool = False) -> list[Step]:
    names = ((REPLACE_FAILED,) if retry else ()) + STEPS[job_type]
    return [Step(name=name) for name in names]


def new_job_id() -> str:
    """Sortable by creation time (listings read naturally), unique by a random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
