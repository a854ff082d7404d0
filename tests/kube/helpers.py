"""An emulated cluster API on 127.0.0.1 with goman's PKI, shared by the kube/ and the
emulator's tests (one per test module: reset between tests, never restarted)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from goman.provision.pki import CABundle, admin_kubeconfig, generate_cluster_cas
from goman.sandbox.kubeapi.cluster import ClusterState
from goman.sandbox.kubeapi.server import EmulatedCluster

ARN = "arn:aws:sts::123456789012:assumed-role/Admin/jane@example.com"
KUBECTL = (
    "/usr/bin/kubectl"
    if os.path.exists("/usr/bin/kubectl")
    else (shutil.which("kubectl") or "kubectl")
)


@dataclass
class Emulated:
    bundle: CABundle
    api: EmulatedCluster
    kubeconfig: dict[str, Any]

    @property
    def state(self) -> ClusterState:
        return self.api.state

    def reset(self) -> ClusterState:
        """A fresh cluster with three Ready nodes: web-server-0, web-agent-1, web-agent-2."""
        state = self.api.reset()
        state.add_node(
            "web-server-0", role="server", internal_ip="172.31.0.4", external_ip="127.0.0.1"
        )
        state.add_node("web-agent-1", internal_ip="172.31.0.5")
        state.add_node("web-agent-2", internal_ip="172.31.0.6")
        return state


def emulated() -> Iterator[Emulated]:
    bundle = generate_cluster_cas()
    api = EmulatedCluster(bundle, port=0, tick=0.2).start()
    try:
        config = admin_kubeconfig(
            bundle, endpoint=api.endpoint, identity_arn=ARN, context="goman-default-web"
        )
        yield Emulated(bundle, api, config)
    finally:
        api.stop()


def write_kubeconfig(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def kubectl(
    home: Path, kubeconfig: Path, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the real kubectl with only this kubeconfig (and a private discovery cache)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "KUBECONFIG": str(kubeconfig),
        "KUBECACHEDIR": str(home / "cache"),
    }
    return subprocess.run(
        [KUBECTL, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def pods_on(state: ClusterState, node: str) -> list[str]:
    return sorted(p["metadata"]["name"] for p in state.pods(node=node))
