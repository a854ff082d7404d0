"""`goman init`, `status`, `doctor` and `iam-policy` through the CLI against the sandbox."""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests.conftest import ACCOUNT, BUCKET

OTHER_ACCOUNT = "111111111111"


def test_init_creates_then_finds_and_is_idempotent(goman: Any, s3: Any) -> None:
    first = goman("init", "-o", "json")
    assert first.exit_code == 0, first.output
    data = first.json()
    assert data["bucket"] == BUCKET and data["account"] == ACCOUNT
    assert data["bucket_created"] is True and data["config_created"] is True
    assert data["versioning"] == "Enabled" and data["region"] == "ap-south-1"
    assert data["hardening"] == {
        "public_access_block": True,
        "encryption": True,
        "encryption_type": "AES256",
        "tls_only_policy": True,
    }
    body = s3.get_object(Bucket=BUCKET, Key="state/default/config.json")["Body"].read()
    assert json.loads(body)["revision"] == 1
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"

    again = goman("init")
    assert again.exit_code == 0, again.output
    assert "Found state bucket s3://goman-123456789012" in again.stdout
    assert "Found s3://goman-123456789012/state/default/config.json (revision 1)" in again.stdout
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix="state/default/config.json")
    assert len(versions["Versions"]) == 1  # nothing rewritten


def test_init_enables_versioning_on_an_existing_bucket(goman: Any, s3: Any) -> None:
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-south-1"})
    doctor = goman("doctor", "-o", "json")
    assert doctor.exit_code == 1
    failed = [c for c in doctor.json()["checks"] if c["status"] == "fail"]
    assert [c["name"] for c in failed] == ["bucket versioning"]
    assert "goman init" in failed[0]["fix"]

    res = goman("init", "-o", "json")
    assert res.exit_code == 0, res.output
    assert res.json()["bucket_created"] is False
    assert res.json()["versioning_enabled_now"] is True
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"


def test_status_json_reports_bucket_hardening_and_counts(goman: Any, s3: Any) -> None:
    assert goman("init").exit_code == 0
    for profile, name in (("default", "web"), ("default", "db"), ("team-a", "other")):
        made = goman("--profile", profile, "cluster", "create", name, "--detach")
        assert made.exit_code == 0, made.output
    res = goman("status", "-o", "json")
    assert res.exit_code == 0, res.output
    data = res.json()
    assert {k: data[k] for k in ("account", "profile", "bucket", "region", "prefix")} == {
        "account": ACCOUNT,
        "profile": "default",
        "bucket": BUCKET,
        "region": "ap-south-1",
        "prefix": "state/default/",
    }
    assert data["versioning"] == "Enabled"
    assert data["hardening"]["public_access_block"] is True
    assert data["hardening"]["tls_only_policy"] is True
    # From the index and the queue (two GETs), not from listing every object.
    assert data["counts"] == {"clusters": 2, "jobs": 2}
    assert data["objects"] is None
    table = goman("status")
    assert "Public access block: on" in table.stdout and "Clusters:" in table.stdout


def test_every_command_creates_the_bucket_on_first_use(goman: Any, s3: Any) -> None:
    res = goman("state", "ls", "-o", "json")
    assert res.exit_code == 0, res.output
    assert res.json() == []
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"


def test_doctor_passes_after_init(goman: Any) -> None:
    assert goman("init").exit_code == 0
    res = goman("doctor", "-o", "json")
    assert res.exit_code == 0, res.output
    data = res.json()
    assert data["ok"] is True and data["summary"]["fail"] == 0
    names = {c["name"]: c["status"] for c in data["checks"]}
    for name in ("profile", "credentials", "identity", "bucket", "bucket region"):
        assert names[name] == "pass"
    assert names["bucket versioning"] == "pass"
    assert names["state history"] == "pass"
    assert names["config.json"] == "pass"
    assert names["ec2 permissions"] == "pass"
    text = goman("doctor")
    assert text.exit_code == 0 and "0 failed" in text.stdout


def test_doctor_writes_nothing(goman: Any, s3: Any) -> None:
    res = goman("doctor", "-o", "json")
    assert res.exit_code == 0, res.output
    bucket = next(c for c in res.json()["checks"] if c["name"] == "bucket")
    assert bucket["status"] == "warn" and "goman init" in bucket["fix"]
    assert s3.list_buckets()["Buckets"] == []


def test_bucket_in_another_region_is_refused(goman: Any) -> None:
    us = boto3.client("s3", region_name="us-east-1")
    us.create_bucket(Bucket=BUCKET)
    res = goman("init")
    assert res.exit_code == 1
    assert "goman-123456789012 is in us-east-1, not ap-south-1" in res.stderr
    assert "Traceback" not in res.output


def _other_account_s3() -> Any:
    sts = boto3.client("sts", region_name="ap-south-1")
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/squatter", RoleSessionName="squat"
    )["Credentials"]
    return boto3.client(
        "s3",
        region_name="ap-south-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def test_squatted_bucket_is_refused_and_nothing_is_written(goman: Any) -> None:
    other = _other_account_s3()
    other.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-south-1"}
    )
    for args in (("init",), ("config", "set", "workers", "2"), ("status", "-o", "json")):
        res = goman(*args)
        assert res.exit_code == 1, (args, res.output)
        assert "goman-123456789012 is owned by another AWS account" in res.stderr, args
        assert "Nothing was written" in res.stderr
        assert "Traceback" not in res.output
    assert other.list_object_versions(Bucket=BUCKET).get("Versions", []) == []
    assert other.get_bucket_versioning(Bucket=BUCKET).get("Status") is None
    doctor = goman("doctor", "-o", "json")
    assert doctor.exit_code == 1
    bucket = next(c for c in doctor.json()["checks"] if c["name"] == "bucket")
    assert bucket["status"] == "fail"


SEED_EC2 = [
    "ec2:DescribeImages",
    "ec2:DescribeInstances",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeVpcs",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:CreateSecurityGroup",
    "ec2:DeleteSecurityGroup",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:RunInstances",
    "ec2:TerminateInstances",
    "ec2:CreateTags",
    "ec2:DescribeAddresses",
    "ec2:AllocateAddress",
    "ec2:AssociateAddress",
    "ec2:DisassociateAddress",
    "ec2:ReleaseAddress",
    "ec2:DescribeVolumes",
    "ec2:DeleteVolume",
    "ec2:DescribeRegions",
    "ec2:DescribeInstanceTypeOfferings",
]


def test_iam_policy_prints_the_seed_policy(goman: Any) -> None:
    res = goman("iam-policy")
    assert res.exit_code == 0
    policy = json.loads(res.stdout)
    grants = {(json.dumps(s["Resource"]), a) for s in policy["Statement"] for a in s["Action"]}
    expected = {('"*"', "sts:GetCallerIdentity")}
    expected |= {
        ('"arn:aws:s3:::goman-*"', a)
        for a in (
            "s3:CreateBucket",
            "s3:ListBucket",
            "s3:GetBucketLocation",
            "s3:GetBucketVersioning",
            "s3:PutBucketVersioning",
        )
    }
    expected |= {
        ('"arn:aws:s3:::goman-*/*"', a)
        for a in (
            "s3:GetObject",
            "s3:PutObject",
            "s3:PutObjectTagging",  # secrets are written with their tag
            "s3:DeleteObject",
        )
    }
    expected |= {('"*"', a) for a in SEED_EC2}
    # Stop and start: only instances, only those tagged with a cluster id.
    instances = '"arn:aws:ec2:*:*:instance/*"'
    expected |= {(instances, "ec2:StopInstances"), (instances, "ec2:StartInstances")}
    assert grants == expected
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])


def test_iam_policy_optional_is_a_separate_document(goman: Any) -> None:
    res = goman("iam-policy", "--optional")
    assert res.exit_code == 0
    actions = {a for s in json.loads(res.stdout)["Statement"] for a in s["Action"]}
    assert {
        "s3:ListBucketVersions",
        "s3:GetObjectVersion",
        "s3:DeleteObjectVersion",
        "s3:PutBucketPublicAccessBlock",
        "s3:GetBucketPublicAccessBlock",
        "s3:PutEncryptionConfiguration",
        "s3:GetEncryptionConfiguration",
        "s3:PutBucketPolicy",
        "s3:GetBucketPolicy",
        "s3:GetLifecycleConfiguration",
        "s3:PutLifecycleConfiguration",
        "kms:GenerateDataKey",
        "kms:Decrypt",
    } == actions
    explain = goman("iam-policy", "--explain")
    assert "s3:ListBucketVersions" in explain.stdout and "state history" in explain.stdout
    assert "--optional" in goman("iam-policy", "--help").stdout


def test_help_and_iam_policy_import_no_aws_sdk() -> None:
    """`--help` of these commands and `iam-policy` stay as cheap as Click itself."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from goman.cli.main import cli\n"
        "for args in (['state', '--help'], ['config', '--help'], ['doctor', '--help'],\n"
        "             ['state', 'migrate', '--help'], ['iam-policy'], ['iam-policy', '--optional']):\n"
        "    assert CliRunner().invoke(cli, args).exit_code == 0, args\n"
        "print(sorted(m for m in ('boto3', 'botocore', 'pydantic', 'textual') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
