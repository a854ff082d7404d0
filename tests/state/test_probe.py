"""The conditional-write probe of `goman init` / `goman doctor`, and what `status` reports.

The sandbox keeps every promise. A loopback proxy in front of it that loses headers stands
for an endpoint that does not: it accepts `If-Match` / `If-None-Match` (or the expected
bucket owner) and ignores them. What a user sees is checked through the CLI; what was or
was not written is checked in S3 directly, with a raw client on the sandbox.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from goman.sandbox.server import SandboxServer
from tests.conftest import BUCKET
from tests.state.header_proxy import (
    CONDITIONAL,
    OWNER,
    HeaderStrippingProxy,
    header_stripping_proxy,
)

PREFIX = "state/default/"
RECORD = PREFIX + "probe/conditional-writes.json"
SCRATCH = PREFIX + "probe/scratch-"


def _keys(s3: Any, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def _record(s3: Any) -> dict[str, Any]:
    return dict(json.loads(s3.get_object(Bucket=BUCKET, Key=RECORD)["Body"].read()))


def _check(doctor: Any, name: str) -> dict[str, Any]:
    return dict(next(c for c in doctor.json()["checks"] if c["name"] == name))


@pytest.fixture
def proxy_for(sandbox: SandboxServer, aws_env: dict[str, str]) -> Iterator[Any]:
    """Start a header-losing proxy in front of the sandbox; stopped when the test ends."""
    started: list[HeaderStrippingProxy] = []

    def start(drop: tuple[str, ...], fault: Any = None) -> HeaderStrippingProxy:
        proxy = HeaderStrippingProxy(sandbox.endpoint, drop, fault).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def test_the_sandbox_passes_and_status_goes_from_unknown_to_verified(
    goman: Any, s3: Any, sandbox: SandboxServer
) -> None:
    before = goman("status", "-o", "json")
    assert before.exit_code == 0, before.output
    assert before.json()["conditional_writes"] == "unknown"
    assert before.json()["s3_endpoint"] == sandbox.endpoint

    init = goman("init", "-o", "json")
    assert init.exit_code == 0, init.output
    assert init.json()["conditional_writes"] == "verified"
    assert init.json()["s3_endpoint"] == sandbox.endpoint
    assert _keys(s3, SCRATCH) == []  # the scratch key is gone again
    record = _record(s3)
    verdict = record["endpoints"][sandbox.endpoint]
    assert verdict["result"] == "verified" and verdict["broken"] == []

    after = goman("status", "-o", "json")
    assert after.json()["conditional_writes"] == "verified"
    assert "Conditional writes:  verified" in goman("status").stdout

    doctor = goman("doctor", "-o", "json")
    assert doctor.exit_code == 0, doctor.output
    check = _check(doctor, "conditional writes")
    assert check["status"] == "pass" and "kept all 6 promises" in check["message"]
    assert _keys(s3, SCRATCH) == []


def test_an_endpoint_that_ignores_conditional_writes_stops_init(
    goman: Any, s3: Any, sandbox: SandboxServer, proxy_for: Any
) -> None:
    proxy = proxy_for(CONDITIONAL)
    via = {"AWS_ENDPOINT_URL": proxy.url}

    init = goman("init", env=via)
    assert init.exit_code == 1, init.output
    err = init.stderr
    assert f"The S3 endpoint {proxy.url} does not keep 3 of the 6 promises" in err
    assert "a second create with If-None-Match: * must be refused (412), but it accepted it" in err
    assert "an update with If-Match: <stale ETag> must be refused (412), but it accepted it" in err
    assert "concurrent writers would overwrite each other's changes without noticing" in err
    assert "goman init stopped before writing config.json" in err and "AWS_ENDPOINT_URL" in err
    assert "Traceback" not in init.output
    # The headers were sent, and lost on the way: the premise of this test holds.
    assert any(h.get("if-none-match") == "*" for _, _, h in proxy.seen)
    assert any("if-match" in h for _, _, h in proxy.seen)

    # Nothing but the probe's verdict was written: no config.json, no scratch key.
    assert _keys(s3, PREFIX + "config.json") == []
    assert _keys(s3, SCRATCH) == []
    verdict = _record(s3)["endpoints"][proxy.url]
    assert verdict["result"] == "failed"
    assert verdict["broken"] == [
        "second-create-refused",
        "stale-update-refused",
        "stale-delete-refused",
    ]

    doctor = goman("doctor", "-o", "json", env=via)
    assert doctor.exit_code == 1
    check = _check(doctor, "conditional writes")
    assert check["status"] == "fail"
    assert "concurrent writers would overwrite" in check["message"]
    assert "AWS_ENDPOINT_URL" in check["fix"] and proxy.url in check["fix"]

    assert goman("status", "-o", "json", env=via).json()["conditional_writes"] == "failed"
    # The verdict belongs to that endpoint: the sandbox itself was never probed.
    assert goman("status", "-o", "json").json()["conditional_writes"] == "unknown"
    direct = goman("init", "-o", "json")
    assert direct.exit_code == 0, direct.output
    assert goman("status", "-o", "json").json()["conditional_writes"] == "verified"
    assert goman("status", "-o", "json", env=via).json()["conditional_writes"] == "failed"


def test_an_endpoint_that_ignores_the_bucket_owner_stops_init(
    goman: Any, s3: Any, proxy_for: Any
) -> None:
    proxy = proxy_for(OWNER)
    via = {"AWS_ENDPOINT_URL": proxy.url}

    init = goman("init", env=via)
    assert init.exit_code == 1, init.output
    assert "does not keep 1 of the 6 promises" in init.stderr
    assert "a read with ExpectedBucketOwner of another account must be refused (403)" in init.stderr
    assert "could not tell its own bucket from one owned by another account" in init.stderr
    assert "Traceback" not in init.output
    assert _keys(s3, PREFIX + "config.json") == []
    assert _keys(s3, SCRATCH) == []
    assert goman("status", "-o", "json", env=via).json()["conditional_writes"] == "failed"


def test_a_forged_verified_record_does_not_let_init_skip_the_probe(
    goman: Any, s3: Any, proxy_for: Any
) -> None:
    assert goman("status").exit_code == 0  # the bucket, before the forger writes
    proxy = proxy_for(CONDITIONAL)
    forged = {
        "schema_version": 1,
        "revision": 1,
        "endpoints": {
            proxy.url: {
                "result": "verified",
                "checked_at": "2030-01-01T00:00:00Z",
                "broken": [],
                "goman_version": "0.1.0",
            }
        },
    }
    s3.put_object(Bucket=BUCKET, Key=RECORD, Body=json.dumps(forged).encode())
    via = {"AWS_ENDPOINT_URL": proxy.url}
    # status only reports what the record says (documented as informational) ...
    assert goman("status", "-o", "json", env=via).json()["conditional_writes"] == "verified"
    # ... but init always probes afresh, and overwrites the forgery with what it found.
    init = goman("init", env=via)
    assert init.exit_code == 1 and "does not keep 3 of the 6 promises" in init.stderr
    assert _keys(s3, PREFIX + "config.json") == []
    assert goman("status", "-o", "json", env=via).json()["conditional_writes"] == "failed"


HOSTILE_RECORDS = {
    "not-json": b"not json",
    "control-characters": json.dumps(
        {"endpoints": {"http://evil\x1b[31m": {"result": "verified"}}}
    ).encode(),
    "unknown-result": json.dumps(
        {"endpoints": {"http://127.0.0.1:1": {"result": "trusted"}}}
    ).encode(),
    "too-many-endpoints": json.dumps(
        {"endpoints": {f"http://h{i}": {"result": "verified"} for i in range(500)}}
    ).encode(),
    "unknown-field": json.dumps({"endpoints": {}, "trust_me": True}).encode(),
}


def test_a_hostile_record_reads_as_unknown_and_the_next_probe_replaces_it(
    goman: Any, s3: Any, store: Any, sandbox: SandboxServer
) -> None:
    from goman.state.probe_record import read_verdict

    assert goman("init").exit_code == 0
    for case, body in HOSTILE_RECORDS.items():
        s3.put_object(Bucket=BUCKET, Key=RECORD, Body=body)
        verdict, warning = read_verdict(store)
        assert verdict == "unknown", case
        assert warning and "not a valid probe record" in warning, case

    s3.put_object(Bucket=BUCKET, Key=RECORD, Body=HOSTILE_RECORDS["control-characters"])
    status = goman("status", "-o", "json")
    assert status.exit_code == 0, status.output
    assert status.json()["conditional_writes"] == "unknown"
    assert any("not a valid probe record" in w for w in status.json()["warnings"])
    assert "\x1b" not in status.output

    assert goman("init").exit_code == 0
    assert list(_record(s3)["endpoints"]) == [sandbox.endpoint]
    assert goman("status", "-o", "json").json()["conditional_writes"] == "verified"


def test_a_probe_that_cannot_finish_removes_its_scratch_key_and_writes_nothing(
    goman: Any, s3: Any, proxy_for: Any
) -> None:
    """Access denied at the stale update (the 4th step): the probe stops half-way."""
    puts_with_etag = []

    def deny_second_conditional_update(method: str, path: str, headers: dict[str, str]) -> Any:
        if method == "PUT" and "/probe/scratch-" in path and "if-match" in headers:
            puts_with_etag.append(path)
            if len(puts_with_etag) % 2 == 0:  # the stale update of every probe
                return 403, "AccessDenied"
        return None

    proxy = proxy_for((), deny_second_conditional_update)
    res = goman("init", env={"AWS_ENDPOINT_URL": proxy.url})
    assert res.exit_code == 1, res.output
    assert "Access denied" in res.stderr and "s3:PutObject" in res.stderr
    assert "Traceback" not in res.output
    assert len(puts_with_etag) == 2  # it did stop at that step
    assert _keys(s3, SCRATCH) == []
    assert _keys(s3, PREFIX + "config.json") == []
    assert _keys(s3, RECORD) == []  # no verdict: the probe did not finish

    doctor = goman("doctor", "-o", "json", env={"AWS_ENDPOINT_URL": proxy.url})
    check = _check(doctor, "conditional writes")
    assert check["status"] == "fail" and check["message"].startswith("The probe could not run")
    assert "s3:PutObject" in check["message"] and _keys(s3, SCRATCH) == []


def test_a_probe_killed_half_way_leaves_one_harmless_scratch_key(
    aws_env: dict[str, str], goman: Any, s3: Any, proxy_for: Any
) -> None:
    """SIGKILL in the middle of the probe: the scratch key stays, and changes nothing."""
    victim: list[subprocess.Popen[bytes]] = []
    killed = threading.Event()

    def kill_at_stale_update(method: str, path: str, headers: dict[str, str]) -> Any:
        if method == "PUT" and "/probe/scratch-" in path and "if-match" in headers:
            if killed.is_set() or not victim:
                return None
            if sum(1 for m, p, h in proxy.seen if m == "PUT" and "if-match" in h) == 2:
                victim[0].kill()
                victim[0].wait()
                killed.set()
                return 503, "ServiceUnavailable"
        return None

    proxy = proxy_for((), kill_at_stale_update)
    env = {**os.environ, **aws_env, "AWS_ENDPOINT_URL": proxy.url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "goman", "init"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    victim.append(proc)
    proc.communicate(timeout=120)
    assert killed.is_set() and proc.returncode == -9
    left = _keys(s3, SCRATCH)
    assert len(left) == 1
    assert _keys(s3, PREFIX + "config.json") == []

    # Harmless: the next init verifies and writes config.json; a young leftover may be a
    # probe still running, so it is left for a later probe.
    init = goman("init", "-o", "json")
    assert init.exit_code == 0, init.output
    assert init.json()["conditional_writes"] == "verified"
    assert _keys(s3, SCRATCH) == left


def test_the_next_probe_removes_leftovers_older_than_an_hour(goman: Any, s3: Any) -> None:
    now = datetime.now(UTC)
    old = f"{SCRATCH}{(now - timedelta(hours=2)).strftime('%Y%m%dT%H%M%SZ')}-0123abcd"
    young = f"{SCRATCH}{(now - timedelta(minutes=5)).strftime('%Y%m%dT%H%M%SZ')}-89abcdef"
    other = f"{SCRATCH}notes.txt"  # not a scratch key's name: never touched
    assert goman("status").exit_code == 0  # the bucket
    for key in (old, young, other):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}")
    assert goman("init").exit_code == 0
    assert sorted(_keys(s3, SCRATCH)) == sorted([young, other])


def test_two_probes_at_once_both_verify(aws_env: dict[str, str], fresh_store: Any, s3: Any) -> None:
    from goman.state.bucket import ensure_bucket
    from goman.state.probe_record import probe_and_record

    stores = [fresh_store() for _ in range(2)]
    ensure_bucket(stores[0].ctx)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run(store: Any) -> None:
        try:
            results.append(probe_and_record(store))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert [r.ok for r in results] == [True, True]
    assert results[0].scratch_key != results[1].scratch_key
    assert _keys(s3, SCRATCH) == []
    assert _record(s3)["revision"] == 2  # both verdicts written, one after the other


def test_the_endpoint_identity_is_what_the_client_uses_without_secrets(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from goman.aws.session import AwsContext
    from goman.state.probe import endpoint_identity

    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert endpoint_identity(AwsContext.from_flag(None)) == "https://s3.ap-south-1.amazonaws.com"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "HTTP://user:secret@Store.Example:9000/base/?x=1")
    assert endpoint_identity(AwsContext.from_flag(None)) == "http://store.example:9000/base"


def test_the_proxy_helper_passes_everything_else_through(
    sandbox: SandboxServer, goman: Any
) -> None:
    """Without dropping anything, the proxy is transparent: the probe passes through it."""
    with header_stripping_proxy(sandbox.endpoint, ()) as proxy:
        init = goman("init", "-o", "json", env={"AWS_ENDPOINT_URL": proxy.url})
    assert init.exit_code == 0, init.output
    assert init.json()["conditional_writes"] == "verified"
