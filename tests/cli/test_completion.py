"""Shell completion through Click's own protocol (`_GOMAN_COMPLETE`), as bash, zsh and
fish call it: cluster names and job ids from the bucket, quick, and silent on failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from tests.cli.cluster_helpers import PREFIX, read_json
from tests.conftest import BUCKET


def complete(
    aws_env: dict[str, str], line: str, shell: str = "bash", **env: str
) -> subprocess.CompletedProcess[str]:
    """What the shell gets back for `line` (the cursor at its end)."""
    words = line.split(" ")
    extra = {
        "bash": {"COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)},
        "zsh": {"COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)},
        "fish": {"COMP_WORDS": line, "COMP_CWORD": words[-1]},
    }[shell]
    return subprocess.run(
        [sys.executable, "-m", "goman"],
        env={**os.environ, **aws_env, **extra, **env, "_GOMAN_COMPLETE": f"{shell}_complete"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def offered(result: subprocess.CompletedProcess[str], shell: str = "bash") -> list[str]:
    assert result.returncode == 0 and result.stderr == "", result
    lines = [line for line in result.stdout.splitlines() if line]
    if shell == "bash":
        return [line.split(",", 1)[1] for line in lines]
    if shell == "zsh":
        return lines[1::3]  # type, value, help: three lines per item
    return [line.split("\t")[0].split(",", 1)[-1] for line in lines]


def test_cluster_names_and_job_ids_complete(goman: Any, aws_env: dict[str, str]) -> None:
    first = goman("cluster", "create", "alpha", "--detach").stdout.strip()
    second = goman("cluster", "create", "beta", "--detach").stdout.strip()
    for shell in ("bash", "zsh", "fish"):
        got = offered(complete(aws_env, "goman cluster get ", shell), shell)
        assert got == ["alpha", "beta"], (shell, got)
    assert offered(complete(aws_env, "goman cluster delete b")) == ["beta"]
    assert sorted(offered(complete(aws_env, "goman jobs show "))) == sorted([first, second])
    assert offered(complete(aws_env, "goman jobs cancel " + second[:-2])) == [second]
    assert "cluster" in offered(complete(aws_env, "goman clu"))


def test_completion_follows_the_profile_on_the_line(goman: Any, aws_env: dict[str, str]) -> None:
    assert goman("--profile", "team-a", "cluster", "create", "apps", "--detach").exit_code == 0
    assert offered(complete(aws_env, "goman cluster get ")) == []
    assert offered(complete(aws_env, "goman --profile team-a cluster get ")) == ["apps"]
    assert offered(complete(aws_env, "goman cluster get --profile team-a ")) == ["apps"]


def test_completion_never_offers_what_is_not_a_name(
    goman: Any, s3: Any, aws_env: dict[str, str]
) -> None:
    assert goman("cluster", "create", "web", "--detach").exit_code == 0
    key = f"{PREFIX}clusters/clusters.json"
    index = read_json(s3, BUCKET, key)
    row = index["clusters"]["web"]
    for forged in ("x; rm -rf ~", "a\nb", "$(reboot)", "UPPER"):
        index["clusters"][forged] = {**row, "name": forged}
    index["revision"] += 1
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(index).encode())
    assert offered(complete(aws_env, "goman cluster get ")) == ["web"]


def test_completion_is_silent_when_aws_is_away(aws_env: dict[str, str]) -> None:
    for env in ({"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}, {"AWS_PROFILE": "nosuch"}):
        result = complete(aws_env, "goman cluster get ", **env)
        assert result.returncode == 0, result
        assert result.stdout.strip() == "" and result.stderr == "", result


def test_help_and_command_completion_import_no_aws_sdk() -> None:
    code = (
        "import os, sys\n"
        "from click.testing import CliRunner\n"
        "from goman.cli.main import cli\n"
        "for args in (['cluster', '--help'], ['cluster', 'get', '--help'],\n"
        "             ['jobs', 'show', '--help'], ['cluster', 'list', '--profile', 'x', '--help']):\n"
        "    assert CliRunner().invoke(cli, args).exit_code == 0, args\n"
        "os.environ.update(_GOMAN_COMPLETE='bash_complete', COMP_WORDS='goman cluster g',\n"
        "                  COMP_CWORD='2')\n"
        "try:\n"
        "    cli.main(args=[], prog_name='goman')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('boto3', 'botocore', 'pydantic', 'textual') if m in sys.modules),\n"
        "      file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "plain,get" in out.stdout
    assert out.stderr.strip() == "[]"
