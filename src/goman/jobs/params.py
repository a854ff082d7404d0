"""What a job document may ask for, checked when the job is queued and when a worker
claims it, before its first AWS call: a job document is read from the bucket, so it is
hostile until it passes. Each job type has its own exact set of parameters."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from goman.jobs.plan import REPLACE_FAILED, STEPS
from goman.models.cluster import NAME_RE
from goman.models.config import K3sVersion
from goman.models.job import JOB_ID_RE, Job, JobId

CLUSTER_ID_RE = re.compile(r"\A[A-Za-z0-9-]{1,64}\Z")
INSTANCE_ID_RE = r"^i-[0-9a-f]{8,17}$"  # pydantic patterns: $ is the very end
MAX_READY_TIMEOUT = 24 * 3600.0  # a node that is not up within a day never will be

Seconds = Annotated[float, Field(gt=0, le=MAX_READY_TIMEOUT)]
Workers = Annotated[int, Field(ge=0, le=100)]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Replacement(_Params):
    node: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,80}$")]
    instance_id: Annotated[str, Field(pattern=INSTANCE_ID_RE)]


class CreateParams(_Params):
    ready_timeout: Seconds | None = None
    retry_of: JobId | None = None
    replace: list[Replacement] = Field(default_factory=list, max_length=103)
    # How long each agent's drain may take, and whether to go on when it cannot finish
    # (a retried create replaces nodes the same way a scale removes them).
    drain_timeout: Seconds | None = None
    force: bool | None = None


class ScaleParams(CreateParams):
    workers: Workers | None = None
    previous_workers: Workers | None = None


class DeleteParams(_Params):
    pass


class UpgradeParams(_Params):
    k3s_version: K3sVersion
    from_version: K3sVersion | None = None
    ready_timeout: Seconds | None = None
    retry_of: JobId | None = None


class PowerParams(_Params):
    """A stop or a start (a start waits for its nodes)."""

    ready_timeout: Seconds | None = None
    retry_of: JobId | None = None


PARAMS: dict[str, type[_Params]] = {
    "create": CreateParams,
    "scale": ScaleParams,
    "delete": DeleteParams,
    "upgrade": UpgradeParams,
    "stop": PowerParams,
    "start": PowerParams,
}


def _explain(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ())) or 'params'}: "
        + str(e.get("msg", "")).removeprefix("Value error, ")
        for e in exc.errors()
    )


def problem(job: Job) -> str | None:
    """Why this job document cannot be run as it is (None: it can)."""
    if not JOB_ID_RE.fullmatch(job.id):
        return f"invalid job id {job.id!r}"
    if not NAME_RE.fullmatch(job.cluster):
        return f"invalid cluster name {job.cluster!r} in job {job.id}"
    if not CLUSTER_ID_RE.fullmatch(job.cluster_id):
        return f"invalid cluster id {job.cluster_id!r} in job {job.id}"
    names = tuple(s.name for s in job.steps)
    plan = STEPS.get(job.type)
    # (No steps at all is harmless: such a job does nothing.)
    if plan is None or names not in {(), plan, (REPLACE_FAILED, *plan)}:
        return f"job {job.id} lists steps a {job.type} job does not have: {', '.join(names)}"
    model = PARAMS.get(job.type)
    if model is None:
        return f"job {job.id} has an unknown type {job.type!r}"
    try:
        params = model.model_validate(dict(job.params))
    except ValidationError as exc:
        return f"invalid parameters in job {job.id}: {_explain(exc)}"
    replace: list[Any] = getattr(params, "replace", [])
    prefix = f"{job.cluster}-"
    if any(not r.node.startswith(prefix) for r in replace):
        return f"job {job.id} would replace a node of another cluster"
    if replace and REPLACE_FAILED not in names:
        return f"job {job.id} lists nodes to replace but has no {REPLACE_FAILED} step"
    return None
