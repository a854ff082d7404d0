"""A region that cannot be reached: what never got resources can still be deleted, and
the resource report says so once instead of failing."""

from __future__ import annotations

from typing import Any

from tests.cli.cluster_helpers import PREFIX, keys_under
from tests.conftest import BUCKET

# A loopback port nothing listens on: EC2 "in that region" does not connect.
NO_EC2 = {"AWS_ENDPOINT_URL_EC2": "http://127.0.0.1:9"}


def test_a_cluster_that_never_got_resources_is_deleted_though_ec2_is_unreachable(
    goman: Any, goman_proc: Any, s3: Any
) -> None:
    queued = goman("cluster", "create", "web", "--detach")
    assert queued.exit_code == 0, queued.output
    assert goman("jobs", "cancel", queued.stdout.strip()).exit_code == 0
    assert goman("cluster", "get", "web").exit_code == 0

    res = goman_proc("cluster", "delete", "web", "--yes", env=NO_EC2)
    assert res.exit_code == 0, res.output
    assert goman("cluster", "get", "web").exit_code == 1
    assert [k for k in keys_under(s3, BUCKET, f"{PREFIX}clusters/") if "web" in k] == []


def test_a_cluster_with_recorded_resources_is_not_forgotten_when_ec2_is_unreachable(
    goman: Any, goman_proc: Any
) -> None:
    assert goman("cluster", "create", "web", "--timeout", "60s").exit_code == 0
    res = goman_proc("cluster", "delete", "web", "--yes", env=NO_EC2)
    assert res.exit_code == 1, res.output
    assert "Cannot reach" in res.stderr
    assert goman("cluster", "get", "web", "-o", "json").json()["phase"] == "Failed"
    assert goman("cluster", "delete", "web", "--yes").exit_code == 0


def test_resources_report_an_unreachable_region_as_one_warning(goman: Any, goman_proc: Any) -> None:
    assert goman("cluster", "create", "web", "--timeout", "60s").exit_code == 0
    for args in (("resources", "list", "-o", "json"), ("resources", "cleanup", "--orphans", "-y")):
        res = goman_proc(*args, env=NO_EC2)
        assert res.exit_code == 0, res.output
        warned = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
        assert len(warned) == 1 and "ap-south-1" in warned[0], res.stderr
        if args[1] == "list":
            assert res.json() == []  # nothing of that region is called missing
    assert {r["status"] for r in goman("resources", "list", "-o", "json").json()} == {"ok"}
