"""The sandbox is honest: found when it runs, said when it does not, closed to web pages,
and able to enforce IAM on every request (presigned URLs included)."""

from __future__ import annotations

import http.client
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from goman.sandbox.runtime import activate
from goman.sandbox.server import HEALTH_PATH, SandboxServer
from tests.conftest import BUCKET


def _get(
    sandbox: SandboxServer, path: str, method: str = "GET", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    try:
        body = b"x=1" if method == "POST" else None
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_health_is_small_and_names_the_sandbox(sandbox: SandboxServer) -> None:
    status, _, body = _get(sandbox, HEALTH_PATH)
    assert status == 200 and len(body) < 200
    assert json.loads(body)["service"] == "goman-sandbox"


def test_a_busy_sandbox_is_still_found(sandbox: SandboxServer, aws_env: dict[str, str]) -> None:
    """A reset holds every lock of the sandbox (as moto's first EC2 call holds EC2's for
    seconds): a goman looking for a running sandbox must find it anyway, not start an
    empty one."""
    with sandbox.app.everything.writing():
        activation = activate("default", port=sandbox.port)
    try:
        assert not activation.embedded
        assert os.environ["AWS_ENDPOINT_URL"] == sandbox.endpoint
        assert activation.endpoint == sandbox.endpoint
    finally:
        activation()


def test_ten_commands_all_find_a_running_sandbox(
    sandbox: SandboxServer, aws_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**os.environ, "GOMAN_SANDBOX_PORT": str(sandbox.port)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "goman", "--sandbox", "config", "set", "workers", str(i)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(1, 11)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "embedded" not in err
    # Every write landed in the one running sandbox: ten revisions of one document.
    import boto3

    body = boto3.client("s3", region_name="ap-south-1").get_object(
        Bucket=BUCKET, Key="state/default/config.json"
    )["Body"]
    assert json.loads(body.read())["revision"] == 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_embedded_sandbox_says_its_state_is_lost(aws_env: dict[str, str]) -> None:
    env = {**os.environ, "GOMAN_SANDBOX_PORT": str(_free_port())}
    proc = subprocess.run(
        [sys.executable, "-m", "goman", "--sandbox", "config", "show", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    said = [line for line in proc.stderr.splitlines() if "embedded" in line]
    assert len(said) == 1 and "state is lost on exit" in said[0]
    assert env["GOMAN_SANDBOX_PORT"] in said[0]


# -- no web page may read or reset the sandbox ---------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/moto-api/data.json", {"Origin": "https://evil.example"}),
        ("GET", "/moto-api/data.json", {"Origin": "null"}),
        ("OPTIONS", "/moto-api/reset", {"Origin": "https://evil.example"}),
        # A plain form post: no preflight, but browsers send Origin with every POST.
        ("POST", "/moto-api/reset", {"Origin": "https://evil.example"}),
        ("POST", "/moto-api/reset", {"Sec-Fetch-Site": "cross-site"}),
        # DNS rebinding: evil.example now resolves to 127.0.0.1, the Host header tells.
        ("GET", "/moto-api/data.json", {"Host": "evil.example:4566"}),
        ("POST", "/moto-api/reset", {"Host": "evil.example"}),
    ],
    ids=["origin", "null-origin", "preflight", "form-post", "fetch-site", "rebind-get", "rebind"],
)
def test_requests_a_browser_could_make_are_refused(
    sandbox: SandboxServer, s3: Any, method: str, path: str, headers: dict[str, str]
) -> None:
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-south-1"})
    status, got, body = _get(sandbox, path, method, **headers)
    assert status == 403, body
    assert not any(k.startswith("access-control-") for k in got)
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [BUCKET]  # not reset


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", f"{BUCKET}.localhost", "[::1]", "127.9.8.7"]
)
def test_loopback_names_are_served(sandbox: SandboxServer, host: str) -> None:
    status, _, _ = _get(sandbox, HEALTH_PATH, Host=f"{host}:{sandbox.port}")
    assert status == 200


def test_every_region_it_lists_offers_instance_types(ec2: Any) -> None:
    import boto3

    regions = [r["RegionName"] for r in ec2.describe_regions()["Regions"]]
    assert "ap-south-1" in regions and "eu-west-1" in regions
    assert not [r for r in regions if r.startswith(("cn-", "us-gov-"))]
    for region in regions:
        offers = boto3.client("ec2", region_name=region).describe_instance_type_offerings(
            LocationType="region"
        )["InstanceTypeOfferings"]
        assert offers and {o["Location"] for o in offers} == {region}, region


# -- `goman sandbox serve --enforce-iam` ---------------------------------------------------------


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start `goman sandbox serve` as its own process (its own moto); read what it prints."""
    started: list[subprocess.Popen[str]] = []

    def run(*args: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GOMAN_"))}
        proc = subprocess.Popen(
            [sys.executable, "-m", "goman", "sandbox", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        started.append(proc)
        lines: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        out = proc.stdout

        def pump() -> None:
            for line in out:
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        printed: dict[str, str] = {}
        while "GOMAN_CHECKIP_URL" not in printed:
            line = lines.get(timeout=60)
            if line.startswith("export "):
                key, _, value = line[len("export ") :].strip().partition("=")
                printed[key] = value
        return printed

    yield run
    for proc in started:
        proc.terminate()
        proc.wait(timeout=30)


def _env_for(printed: dict[str, str], home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GOMAN_"))}
    home.mkdir(exist_ok=True)
    return {
        **env,
        **printed,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "HOME": str(home),
    }


def _goman(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "goman", *args], env=env, capture_output=True, text=True, timeout=180
    )


def test_serve_prints_its_checkip_route(serve: Any) -> None:
    printed = serve()
    assert printed["AWS_ACCESS_KEY_ID"] == "testing"
    with urllib.request.urlopen(printed["GOMAN_CHECKIP_URL"], timeout=10) as resp:
        assert resp.read() == b"127.0.0.1\n"


def test_serve_enforce_iam_runs_goman_under_exactly_the_seed_policy(
    serve: Any, tmp_path: Path
) -> None:
    printed = serve("--enforce-iam", "--boot-delay", "0.2")
    assert printed["AWS_ACCESS_KEY_ID"] != "testing"
    env = _env_for(printed, tmp_path / "home")
    for args in (
        ("init",),
        ("cluster", "create", "web", "--timeout", "60s"),
        ("cluster", "delete", "web", "--yes"),
    ):
        res = _goman(env, *args)
        assert res.returncode == 0, (args, res.stderr)
        if args == ("init",):  # the lifecycle rule is optional: said once, not fatal
            said = [line for line in res.stderr.splitlines() if "s3:GetLifecycle" in line]
            assert len(said) == 1 and "GomanSecretExpiry" in said[0], res.stderr
    # Without the right to list (and delete) versions, the delete says once what remains.
    warned = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "s3:ListBucketVersions" in warned[0], res.stderr
    assert "clusters/web/" in warned[0]
    # Outside the policy: named, and refused.
    history = _goman(env, "state", "history", "config.json")
    assert history.returncode == 1 and "s3:ListBucketVersions" in history.stderr
    # The sandbox's well-known keys are not an identity there.
    anyone = _goman({**env, "AWS_ACCESS_KEY_ID": "testing"}, "cluster", "list")
    assert anyone.returncode == 1, anyone.stderr
    # Nor can a request take the identity (or the checks) away.
    for path, data in (("/moto-api/reset", b""), ("/moto-api/reset-auth", b"inf")):
        request = urllib.request.Request(
            printed["AWS_ENDPOINT_URL"] + path, data=data, method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=10)
        assert err.value.code == 403


def test_serve_enforce_iam_with_a_policy_file(serve: Any, tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["sts:GetCallerIdentity"], "Resource": "*"}
                ],
            }
        )
    )
    printed = serve("--enforce-iam", "--policy", str(policy))
    res = _goman(_env_for(printed, tmp_path / "home"), "init")
    assert res.returncode == 1
    assert "s3:CreateBucket" in res.stderr
