"""What a new user expects of a CLI: options where they type them, `-y`, `-o` on every
read, NO_COLOR, questions only on a terminal and Ctrl-C at any of them, times to the
second, and fix hints that point the right way."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.cluster_helpers import nodes_control

CLOCK = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


# -- options after the command ------------------------------------------------------------


def test_profile_and_debug_are_accepted_after_the_command(goman: Any) -> None:
    assert goman("cluster", "create", "apps", "--detach", "--profile", "team-a").exit_code == 0
    mine = goman("cluster", "list", "-o", "json", "--profile", "team-a")
    assert mine.exit_code == 0, mine.output
    assert [c["name"] for c in mine.json()] == ["apps"]
    assert goman("cluster", "list", "-o", "json").json() == []  # the default profile's
    assert [c["name"] for c in goman("--profile", "team-a", "cluster", "list", "-o", "json").json()]

    dead = {"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}
    plain = goman("status", env=dead)
    assert "EndpointConnectionError" not in plain.stderr
    debug = goman("status", "--debug", env=dead)
    assert debug.exit_code == 1 and "EndpointConnectionError" in debug.stderr
    bad = goman("cluster", "list", "--profile", "a/b")
    assert bad.exit_code == 2 and "cannot be used as a state folder name" in bad.stderr


def test_sandbox_is_accepted_after_the_command(goman_proc: Any, sandbox: Any) -> None:
    # --sandbox finds the test sandbox (not an empty one started inside the process).
    dead = {"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "GOMAN_SANDBOX_PORT": str(sandbox.port)}
    assert goman_proc("config", "show", "-o", "json", env=dead).exit_code == 1
    res = goman_proc("config", "show", "-o", "json", "--sandbox", env=dead)
    assert res.exit_code == 0, res.output
    assert res.json()["region"] == "ap-south-1"


def test_y_is_short_for_yes_on_every_destructive_command(goman: Any) -> None:
    for args in (
        ["cluster", "delete"],
        ["resources", "cleanup"],
        ["state", "restore"],
        ["state", "migrate"],
    ):
        assert "-y, --yes" in goman(*args, "--help").stdout, args
    job_id = goman("cluster", "create", "short", "--detach").stdout.strip()
    assert goman("jobs", "cancel", job_id).exit_code == 0
    gone = goman("cluster", "delete", "short", "-y")
    assert gone.exit_code == 0, gone.output


# -- output -----------------------------------------------------------------------------


def test_iam_policy_takes_the_output_option(goman: Any) -> None:
    plain = goman("iam-policy")
    as_json = goman("iam-policy", "-o", "json")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == json.loads(plain.stdout)
    as_yaml = yaml.safe_load(goman("iam-policy", "-o", "yaml").stdout)
    assert as_yaml == json.loads(plain.stdout)
    table = goman("iam-policy", "--optional", "-o", "table").stdout
    assert table.startswith("SID") and "s3:ListBucketVersions" in table
    explained = goman("iam-policy", "--explain", "-o", "json").json()
    assert {"actions", "enables", "without"} == set(explained[0])
    assert "enables:" in goman("iam-policy", "--explain").stdout


def test_no_color_is_honoured(goman: Any, terminal: Any) -> None:
    coloured = terminal("cluster", "get", "ghost")
    assert coloured.finish() == 1
    assert b"\x1b[31m" in coloured.output or b"\x1b[1m" in coloured.output
    plain = terminal("cluster", "get", "ghost", env={"NO_COLOR": "1"})
    assert plain.finish() == 1
    assert b"error: " in plain.output and b"\x1b" not in plain.output


def test_times_carry_seconds(goman: Any) -> None:
    job_id = goman("cluster", "create", "web", "--detach").stdout.strip()
    shown = goman("jobs", "show", job_id).stdout
    assert CLOCK.search(shown), shown
    assert goman("init").exit_code == 0
    history = goman("state", "history", "config.json").stdout
    assert CLOCK.search(history.splitlines()[1]), history


# -- questions ----------------------------------------------------------------------------


@pytest.fixture
def old_config_version(goman: Any) -> str:
    assert goman("init").exit_code == 0
    assert goman("config", "set", "workers", "2").exit_code == 0
    versions = goman("state", "history", "config.json", "-o", "json").json()
    return str(versions[-1]["version_id"])


def test_without_a_terminal_destructive_commands_need_yes(
    goman: Any, tmp_path: Path, old_config_version: str
) -> None:
    source = tmp_path / ".state" / "default"
    source.mkdir(parents=True)
    (source / "config.json").write_text('{"workers": 3, "revision": 9}')
    for args in (
        ["cluster", "delete", "web"],
        ["state", "restore", "config.json", "--version", old_config_version],
        ["state", "migrate", "--from", str(source)],
    ):
        if args[1] == "delete":
            assert goman("cluster", "create", "web", "--detach").exit_code == 0
        res = goman(*args, input="y\nweb\n")
        assert res.exit_code == 2, (args, res.output)
        assert "no terminal to ask on" in res.stderr and "--yes" in res.stderr
    assert goman("config", "get", "workers").stdout == "2\n"  # nothing was written
    assert goman("cluster", "get", "web").exit_code == 0


def _interrupted_at(term: Any, prompt: str) -> None:
    term.expect_text(prompt)
    term.interrupt()
    assert term.finish() == 130
    after = term.text.split(prompt, 1)[1]
    assert after.count("Interrupted.") == 1, after
    assert "Traceback" not in after and "Aborted" not in after


def test_ctrl_c_at_any_question_exits_130_with_one_line(
    goman: Any, terminal: Any, old_config_version: str
) -> None:
    """Both kinds of question every destructive command asks (cli/confirm.py): typing a
    name, and yes/no."""
    assert goman("cluster", "create", "web", "--detach").exit_code == 0
    _interrupted_at(terminal("cluster", "delete", "web"), "Type its name to confirm")
    _interrupted_at(
        terminal("state", "restore", "config.json", "--version", old_config_version), "[y/N]"
    )
    assert goman("cluster", "get", "web").exit_code == 0
    assert goman("config", "get", "workers").stdout == "2\n"


# -- use cases seen from the CLI ------------------------------------------------------------


def test_scaling_to_the_current_size_queues_nothing_and_idle_clusters_cost_nothing(
    goman: Any,
) -> None:
    job_id = goman("cluster", "create", "idle", "--detach").stdout.strip()
    idle = goman("cluster", "list", "-o", "json").json()[0]
    assert idle["cost_per_hour"] == 0  # no instance yet: nothing is billed
    assert "$0.000" in goman("cluster", "list").stdout
    assert goman("jobs", "cancel", job_id).exit_code == 0
    assert goman("cluster", "delete", "idle", "-y").exit_code == 0

    assert goman("cluster", "create", "web", "--timeout", "60s").exit_code == 0
    assert goman("cluster", "list", "-o", "json").json()[0]["cost_per_hour"] > 0
    jobs = len(goman("jobs", "list", "-o", "json").json())
    same = goman("cluster", "scale", "web", "--workers", "0")
    assert same.exit_code == 0, same.output
    assert "already has 0 worker(s): nothing to do" in same.stderr
    assert len(goman("jobs", "list", "-o", "json").json()) == jobs


def test_restoring_a_cluster_document_brings_its_index_row_back(goman: Any) -> None:
    job_id = goman("cluster", "create", "web", "--detach").stdout.strip()
    assert goman("jobs", "cancel", job_id).exit_code == 0
    assert goman("cluster", "delete", "web", "-y").exit_code == 0
    assert goman("cluster", "list", "-o", "json").json() == []
    key = "clusters/web.state.json"
    versions = goman("state", "history", key, "-o", "json").json()
    content = next(v for v in versions if not v["is_delete_marker"])
    res = goman("state", "restore", key, "--version", content["version_id"], "-y")
    assert res.exit_code == 0, res.output
    assert "index is updated too" in res.stdout
    assert [c["name"] for c in goman("cluster", "list", "-o", "json").json()] == ["web"]
    as_json = goman("state", "restore", key, "--version", content["version_id"], "-y", "-o", "json")
    assert as_json.json()["index"] == "updated"


def test_fix_hints_point_the_right_way(goman: Any, s3: Any, sandbox: Any) -> None:
    assert goman("init").exit_code == 0
    too_many = goman("config", "set", "workers", "500")
    assert too_many.exit_code == 2 and "a whole number from 0 to 100" in too_many.stderr
    lease = goman("config", "set", "job_lease_seconds", "1")
    assert "from 10 to 3600" in lease.stderr
    assert "one of dev, ha" in goman("config", "set", "mode", "big").stderr

    s3.delete_object(Bucket="goman-123456789012", Key="state/default/config.json")
    versions = goman("state", "history", "config.json", "-o", "json").json()
    marker = next(v for v in versions if v["is_delete_marker"])["version_id"]
    shown = goman("state", "show", "config.json", "--version", marker)
    assert shown.exit_code == 1 and "is a delete marker" in shown.stderr
    assert "delete marker" in goman("state", "history", "config.json").stdout
    unknown = goman("state", "diff", "config.json", "nosuchversion")
    assert "List its versions with `goman state history config.json`" in unknown.stderr

    nodes_control(sandbox, fail=["web-server-0"])
    assert goman("cluster", "create", "web", "--timeout", "60s").exit_code == 1
    kubeconfig = goman("cluster", "kubeconfig", "web")
    assert kubeconfig.exit_code == 1
    assert "failed before server-0 was ready" in kubeconfig.stderr
    assert "not yet" not in kubeconfig.stderr and "retry web" in kubeconfig.stderr
