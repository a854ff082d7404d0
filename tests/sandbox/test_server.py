"""The sandbox closes moto's gaps: owner checks, TLS-only policies, atomic CAS, AMIs."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from goman.state.bucket import tls_only_policy

ACCOUNT = "123456789012"
BUCKET = f"goman-{ACCOUNT}"


@pytest.fixture
def bucket(s3: Any) -> str:
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-south-1"})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return BUCKET


def test_expected_bucket_owner_is_enforced(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"1", ExpectedBucketOwner=ACCOUNT)
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="k", ExpectedBucketOwner="111111111111")
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as err:
        s3.head_bucket(Bucket=bucket, ExpectedBucketOwner="111111111111")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_tls_only_policy_is_stored_but_does_not_lock_out_io(s3: Any, bucket: str) -> None:
    policy = tls_only_policy(bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=policy)
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(policy)
    s3.put_object(Bucket=bucket, Key="after-policy", Body=b"ok")
    assert s3.get_object(Bucket=bucket, Key="after-policy")["Body"].read() == b"ok"


def test_conditional_writes_are_atomic_under_threads(
    s3: Any, bucket: str, aws_env: dict[str, str]
) -> None:
    s3.put_object(Bucket=bucket, Key="counter", Body=b"0")
    per_thread, threads = 25, 6

    def worker() -> None:
        client = boto3.client("s3", region_name="ap-south-1")
        done = 0
        while done < per_thread:
            got = client.get_object(Bucket=bucket, Key="counter")
            value = int(got["Body"].read())
            try:
                client.put_object(
                    Bucket=bucket, Key="counter", Body=str(value + 1).encode(), IfMatch=got["ETag"]
                )
                done += 1
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "PreconditionFailed"

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert int(s3.get_object(Bucket=bucket, Key="counter")["Body"].read()) == per_thread * threads


def test_current_ubuntu_lts_images(ec2: Any) -> None:
    images = ec2.describe_images(
        Owners=["099720109477"],
        Filters=[
            {"Name": "name", "Values": ["ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-*-server-*"]},
            {"Name": "architecture", "Values": ["arm64"]},
        ],
    )["Images"]
    assert [i["Name"] for i in images] == [
        "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-20251112"
    ]
