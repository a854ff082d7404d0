"""The standard-library fast path signs exactly as botocore does, is used for the hot
reads when credentials are simple, and steps aside for anything else."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from goman.aws.lite import Credentials, resolve_credentials, sign

NOW = datetime(2026, 11, 26, 6, 30, 0, tzinfo=UTC)


@pytest.mark.parametrize("token", [None, "session-token-value"])
def test_s3_get_signature_matches_botocore(
    token: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "https://goman-123456789012.s3.ap-south-1.amazonaws.com/state/default/clusters/clusters.json"
    ours = sign(
        "GET",
        url,
        {"x-amz-expected-bucket-owner": "123456789012"},
        b"",
        Credentials("AKIDEXAMPLE", "secret/key+value", token),
        "s3",
        now=NOW,
    )
    request = AWSRequest(
        method="GET", url=url, headers={"x-amz-expected-bucket-owner": "123456789012"}
    )
    monkeypatch.setattr("botocore.auth.datetime.datetime", _Frozen)
    S3SigV4Auth(
        BotoCredentials("AKIDEXAMPLE", "secret/key+value", token), "s3", "ap-south-1"
    ).add_auth(request)
    assert ours["authorization"] == request.headers["Authorization"]


def test_sts_post_signature_matches_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "http://127.0.0.1:4566/"
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    headers = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}
    ours = sign("POST", url, headers, body, Credentials("AKID", "SECRET"), "sts", now=NOW)
    request = AWSRequest(method="POST", url=url, headers=dict(headers), data=body)
    monkeypatch.setattr("botocore.auth.datetime.datetime", _Frozen)
    SigV4Auth(BotoCredentials("AKID", "SECRET"), "sts", "ap-south-1").add_auth(request)
    assert ours["authorization"] == request.headers["Authorization"]


class _Frozen(datetime):
    @classmethod
    def utcnow(cls) -> datetime:  # type: ignore[override]
        return NOW.replace(tzinfo=None)

    @classmethod
    def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
        return NOW if tz else NOW.replace(tzinfo=None)


def _files(tmp_path: Path, config: str, creds: str = "") -> dict[str, str]:
    (tmp_path / "config").write_text(config)
    (tmp_path / "credentials").write_text(creds)
    return {
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
    }


@pytest.mark.parametrize(
    "profile_lines",
    [
        "role_arn = arn:aws:iam::123456789012:role/x\nsource_profile = base",
        "credential_process = /bin/false",
        "sso_session = corp\nsso_account_id = 123456789012",
        "endpoint_url = http://127.0.0.1:9",
    ],
)
def test_anything_but_static_keys_is_left_to_botocore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, profile_lines: str
) -> None:
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    env = _files(
        tmp_path,
        f"[profile team]\naws_access_key_id = A\naws_secret_access_key = S\n{profile_lines}\n",
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert resolve_credentials("team", explicit=True) is None


def test_static_keys_resolve_like_botocore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    env = _files(
        tmp_path,
        "[profile team]\nregion = ap-south-1\n",
        "[team]\naws_access_key_id = FROMFILE\naws_secret_access_key = S\n",
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # An explicit profile ignores environment keys, as botocore does.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "FROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "S")
    found = resolve_credentials("team", explicit=True)
    assert found is not None and found.access_key == "FROMFILE"
    found = resolve_credentials("default", explicit=False)
    assert found is not None and found.access_key == "FROMENV"


LIST_AND_REPORT_SDK = (
    "import sys\n"
    "from goman.cli.main import main\n"
    "try:\n"
    "    main(['cluster', 'list', '-o', 'json'])\n"
    "except SystemExit as exc:\n"
    "    assert exc.code == 0, exc.code\n"
    "loaded = sorted(m for m in sys.modules if m.split('.')[0] in {'boto3', 'botocore'})\n"
    "print('SDK:', loaded[:1])\n"
)


def _list(env: dict[str, str]) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", LIST_AND_REPORT_SDK],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()


def test_cluster_list_needs_no_aws_sdk(goman: Any, aws_env: dict[str, str]) -> None:
    """With plain keys and an existing bucket, `cluster list` never imports boto3/botocore."""
    assert goman("init").exit_code == 0
    lines = _list(aws_env)
    assert lines[0] == "[]"
    assert lines[-1] == "SDK: []"


def test_missing_bucket_falls_back_to_botocore_and_is_created(
    aws_env: dict[str, str], s3: Any
) -> None:
    """The fast path only knows success: a missing bucket is botocore's to handle, and the
    bucket is created on first use as with any command."""
    lines = _list(aws_env)
    assert lines[0] == "[]"
    assert lines[-1] == "SDK: ['boto3']"
    assert s3.get_bucket_versioning(Bucket="goman-123456789012")["Status"] == "Enabled"
