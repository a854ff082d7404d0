"""Long waits show that something is happening: the clock moves at least once a second on
a terminal, every node's bootstrap phase is shown, and a log is not flooded."""

from __future__ import annotations

import re
from typing import Any

import click
from click.testing import CliRunner

from goman.cli.progress import Progress
from goman.models.cluster import ClusterDoc, ClusterSpec, ClusterStatus, NodeStatus
from goman.models.job import Job, Step
from tests.cli.cluster_helpers import nodes_control

FRAME = re.compile(r"^(\d\d:\d\d)  (.*)$")
SGR = re.compile(r"\x1b\[[0-9;]*m")


def frames(screen: bytes) -> list[tuple[str, str]]:
    """(clock, what) of every progress line drawn on the terminal."""
    out = []
    for chunk in screen.decode(errors="replace").split("\r\x1b[K")[1:]:
        line = SGR.sub("", chunk.split("\r")[0].split("\n")[0])
        found = FRAME.match(line)
        if found:
            out.append((found.group(1), found.group(2)))
    return out


def test_progress_on_a_terminal_ticks_and_shows_each_node(
    goman: Any, terminal: Any, sandbox: Any
) -> None:
    assert goman("init").exit_code == 0
    # Each bootstrap phase of the nodes lasts about 1.5 s: several ticks of the clock.
    nodes_control(sandbox, boot_delay=4.5)
    term = terminal("cluster", "create", "web", "--workers", "1", "--timeout", "60s")
    assert term.finish() == 0, term.text
    drawn = frames(term.output)
    waiting = [(clock, what) for clock, what in drawn if "wait-ready" in what]
    assert waiting, term.text
    # Redrawn while nothing changes: the same line with the clock moving on.
    clocks: dict[str, set[str]] = {}
    for clock, what in waiting:
        clocks.setdefault(what, set()).add(clock)
    assert max(len(c) for c in clocks.values()) >= 2, clocks
    shown = " ".join(what for _, what in waiting)
    # Reports are read by polling: a short phase may pass between two looks.
    assert "booting " in shown or "installing " in shown, shown
    assert "ready server-0,agent-0" in shown, shown


def test_progress_in_a_log_prints_changes_only(goman: Any, goman_proc: Any, sandbox: Any) -> None:
    assert goman("init").exit_code == 0
    nodes_control(sandbox, boot_delay=3)
    res = goman_proc("cluster", "create", "web", "--timeout", "60s")
    assert res.exit_code == 0, res.output
    lines = [FRAME.match(line) for line in res.stderr.splitlines()]
    states = [m.group(2) for m in lines if m]
    assert "\r" not in res.stderr and "\x1b" not in res.stderr
    assert len(states) == len(set(states)), "a line repeated without a change"
    assert any("booting server-0" in s or "installing server-0" in s for s in states), states


def _doc(phase: str) -> ClusterDoc:
    node = NodeStatus(name="web-server-0", role="server", index=0, instance_id="i-1", phase=phase)  # type: ignore[arg-type]
    return ClusterDoc(
        cluster_id="c", spec=ClusterSpec(name="web"), status=ClusterStatus(nodes=[node])
    )


def test_a_log_gets_a_line_every_heartbeat_while_nothing_changes() -> None:
    """The ticker's work, driven by hand with a clock this test moves (no real waiting)."""
    now = [0.0]
    job = Job(
        id="j-1", type="create", cluster="web", cluster_id="c", steps=[Step(name="wait-ready")]
    )

    @click.command()
    def run() -> None:
        progress = Progress(tty=False, tick=3600, heartbeat=30, clock=lambda: now[0])
        progress(job, _doc("booting"))
        for moment in (10.0, 29.0, 31.0, 45.0, 62.0):
            now[0] = moment
            progress.redraw()
        progress(job, _doc("ready"))
        progress.done()

    out = CliRunner().invoke(run).output.splitlines()
    assert out == [
        "00:00  create web  wait-ready  [Pending]  nodes 0/1 ready: booting server-0",
        "00:31  create web  wait-ready  [Pending]  nodes 0/1 ready: booting server-0",
        "01:02  create web  wait-ready  [Pending]  nodes 0/1 ready: booting server-0",
        "01:02  create web  wait-ready  [Pending]  nodes 1/1 ready: ready server-0",
    ]
