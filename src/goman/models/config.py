"""`state/{profile}/config.json`: defaults and settings shared by a profile."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, field_validator

from goman.models.base import Document

K3S_VERSION_RE = re.compile(r"^v1\.\d+\.\d+\+k3s\d+$")
INSTANCE_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9]+$")
REGION_RE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
KMS_RE = re.compile(
    r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+|alias/[A-Za-z0-9/_-]+|[0-9a-f-]{36})$"
)

DEFAULT_K3S_VERSION = "v1.33.3+k3s1"


def check_cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid CIDR block ({exc})") from None


class AppConfig(Document):
    region: str = "ap-south-1"
    instance_type: str = "t3.medium"
    k3s_version: str = DEFAULT_K3S_VERSION
    mode: Literal["dev", "ha"] = "dev"
    workers: int = Field(default=0, ge=0, le=100)
    api_cidrs: list[str] = Field(default_factory=lambda: ["0.0.0.0/0"])
    kms_key_id: str | None = None
    job_lease_seconds: int = Field(default=60, ge=10, le=3600)
    job_retention_days: int = Field(default=30, ge=1, le=3650)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not REGION_RE.match(value):
            raise ValueError(f"{value!r} is not an AWS region name (e.g. ap-south-1)")
        return value

    @field_validator("instance_type")
    @classmethod
    def _itype(cls, value: str) -> str:
        if not INSTANCE_TYPE_RE.match(value):
            raise ValueError(f"{value!r} is not an EC2 instance type (e.g. t3.medium)")
        return value

    @field_validator("k3s_version")
    @classmethod
    def _k3s(cls, value: str) -> str:
        if not K3S_VERSION_RE.match(value):
            raise ValueError(f"{value!r} is not a K3s version (e.g. {DEFAULT_K3S_VERSION})")
        return value

    @field_validator("api_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one CIDR is needed to reach the Kubernetes API")
        return [check_cidr(v) for v in value]

    @field_validator("kms_key_id")
    @classmethod
    def _kms(cls, value: str | None) -> str | None:
        if value is not None and not KMS_RE.match(value):
            raise ValueError(f"{value!r} is not a KMS key id, key ARN or alias")
        return value


CONFIG_KEYS: tuple[str, ...] = tuple(
    k for k in AppConfig.model_fields if k not in {"schema_version", "revision"}
)
