"""`probe/conditional-writes.json`: what the conditional-write probe found, per S3 endpoint.

The record is informational. `goman status` reports it; nothing in goman skips a check or
trusts a write because of it (`init` and `doctor` always probe afresh). Anyone who can write
the bucket can forge it, so it is validated like every document and kept small.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from goman.models.base import Document, Part, utcnow

# The checks, in the order the probe runs them (their names are part of the record).
CheckName = Literal[
    "create-if-absent",
    "second-create-refused",
    "update-with-current-etag",
    "stale-update-refused",
    "foreign-owner-read-refused",
    "stale-delete-refused",
]
CHECK_NAMES: tuple[CheckName, ...] = (
    "create-if-absent",
    "second-create-refused",
    "update-with-current-etag",
    "stale-update-refused",
    "foreign-owner-read-refused",
    "stale-delete-refused",
)

MAX_ENDPOINTS = 16
MAX_ENDPOINT_CHARS = 256

# scheme://host[:port][/path]: no user info, query, fragment, spaces or control characters.
_ENDPOINT_RE = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~\-/%]*)?$")
_VERSION_RE = re.compile(r"^[0-9A-Za-z.+\-]{1,40}$")


def _endpoint(value: str) -> str:
    if len(value) > MAX_ENDPOINT_CHARS or not _ENDPOINT_RE.match(value):
        raise ValueError(f"{value[:80]!r} is not an S3 endpoint URL (scheme://host[:port][/path])")
    return value


def _version(value: str) -> str:
    if not _VERSION_RE.match(value):
        raise ValueError("not a goman version")
    return value


EndpointUrl = Annotated[str, AfterValidator(_endpoint)]


class EndpointVerdict(Part):
    result: Literal["verified", "failed"]
    checked_at: datetime = Field(default_factory=utcnow)
    broken: list[CheckName] = Field(default_factory=list, max_length=len(CHECK_NAMES))
    goman_version: Annotated[str, AfterValidator(_version)] = "0"


class ProbeRecord(Document):
    """One verdict per S3 endpoint URL (the newest MAX_ENDPOINTS are kept)."""

    endpoints: dict[EndpointUrl, EndpointVerdict] = Field(
        default_factory=dict, max_length=MAX_ENDPOINTS
    )

    def with_verdict(self, endpoint: str, verdict: EndpointVerdict) -> ProbeRecord:
        merged = {k: v for k, v in self.endpoints.items() if k != endpoint}
        merged[endpoint] = verdict
        newest = sorted(merged.items(), key=lambda kv: kv[1].checked_at, reverse=True)
        return self.model_copy(update={"endpoints": dict(newest[:MAX_ENDPOINTS])})
