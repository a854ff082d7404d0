"""The S3 state store: validated documents, conditional writes, CAS updates, history.

Every write is conditional: `If-None-Match: *` to create, `If-Match: <etag>` to update or
delete. A 412 (or 409 ConditionalRequestConflict) means another writer got there first;
`update()` re-reads, re-applies the change and retries with jittered backoff, bounded.
Every bucket and object call carries `ExpectedBucketOwner`.

The store remembers the version of each document it last read or wrote (its ETag and
body). `update()` starts from that version and writes with `If-Match` on its ETag without
reading first; only a 412 (someone else wrote since) costs a read. The If-Match makes
this exactly as safe as reading first: a stale version can never be written over a newer
one. Documents are written compact (no indentation); indented ones still read.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from goman.aws.constants import MAX_DOCUMENT_BYTES
from goman.aws.errors import (
    AlreadyExistsError,
    ConflictError,
    CorruptDocumentError,
    DocumentTooLargeError,
    GomanError,
    NotFoundError,
    error_code,
    http_status,
    map_error,
)
from goman.aws.lite import NoSuchKey, TooLarge
from goman.aws.session import AwsContext
from goman.models.base import Document
from goman.state.known import KnownVersions
from goman.state.known import Versioned as Versioned  # re-exported: callers import it here

D = TypeVar("D", bound=Document)

MAX_CAS_ATTEMPTS = 40
_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


@dataclass(frozen=True)
class ObjectInfo:
    key: str  # relative to the profile prefix
    size: int
    last_modified: datetime
    etag: str


@dataclass(frozen=True)
class VersionInfo:
    version_id: str
    last_modified: datetime
    size: int
    is_latest: bool
    is_delete_marker: bool
    etag: str


class _NotModified:
    def __repr__(self) -> str:
        return "NOT_MODIFIED"


NOT_MODIFIED = _NotModified()


class Conflict(Exception):
    """A single conditional write lost; `update()` retries, callers of put() decide."""


def _is_conflict(exc: BaseException) -> bool:
    return error_code(exc) in _CONFLICT_CODES or http_status(exc) in {409, 412}


def _body(doc: Document) -> bytes:
    return doc.model_dump_json().encode()


def _current(doc: D, revision: int) -> D:
    """The document as written: its new revision, at this goman's schema version."""
    schema = max(doc.schema_version, type(doc).SCHEMA_VERSION)
    return doc.model_copy(update={"revision": revision, "schema_version": schema})


class StateStore:
    """One profile's view of the state bucket."""

    def __init__(self, ctx: AwsContext) -> None:
        self.ctx = ctx
        self._ensured = False
        self._known = KnownVersions()

    # -- versions this process last saw ---------------------------------------------

    def _remember(self, rel: str, body: bytes, etag: str, version_id: str | None) -> None:
        self._known.remember(rel, body, etag, version_id)

    def forget(self, rel: str, *, absent: bool = False) -> None:
        """Drop what this store knows of `rel`; `absent`: it knows `rel` does not exist."""
        self._known.forget(rel, absent=absent)

    def known(self, rel: str, model: type[D]) -> Versioned[D] | None:
        """The version of `rel` this store last read or wrote (maybe not the newest)."""
        return self._known.get(rel, model)

    # -- plumbing -------------------------------------------------------------------

    @property
    def bucket(self) -> str:
        return self.ctx.bucket

    @property
    def prefix(self) -> str:
        return self.ctx.prefix

    @property
    def owner(self) -> str:
        return self.ctx.account_id

    def key(self, rel: str) -> str:
        rel = rel.lstrip("/")
        if not rel or ".." in rel.split("/") or rel.startswith("state/"):
            raise GomanError(
                f"{rel!r} is not a key inside the profile's state folder.",
                "Give KEY relative to the profile, e.g. clusters/web.state.json.",
            )
        return self.prefix + rel

    def rel(self, key: str) -> str:
        return key[len(self.prefix) :] if key.startswith(self.prefix) else key

    @property
    def s3(self) -> Any:
        return self.ctx.client("s3")

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        """Run one S3 call; create the bucket on first use if it is missing."""
        try:
            return fn()
        except Exception as exc:
            if error_code(exc) == "NoSuchBucket" and not self._ensured:
                from goman.state.bucket import ensure_bucket

                ensure_bucket(self.ctx)
                self._ensured = True
                return fn()
            if (error_code(exc) in {"AccessDenied", "403"} or http_status(exc) == 403) and (
                not self._ensured
            ):
                self._squatting_check()
            raise

    def _squatting_check(self) -> None:
        """A bucket owned by another account answers 403 to our owner check, like a missing
        permission does: ensure_bucket tells the two apart (SecurityError if squatted)."""
        from goman.aws.errors import SecurityError
        from goman.state.bucket import ensure_bucket

        self._ensured = True
        try:
            ensure_bucket(self.ctx)
        except SecurityError:
            raise
        except GomanError:
            pass  # not squatting: the caller reports the original denial

    def _fail(self, exc: BaseException, what: str) -> GomanError:
        return map_error(exc, profile=self.ctx.profile, what=what)

    # -- reads ----------------------------------------------------------------------

    def get_bytes(self, rel: str, version_id: str | None = None) -> tuple[bytes, str, str | None]:
        """Raw body, ETag and version id. NotFoundError when absent."""
        key = self.key(rel)
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "ExpectedBucketOwner": self.owner,
        }
        if version_id:
            args["VersionId"] = version_id
        elif (lite := self.ctx.lite) is not None:
            fast = lite.get_object(self.bucket, key, self.owner)
            if isinstance(fast, NoSuchKey):
                raise NotFoundError(
                    f"{rel} does not exist in s3://{self.bucket}/{self.prefix}",
                    "List what exists with `goman state ls`.",
                )
            if isinstance(fast, TooLarge):
                raise DocumentTooLargeError(key, fast.size, MAX_DOCUMENT_BYTES, fast.etag)
            if fast is not None:
                return fast
        try:
            resp = self._call(f"read {rel}", lambda: self.s3.get_object(**args))
        except Exception as exc:
            if error_code(exc) in {"NoSuchKey", "404", "NoSuchVersion"}:
                ver = f" version {version_id}" if version_id else ""
                raise NotFoundError(
                    f"{rel}{ver} does not exist in s3://{self.bucket}/{self.prefix}",
                    "List what exists with `goman state ls`.",
                ) from exc
            if error_code(exc) == "AccessDenied" and version_id:
                from goman.aws.errors import PermissionMissingError

                raise PermissionMissingError(
                    "s3:GetObjectVersion", f"read {rel} at a version"
                ) from exc
            raise self._fail(exc, f"read {rel}") from exc
        return _read_capped(key, resp), str(resp["ETag"]), resp.get("VersionId")

    def parse(self, rel: str, model: type[D], body: bytes, version_id: str | None = None) -> D:
        try:
            return model.model_validate_json(body)
        except ValidationError as exc:
            problem = _short_validation(exc)
            newest = None if version_id is None else self._newest_readable(rel, model)
            raise CorruptDocumentError(self.key(rel), problem, newest) from exc

    def get(self, rel: str, model: type[D]) -> Versioned[D] | None:
        try:
            body, etag, version = self.get_bytes(rel)
        except NotFoundError:
            self.forget(rel, absent=True)
            return None
        got = Versioned(self.parse(rel, model, body, version or "latest"), etag, version)
        self._remember(rel, body, etag, version)
        return got

    def get_many(self, wanted: Sequence[tuple[str, type[Document]]]) -> list[Versioned[Any] | None]:
        """Several documents read at once (one round trip instead of one each)."""
        from goman.aws.parallel import each

        return each(lambda item: self.get(item[0], item[1]), wanted)

    def cached(self, rel: str, model: type[D]) -> Versioned[D] | None:
        """The version this store knows if it has one, else the stored one (a GET)."""
        return self.known(rel, model) or self.get(rel, model)

    def get_if_changed(
        self, rel: str, model: type[D], etag: str | None
    ) -> Versioned[D] | _NotModified | None:
        """A conditional GET for polling: unchanged costs a 304 and no body."""
        if etag is None:
            return self.get(rel, model)
        key = self.key(rel)
        try:
            resp = self._call(
                f"read {rel}",
                lambda: self.s3.get_object(
                    Bucket=self.bucket, Key=key, ExpectedBucketOwner=self.owner, IfNoneMatch=etag
                ),
            )
        except Exception as exc:
            if error_code(exc) == "304" or http_status(exc) == 304:
                return NOT_MODIFIED
            if error_code(exc) in {"NoSuchKey", "404"}:
                self.forget(rel, absent=True)
                return None
            raise self._fail(exc, f"read {rel}") from exc
        body = _read_capped(key, resp)
        version = resp.get("VersionId")
        got = Versioned(
            self.parse(rel, model, body, version or "latest"), str(resp["ETag"]), version
        )
        self._remember(rel, body, got.etag, version)
        return got

    def require(self, rel: str, model: type[D]) -> Versioned[D]:
        got = self.get(rel, model)
        if got is None:
            raise NotFoundError(f"{rel} does not exist in s3://{self.bucket}/{self.prefix}")
        return got

    # -- writes ---------------------------------------------------------------------

    def put_bytes(
        self,
        rel: str,
        body: bytes,
        *,
        etag: str | None = None,
        create: bool = False,
        content_type: str = "application/json",
        tagging: str | None = None,
    ) -> tuple[str, str | None]:
        """A conditional raw write. Raises Conflict when the condition fails. `tagging`:
        object tags as PutObject's Tagging header (`key=value&...`)."""
        key = self.key(rel)
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": body,
            "ContentType": content_type,
            "ExpectedBucketOwner": self.owner,
        }
        if tagging is not None:
            args["Tagging"] = tagging
        if create:
            args["IfNoneMatch"] = "*"
        elif etag is not None:
            args["IfMatch"] = etag
        else:
            raise ValueError("every write is conditional: give etag= or create=True")
        try:
            resp = self._call(f"write {rel}", lambda: self.s3.put_object(**args))
        except Exception as exc:
            if _is_conflict(exc) or (not create and error_code(exc) in {"NoSuchKey", "404"}):
                raise Conflict(rel) from exc
            raise self._fail(exc, f"write {rel}") from exc
        return str(resp["ETag"]), resp.get("VersionId")

    def create(self, rel: str, doc: D) -> Versioned[D]:
        """Create a document that must not exist yet (AlreadyExistsError otherwise)."""
        doc = _current(doc, max(doc.revision, 0) + 1)
        body = _body(doc)
        try:
            etag, version = self.put_bytes(rel, body, create=True)
        except Conflict as exc:
            self.forget(rel)
            raise AlreadyExistsError(f"{rel} already exists.") from exc
        self._remember(rel, body, etag, version)
        return Versioned(doc, etag, version)

    def put(self, rel: str, doc: D, etag: str) -> Versioned[D]:
        """Replace the version read with ETag `etag`; raises Conflict if it changed."""
        doc = _current(doc, doc.revision + 1)
        body = _body(doc)
        try:
            new_etag, version = self.put_bytes(rel, body, etag=etag)
        except Conflict:
            self.forget(rel)
            raise
        self._remember(rel, body, new_etag, version)
        return Versioned(doc, new_etag, version)

    def update(
        self,
        rel: str,
        model: type[D],
        change: Callable[[D | None], D | None],
        *,
        attempts: int = MAX_CAS_ATTEMPTS,
    ) -> Versioned[D] | None:
        """Apply `change` to the current document and write it back by CAS, retrying.

        `change` gets the current document (None if absent) and returns the new one, or
        None to leave it as it is. It must be a pure function of its input: it may run
        several times.

        The first attempt starts from the version this store last saw, if any, and writes
        with If-Match on its ETag; a 412 means it was stale, and the next attempt reads.
        A document found stale that way within the last minute (others write it too) is
        first checked with a conditional GET instead. When `change` wants no write, a
        version not read just now is confirmed with a conditional GET (a 304 when it is
        still current).
        """
        current: Versioned[D] | None = self.known(rel, model)
        absent = self._known.absent(rel)
        fresh = current is None and not absent
        if fresh:
            current = self.get(rel, model)
        elif current is not None and self._known.contended(rel):
            # Others wrote it lately, so the version held is likely stale: a conditional
            # GET (a 304, no body, if it is not) costs less than a refused write and a read.
            got = self.get_if_changed(rel, model, current.etag)
            if got is not NOT_MODIFIED:
                current = got if isinstance(got, Versioned) else None
            fresh = True
        for attempt in range(attempts):
            new = change(current.doc.model_copy(deep=True) if current else None)
            if new is None:
                if fresh:
                    return current
                if current is None:
                    current, fresh = self.get(rel, model), True
                    continue
                got = self.get_if_changed(rel, model, current.etag)
                if got is NOT_MODIFIED:
                    return current
                current, fresh = (got if isinstance(got, Versioned) else None), True
                continue
            try:
                if current is None:
                    return self.create(rel, new.model_copy(update={"revision": 0}))
                return self.put(
                    rel, new.model_copy(update={"revision": current.doc.revision}), current.etag
                )
            except (Conflict, AlreadyExistsError):
                if not fresh:
                    self._known.contend(rel)
                if attempt + 1 >= attempts:
                    break
                if fresh:
                    _backoff(attempt)
            current, fresh = self.get(rel, model), True
        raise ConflictError(
            f"Gave up writing {rel} after {attempts} attempts: other writers keep changing it.",
            "Try again in a moment.",
        )

    def delete(self, rel: str, etag: str | None = None) -> None:
        """Delete (a delete marker: history stays). With `etag`, only that version."""
        key = self.key(rel)
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "ExpectedBucketOwner": self.owner,
        }
        if etag is not None:
            args["IfMatch"] = etag
        self.forget(rel)
        try:
            self._call(f"delete {rel}", lambda: self.s3.delete_object(**args))
        except Exception as exc:
            if _is_conflict(exc):
                raise Conflict(rel) from exc
            if error_code(exc) in {"NoSuchKey", "404"}:
                return
            raise self._fail(exc, f"delete {rel}") from exc
        self.forget(rel, absent=True)

    # -- presigned URLs (how nodes talk to the bucket without credentials) ------------

    def presign_get(self, rel: str, expires: int = 3600) -> str:
        """A GET URL for one object that expires within `expires` seconds (max 1 hour)."""
        return str(
            self.presigner.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": self.key(rel),
                    "ExpectedBucketOwner": self.owner,
                },
                ExpiresIn=min(expires, 3600),
            )
        )

    def presign_put(
        self, rel: str, expires: int = 3600, content_type: str = "application/json"
    ) -> str:
        """A PUT URL for one object; the uploader must send `Content-Type: content_type`
        and `x-amz-expected-bucket-owner: <account>` (both are signed)."""
        return str(
            self.presigner.generate_presigned_url(
                "put_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": self.key(rel),
                    "ContentType": content_type,
                    "ExpectedBucketOwner": self.owner,
                },
                ExpiresIn=min(expires, 3600),
            )
        )

    @property
    def presigner(self) -> Any:
        """An S3 client whose URLs name the regional endpoint, so nodes are not redirected."""
        client = self.s3
        if client.meta.endpoint_url in {
            "https://s3.amazonaws.com",
            "https://s3.ap-south-1.amazonaws.com",
        }:
            return self.ctx.client_at("s3", "https://s3.ap-south-1.amazonaws.com")
        return client

    # -- listing and history --------------------------------------------------------

    def ls(self, rel_prefix: str = "") -> list[ObjectInfo]:
        return list(self.iter_ls(rel_prefix))

    def iter_ls(self, rel_prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects under a prefix in key order, one LIST page (1,000 keys) fetched at a
        time as the caller goes on: stopping early saves the remaining pages."""
        prefix = self.prefix + rel_prefix
        token: str | None = None
        while True:
            args: dict[str, Any] = {
                "Bucket": self.bucket,
                "Prefix": prefix,
                "ExpectedBucketOwner": self.owner,
            }
            if token:
                args["ContinuationToken"] = token
            try:
                page: dict[str, Any] = self._call(
                    "list state", functools.partial(self.s3.list_objects_v2, **args)
                )
            except Exception as exc:
                raise self._fail(exc, "list the state folder") from exc
            for obj in page.get("Contents", []):
                yield ObjectInfo(
                    key=self.rel(obj["Key"]),
                    size=int(obj["Size"]),
                    last_modified=obj["LastModified"],
                    etag=str(obj["ETag"]),
                )
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def history(self, rel: str) -> list[VersionInfo]:
        """All versions of one key, newest first (needs s3:ListBucketVersions)."""
        key = self.key(rel)
        try:
            pages = self._call(
                f"list versions of {rel}",
                lambda: list(
                    self.s3.get_paginator("list_object_versions").paginate(
                        Bucket=self.bucket, Prefix=key, ExpectedBucketOwner=self.owner
                    )
                ),
            )
        except Exception as exc:
            if error_code(exc) in {"AccessDenied", "403"}:
                from goman.aws.errors import PermissionMissingError

                raise PermissionMissingError(
                    "s3:ListBucketVersions", f"list the history of {rel}"
                ) from exc
            raise self._fail(exc, f"list versions of {rel}") from exc
        versions: list[VersionInfo] = []
        markers: list[VersionInfo] = []
        for page in pages:
            versions += [
                _version(i, marker=False) for i in page.get("Versions", []) if i["Key"] == key
            ]
            markers += [
                _version(i, marker=True) for i in page.get("DeleteMarkers", []) if i["Key"] == key
            ]
        # S3 lists each kind newest first, but LastModified has one-second resolution: keep
        # S3's own order within each list and only interleave the two by time (the latest
        # one first on a tie), instead of re-sorting writes made within one second.
        out = _merge_newest_first(versions, markers)
        return out

    def _newest_readable(self, rel: str, model: type[D]) -> str | None:
        """The newest version of `rel` that validates, for a corruption report."""
        try:
            versions = self.history(rel)
        except GomanError:
            return None
        for v in versions[:50]:
            if v.is_delete_marker or v.is_latest:
                continue
            try:
                body, _, _ = self.get_bytes(rel, v.version_id)
                model.model_validate_json(body)
                return v.version_id
            except (GomanError, ValidationError):
                continue
        return None


def _read_capped(key: str, resp: dict[str, Any]) -> bytes:
    """The body of a GetObject answer, refused unread when it is over MAX_DOCUMENT_BYTES."""
    declared = resp.get("ContentLength")
    if declared is None or declared <= MAX_DOCUMENT_BYTES:
        body = resp["Body"].read(MAX_DOCUMENT_BYTES + 1)
        if len(body) <= MAX_DOCUMENT_BYTES:
            return bytes(body)
        declared = None  # it sent more than it said
    resp["Body"].close()  # the rest stays unread: the connection is dropped, not drained
    raise DocumentTooLargeError(key, declared, MAX_DOCUMENT_BYTES, str(resp.get("ETag", "")))


def _version(item: dict[str, Any], *, marker: bool) -> VersionInfo:
    return VersionInfo(
        version_id=str(item["VersionId"]),
        last_modified=item["LastModified"],
        size=int(item.get("Size", 0)),
        is_latest=bool(item.get("IsLatest")),
        is_delete_marker=marker,
        etag=str(item.get("ETag", "")),
    )


def _merge_newest_first(a: list[VersionInfo], b: list[VersionInfo]) -> list[VersionInfo]:
    out: list[VersionInfo] = []
    i = j = 0
    while i < len(a) and j < len(b):
        x, y = a[i], b[j]
        if (x.last_modified, x.is_latest) >= (y.last_modified, y.is_latest):
            out.append(x)
            i += 1
        else:
            out.append(y)
            j += 1
    return out + a[i:] + b[j:]


def _backoff(attempt: int) -> None:
    # Full jitter: spreads racing writers apart instead of having them collide in step.
    time.sleep(random.uniform(0, min(0.5, 0.01 * (2 ** min(attempt, 6)))))


def _short_validation(exc: ValidationError) -> str:
    errs = exc.errors()
    if errs and errs[0].get("type") == "json_invalid":
        return "not valid JSON"
    parts = []
    for err in errs[:3]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(document)"
        parts.append(f"{loc}: {err.get('msg', '')}")
    more = f" (+{len(errs) - 3} more)" if len(errs) > 3 else ""
    return "; ".join(parts) + more
