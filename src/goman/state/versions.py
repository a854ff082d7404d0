"""Versions of one state document: show, diff and restore (`goman state ...`).

Restore makes an old version the current one again by a conditional write, so a writer
that raced it is never overwritten silently: the restore re-reads and retries.
The restored document gets a revision above the current one, so its body (and ETag)
differs from every recent version (ETag alone is open to ABA).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass

from pydantic import ValidationError

from goman.aws.errors import (
    ConflictError,
    DocumentTooLargeError,
    GomanError,
    NotFoundError,
    UsageError,
)
from goman.models.base import Document
from goman.models.cluster import ClusterDoc, ClusterIndex
from goman.models.config import AppConfig
from goman.models.job import Job
from goman.state import keys
from goman.state.store import Conflict, StateStore, VersionInfo

CURRENT = {"latest", "current"}
RESTORE_ATTEMPTS = 10


def model_for(rel: str) -> type[Document] | None:
    """The document type stored at `rel`, or None for artefacts (raw bytes)."""
    if rel == keys.CONFIG:
        return AppConfig
    if rel == keys.INDEX:
        return ClusterIndex
    if keys.is_cluster_state(rel):
        return ClusterDoc
    if rel.startswith(keys.JOBS_DIR) and rel.endswith(".json") and rel.count("/") == 1:
        return Job
    return None


def read_version(store: StateStore, rel: str, version: str | None) -> tuple[bytes, str | None]:
    """The body of `rel` at `version` (None, latest or current: the current one)."""
    vid = None if version is None or version in CURRENT else version
    try:
        body, _, got = store.get_bytes(rel, vid)
    except NotFoundError:
        if vid is None:
            raise
        # S3 answers alike for a version that never was and for a delete marker.
        try:
            info = find_version(store, rel, vid)
        except NotFoundError:
            raise
        except GomanError:  # the history cannot be listed: say what is known
            raise NotFoundError(
                f"{rel} has no version {vid}.",
                f"List its versions with `goman state history {rel}`.",
            ) from None
        if info.is_delete_marker:
            raise NotFoundError(
                f"Version {vid} of {rel} is a delete marker: the document was deleted then, "
                "so that version has no content.",
                f"Pick a version with content from `goman state history {rel}`.",
            ) from None
        raise
    return body, got


def pretty(body: bytes) -> str:
    """JSON re-indented with sorted keys (a stable diff); anything else as text."""
    try:
        return json.dumps(json.loads(body), indent=2, sort_keys=True) + "\n"
    except ValueError:
        return body.decode("utf-8", errors="replace")


def diff(store: StateStore, rel: str, v1: str, v2: str | None) -> str:
    a, _ = read_version(store, rel, v1)
    b, got2 = read_version(store, rel, v2)
    label2 = v2 if v2 and v2 not in CURRENT else f"current ({got2 or 'unversioned'})"
    lines = difflib.unified_diff(
        pretty(a).splitlines(keepends=True),
        pretty(b).splitlines(keepends=True),
        fromfile=f"{rel}@{v1}",
        tofile=f"{rel}@{label2}",
    )
    return "".join(lines)


@dataclass
class RestoreResult:
    key: str
    restored_from: str
    version_id: str | None
    revision: int | None

    def as_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "restored_from": self.restored_from,
            "version_id": self.version_id,
            "revision": self.revision,
        }


def find_version(store: StateStore, rel: str, version: str) -> VersionInfo:
    for v in store.history(rel):
        if v.version_id == version:
            return v
    raise NotFoundError(
        f"{rel} has no version {version}.", f"List its versions with `goman state history {rel}`."
    )


def restore(store: StateStore, rel: str, version: str) -> RestoreResult:
    """Make `version` of `rel` the current version again (a new version; history stays)."""
    if version in CURRENT:
        raise UsageError("Give the id of an older version to restore (see `goman state history`).")
    info = find_version(store, rel, version)
    if info.is_delete_marker:
        raise UsageError(
            f"Version {version} of {rel} is a delete marker, not content.",
            f"Pick a version with content from `goman state history {rel}`.",
        )
    old_body, _, _ = store.get_bytes(rel, version)
    model = model_for(rel)
    old_doc: Document | None = None
    if model is not None:
        try:
            old_doc = model.model_validate_json(old_body)
        except ValidationError as exc:
            raise GomanError(
                f"Version {version} of {rel} is not a valid document either, so it cannot be "
                "restored.",
                f"Pick another version from `goman state history {rel}`.",
                detail=str(exc),
            ) from exc
    for _ in range(RESTORE_ATTEMPTS):
        try:
            current_body, etag, _ = store.get_bytes(rel)
        except NotFoundError:
            current_body, etag = None, None
        except DocumentTooLargeError as exc:
            # An oversized current version is replaced without being read.
            current_body, etag = None, exc.etag or None
        revision: int | None = None
        body = old_body
        if model is not None and old_doc is not None:
            revision = max(old_doc.revision, _revision_of(current_body)) + 1
            body = (
                old_doc.model_copy(update={"revision": revision}).model_dump_json(indent=2) + "\n"
            ).encode()
        try:
            if etag is None:
                _, vid = store.put_bytes(rel, body, create=True)
            else:
                _, vid = store.put_bytes(rel, body, etag=etag)
        except Conflict:
            continue
        return RestoreResult(rel, version, vid, revision)
    raise ConflictError(
        f"Could not restore {rel}: other writers kept changing it.", "Try again in a moment."
    )


def _revision_of(body: bytes | None) -> int:
    """The current document's revision, 0 when it is absent or unreadable (corrupted)."""
    if body is None:
        return 0
    try:
        value = json.loads(body).get("revision", 0)
    except (ValueError, AttributeError):
        return 0
    return value if isinstance(value, int) else 0
