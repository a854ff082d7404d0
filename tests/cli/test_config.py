"""`goman config ...`: validated values, CAS writes, profiles kept apart, shared by processes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import BUCKET


def _stored(s3: Any, profile: str = "default") -> dict[str, Any]:
    body = s3.get_object(Bucket=BUCKET, Key=f"state/{profile}/config.json")["Body"].read()
    return dict(json.loads(body))


def test_show_gives_defaults_before_anything_is_written(goman: Any) -> None:
    res = goman("config", "show", "-o", "json")
    assert res.exit_code == 0, res.output
    data = res.json()
    assert data["region"] == "ap-south-1" and data["workers"] == 0
    assert data["api_cidrs"] == ["0.0.0.0/0"] and data["kms_key_id"] is None
    assert "job_lease_seconds" in goman("config", "show").stdout


def test_set_get_unset_round_trip(goman: Any, s3: Any) -> None:
    res = goman("config", "set", "workers", "3")
    assert res.exit_code == 0, res.output
    assert "workers: 0 -> 3" in res.stdout
    assert goman("config", "get", "workers").stdout == "3\n"
    assert _stored(s3)["workers"] == 3

    assert goman("config", "set", "api_cidrs", "10.0.0.0/8, 192.168.1.0/24").exit_code == 0
    assert goman("config", "get", "api_cidrs").stdout == "10.0.0.0/8,192.168.1.0/24\n"
    assert _stored(s3)["api_cidrs"] == ["10.0.0.0/8", "192.168.1.0/24"]

    assert goman("config", "get", "kms_key_id").stdout == "\n"
    assert goman("config", "set", "kms_key_id", "alias/goman").exit_code == 0
    assert goman("config", "get", "kms_key_id").stdout == "alias/goman\n"
    assert goman("config", "unset", "kms_key_id").exit_code == 0
    assert goman("config", "get", "kms_key_id").stdout == "\n"
    assert goman("config", "unset", "workers").exit_code == 0
    stored = _stored(s3)
    assert stored["workers"] == 0 and stored["kms_key_id"] is None
    assert stored["revision"] == 5  # one revision per write


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("workers", "-1", "workers"),
        ("workers", "many", "integer"),
        ("region", "mars-1", "not an AWS region"),
        ("mode", "huge", "mode"),
        ("api_cidrs", "10.0.0.1/8", "not a valid CIDR"),
        ("api_cidrs", ",", "at least one CIDR"),
        ("k3s_version", "latest", "not a K3s version"),
        ("instance_type", "big", "not an EC2 instance type"),
        ("kms_key_id", "my key", "not a KMS key"),
        ("job_lease_seconds", "1", "job_lease_seconds"),
    ],
)
def test_invalid_values_are_refused_with_exit_2(
    goman: Any, s3: Any, key: str, value: str, says: str
) -> None:
    res = goman("config", "set", key, value)
    assert res.exit_code == 2, res.output
    assert says in res.stderr and "Traceback" not in res.output
    assert s3.list_buckets()["Buckets"] == []  # refused before any write


def test_unknown_keys_are_refused_with_exit_2(goman: Any) -> None:
    for args in (("get", "colour"), ("set", "colour", "red"), ("unset", "colour")):
        res = goman("config", *args)
        assert res.exit_code == 2, res.output
        assert "Unknown config key 'colour'" in res.stderr
        assert "api_cidrs" in res.stderr  # the known keys are listed


def test_profiles_are_isolated(goman: Any, s3: Any) -> None:
    assert goman("--profile", "team-a", "config", "set", "workers", "2").exit_code == 0
    assert goman("config", "set", "workers", "5", env={"AWS_PROFILE": "team-b"}).exit_code == 0
    assert goman("--profile", "team-a", "config", "get", "workers").stdout == "2\n"
    assert goman("--profile", "team-b", "config", "get", "workers").stdout == "5\n"
    assert goman("config", "get", "workers").stdout == "0\n"
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert keys == ["state/team-a/config.json", "state/team-b/config.json"]


def test_two_processes_of_one_profile_share_state(goman_proc: Any) -> None:
    wrote = goman_proc("--profile", "team-a", "config", "set", "instance_type", "m5.large")
    assert wrote.exit_code == 0, wrote.output
    read = goman_proc("--profile", "team-a", "config", "get", "instance_type")
    assert read.exit_code == 0, read.output
    assert read.stdout == "m5.large\n"
