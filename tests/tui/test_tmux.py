"""The real `goman` in a real terminal (tmux): keys in, screen text out.

tmux runs `python -m goman` with the environment that reaches the test sandbox, which is
exactly how a user's shell reaches `goman sandbox serve`; the header then shows SANDBOX
because the endpoint is a loopback address. A private tmux socket keeps this test apart
from any other tmux, and the server is killed at the end whatever happens.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from goman.clusters.service import create_cluster, get_cluster
from goman.state.store import StateStore
from tests.tui.conftest import seed_clusters, summary_doc

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    def __init__(self, env: dict[str, str]) -> None:
        self.socket = f"goman-test-{uuid.uuid4().hex[:10]}"
        self.env = env

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=20,
        )

    def start(self, command: str) -> None:
        self.run("new-session", "-d", "-s", "t", "-x", "120", "-y", "35", command)

    def screen(self) -> str:
        # Not checked: the session may end (goman quit) between two captures.
        return self.run("capture-pane", "-p", "-t", "t", check=False).stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.run("send-keys", "-t", "t", *(["-l"] if literal else []), *keys)

    def alive(self) -> bool:
        return self.run("has-session", "-t", "t", check=False).returncode == 0

    def wait(self, check: Callable[[str], bool], what: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if check(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; the screen was:\n{text}")

    def kill(self) -> None:
        self.run("kill-server", check=False)


@pytest.fixture
def tmux(aws_env: dict[str, str]) -> Iterator[Tmux]:
    env = {**os.environ, **aws_env, "TERM": "xterm-256color"}
    env.pop("TMUX", None)  # never attach to the tmux this test may itself run in
    for stale in ("COLUMNS", "LINES"):  # the window's size, not one left by what ran before
        env.pop(stale, None)
    session = Tmux(env)
    try:
        yield session
    finally:
        session.kill()


def _name_field(screen: str) -> str | None:
    for line in screen.splitlines():
        if "Name  " in line:
            value = line.split("Name", 1)[1].strip(" █")
            return "" if value == "e.g. web" else value
    return None


def test_real_app_in_tmux(tmux: Tmux, store: StateStore, aws_env: Any) -> None:
    seed_clusters(store, [summary_doc("web", phase="Running", endpoint="https://203.0.113.5:6443")])
    tmux.start(f"{sys.executable} -m goman")
    # The account comes with the identity, which may land before or after the table.
    screen = tmux.wait(
        lambda s: "web" in s and "Running" in s and "account 123456789012" in s,
        "the cluster table and the account",
    )
    assert "SANDBOX" in screen
    assert "NAME" in screen and "PHASE" in screen and "COST/H" in screen

    tmux.keys("c")
    tmux.wait(lambda s: "Create a cluster" in s, "the create dialog")
    tmux.keys("Bad_", literal=True)
    tmux.wait(lambda s: "not a valid cluster name" in s, "the inline error")
    # One key per write, each seen on screen: a burst of DELs can arrive as one unknown
    # escape sequence, which a terminal app rightly ignores.
    for typed in ("Bad", "Ba", "B", ""):
        tmux.keys("BSpace")
        tmux.wait(lambda s, t=typed: _name_field(s) == t, f"name {typed!r}")
    tmux.keys("ok-1", literal=True)
    tmux.keys("Enter")
    tmux.wait(lambda s: "ok-1" in s and "Create a cluster" not in s, "the new cluster's row")
    tmux.wait(
        lambda s: any("ok-1" in line and "Running" in line for line in s.splitlines()),
        "ok-1 Running",
        timeout=60,
    )

    tmux.keys("?")
    tmux.wait(lambda s: "Keys" in s and "Upgrade K3s" in s, "the help screen")
    tmux.keys("Escape")
    # Let the escape land alone: ESC followed at once by q reads as alt+q in a terminal.
    tmux.wait(lambda s: "Upgrade K3s" not in s, "the help screen to close")
    tmux.keys("q")
    tmux.wait(lambda s: not tmux.alive(), "goman to exit")
    assert get_cluster(store, "ok-1").status.phase == "Running"


def test_sigterm_hands_the_tuis_job_back_and_exits_143(
    tmux: Tmux, store: StateStore, sandbox: Any, tmp_path: Any
) -> None:
    """SIGTERM (a closed terminal emulator, a service manager) is a quit without the
    question: the job the TUI runs is given back at once, not left leased to a dead process."""
    from goman.jobs.queue import get_job
    from tests.cli.cluster_helpers import nodes_control

    nodes_control(sandbox, boot_delay=600)  # the job stays in wait-ready
    job = create_cluster(store, "web")
    marker = tmp_path / "exit-code"
    tmux.start(f"sh -c '{sys.executable} -m goman; echo $? > {marker}'")
    tmux.wait(lambda s: "web" in s and "Pending" in s, "the cluster table")
    tmux.keys("j")
    tmux.wait(lambda s: job.id in s, "the jobs screen")
    tmux.keys("u")  # resume it in this TUI

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = get_job(store, job.id)
        step = now.current_step
        running = step is not None and step.name == "wait-ready" and step.status == "running"
        if now.lease is not None and running:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the TUI never ran the job to wait-ready")
    shell = tmux.run("list-panes", "-t", "t", "-F", "#{pane_pid}").stdout.strip()
    goman = subprocess.run(["pgrep", "-P", shell], capture_output=True, text=True).stdout.split()
    assert len(goman) == 1, goman
    os.kill(int(goman[0]), signal.SIGTERM)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not marker.exists():
        time.sleep(0.1)
    assert marker.read_text().strip() == "143"
    after = get_job(store, job.id)
    assert after.lease is None and not after.finished
