"""K3s's automated upgrade through the API: the system-upgrade-controller and two Plans.

The Plans follow K3s's documentation: `server-plan` upgrades the control-plane nodes one
at a time (concurrency 1), cordoning each; `agent-plan` upgrades the other nodes, cordoning
each, and its `prepare` step waits for the server plan to finish. Both run the
`rancher/k3s-upgrade` image at the target version. The controller labels a node with the
plan's hash once that node is done, so applying the same Plans again (after a crash)
upgrades only the nodes that are not done yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from goman.kube.resources import PLAN, ResourceKind

if TYPE_CHECKING:
    from goman.kube.client import KubeClient

NAMESPACE = "system-upgrade"
CONTROLLER = "system-upgrade-controller"
SERVICE_ACCOUNT = "system-upgrade"
SERVER_PLAN = "server-plan"
AGENT_PLAN = "agent-plan"
UPGRADE_IMAGE = "rancher/k3s-upgrade"
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"
DEPLOYMENT = ResourceKind("apps", "v1", "Deployment", "deployments", namespaced=True)
# A Plan is served once the controller's CustomResourceDefinition is established.
PLAN_SERVED_SECONDS = 30.0


def controller_manifest() -> str:
    """The pinned system-upgrade-controller manifest goman ships."""
    return (
        resources.files("goman.kube")
        .joinpath("manifests/system-upgrade-controller.yaml")
        .read_text(encoding="utf-8")
    )


def plans(version: str) -> list[dict[str, Any]]:
    """The two Plans that upgrade a K3s cluster to `version`, servers first."""

    def plan(name: str, selector: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": PLAN.api_version,
            "kind": PLAN.kind,
            "metadata": {
                "name": name,
                "namespace": NAMESPACE,
                "labels": {"app.kubernetes.io/managed-by": "goman"},
            },
            "spec": {
                "concurrency": 1,
                "cordon": True,
                "nodeSelector": {"matchExpressions": [selector]},
                "serviceAccountName": SERVICE_ACCOUNT,
                "upgrade": {"image": UPGRADE_IMAGE},
                "version": version,
                **extra,
            },
        }

    return [
        plan(
            SERVER_PLAN,
            {"key": CONTROL_PLANE, "operator": "In", "values": ["true"]},
            # Servers carry these taints in some setups; the upgrade Job must still run.
            {
                "tolerations": [
                    {"key": "CriticalAddonsOnly", "operator": "Exists"},
                    {"key": CONTROL_PLANE, "operator": "Exists", "effect": "NoSchedule"},
                    {"key": "node-role.kubernetes.io/etcd", "operator": "Exists"},
                ]
            },
        ),
        plan(
            AGENT_PLAN,
            {"key": CONTROL_PLANE, "operator": "DoesNotExist"},
            {"prepare": {"image": UPGRADE_IMAGE, "args": ["prepare", SERVER_PLAN]}},
        ),
    ]


def has_controller(kube: KubeClient) -> bool:
    return kube.get_object(DEPLOYMENT, CONTROLLER, NAMESPACE) is not None


def install_controller(kube: KubeClient) -> list[str]:
    """Apply the pinned manifest (server-side apply: running it again changes nothing)."""
    return kube.apply(controller_manifest())


def apply_plans(kube: KubeClient, version: str) -> list[str]:
    return kube.apply(plans(version))


def applying(kube: KubeClient, plan: str) -> list[str]:
    """The nodes the controller is still upgrading for `plan` (its `status.applying`): a
    node is done only once its upgrade Job is, after it was uncordoned."""
    found = kube.get_object(PLAN, plan, NAMESPACE) or {}
    nodes = (found.get("status") or {}).get("applying") or []
    return [str(n) for n in nodes] if isinstance(nodes, list) else []


@dataclass(frozen=True)
class NodeUpgrade:
    """One node as the upgrade sees it."""

    name: str
    server: bool
    version: str
    ready: bool
    schedulable: bool

    def done(self, target: str) -> bool:
        return self.version == target and self.ready and self.schedulable

    def describe(self, target: str) -> str:
        if self.done(target):
            return f"{self.name} upgraded to {target}"
        state = ", ".join(
            part
            for part in (
                self.version,
                "Ready" if self.ready else "NotReady",
                "" if self.schedulable else "cordoned",
            )
            if part
        )
        return f"{self.name} ({state})"


def observe(kube: KubeClient) -> list[NodeUpgrade]:
    """Every node's kubelet version, readiness and cordon, servers first."""
    found = [
        NodeUpgrade(
            name=n.name,
            server="control-plane" in n.roles,
            version=n.kubelet_version,
            ready=n.ready,
            schedulable=n.schedulable,
        )
        for n in kube.nodes()
    ]
    return sorted(found, key=lambda n: (not n.server, n.name))
