"""Each error class a user can meet: one clear message with a fix, the right exit code,
never a traceback."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

NO_AWS_KEYS: dict[str, str | None] = {
    "AWS_ACCESS_KEY_ID": None,
    "AWS_SECRET_ACCESS_KEY": None,
    "AWS_SESSION_TOKEN": None,
}


def _clean(res: Any) -> None:
    assert "Traceback" not in res.output
    assert res.stderr.startswith("error: ")
    assert "  fix: " in res.stderr


def test_no_credentials(goman: Any, tmp_path: Path) -> None:
    empty = tmp_path / "empty-config"
    empty.write_text("")
    res = goman("status", env={**NO_AWS_KEYS, "AWS_CONFIG_FILE": str(empty)})
    assert res.exit_code == 1
    assert "No AWS credentials were found for profile 'default'" in res.stderr
    assert "aws configure" in res.stderr
    _clean(res)


def test_no_credentials_in_a_real_process(goman_proc: Any, tmp_path: Path) -> None:
    empty = tmp_path / "empty-config"
    empty.write_text("")
    env = {"AWS_CONFIG_FILE": str(empty), "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    res = goman_proc("doctor", "-o", "json", env=env)
    assert res.exit_code == 1
    checks = {c["name"]: c["status"] for c in res.json()["checks"]}
    assert checks == {"profile": "pass", "credentials": "fail"}


def test_unknown_profile(goman: Any) -> None:
    res = goman("--profile", "nosuch", "status")
    assert res.exit_code == 1
    assert "AWS profile 'nosuch' was not found" in res.stderr
    _clean(res)
    res = goman("config", "show", env={"AWS_PROFILE": "nosuch"})
    assert res.exit_code == 1 and "'nosuch'" in res.stderr


def test_bad_profile_name_is_a_usage_error(goman: Any) -> None:
    for name in ("../etc", "a/b", "-x", "a b"):
        res = goman(f"--profile={name}", "status")
        assert res.exit_code == 2, (name, res.output)
        assert "Traceback" not in res.output
    res = goman("--profile", "a/b", "status")
    assert "cannot be used as a state folder name" in res.stderr


def test_endpoint_unreachable_fails_within_seconds(goman: Any) -> None:
    started = time.monotonic()
    res = goman("status", env={"AWS_ENDPOINT_URL": "http://127.0.0.1:1"})
    elapsed = time.monotonic() - started
    assert res.exit_code == 1
    assert "Cannot reach http://127.0.0.1:1" in res.stderr
    _clean(res)
    # A bound, not a timing measurement: retries must not turn this into minutes.
    assert elapsed < 30


def test_doctor_reports_a_bad_profile_name_as_a_failed_check(goman: Any) -> None:
    res = goman("--profile", "a/b", "doctor", "-o", "json")
    assert res.exit_code == 1
    assert res.json()["checks"][0]["name"] == "profile"
    assert res.json()["checks"][0]["status"] == "fail"


def test_debug_shows_detail(goman: Any) -> None:
    res = goman("--debug", "status", env={"AWS_ENDPOINT_URL": "http://127.0.0.1:1"})
    assert res.exit_code == 1
    assert "EndpointConnectionError" in res.stderr


def test_ctrl_c_while_waiting_on_aws_exits_130_without_a_traceback(
    aws_env: dict[str, str],
) -> None:
    """An endpoint that accepts and never answers: goman waits; Ctrl-C ends it cleanly."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "goman", "status"],
        env={**os.environ, **aws_env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        silent.settimeout(60)
        conn, _ = silent.accept()  # goman is now waiting for an answer
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        silent.close()
    conn.close()
    assert proc.returncode == 130
    assert "Interrupted." in err
    assert "Traceback" not in err
