"""Shared fixtures: one sandbox server for the session (moto's first EC2 call costs seconds),
reset before each test; goman driven through its CLI, in-process or as a real subprocess.

Everything here talks to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from goman.cli.main import cli
from goman.sandbox.runtime import sandbox_config
from goman.sandbox.server import SANDBOX_CREDENTIALS, SandboxServer, checkip_url

ACCOUNT = "123456789012"
BUCKET = f"goman-{ACCOUNT}"
# Emulated nodes report ready this long after launch (each reset restores it).
TEST_BOOT_DELAY = 0.3


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    from goman.sandbox.runtime import default_server

    server = default_server(0, boot_delay=TEST_BOOT_DELAY)
    try:
        yield server
    finally:
        server.stop()


def reset_sandbox(server: SandboxServer) -> None:
    req = urllib.request.Request(f"{server.endpoint}/moto-api/reset", method="POST", data=b"")
    urllib.request.urlopen(req, timeout=10).read()


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def aws_env(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """A clean account on the shared sandbox, and the environment that reaches it."""
    reset_sandbox(sandbox)
    config = tmp_path / "aws-config"
    text = sandbox_config("default")
    for extra in ("team-a", "team-b"):
        text += "\n" + sandbox_config(extra).split("\n\n", 1)[1]
    config.write_text(text)
    env = {
        **SANDBOX_CREDENTIALS,
        "AWS_ENDPOINT_URL": sandbox.endpoint,
        # "What is my address" is asked of the sandbox too: tests never leave loopback.
        "GOMAN_CHECKIP_URL": checkip_url(sandbox.endpoint),
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "HOME": str(tmp_path / "home"),
        "KUBECONFIG": str(tmp_path / "home" / ".kube" / "config"),
    }
    (tmp_path / "home").mkdir()
    for key in list(os.environ):
        if key.startswith("AWS_") and key not in env:
            monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def goman(aws_env: dict[str, str]) -> Any:
    """Run goman in this process (fast): goman("status", "-o", "json")."""

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        runner = CliRunner()
        res = runner.invoke(cli, list(args), input=input, env=env, catch_exceptions=False)
        return Result(res.exit_code, res.stdout, res.stderr)

    return run


@pytest.fixture
def goman_proc(aws_env: dict[str, str]) -> Any:
    """Run goman as a real OS process (for races, kills and start-up behaviour)."""

    def run(
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> Result:
        full_env = {**os.environ, **aws_env, **(env or {})}
        proc = subprocess.run(
            [sys.executable, "-m", "goman", *args],
            input=input,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def s3(aws_env: dict[str, str]) -> Any:
    """A raw boto3 S3 client on the sandbox, to look at what goman really wrote."""
    import boto3

    return boto3.client("s3", region_name="ap-south-1")


@pytest.fixture
def ec2(aws_env: dict[str, str]) -> Any:
    import boto3

    return boto3.client("ec2", region_name="ap-south-1")


@pytest.fixture
def store(aws_env: dict[str, str]) -> Any:
    """The state store of the default profile on the sandbox, as goman builds it."""
    from goman.aws.session import AwsContext
    from goman.state.store import StateStore

    return StateStore(AwsContext.from_flag(None))


@pytest.fixture
def fresh_store(aws_env: dict[str, str]) -> Any:
    """A new store (own session and clients) per call, like another process would have."""
    from goman.aws.session import AwsContext
    from goman.state.store import StateStore

    return lambda: StateStore(AwsContext.from_flag(None))
