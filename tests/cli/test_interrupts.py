"""SIGTERM ends a command the way Ctrl-C does: the job it runs is handed back at once (no
lease left to a dead process), one line says so, and goman exits 143. And `jobs cancel`
says which step it stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.cli.cluster_helpers import PREFIX, nodes_control, read_json
from tests.conftest import BUCKET


def start(aws_env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "goman", *args],
        env={**os.environ, **aws_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def web_job(s3: Any) -> dict[str, Any] | None:
    """The newest job of cluster web, if there is one."""
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}jobs/").get("Contents", [])
    jobs = [read_json(s3, BUCKET, o["Key"]) for o in listed]
    mine = sorted((j for j in jobs if j["cluster"] == "web"), key=lambda j: str(j["id"]))
    return mine[-1] if mine else None


def wait_for_step(s3: Any, step: str, proc: subprocess.Popen[str]) -> dict[str, Any]:
    """Until web's job runs `step` under a lease (the process is mid-job)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        job = web_job(s3)
        if job is not None:
            running = [s["name"] for s in job["steps"] if s["status"] == "running"]
            if running == [step] and job["lease"]:
                return job
        time.sleep(0.1)
    raise AssertionError(f"the job never reached {step}")


@pytest.mark.parametrize(
    "command",
    [
        ["cluster", "create", "web", "--timeout", "120s"],
        ["worker", "--poll", "0.2"],
    ],
    ids=["foreground-create", "headless-worker"],
)
def test_sigterm_hands_the_job_back_and_exits_143(
    command: list[str], aws_env: dict[str, str], sandbox: Any, s3: Any, goman: Any
) -> None:
    assert goman("init").exit_code == 0
    nodes_control(sandbox, boot_delay=600)  # the nodes stay booting while goman waits
    if command[0] == "worker":
        assert goman("cluster", "create", "web", "--detach").exit_code == 0
    proc = start(aws_env, *command)
    try:
        job = wait_for_step(s3, "wait-ready", proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("Terminated.") and err.count("Terminated.") == 1, err

    after = read_json(s3, BUCKET, f"{PREFIX}jobs/{job['id']}.json")
    assert after["lease"] is None, "the job is still leased to a process that has gone"
    assert after["status"] in {"pending", "running"} and not after["cancel_requested"]

    nodes_control(sandbox, boot_delay=0.1)
    resumed = goman("worker", "--once")
    assert resumed.exit_code == 0, resumed.output
    assert (web_job(s3) or {})["status"] == "succeeded"
    assert goman("cluster", "get", "web", "-o", "json").json()["phase"] == "Running"


def test_jobs_cancel_names_the_step_it_stops(
    aws_env: dict[str, str], sandbox: Any, s3: Any, goman: Any
) -> None:
    queued = goman("cluster", "create", "early", "--detach").stdout.strip()
    res = goman("jobs", "cancel", queued)
    assert res.exit_code == 0 and "cancelled (before its first step)" in res.stderr

    nodes_control(sandbox, boot_delay=600)
    proc = start(aws_env, "cluster", "create", "web", "--timeout", "120s")
    try:
        job = wait_for_step(s3, "wait-ready", proc)
        res = goman("jobs", "cancel", job["id"])
        assert res.exit_code == 0, res.output
        assert "is running step wait-ready; it stops there" in res.stderr
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1 and "create cancelled" in err
    assert read_json(s3, BUCKET, f"{PREFIX}jobs/{job['id']}.json")["status"] == "cancelled"
