"""The conditional-write probe: does this S3 endpoint keep the promises goman's state rests on?

Every write goman makes is conditional (`If-None-Match: *` to create, `If-Match: <etag>` to
update or delete) and every call names the expected bucket owner. AWS S3 honours all of
that; many S3-compatible stores, older emulators and header-stripping proxies accept the
headers and ignore them, and goman would then lose updates without a sound. So `goman init`
and `goman doctor` try each promise on a scratch key in the profile's folder:

  create-if-absent            PUT If-None-Match: *  on a new key          -> accepted
  second-create-refused       PUT If-None-Match: *  again                 -> 412
  update-with-current-etag    PUT If-Match: <current ETag>                -> accepted
  stale-update-refused        PUT If-Match: <the ETag before that>        -> 412
  foreign-owner-read-refused  GET with ExpectedBucketOwner=<another acct> -> 403
  stale-delete-refused        DELETE If-Match: <the stale ETag>           -> 412

ETags are passed exactly as the endpoint returned them (quoted), as the store does, and
every body is different so a stale ETag can never equal the current one.

The scratch key is `probe/scratch-{UTC time}-{random}`: unique per run, so two people
probing at once never collide. It is deleted when the probe ends, however it ends. A probe
killed half-way leaves it behind; it is harmless (nothing reads it) and the next probe
deletes scratch keys older than an hour (younger ones may belong to a probe still running).
The verdict is recorded per endpoint by goman.state.probe_record, for `goman status`.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from goman.aws.errors import GomanError, error_code, http_status, map_error
from goman.aws.session import AwsContext
from goman.models.probe import CHECK_NAMES, CheckName
from goman.state import keys
from goman.state.store import StateStore

Outcome = Literal["pass", "fail", "skipped"]
Verdict = Literal["verified", "failed", "unknown"]

SCRATCH_MAX_AGE = timedelta(hours=1)
_SCRATCH_RE = re.compile(r"^probe/scratch-(\d{8}T\d{6}Z)-[0-9a-f]{8}$")
_REFUSED = {412, 409}  # 409 ConditionalRequestConflict: refused because of a racing write
_CODE_RE = re.compile(r"[^A-Za-z0-9._-]")

PROMISE: dict[CheckName, str] = {
    "create-if-absent": "a create with If-None-Match: * must succeed on a new key",
    "second-create-refused": "a second create with If-None-Match: * must be refused (412)",
    "update-with-current-etag": "an update with If-Match: <current ETag> must succeed",
    "stale-update-refused": "an update with If-Match: <stale ETag> must be refused (412)",
    "foreign-owner-read-refused": (
        "a read with ExpectedBucketOwner of another account must be refused (403)"
    ),
    "stale-delete-refused": "a delete with If-Match: <stale ETag> must be refused (412)",
}

MEANING: dict[CheckName, str] = {
    "create-if-absent": "goman cannot create its documents there at all",
    "second-create-refused": (
        "two writers creating the same document would both succeed, the second silently "
        "replacing the first"
    ),
    "update-with-current-etag": "goman cannot update its documents there at all",
    "stale-update-refused": (
        "concurrent writers would overwrite each other's changes without noticing"
    ),
    "foreign-owner-read-refused": (
        "goman could not tell its own bucket from one owned by another account"
    ),
    "stale-delete-refused": "a delete could remove a document someone else had just changed",
}


@dataclass(frozen=True)
class ProbeCheck:
    name: CheckName
    outcome: Outcome
    observed: str  # what the endpoint did, for people

    @property
    def promise(self) -> str:
        return PROMISE[self.name]


@dataclass
class ProbeResult:
    endpoint: str
    scratch_key: str  # relative to the profile's folder
    checks: list[ProbeCheck] = field(default_factory=list)
    stale_removed: int = 0  # scratch keys of earlier, interrupted probes deleted now
    scratch_left: bool = False  # the final delete failed (the next probe removes it)

    @property
    def ok(self) -> bool:
        return len(self.checks) == len(CHECK_NAMES) and all(
            c.outcome == "pass" for c in self.checks
        )

    @property
    def verdict(self) -> Literal["verified", "failed"]:
        return "verified" if self.ok else "failed"

    @property
    def broken(self) -> list[ProbeCheck]:
        return [c for c in self.checks if c.outcome == "fail"]

    def summary(self) -> str:
        if self.ok:
            return (
                f"{self.endpoint} kept all {len(self.checks)} promises: creates and updates "
                "are conditional, stale writes and deletes are refused, and the bucket owner "
                "is checked."
            )
        return self.problem()

    def problem(self) -> str:
        broken = self.broken
        said = "; ".join(f"{c.promise}, but it {c.observed}" for c in broken)
        meanings = list(dict.fromkeys(MEANING[c.name] for c in broken))
        skipped = [c.name for c in self.checks if c.outcome == "skipped"]
        also = f" ({', '.join(skipped)} could not be tried after that)" if skipped else ""
        return (
            f"The S3 endpoint {self.endpoint} does not keep {len(broken)} of the "
            f"{len(CHECK_NAMES)} promises goman's shared state rests on: {said}{also}. "
            f"On this endpoint {'; and '.join(meanings)}."
        )

    def fix(self) -> str:
        return (
            "Use an S3 endpoint that honours If-None-Match, If-Match and ExpectedBucketOwner "
            "(AWS S3 does): check AWS_ENDPOINT_URL and any proxy or S3-compatible server "
            f"between goman and the bucket (goman used {self.endpoint})."
        )

    def error(self, stopped: str) -> GomanError:
        """The error `init` stops with; `stopped` says what was not done."""
        return GomanError(self.problem(), f"{stopped} {self.fix()}")


# -- the endpoint's identity ----------------------------------------------------------


def endpoint_identity(ctx: AwsContext) -> str:
    """The S3 endpoint goman's client talks to, as scheme://host[:port][/path].

    With nothing configured this is botocore's regional endpoint for the state bucket
    (https://s3.ap-south-1.amazonaws.com). User info, query and fragment are dropped so
    no secret in a URL is ever recorded."""
    url = str(ctx.client("s3").meta.endpoint_url)
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme.lower()}://{host}{port}{parts.path.rstrip('/')}"


# -- the probe ------------------------------------------------------------------------


def scratch_key(now: datetime) -> str:
    return f"{keys.PROBE_SCRATCH_PREFIX}{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(4)}"


def _other_account(account: str) -> str:
    return "999999999999" if account != "999999999999" else "111111111111"


@dataclass
class _Answer:
    """A request's result: the response, or the refusal (status and code)."""

    response: dict[str, Any] | None = None
    status: int = 0
    code: str = ""

    @property
    def accepted(self) -> bool:
        return self.response is not None

    def describe(self) -> str:
        if self.response is not None:
            status = self.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 200)
            return f"accepted it (HTTP {status})"
        return f"answered {self.status} {self.code}".rstrip()


class _Prober:
    def __init__(self, store: StateStore, rel: str) -> None:
        self.store = store
        self.ctx = store.ctx
        self.s3 = store.ctx.client("s3")
        self.key = store.key(rel)
        self.nonce = secrets.token_hex(8)

    def _send(
        self, what: str, call: Callable[[], Any], *, denial_expected: bool = False
    ) -> _Answer:
        try:
            return _Answer(response=call())
        except Exception as exc:
            code, status = error_code(exc), http_status(exc)
            if not code and not status:
                # No answer at all (network, credentials): the probe could not run.
                raise map_error(exc, profile=self.ctx.profile, what=what) from exc
            denied = status == 403 or code in {"AccessDenied", "403"}
            if denied and not denial_expected:
                raise map_error(exc, profile=self.ctx.profile, what=what) from exc
            # The code is the endpoint's text and may reach a terminal: keep it plain.
            return _Answer(status=status, code=_CODE_RE.sub("", code)[:64])

    def _body(self, step: str) -> bytes:
        doc = {"goman_probe": "conditional-writes", "step": step, "nonce": self.nonce}
        return (json.dumps(doc) + "\n").encode()

    def put(self, step: str, **condition: str) -> _Answer:
        return self._send(
            f"probe conditional writes ({step})",
            lambda: self.s3.put_object(
                Bucket=self.ctx.bucket,
                Key=self.key,
                Body=self._body(step),
                ContentType="application/json",
                ExpectedBucketOwner=self.ctx.account_id,
                **condition,
            ),
        )

    def foreign_read(self) -> _Answer:
        def call() -> Any:
            resp = self.s3.get_object(
                Bucket=self.ctx.bucket,
                Key=self.key,
                ExpectedBucketOwner=_other_account(self.ctx.account_id),
            )
            resp["Body"].read()
            return resp

        return self._send("probe the bucket owner check", call, denial_expected=True)

    def stale_delete(self, etag: str) -> _Answer:
        return self._send(
            "probe conditional deletes",
            lambda: self.s3.delete_object(
                Bucket=self.ctx.bucket,
                Key=self.key,
                ExpectedBucketOwner=self.ctx.account_id,
                IfMatch=etag,
            ),
        )


def _refused(answer: _Answer) -> bool:
    return not answer.accepted and (
        answer.status in _REFUSED
        or answer.code in {"PreconditionFailed", "ConditionalRequestConflict"}
    )


def _etag(answer: _Answer) -> str:
    """The ETag of an accepted write ("" if refused, or if the endpoint sent none)."""
    return str(answer.response.get("ETag") or "") if answer.response is not None else ""


def _checks(p: _Prober) -> list[ProbeCheck]:
    out: list[ProbeCheck] = []

    def add(name: CheckName, ok: bool, answer: _Answer, observed: str = "") -> None:
        out.append(ProbeCheck(name, "pass" if ok else "fail", observed or answer.describe()))

    def skip(*names: CheckName) -> None:
        out.extend(ProbeCheck(n, "skipped", "could not be tried") for n in names)

    created = p.put("create", IfNoneMatch="*")
    current = _etag(created)
    no_etag = "accepted it but sent no ETag back" if created.accepted and not current else ""
    add("create-if-absent", bool(current), created, no_etag)
    stale = ""
    if current:
        again = p.put("create-again", IfNoneMatch="*")
        add("second-create-refused", _refused(again), again)
        current = _etag(again) or current  # if it was wrongly accepted, that is the latest
        updated = p.put("update", IfMatch=current)
        ok = bool(_etag(updated)) and _etag(updated) != current
        same = "accepted it but sent no new ETag back" if updated.accepted and not ok else ""
        add("update-with-current-etag", ok, updated, same)
        if ok:
            stale = current
            late = p.put("stale-update", IfMatch=stale)
            add("stale-update-refused", _refused(late), late)
        else:
            skip("stale-update-refused")
    else:
        skip("second-create-refused", "update-with-current-etag", "stale-update-refused")
    # Asked while the key exists, so a 403 can only be the owner check.
    foreign = p.foreign_read()
    add(
        "foreign-owner-read-refused",
        not foreign.accepted and (foreign.status == 403 or foreign.code == "AccessDenied"),
        foreign,
    )
    if stale:
        gone = p.stale_delete(stale)
        add("stale-delete-refused", _refused(gone), gone)
    else:
        skip("stale-delete-refused")
    return out


def _remove_stale_scratch(store: StateStore, now: datetime) -> int:
    """Delete scratch keys that interrupted probes left behind (older than an hour)."""
    removed = 0
    for obj in store.ls(keys.PROBE_SCRATCH_PREFIX):
        found = _SCRATCH_RE.match(obj.key)
        if not found:
            continue
        made = datetime.strptime(found.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if now - made > SCRATCH_MAX_AGE:
            store.delete(obj.key)
            removed += 1
    return removed


def run_probe(store: StateStore, *, now: datetime | None = None) -> ProbeResult:
    """Try every promise on a fresh scratch key and delete it again, however it ends.

    Raises GomanError when the probe cannot run at all (no permission, no network); a
    broken promise is a result, not an exception."""
    now = now or datetime.now(UTC)
    result = ProbeResult(endpoint=endpoint_identity(store.ctx), scratch_key=scratch_key(now))
    with ThreadPoolExecutor(max_workers=1) as pool:
        # Leftovers of earlier probes are cleaned beside the checks: no extra round trip.
        stale = pool.submit(_remove_stale_scratch, store, now)
        try:
            result.checks = _checks(_Prober(store, result.scratch_key))
        finally:
            try:
                store.delete(result.scratch_key)
            except Exception:
                # Never hide the probe's own outcome; the next probe deletes what is left.
                result.scratch_left = True
        result.stale_removed = stale.result()
    return result
