"""Driving goman against a real AWS account: its CLI as a subprocess, a cost meter, teardown.

Nothing here opens a connection itself: goman talks to AWS, and kubectl to the cluster's
API endpoint from the kubeconfig goman wrote. Nothing secret is printed: goman's own
output carries none, and the kubeconfig only ever goes to a private temporary file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Every cluster the live suite creates is named like this, so a leftover is recognisable
# (in `goman cluster list`, and in the EC2 console through goman's tags and Name).
CLUSTER_PREFIX = "golive-"

# The smallest instance that runs a K3s server: 2 vCPU and 2 GiB, K3s's recommended server
# minimum (a .micro's 1 GiB leaves no room beside the server and its add-ons), arm64
# Graviton being the cheapest 2 GiB type in the price table (and goman picks the arm64
# Ubuntu image for it). GOMAN_LIVE_INSTANCE_TYPE=t3.small picks the x86_64 one instead.
DEFAULT_INSTANCE_TYPE = "t4g.small"
DEFAULT_REGION = "ap-south-1"

ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_EC2")


def quiet(line: str) -> None:
    """The default progress sink: nothing (the test passes one that reaches the terminal)."""


@dataclass
class Run:
    args: list[str]
    code: int
    stdout: str
    stderr: str
    seconds: float

    def json(self) -> Any:
        return json.loads(self.stdout)

    def brief(self) -> str:
        tail = self.stderr.strip().splitlines()[-15:]
        return f"`goman {' '.join(self.args)}` exited {self.code}:\n" + "\n".join(tail)


@dataclass
class Goman:
    """goman's real CLI, as a subprocess, on one profile."""

    profile: str
    say: Callable[[str], None] = quiet
    log: list[Run] = field(default_factory=list, repr=False)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("AWS_PROFILE", None)  # --profile names it, and the state folder
        return env

    def __call__(self, *args: str, timeout: float = 600, check: bool = True) -> Run:
        cmd = [sys.executable, "-m", "goman", "--profile", self.profile, *args]
        start = time.monotonic()
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, env=self.env(), timeout=timeout
            )
            run = Run(list(args), proc.returncode, proc.stdout, proc.stderr, 0.0)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            run = Run(list(args), -1, out, err + f"\n(timed out after {timeout:.0f}s)", 0.0)
        run.seconds = time.monotonic() - start
        self.log.append(run)
        self.say(f"goman {' '.join(args)} -> exit {run.code} in {run.seconds:.0f}s")
        if check and run.code != 0:
            raise AssertionError(run.brief())
        return run

    def has_cluster_command(self, name: str) -> bool:
        """Whether this goman has `goman cluster NAME` (read from its help)."""
        text = self("cluster", "--help").stdout
        in_commands = False
        for line in text.splitlines():
            if line.strip().lower().startswith("commands:"):
                in_commands = True
            elif in_commands and line.split()[:1] == [name]:
                return True
        return False


@dataclass
class CostMeter:
    """Instance hours, counted as an upper bound: a node counts from the start of the
    command that adds it until the end of the command that removes it."""

    instance_type: str
    region: str
    clock: Callable[[], float] = time.monotonic
    _nodes: int = 0
    _since: float = 0.0
    node_hours: float = 0.0

    def nodes(self, count: int) -> None:
        now = self.clock()
        if self._nodes:
            self.node_hours += self._nodes * (now - self._since) / 3600
        self._nodes, self._since = count, now

    def report(self) -> str:
        from goman.provision.prices import PRICES_AS_OF, nodes_cost_per_hour, price_per_hour

        self.nodes(self._nodes)  # count up to now
        hours = self.node_hours
        rate = price_per_hour(self.instance_type, self.region)
        per_node = nodes_cost_per_hour(1, self.instance_type, self.region)
        if rate is None or per_node is None:
            return (
                f"{hours:.3f} instance hours of {self.instance_type} in {self.region} "
                "(not in goman's price table: see the AWS price list)"
            )
        return (
            f"{hours:.3f} instance hours of {self.instance_type} in {self.region} at "
            f"${rate:.4f}/h = ${hours * rate:.4f}; with root volumes and public IPv4 "
            f"(${per_node:.4f}/h per node) about ${hours * per_node:.4f} "
            f"(goman's price table, {PRICES_AS_OF}; S3 requests cost a fraction of a cent)"
        )


def kubectl_nodes(kubeconfig: str) -> dict[str, bool]:
    """Node name -> Ready, through the cluster's API endpoint (kubectl's own connection)."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is not on PATH: the live suite checks the cluster with it"
    proc = subprocess.run(
        [
            kubectl,
            "--kubeconfig",
            kubeconfig,
            "--request-timeout=20s",
            "get",
            "nodes",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, f"kubectl get nodes failed: {proc.stderr.strip()[-500:]}"
    out: dict[str, bool] = {}
    for item in json.loads(proc.stdout).get("items", []):
        conditions = item.get("status", {}).get("conditions", [])
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        out[str(item["metadata"]["name"])] = ready
    return out


def wait_for(what: str, check: Callable[[], bool], timeout: float, every: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except AssertionError as exc:
            last = str(exc)
        else:
            last = "not yet"
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not true after {timeout:.0f}s ({last})")
        time.sleep(every)


def live_nodes(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in view.get("nodes", []) if n.get("phase") != "terminated"]


def leftovers(goman: Goman, region: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = goman("resources", "list", "--region", region, "-o", "json").json()
    return rows


def teardown(goman: Goman, name: str, region: str) -> list[dict[str, Any]]:
    """Remove the cluster whatever state a failure left it in, then every orphan; returns
    what is still there (nothing, when all went well)."""
    for _ in range(6):
        got = goman("cluster", "get", name, "-o", "json", check=False)
        if got.code != 0:
            break  # gone (or never made)
        res = goman("cluster", "delete", name, "--yes", timeout=25 * 60, check=False)
        if res.code == 0:
            continue  # confirm it is gone
        if "busy" in res.stderr and got.json().get("job"):
            # A job a failure left behind: cancel it; a live lease ends within the job
            # lease (60 s by default), then the delete can start.
            goman("jobs", "cancel", str(got.json()["job"]), check=False)
        time.sleep(20)
    goman(
        "resources",
        "cleanup",
        "--orphans",
        "--yes",
        "--region",
        region,
        timeout=20 * 60,
        check=False,
    )
    return leftovers(goman, region)
