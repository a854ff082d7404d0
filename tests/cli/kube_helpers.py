"""A sandbox cluster's Kubernetes API in CLI tests: the emulated API the node emulator runs
at the cluster's endpoint, and the real kubectl with the kubeconfig goman builds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from goman.sandbox.kubeapi.server import EmulatedCluster
from goman.sandbox.nodes import find_emulator
from goman.sandbox.server import SandboxServer
from tests.kube.helpers import kubectl


def cluster_api(sandbox: SandboxServer, goman: Any, name: str) -> EmulatedCluster:
    endpoint = goman("cluster", "get", name, "-o", "json").json()["endpoint"]
    emulator = find_emulator(sandbox)
    assert emulator is not None
    api = emulator.api(endpoint.split("//")[1].split(":")[0])
    assert api is not None, f"no API at {endpoint}"
    return api  # type: ignore[no-any-return]


def kubectl_nodes(goman: Any, name: str, home: Path) -> list[dict[str, Any]]:
    """`kubectl get nodes -o json` with the kubeconfig `goman cluster kubeconfig` writes."""
    config = home / "config"
    wrote = goman("cluster", "kubeconfig", name, "--file", str(config))
    assert wrote.exit_code == 0, wrote.output
    out = kubectl(home, config, "get", "nodes", "-o", "json")
    assert out.returncode == 0, out.stderr
    items: list[dict[str, Any]] = json.loads(out.stdout)["items"]
    return items


def ready(node: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])
