"""goman under exactly the seed IAM policy, with the sandbox enforcing IAM.

moto checks IAM policies once `POST /moto-api/reset-auth` gets `0`; `inf` turns the checks
off again. The sandbox is shared by the whole test session, so the checks are always
turned off again when a test ends, whatever happened.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from goman.aws.iam_policy import seed_policy
from goman.sandbox.server import SandboxServer
from tests.conftest import BUCKET

Enforce = Callable[[dict[str, Any] | None], dict[str, str]]


def _reset_auth(sandbox: SandboxServer, value: bytes) -> None:
    req = urllib.request.Request(
        f"{sandbox.endpoint}/moto-api/reset-auth",
        data=value,
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(req, timeout=10).read()


@pytest.fixture
def iam_user(sandbox: SandboxServer, aws_env: dict[str, str]) -> Iterator[Enforce]:
    """Create a user with the given policy, turn IAM checks on, return its credentials."""
    iam = boto3.client("iam", region_name="us-east-1")
    made: list[int] = []

    def make(policy: dict[str, Any] | None) -> dict[str, str]:
        name = f"user{len(made)}"
        _reset_auth(sandbox, b"inf")  # a second user is made with the checks off too
        iam.create_user(UserName=name)
        if policy is not None:
            iam.put_user_policy(
                UserName=name, PolicyName="goman", PolicyDocument=json.dumps(policy)
            )
        key = iam.create_access_key(UserName=name)["AccessKey"]
        made.append(1)
        _reset_auth(sandbox, b"0")
        return {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        }

    try:
        yield make
    finally:
        _reset_auth(sandbox, b"inf")


def test_everything_basic_works_with_only_the_seed_policy(goman: Any, iam_user: Enforce) -> None:
    env = iam_user(seed_policy())
    init = goman("init", "-o", "json", env=env)
    assert init.exit_code == 0, init.output
    data = init.json()
    assert data["bucket_created"] is True and data["versioning"] == "Enabled"
    assert data["conditional_writes"] == "verified"  # the probe needs nothing more
    # Hardening is not in the seed policy: each control is one warning, not a failure.
    assert data["hardening"]["public_access_block"] is None
    assert data["hardening"]["encryption"] is None
    assert data["hardening"]["tls_only_policy"] is None
    warnings = "\n".join(data["warnings"])
    for action in (
        "s3:PutBucketPublicAccessBlock",
        "s3:PutEncryptionConfiguration",
        "s3:PutBucketPolicy",
    ):
        assert action in warnings

    status = goman("status", "-o", "json", env=env)
    assert status.exit_code == 0, status.output
    assert status.json()["account"] == "123456789012"
    assert set(status.json()["hardening"].values()) == {None}

    assert goman("config", "set", "workers", "3", env=env).exit_code == 0
    assert goman("config", "get", "workers", env=env).stdout == "3\n"
    ls = goman("state", "ls", "-o", "json", env=env)
    # The probe's record stays; its scratch key does not.
    assert ls.exit_code == 0
    assert [r["key"] for r in ls.json()] == ["config.json", "probe/conditional-writes.json"]

    history = goman("state", "history", "config.json", env=env)
    assert history.exit_code == 1
    assert "s3:ListBucketVersions" in history.stderr and "goman iam-policy" in history.stderr
    assert "Traceback" not in history.output

    doctor = goman("doctor", "-o", "json", env=env)
    assert doctor.exit_code == 0, doctor.output
    checks = {c["name"]: c for c in doctor.json()["checks"]}
    assert checks["state history"]["status"] == "warn"
    assert checks["bucket public access block"]["status"] == "warn"
    assert checks["ec2 permissions"]["status"] == "pass"
    assert doctor.json()["summary"]["fail"] == 0


def test_optional_permissions_enable_history(goman: Any, iam_user: Enforce) -> None:
    from goman.aws.iam_policy import optional_policy

    policy = seed_policy()
    policy["Statement"] += optional_policy()["Statement"]
    env = iam_user(policy)
    init = goman("init", "-o", "json", env=env)
    assert init.exit_code == 0, init.output
    assert init.json()["warnings"] == []
    assert set(init.json()["hardening"].values()) == {True, "AES256"}
    history = goman("state", "history", "config.json", "-o", "json", env=env)
    assert history.exit_code == 0, history.output
    assert len(history.json()) == 1


def test_a_denied_ec2_action_fails_doctor_by_name(goman: Any, iam_user: Enforce) -> None:
    policy = seed_policy()
    ec2 = next(s for s in policy["Statement"] if s["Sid"] == "GomanEc2")
    ec2["Action"].remove("ec2:RunInstances")
    env = iam_user(policy)
    assert goman("init", env=env).exit_code == 0
    doctor = goman("doctor", "-o", "json", env=env)
    assert doctor.exit_code == 1
    failed = [c for c in doctor.json()["checks"] if c["status"] == "fail"]
    assert [c["name"] for c in failed] == ["ec2 ec2:RunInstances"]
    assert "Grant ec2:RunInstances" in failed[0]["fix"]


def test_access_denied_names_the_missing_action(goman: Any, iam_user: Enforce) -> None:
    env = iam_user(None)
    res = goman("init", env=env)
    assert res.exit_code == 1
    assert "Access denied" in res.stderr and "s3:CreateBucket" in res.stderr
    assert "goman iam-policy" in res.stderr
    assert "Traceback" not in res.output


def test_the_whole_lifecycle_runs_under_exactly_the_seed_policy(
    goman: Any, iam_user: Enforce, tmp_path: Path
) -> None:
    """create, scale, kubeconfig, worker, resources and delete: every request (the nodes'
    presigned URLs included) checked against the seed policy and nothing more."""
    env = iam_user(seed_policy())
    steps: list[tuple[str, ...]] = [
        ("init",),
        ("cluster", "create", "web", "--workers", "1", "--timeout", "60s"),
        ("cluster", "scale", "web", "--workers", "2", "--detach"),
        ("worker", "--once"),
        ("cluster", "kubeconfig", "web", "--file", str(tmp_path / "web.yaml")),
        ("cluster", "kubeconfig", "web", "--merge"),
        ("resources", "list", "-o", "json"),
        ("cluster", "delete", "web", "--yes"),
    ]
    for args in steps:
        res = goman(*args, env=env)
        assert res.exit_code == 0, (args, res.output)
        if args[:2] == ("worker", "--once"):
            got = goman("cluster", "get", "web", "-o", "json", env=env).json()
            assert got["phase"] == "Running"
            assert sorted(n["phase"] for n in got["nodes"]) == ["ready"] * 3
        if args[0] == "resources":
            rows = res.json()
            assert {r["type"] for r in rows} >= {"instance", "security-group", "elastic-ip"}
            assert {r["status"] for r in rows} == {"ok"}, rows
    gone = goman("cluster", "list", "-o", "json", env=env)
    assert gone.exit_code == 0 and gone.json() == []
    left = goman("resources", "list", "-o", "json", env=env)
    assert left.exit_code == 0 and left.json() == []


def _presigned(env: dict[str, str], method: str, key: str, **params: Any) -> str:
    s3 = boto3.client(
        "s3",
        region_name="ap-south-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    operation = {"GET": "get_object", "PUT": "put_object"}[method]
    return str(
        s3.generate_presigned_url(
            operation, Params={"Bucket": BUCKET, "Key": key, **params}, ExpiresIn=600
        )
    )


def _fetch(url: str, method: str = "GET", data: bytes | None = None, **headers: str) -> int:
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_presigned_urls_are_checked_like_every_other_request(
    goman: Any, iam_user: Enforce, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = iam_user(seed_policy())
    assert goman("init", env=env).exit_code == 0
    owner = {"x-amz-expected-bucket-owner": "123456789012"}
    put = _presigned(
        env,
        "PUT",
        "state/default/probe.json",
        ContentType="application/json",
        ExpectedBucketOwner="123456789012",
    )
    assert _fetch(put, "PUT", b"{}", **owner, **{"Content-Type": "application/json"}) == 200
    get = _presigned(env, "GET", "state/default/probe.json", ExpectedBucketOwner="123456789012")
    assert _fetch(get, **owner) == 200
    # Tampered with: another key under the same signature.
    assert _fetch(get.replace("probe.json", "config.json"), **owner) == 403
    # A signed header that is not sent as signed.
    assert _fetch(get, **{"x-amz-expected-bucket-owner": "111111111111"}) == 403
    # Signed by an identity whose policy does not allow it.
    nobody = iam_user(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}],
        }
    )
    denied = _presigned(nobody, "GET", "state/default/probe.json")
    assert _fetch(denied) == 403
    # Signed by a key that does not exist.
    unknown = _presigned(
        {"AWS_ACCESS_KEY_ID": "AKIAUNKNOWNUNKNOWN00", "AWS_SECRET_ACCESS_KEY": "x"},
        "GET",
        "state/default/probe.json",
    )
    assert _fetch(unknown) == 403
    # Expired: signed two hours ago for ten minutes.
    from datetime import UTC, datetime, timedelta

    then = datetime.now(UTC) - timedelta(hours=2)

    class _Then(datetime):
        @classmethod
        def utcnow(cls) -> datetime:  # type: ignore[override]
            return then.replace(tzinfo=None)

        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return then if tz else then.replace(tzinfo=None)

    with monkeypatch.context() as patched:
        patched.setattr("botocore.auth.datetime.datetime", _Then)
        old = _presigned(env, "GET", "state/default/probe.json", ExpectedBucketOwner="123456789012")
    assert "X-Amz-Date=" + then.strftime("%Y%m%d") in old
    assert _fetch(old, **owner) == 403
