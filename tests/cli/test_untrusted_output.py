"""Text from the bucket or a node never drives the user's terminal.

Everything here is forged with the raw boto3 client, as someone with write access to the
bucket (or a shell on a node, which may PUT its report) would, and read back through the
real CLI: on a terminal, in a pipe, and as JSON and YAML.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from tests.cli.cluster_helpers import PREFIX, nodes_control, read_json
from tests.conftest import BUCKET

# An OSC title change, a screen clear, a C1 CSI, DEL and a right-to-left override.
HOSTILE = "pwned\x1b]0;TITLE\x07\x1b[2J\x9b31mred\x7f\u202eevil"
# Control characters a terminal acts on (tab and line feed aside), as text.
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# goman's own colours and line rewrites on a terminal: the only escapes it may send.
OWN_ESCAPES = re.compile(rb"\x1b\[[0-9;]*[mK]")


def forge_report(s3: Any, cluster: str, node: str, message: str) -> None:
    body = {"node": node, "role": "server", "phase": "failed", "message": message}
    s3.put_object(
        Bucket=BUCKET,
        Key=f"{PREFIX}clusters/{cluster}/nodes/{node}.json",
        Body=json.dumps(body).encode(),
    )


def assert_clean(text: str) -> None:
    found = RAW_CONTROL.findall(text)
    assert not found, f"raw control characters reached the output: {found!r}"


def test_a_forged_node_report_does_not_reach_the_terminal_raw(
    goman: Any, s3: Any, sandbox: Any, terminal: Any
) -> None:
    assert goman("init").exit_code == 0
    nodes_control(sandbox, boot_delay=60)  # only the forged report answers
    forge_report(s3, "web", "web-server-0", HOSTILE)

    term = terminal("cluster", "create", "web", "--timeout", "60s")
    assert term.finish() == 1
    screen = term.output
    assert b"failed to bootstrap" in screen and b"TITLE" in screen and b"evil" in screen
    rest = OWN_ESCAPES.sub(b"", screen)
    assert b"\x1b" not in rest and b"\x07" not in rest and b"\x7f" not in rest
    assert b"\xc2\x9b" not in rest and "\u202e".encode() not in rest  # C1 CSI, RLO
    assert_clean(rest.decode().replace("\r", ""))

    # The same text read back in a pipe: tables and text are clean...
    for args in (["cluster", "get", "web"], ["jobs", "list"], ["cluster", "list"]):
        res = goman(*args)
        assert res.exit_code == 0, (args, res.output)
        assert_clean(res.output)
    job_id = goman("jobs", "list", "-o", "json").json()[0]["id"]
    shown = goman("jobs", "show", job_id)
    assert "TITLE" in shown.stdout
    assert_clean(shown.output)

    # ...while JSON and YAML keep every character, escaped.
    as_json = goman("cluster", "get", "web", "-o", "json")
    assert_clean(as_json.stdout)
    assert "\\u001b]0;TITLE\\u0007" in as_json.stdout and "\\u009b" in as_json.stdout
    assert "\\u007f" in as_json.stdout
    assert HOSTILE in as_json.json()["message"]
    as_yaml = goman("jobs", "show", job_id, "-o", "yaml")
    assert_clean(as_yaml.stdout)
    assert HOSTILE in yaml.safe_load(as_yaml.stdout)["error"]


def test_a_forged_index_cannot_forge_rows_or_escapes(goman: Any, s3: Any) -> None:
    assert goman("cluster", "create", "web", "--detach").exit_code == 0
    key = f"{PREFIX}clusters/clusters.json"
    index = read_json(s3, BUCKET, key)
    index["clusters"]["web"]["endpoint"] = "https://203.0.113.9:6443\n" + HOSTILE
    index["revision"] += 1
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(index).encode())

    listed = goman("cluster", "list")
    assert_clean(listed.output)
    if listed.exit_code == 0:  # (a stricter index model may refuse the document instead)
        lines = listed.stdout.splitlines()
        assert len(lines) == 2, "a line break in a value must not forge a row"
        assert "TITLE" in lines[1]
    as_json = goman("cluster", "list", "-o", "json")
    assert_clean(as_json.stdout)
    if as_json.exit_code == 0:
        assert as_json.json()[0]["endpoint"].endswith(HOSTILE)


def test_a_forged_step_message_is_clean_in_jobs_show(goman: Any, s3: Any) -> None:
    job_id = goman("cluster", "create", "web", "--detach").stdout.strip()
    key = f"{PREFIX}jobs/{job_id}.json"
    job = read_json(s3, BUCKET, key)
    job["steps"][0]["message"] = HOSTILE
    job["revision"] += 1
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(job).encode())
    shown = goman("jobs", "show", job_id)
    assert shown.exit_code == 0 and "pwned" in shown.stdout
    assert_clean(shown.output)


def test_the_cli_prints_only_through_its_output_module() -> None:
    """One way to the terminal, so no command can print untrusted text uncleaned."""
    import ast
    from pathlib import Path

    import goman.cli

    printers = {"echo", "secho", "print", "write", "prompt", "confirm"}
    allowed = {"output.py", "confirm.py"}  # confirm.py asks goman's own questions
    offenders = []
    for path in sorted(Path(goman.cli.__file__).parent.glob("*.py")):
        if path.name in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id == "print":
                offenders.append(f"{path.name}:{node.lineno} print")
            elif (
                isinstance(func, ast.Attribute)
                and func.attr in printers
                and isinstance(func.value, ast.Name)
                and func.value.id in {"click", "sys", "stdout", "stderr"}
            ):
                offenders.append(f"{path.name}:{node.lineno} {func.value.id}.{func.attr}")
    assert offenders == [], "print through goman.cli.output instead: " + ", ".join(offenders)
