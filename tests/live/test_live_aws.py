"""Opt-in checks against a real AWS account (docs/live-tests.md). Never part of CI.

Skipped unless GOMAN_LIVE_PROFILE names an AWS profile. They run goman's real CLI: the
conditional-write probe against real S3, then a whole cluster lifecycle on the smallest
instance type K3s runs on, and finally check that nothing is left. It costs a few cents.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live.helpers import (
    CLUSTER_PREFIX,
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_REGION,
    ENDPOINT_VARIABLES,
    CostMeter,
    Goman,
    kubectl_nodes,
    leftovers,
    live_nodes,
    teardown,
    wait_for,
)

PROFILE = os.environ.get("GOMAN_LIVE_PROFILE", "")
REGION = os.environ.get("GOMAN_LIVE_REGION", DEFAULT_REGION)
INSTANCE_TYPE = os.environ.get("GOMAN_LIVE_INSTANCE_TYPE", DEFAULT_INSTANCE_TYPE)

pytestmark = [
    pytest.mark.skipif(
        not PROFILE,
        reason="live AWS checks: set GOMAN_LIVE_PROFILE to an AWS profile to run them "
        "(they cost a few cents; see docs/live-tests.md)",
    ),
    pytest.mark.skipif(bool(os.environ.get("CI")), reason="the live AWS checks never run in CI"),
]


@pytest.fixture
def say(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Progress that reaches the terminal while pytest captures output (a run takes minutes)."""

    def out(line: str) -> None:
        with capsys.disabled():
            print(f"[live] {line}", flush=True)

    return out


@pytest.fixture
def goman(say: Callable[[str], None]) -> Goman:
    configured = [v for v in ENDPOINT_VARIABLES if os.environ.get(v)]
    if configured:
        pytest.fail(
            f"{', '.join(configured)} is set: the live checks are for AWS itself. Unset it "
            "(the sandbox and other endpoints are covered by the default test run)."
        )
    return Goman(PROFILE, say)


@pytest.fixture
def kubeconfig_dir() -> Iterator[Path]:
    """A private directory removed at once (pytest's tmp_path keeps old runs on disk, and a
    kubeconfig holds a client key)."""
    with tempfile.TemporaryDirectory(prefix="goman-live-") as path:
        os.chmod(path, 0o700)
        yield Path(path)


def test_the_probe_passes_on_real_s3(goman: Goman) -> None:
    init = goman("init", "-o", "json")
    data = init.json()
    assert data["conditional_writes"] == "verified"
    assert data["s3_endpoint"] == "https://s3.ap-south-1.amazonaws.com"
    doctor = goman("doctor", "-o", "json", check=False)
    probe = next(c for c in doctor.json()["checks"] if c["name"] == "conditional writes")
    assert probe["status"] == "pass", probe
    status = goman("status", "-o", "json").json()
    assert status["conditional_writes"] == "verified"
    scratch = goman("state", "ls", "probe/", "-o", "json").json()
    assert [r["key"] for r in scratch] == ["probe/conditional-writes.json"]


def _refuse_if_a_previous_run_left_something(goman: Goman) -> None:
    clusters = [c["name"] for c in goman("cluster", "list", "-o", "json").json()]
    ours = [c for c in clusters if c.startswith(CLUSTER_PREFIX)]
    found = leftovers(goman, REGION)
    if ours or found:
        lines = [f"  cluster {c}" for c in ours] + [
            f"  {r['type']} {r['id']} (cluster {r['cluster']}, {r['status']})" for r in found
        ]
        pytest.fail(
            f"Profile {PROFILE!r} already has goman clusters or resources in {REGION}; the "
            "live run needs a profile with none there (at the end it removes every orphan of "
            "the profile, and it checks that nothing is left):\n"
            + "\n".join(lines)
            + f"\nRemove them (`goman --profile {PROFILE} cluster delete NAME --yes`, then "
            f"`goman --profile {PROFILE} resources cleanup --orphans --region {REGION}`), or "
            "use a dedicated profile."
        )


def _ready(goman: Goman, name: str, nodes: int) -> dict[str, Any]:
    view: dict[str, Any] = goman("cluster", "get", name, "-o", "json").json()
    assert view["phase"] == "Running", view.get("message")
    alive = live_nodes(view)
    assert len(alive) == nodes, [n["name"] for n in alive]
    assert all(n["phase"] == "ready" for n in alive), [(n["name"], n["phase"]) for n in alive]
    return view


def test_a_whole_cluster_lifecycle_leaves_nothing_behind(
    goman: Goman, kubeconfig_dir: Path, say: Callable[[str], None]
) -> None:
    _refuse_if_a_previous_run_left_something(goman)
    name = f"{CLUSTER_PREFIX}{secrets.token_hex(3)}"
    meter = CostMeter(INSTANCE_TYPE, REGION)
    kubeconfig = str(kubeconfig_dir / "config")
    say(f"cluster {name}: dev, {INSTANCE_TYPE}, {REGION}, profile {PROFILE}")
    failed = True
    try:
        meter.nodes(1)
        goman(
            "cluster", "create", name, "--mode", "dev", "--workers", "0",
            "--instance-type", INSTANCE_TYPE, "--region", REGION, "--timeout", "20m",
            timeout=30 * 60,
        )  # fmt: skip
        server = _ready(goman, name, 1)["nodes"][0]["name"]
        goman("cluster", "kubeconfig", name, "--file", kubeconfig)
        assert kubectl_nodes(kubeconfig) == {server: True}

        meter.nodes(2)
        goman("cluster", "scale", name, "--workers", "1", "--timeout", "20m", timeout=30 * 60)
        names = [n["name"] for n in _ready(goman, name, 2)["nodes"] if n["phase"] == "ready"]
        agent = next(n for n in names if n != server)
        wait_for(
            "both nodes Ready in kubectl",
            lambda: kubectl_nodes(kubeconfig) == {server: True, agent: True},
            timeout=180,
        )

        goman("cluster", "scale", name, "--workers", "0", timeout=30 * 60)
        meter.nodes(1)
        _ready(goman, name, 1)
        # The removed agent leaves the API or goes NotReady (Kubernetes keeps a node object
        # until someone deletes it): either way only the server is Ready.
        wait_for(
            "only the server Ready after scaling down",
            lambda: {n for n, ready in kubectl_nodes(kubeconfig).items() if ready} == {server},
            timeout=300,
        )

        if goman.has_cluster_command("stop"):
            stop_help = goman("cluster", "stop", "--help").stdout
            goman("cluster", "stop", name, *(["--yes"] if "--yes" in stop_help else []),
                  timeout=30 * 60)  # fmt: skip
            meter.nodes(0)  # a stopped instance is not billed by the hour
            meter.nodes(1)
            goman("cluster", "start", name, timeout=30 * 60)
            _ready(goman, name, 1)
            wait_for(
                "the server Ready again after start",
                lambda: kubectl_nodes(kubeconfig).get(server) is True,
                timeout=300,
            )
        else:
            say("this goman has no `cluster stop`: stop and start not tried")

        goman("cluster", "delete", name, "--yes", timeout=30 * 60)
        meter.nodes(0)
        assert name not in [c["name"] for c in goman("cluster", "list", "-o", "json").json()]
        failed = False
    finally:
        left = teardown(goman, name, REGION)
        meter.nodes(0)
        say(f"cost: {meter.report()}")
        if left:
            say(
                "LEFT BEHIND (remove by hand in the EC2 console, region "
                f"{REGION}, tag goman:profile={PROFILE}):"
            )
            for r in left:
                say(f"  {r['type']} {r['id']} (cluster {r['cluster']}, {r['status']})")
        elif failed:
            say("the run failed, but teardown removed everything it had created")
    assert left == [], "goman-tagged resources are left behind (listed above)"
