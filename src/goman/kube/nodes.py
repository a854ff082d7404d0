"""Nodes and pods, read and changed through the API, as plain dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lightkube.resources.core_v1 import Node, Pod
from lightkube.types import PatchType

if TYPE_CHECKING:
    from goman.kube.client import KubeClient

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
ROLE_PREFIX = "node-role.kubernetes.io/"


@dataclass(frozen=True)
class NodeStatus:
    name: str
    ready: bool
    kubelet_version: str
    schedulable: bool
    roles: tuple[str, ...]
    internal_ip: str | None


@dataclass(frozen=True)
class PodInfo:
    namespace: str
    name: str
    uid: str
    node: str | None
    phase: str
    owner_kind: str | None  # the controller's kind (ReplicaSet, DaemonSet, Job...)
    owner_name: str | None
    mirror: bool  # a static pod's mirror: the API cannot evict it
    terminating: bool

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def daemonset(self) -> bool:
        return self.owner_kind == "DaemonSet"

    @property
    def finished(self) -> bool:
        return self.phase in {"Succeeded", "Failed"}


def node_status(node: Any) -> NodeStatus:
    meta, spec, status = node.metadata, node.spec, node.status
    conditions = (status.conditions if status else None) or []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    labels = (meta.labels if meta else None) or {}
    roles = tuple(
        sorted(
            k[len(ROLE_PREFIX) :] for k in labels if k.startswith(ROLE_PREFIX) and k != ROLE_PREFIX
        )
    )
    addresses = (status.addresses if status else None) or []
    internal = next((a.address for a in addresses if a.type == "InternalIP"), None)
    info = status.nodeInfo if status else None
    return NodeStatus(
        name=str(meta.name if meta else ""),
        ready=ready,
        kubelet_version=str(info.kubeletVersion if info else ""),
        schedulable=not bool(spec.unschedulable if spec else False),
        roles=roles,
        internal_ip=internal,
    )


def pod_info(pod: Any) -> PodInfo:
    meta, spec, status = pod.metadata, pod.spec, pod.status
    owner = next((r for r in (meta.ownerReferences or []) if r.controller), None)
    return PodInfo(
        namespace=str(meta.namespace or ""),
        name=str(meta.name or ""),
        uid=str(meta.uid or ""),
        node=spec.nodeName if spec else None,
        phase=str((status.phase if status else None) or "Pending"),
        owner_kind=owner.kind if owner else None,
        owner_name=owner.name if owner else None,
        mirror=MIRROR_ANNOTATION in (meta.annotations or {}),
        terminating=meta.deletionTimestamp is not None,
    )


def list_nodes(kube: KubeClient) -> list[NodeStatus]:
    found = kube.call("list nodes", lambda: [node_status(n) for n in kube.lk.list(Node)])
    return sorted(found or [], key=lambda n: n.name)


def get_node(kube: KubeClient, name: str) -> NodeStatus | None:
    found = kube.call(f"read node {name}", lambda: kube.lk.get(Node, name), missing_ok=True)
    return node_status(found) if found is not None else None


def list_pods(kube: KubeClient, node: str | None = None) -> list[PodInfo]:
    fields: Any = {"spec.nodeName": node} if node else None
    what = f"list the pods of node {node}" if node else "list pods"
    found = kube.call(
        what, lambda: [pod_info(p) for p in kube.lk.list(Pod, namespace="*", fields=fields)]
    )
    return sorted(found or [], key=lambda p: p.key)


def pod_counts(kube: KubeClient) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pod in list_pods(kube):
        if pod.node and not pod.finished:
            counts[pod.node] = counts.get(pod.node, 0) + 1
    return counts


def set_unschedulable(kube: KubeClient, name: str, value: bool) -> bool:
    verb = "cordon" if value else "uncordon"
    done = kube.call(
        f"{verb} node {name}",
        lambda: kube.lk.patch(
            Node, name, {"spec": {"unschedulable": value}}, patch_type=PatchType.MERGE
        ),
        missing_ok=True,
    )
    return done is not None


def delete_node(kube: KubeClient, name: str) -> bool:
    def delete() -> bool:
        kube.lk.delete(Node, name)
        return True

    return bool(kube.call(f"delete node {name}", delete, missing_ok=True))
