"""`clusters/{name}.state.json` (the truth) and `clusters/clusters.json` (its index)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, model_validator

from goman.models.base import Document, Part, utcnow
from goman.models.config import (
    DEFAULT_K3S_VERSION,
    ApiCidrs,
    InstanceType,
    K3sVersion,
    Region,
)
from goman.models.job import JobId

NAME_RE = re.compile(r"\A[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?\Z")

Mode = Literal["dev", "ha"]
Phase = Literal[
    "Pending",
    "Provisioning",
    "Bootstrapping",
    "Running",
    "Scaling",
    "Upgrading",
    "Stopping",
    "Stopped",
    "Starting",
    "Deleting",
    "Deleted",
    "Failed",
]
Role = Literal["server", "agent"]
NodePhase = Literal["pending", "launched", "booting", "installing", "ready", "failed", "terminated"]


def check_name(value: str) -> str:
    if not NAME_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid cluster name: use 1-40 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit (a DNS-1123 label)"
        )
    return value


ClusterName = Annotated[str, AfterValidator(check_name)]


class ClusterSpec(Part):
    """What the user asked for (desired state)."""

    name: ClusterName
    mode: Mode = "dev"
    workers: int = Field(default=0, ge=0, le=100)
    instance_type: InstanceType = "t3.medium"
    region: Region = "ap-south-1"
    k3s_version: K3sVersion = DEFAULT_K3S_VERSION
    api_cidrs: ApiCidrs = Field(default_factory=lambda: ["0.0.0.0/0"])
    # Deletion protection: `cluster delete` and `resources cleanup` refuse while it is set.
    protected: bool = False

    @property
    def servers(self) -> int:
        return 3 if self.mode == "ha" else 1


class NodeStatus(Part):
    """One node as observed: from EC2 (instance) and from its bootstrap reports (phase)."""

    name: str  # e.g. web-server-0, web-agent-2
    role: Role
    index: int
    instance_id: str | None = None
    instance_type: str = ""
    az: str = ""
    state: str = "pending"  # EC2 instance state
    private_ip: str | None = None
    public_ip: str | None = None
    phase: NodePhase = "pending"  # bootstrap phase, from the node's own reports
    message: str = ""
    # Bumped only by a deliberate relaunch: it is part of the RunInstances ClientToken,
    # so a retried launch of the same node can never start a second instance.
    launch: int = 0


class ClusterStatus(Part):
    """What goman observed and recorded (the reconciler writes it)."""

    phase: Phase = "Pending"
    message: str = ""
    endpoint: str | None = None  # https://<eip>:6443
    security_group_id: str | None = None
    eip_allocation_id: str | None = None
    eip_address: str | None = None
    nodes: list[NodeStatus] = Field(default_factory=list)
    job_id: JobId | None = None  # the one mutating job running on this cluster, if any
    job_step: str | None = None  # the step that job is on (for lists; the job has the detail)
    last_job_id: JobId | None = None  # the most recent job, kept after it finished
    updated_at: datetime = Field(default_factory=utcnow)


class ClusterDoc(Document):
    cluster_id: str  # stable random id, tagged on every resource (goman:cluster-id)
    spec: ClusterSpec
    status: ClusterStatus = Field(default_factory=ClusterStatus)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = ""

    @property
    def name(self) -> str:
        return self.spec.name

    def node(self, name: str) -> NodeStatus | None:
        return next((n for n in self.status.nodes if n.name == name), None)

    @property
    def nodes_ready(self) -> int:
        """Ready nodes among those the spec wants (an agent being removed does not count)."""
        return sum(
            1
            for n in self.status.nodes
            if n.phase == "ready" and (n.role == "server" or n.index < self.spec.workers)
        )


class ClusterSummary(Part):
    """One row of the index: enough for `cluster list` without reading every state file.
    Validated like the state document it stands for: its name and job id name documents
    and reach commands, so a forged row makes the index invalid (`goman state reindex`)."""

    name: ClusterName
    cluster_id: str
    mode: Mode
    region: str
    phase: Phase
    workers: int = 0
    instance_type: str = ""
    nodes_ready: int = 0
    nodes_total: int = 0
    endpoint: str | None = None
    cost_per_hour: float | None = None
    created_at: datetime
    job_id: JobId | None = None
    job_step: str | None = None
    revision: int = 0  # revision of the state document this row was taken from
    protected: bool = False
    # The AWS resource ids the state document records (live instances, security group,
    # Elastic IP allocation), so `resources list` can match EC2 against the index alone.
    # None: a row written before rows carried them (`goman state reindex` fills it in).
    resources: list[str] | None = None


class ClusterIndex(Document):
    # 2: rows list the resources their cluster records. A goman that knows only 1 says
    # "upgrade goman" instead of calling the index invalid.
    SCHEMA_VERSION: ClassVar[int] = 2

    schema_version: int = 2
    clusters: dict[str, ClusterSummary] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _keyed_by_name(self) -> ClusterIndex:
        for key, row in self.clusters.items():
            if key != row.name:
                raise ValueError(f"row {key!r} is named {row.name!r}")
        return self
