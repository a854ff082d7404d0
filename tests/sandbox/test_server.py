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


def _environ(method: str, service: str, body: bytes = b"") -> dict[str, Any]:
    import io

    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": "/goman-123456789012/state/default/x.json" if service == "s3" else "/",
        "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential=k/20260101/ap-south-1/{service}/"
        "aws4_request, SignedHeaders=host, Signature=0",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }


def test_requests_wait_only_for_what_must_be_atomic(sandbox: Any) -> None:
    """S3 reads run together, an S3 write runs alone among S3 requests, and EC2 requests
    do not wait for S3 at all (the sandbox's locks, taken as requests take them)."""
    app = sandbox.app
    held = threading.Event()
    release = threading.Event()

    def hold(environ: dict[str, Any]) -> None:
        with app._locked(environ):
            held.set()
            release.wait(10)

    def enters(environ: dict[str, Any]) -> bool:
        """Whether a request like this gets in while the held one runs."""
        got = threading.Event()

        def go() -> None:
            with app._locked(environ):
                got.set()

        thread = threading.Thread(target=go, daemon=True)
        thread.start()
        entered = got.wait(0.5)
        return entered

    reader = threading.Thread(target=hold, args=(_environ("GET", "s3"),), daemon=True)
    reader.start()
    assert held.wait(5)
    try:
        assert enters(_environ("GET", "s3"))  # reads together
        assert enters(_environ("POST", "ec2", b"Action=RunInstances&Version=2016-11-15"))
        assert not enters(_environ("PUT", "s3", b"{}"))  # a write waits for the read
    finally:
        release.set()
        reader.join(5)
    # (the write that waited gets in once the read is done)

    held.clear()
    release.clear()
    writer = threading.Thread(target=hold, args=(_environ("PUT", "s3", b"{}"),), daemon=True)
    writer.start()
    assert held.wait(5)
    try:
        assert not enters(_environ("GET", "s3"))  # nothing of S3 beside a write
        assert enters(_environ("POST", "ec2", b"Action=DescribeInstances&Version=2016-11-15"))
        assert enters(_environ("POST", "sts", b"Action=GetCallerIdentity&Version=2011-06-15"))
    finally:
        release.set()
        writer.join(5)
