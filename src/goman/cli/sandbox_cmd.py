"""`goman sandbox serve`: the embedded AWS emulator for other goman processes."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

import click

from goman.cli.output import echo


@click.group()
def sandbox() -> None:
    """Run the embedded AWS emulator (S3, STS, EC2) on 127.0.0.1."""


@sandbox.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=4566,
    show_default=True,
    help="Port on 127.0.0.1 (0 picks a free one).",
)
@click.option(
    "--boot-delay",
    type=click.FloatRange(0, 3600),
    default=3.0,
    show_default=True,
    metavar="SECONDS",
    help="How long an emulated node takes from launch to Ready.",
)
@click.option(
    "--fail-node",
    "fail_nodes",
    multiple=True,
    metavar="PATTERN",
    help="Make nodes whose name matches PATTERN (fnmatch, e.g. 'web-agent-*') report "
    "failed instead of ready. Repeatable.",
)
@click.option(
    "--enforce-iam",
    is_flag=True,
    help="Check every request against IAM, as one identity whose keys are printed "
    "(its policy: --policy, default `goman iam-policy`).",
)
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The IAM policy (JSON) of the identity --enforce-iam creates.",
)
def serve(
    port: int,
    boot_delay: float,
    fail_nodes: tuple[str, ...],
    enforce_iam: bool,
    policy_file: Path | None,
) -> None:
    """Serve the sandbox until interrupted, printing the environment to reach it.

    Instances launched with goman's bootstrap user-data are booted by a node emulator
    that follows the same protocol as real nodes (see docs/bootstrap.md). Change its
    settings while it runs with POST /goman-sandbox/nodes {"boot_delay": 1, "fail": [...]}.

    With --enforce-iam every request (the nodes' presigned URLs too) is allowed only if
    the printed identity's policy allows it, as on AWS; resetting the sandbox is refused.
    """
    from goman.sandbox.runtime import default_server

    if policy_file is not None and not enforce_iam:
        raise click.UsageError("--policy needs --enforce-iam.")
    policy = _policy(policy_file) if enforce_iam else None
    try:
        server = default_server(port, boot_delay=boot_delay, fail_nodes=list(fail_nodes))
    except OSError as exc:
        raise click.ClickException(
            f"Cannot listen on 127.0.0.1:{port}: {exc.strerror}. Is a sandbox already running? "
            "Pick another port with --port."
        ) from exc
    if policy is not None:
        server.enforce_iam(policy)
    echo(f"# goman sandbox serving on {server.endpoint} (Ctrl-C to stop)")
    failing = f", failing {', '.join(fail_nodes)}" if fail_nodes else ""
    echo(f"# emulated nodes boot in {boot_delay:g}s{failing}")
    if policy is not None:
        source = str(policy_file) if policy_file else "`goman iam-policy`"
        echo(f"# IAM enforced: the keys below belong to an identity with the policy {source}")
    echo("# use it from another shell with:")
    for key, value in server.environment().items():
        echo(f"export {key}={value}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        echo("# sandbox stopped", err=True)


def _policy(path: Path | None) -> dict[str, Any]:
    if path is None:
        from goman.aws.iam_policy import seed_policy

        return seed_policy()
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise click.BadParameter(
            f"{path} is not a JSON policy: {exc}", param_hint="--policy"
        ) from None
    if not isinstance(data, dict) or "Statement" not in data:
        raise click.BadParameter(f"{path} has no Statement.", param_hint="--policy")
    return data
