"""Removing every version of the objects under a prefix (a deleted cluster's secrets).

The bucket is versioned, so a plain delete only hides an object behind a delete marker:
a join secret would stay readable to anyone who may read old versions. Where the
identity may list versions (s3:ListBucketVersions) and delete them
(s3:DeleteObjectVersion), every version and delete marker goes; otherwise the current
objects are deleted and the result says how many old versions remain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from goman.aws.errors import error_code
from goman.aws.parallel import each
from goman.state.store import StateStore

_DENIED = {"AccessDenied", "403", "AllAccessDisabled"}
_BATCH = 1000  # DeleteObjects takes at most this many keys


@dataclass(frozen=True)
class Purged:
    objects: int  # current objects removed
    versions_left: int  # old versions that remain (-1: unknown, versions not listable)
    missing: str = ""  # the permission that was missing, if any

    def warning(self, prefix: str) -> str | None:
        """One line saying what remains, or None when nothing does."""
        if not self.missing:
            return None
        left = (
            "its old versions remain"
            if self.versions_left < 0
            else f"{self.versions_left} old version(s) remain"
        )
        return (
            f"{prefix}: {left} in the bucket ({self.missing} is not granted); grant it "
            "(see `goman iam-policy --optional`) or remove them with "
            f"`aws s3api list-object-versions --prefix {prefix}` and `aws s3api delete-object`"
        )


def _denied(exc: BaseException) -> bool:
    return error_code(exc) in _DENIED


def purge_prefix(store: StateStore, rel_prefix: str) -> Purged:
    """Delete every object under `rel_prefix`, old versions too where permitted."""
    prefix = store.key(rel_prefix)
    try:
        pages = list(
            store.s3.get_paginator("list_object_versions").paginate(
                Bucket=store.bucket, Prefix=prefix, ExpectedBucketOwner=store.owner
            )
        )
    except Exception as exc:
        if not _denied(exc):
            raise store._fail(exc, f"list the versions under {rel_prefix}") from exc
        current = [o.key for o in store.ls(rel_prefix)]
        each(store.delete, current)
        return Purged(len(current), -1, "s3:ListBucketVersions")
    versions = [
        {"Key": v["Key"], "VersionId": v["VersionId"]}
        for page in pages
        for kind in ("Versions", "DeleteMarkers")
        for v in page.get(kind, [])
    ]
    live = sorted({v["Key"] for p in pages for v in p.get("Versions", []) if v.get("IsLatest")})
    denied: list[dict[str, Any]] = []

    def delete(batch: list[dict[str, str]]) -> None:
        try:
            resp = store.s3.delete_objects(
                Bucket=store.bucket,
                Delete={"Objects": batch, "Quiet": True},
                ExpectedBucketOwner=store.owner,
            )
        except Exception as exc:
            if not _denied(exc):
                raise store._fail(exc, f"delete the versions under {rel_prefix}") from exc
            denied.extend(batch)
            return
        denied.extend(e for e in resp.get("Errors", []) if e.get("Code") in _DENIED)

    each(delete, [versions[i : i + _BATCH] for i in range(0, len(versions), _BATCH)])
    for key in live:
        store.forget(store.rel(key), absent=True)
    if not denied:
        return Purged(len(live), 0)
    # No right to remove versions: the current objects still go (delete markers).
    each(store.delete, [store.rel(k) for k in live])
    return Purged(len(live), len(versions) - len(live), "s3:DeleteObjectVersion")
