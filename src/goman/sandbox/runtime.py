"""Point this process at a sandbox: one already serving on the default port, or a new
in-process one. Only the standard AWS variables change, so production code cannot tell."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

from goman.sandbox.server import (
    DEFAULT_PORT,
    SANDBOX_CREDENTIALS,
    SandboxServer,
    checkip_url,
    endpoint_answers,
)

# Where `--sandbox` looks for a running `goman sandbox serve` (default 4566).
PORT_VARIABLE = "GOMAN_SANDBOX_PORT"

# Variables that could send a sandbox run to a real account if left as they were.
_ISOLATE = (
    "AWS_ENDPOINT_URL",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_EC2_METADATA_DISABLED",
    "GOMAN_CHECKIP_URL",
)


def sandbox_config(profile: str) -> str:
    """An AWS config file in which `default` and `profile` hold the sandbox's keys."""
    keys = (
        f"aws_access_key_id = {SANDBOX_CREDENTIALS['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {SANDBOX_CREDENTIALS['AWS_SECRET_ACCESS_KEY']}\n"
        "region = ap-south-1\n"
    )
    text = f"[default]\n{keys}"
    if profile != "default":
        text += f"\n[profile {profile}]\n{keys}"
    return text


@dataclass
class Activation:
    """A process pointed at a sandbox; calling it undoes that (and stops an embedded one)."""

    endpoint: str
    embedded: bool  # started in this process: its state is lost when the process exits
    looked_for: str  # where a running sandbox was looked for
    _undo: Callable[[], None] = field(repr=False)

    def __call__(self) -> None:
        self._undo()


def sandbox_port() -> int:
    raw = os.environ.get(PORT_VARIABLE, "")
    if raw.isdigit() and 0 < int(raw) < 65536:
        return int(raw)
    return DEFAULT_PORT


def activate(
    profile: str, port: int | None = None, start: Callable[[], SandboxServer] | None = None
) -> Activation:
    """Reach a sandbox for this process: the one serving on `port` (default
    $GOMAN_SANDBOX_PORT, else 4566), else a new embedded one."""
    saved = {k: os.environ.get(k) for k in _ISOLATE}
    server: SandboxServer | None = None
    url = looked_for = f"http://127.0.0.1:{sandbox_port() if port is None else port}"
    if not endpoint_answers(url):
        server = (start or (lambda: default_server(0)))()
        url = server.endpoint
    fd, path = tempfile.mkstemp(prefix="goman-sandbox-", suffix=".ini")
    with os.fdopen(fd, "w") as fh:
        fh.write(sandbox_config(profile))
    os.environ.update(SANDBOX_CREDENTIALS)
    os.environ["AWS_ENDPOINT_URL"] = url
    os.environ["AWS_CONFIG_FILE"] = path
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["GOMAN_CHECKIP_URL"] = checkip_url(url)
    os.environ.pop("AWS_SESSION_TOKEN", None)

    def undo() -> None:
        if server is not None:
            server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        with contextlib.suppress(OSError):
            os.unlink(path)

    return Activation(endpoint=url, embedded=server is not None, looked_for=looked_for, _undo=undo)


# Nodes of `goman sandbox serve` / `goman --sandbox` take a few seconds, like a short
# real boot, so progress is visible; tests pass something much smaller.
DEFAULT_BOOT_DELAY = 3.0


def default_server(
    port: int = DEFAULT_PORT,
    *,
    boot_delay: float = DEFAULT_BOOT_DELAY,
    fail_nodes: list[str] | None = None,
) -> SandboxServer:
    """A started sandbox with everything the sandbox offers (the node emulator included).

    `fail_nodes` are fnmatch patterns of node names (e.g. `web-agent-*`) that report
    failed instead of ready."""
    from goman.sandbox.ec2_gaps import ec2_hook
    from goman.sandbox.nodes import NodeEmulator

    server = SandboxServer(port=port)
    server.app.hooks.append(ec2_hook)
    NodeEmulator(boot_delay=boot_delay, fail_patterns=fail_nodes).attach(server)
    return server.start()
