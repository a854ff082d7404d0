"""`state/{profile}/config.json`: defaults and settings shared by a profile."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from goman.models.base import Document

# Anchored with \A and \Z, and used with fullmatch: `$` also matches before a trailing
# newline, which would let "t3.medium\n" through wherever a caller uses re.match.
K3S_VERSION_RE = re.compile(r"\Av1\.\d+\.\d+\+k3s\d+\Z")
INSTANCE_TYPE_RE = re.compile(r"\A[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9]+\Z")
REGION_RE = re.compile(r"\A[a-z]{2}(-gov)?-[a-z]+-\d\Z")
KMS_RE = re.compile(
    r"\A(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+|alias/[A-Za-z0-9/_-]+|[0-9a-f-]{36})\Z"
)

DEFAULT_K3S_VERSION = "v1.33.3+k3s1"


def check_cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid CIDR block ({exc})") from None


def _matching(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


def _cidrs(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("at least one CIDR is needed to reach the Kubernetes API")
    return [check_cidr(v) for v in value]


# Field types shared by config.json and the cluster spec, so both refuse the same values.
Region = Annotated[str, _matching(REGION_RE, "an AWS region name (e.g. ap-south-1)")]
InstanceType = Annotated[str, _matching(INSTANCE_TYPE_RE, "an EC2 instance type (e.g. t3.medium)")]
K3sVersion = Annotated[
    str, _matching(K3S_VERSION_RE, f"a K3s version (e.g. {DEFAULT_K3S_VERSION})")
]
ApiCidrs = Annotated[list[str], AfterValidator(_cidrs)]
KmsKeyId = Annotated[str, _matching(KMS_RE, "a KMS key id, key ARN or alias")]


def _default_cidrs() -> list[str]:
    return ["0.0.0.0/0"]


class AppConfig(Document):
    region: Region = "ap-south-1"
    instance_type: InstanceType = "t3.medium"
    k3s_version: K3sVersion = DEFAULT_K3S_VERSION
    mode: Literal["dev", "ha"] = "dev"
    workers: int = Field(default=0, ge=0, le=100)
    api_cidrs: ApiCidrs = Field(default_factory=_default_cidrs)
    kms_key_id: KmsKeyId | None = None
    job_lease_seconds: int = Field(default=60, ge=10, le=3600)
    job_retention_days: int = Field(default=30, ge=1, le=3650)


CONFIG_KEYS: tuple[str, ...] = tuple(
    k for k in AppConfig.model_fields if k not in {"schema_version", "revision"}
)
