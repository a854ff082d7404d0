"""The probe's record, `probe/conditional-writes.json`: one verdict per S3 endpoint.

Written by `goman init` and `goman doctor` after each probe (compare-and-swap, like every
write); read by `goman status`, which never probes. The record is informational: anyone
who can write the bucket can forge it, so nothing in goman trusts a write or skips a
check because of it; it is validated on read and an invalid one reads as "unknown".
"""

from __future__ import annotations

import random
import time

from pydantic import ValidationError

from goman import __version__
from goman.aws.errors import AlreadyExistsError, GomanError, NotFoundError
from goman.models.probe import EndpointVerdict, ProbeRecord
from goman.state import keys
from goman.state.probe import ProbeResult, Verdict, endpoint_identity, run_probe
from goman.state.store import Conflict, StateStore

_RECORD_ATTEMPTS = 10


def record(store: StateStore, result: ProbeResult) -> None:
    """Write the verdict for this endpoint into the record, by compare-and-swap.

    A record that does not validate is replaced: it is informational, and its only reader
    (`goman status`) reports "unknown" for it."""
    verdict = EndpointVerdict(
        result=result.verdict,
        broken=[c.name for c in result.broken],
        goman_version=__version__,
    )
    rel = keys.PROBE_RECORD
    for attempt in range(_RECORD_ATTEMPTS):
        current, etag = _read_record(store)
        base = current or ProbeRecord()
        new = base.with_verdict(result.endpoint, verdict)
        try:
            if etag is None:
                store.create(rel, new.model_copy(update={"revision": 0}))
            else:
                store.put(rel, new, etag)
            return
        except (Conflict, AlreadyExistsError):
            # Full jitter, like the store's own retries: racing probes spread apart.
            time.sleep(random.uniform(0, min(0.5, 0.02 * 2**attempt)))
    raise GomanError(
        f"Could not record the probe result in {rel}: other writers keep changing it.",
        "Run `goman doctor` again in a moment.",
    )


def _read_record(store: StateStore) -> tuple[ProbeRecord | None, str | None]:
    """(the record if it validates, its ETag if it exists)."""
    try:
        body, etag, _ = store.get_bytes(keys.PROBE_RECORD)
    except NotFoundError:
        return None, None
    try:
        return ProbeRecord.model_validate_json(body), etag
    except ValidationError:
        return None, etag


def probe_and_record(store: StateStore) -> ProbeResult:
    """Run the probe and record its verdict.

    A failed verdict is recorded when the endpoint lets goman write it; if even that
    fails, the probe's own finding is what the caller reports."""
    result = run_probe(store)
    try:
        record(store, result)
    except GomanError:
        if result.ok:
            raise
    return result


def read_verdict(store: StateStore) -> tuple[Verdict, str | None]:
    """What the record says about the endpoint in use: (verdict, warning or None).

    One GET; "unknown" when nothing was recorded for this endpoint. The record is
    untrusted input: an invalid one reads as "unknown" with a warning."""
    try:
        body, _, _ = store.get_bytes(keys.PROBE_RECORD)
    except NotFoundError:
        return "unknown", None
    try:
        doc = ProbeRecord.model_validate_json(body)
    except ValidationError:
        return "unknown", (
            f"{store.prefix}{keys.PROBE_RECORD} is not a valid probe record; "
            "`goman doctor` probes the endpoint again and rewrites it."
        )
    found = doc.endpoints.get(endpoint_identity(store.ctx))
    return (found.result if found else "unknown"), None
