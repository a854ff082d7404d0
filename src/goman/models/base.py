"""The base of every JSON document goman keeps in S3."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, field_validator


def utcnow() -> datetime:
    """Now, in UTC, to the microsecond: steps a second apart or less keep their order and
    their length. People are shown seconds."""
    return datetime.now(UTC)


class Document(BaseModel):
    """A versioned document: `schema_version` for evolution, `revision` against ABA.

    S3 ETags are content hashes, so two identical bodies share one ETag; the revision
    counter, bumped by the store on every write, makes each write's body unique.
    Unknown fields are refused so a corrupted or foreign document is never half-read
    and silently rewritten without the parts this version does not understand.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    SCHEMA_VERSION: ClassVar[int] = 1

    schema_version: int = 1
    revision: int = 0

    @field_validator("schema_version")
    @classmethod
    def _known_schema(cls, value: int) -> int:
        if value < 1 or value > cls.SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {value} is not supported by this goman "
                f"(knows 1..{cls.SCHEMA_VERSION}); upgrade goman"
            )
        return value


class Part(BaseModel):
    """A nested part of a document (no version of its own)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
