"""Validation is exact and happens before anything is written.

Every pattern matches the whole value (a trailing newline is not a valid name).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import BUCKET


def _state_keys(s3: Any) -> list[str]:
    if not s3.list_buckets()["Buckets"]:
        return []
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="state/").get("Contents", [])
    return sorted(o["Key"] for o in listed)


@pytest.mark.parametrize(
    "args",
    [
        ("config", "set", "k3s_version", "v1.33.3+k3s1\n"),
        ("config", "set", "instance_type", "t3.medium\n"),
        ("config", "set", "region", "ap-south-1\n"),
        ("config", "set", "kms_key_id", "alias/goman\n"),
        ("cluster", "create", "web\n", "--detach"),
        ("cluster", "create", "web", "--instance-type", "t3.medium\n", "--detach"),
        ("cluster", "create", "web", "--region", "ap-south-1\n", "--detach"),
        ("cluster", "create", "web", "--k3s-version", "v1.33.3+k3s1\n", "--detach"),
        ("--profile", "team\n", "config", "show"),
    ],
    ids=lambda a: " ".join(a).replace("\n", "\\n"),
)
def test_a_trailing_newline_is_a_usage_error(goman: Any, s3: Any, args: tuple[str, ...]) -> None:
    res = goman(*args)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert _state_keys(s3) == []


def test_a_stored_value_with_a_trailing_newline_is_invalid(goman: Any, s3: Any) -> None:
    """Reads validate as exactly as writes: a forged config.json is reported, not used."""
    assert goman("init").exit_code == 0
    forged = {"schema_version": 1, "revision": 2, "k3s_version": "v1.33.3+k3s1\n"}
    s3.put_object(Bucket=BUCKET, Key="state/default/config.json", Body=json.dumps(forged))
    res = goman("config", "show")
    assert res.exit_code == 1
    assert "k3s_version" in res.stderr and "is invalid" in res.stderr
