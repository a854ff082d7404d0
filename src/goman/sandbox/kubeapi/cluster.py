"""The emulated cluster's state and the calls the node emulator makes on it.

`ClusterState` holds the objects (a Store), the control loops (controllers.py) and the
audit trail of API requests. The node emulator drives it like kubelets joining and
leaving: `add_node`, `set_node_ready`, `set_kubelet_version`, `remove_node`. A new cluster
already holds K3s's packaged components (CoreDNS, local-path-provisioner, metrics-server,
Traefik and its ServiceLB DaemonSet); their pods are scheduled as nodes arrive.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from goman.sandbox.kubeapi.controllers import BUILTIN_CONTROLLERS, NODES, PODS
from goman.sandbox.kubeapi.store import Store, now_rfc3339
from goman.sandbox.kubeapi.upgrade import SystemUpgradeController

Obj = dict[str, Any]
Controller = Callable[["ClusterState"], None]
Role = Literal["server", "agent"]

DEFAULT_VERSION = "v1.33.3+k3s1"
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
MAX_PASSES = 6  # controllers run until nothing changes (a chain is a few steps long)
AUDIT_LOG = 500


@dataclass(frozen=True)
class AuditEntry:
    user: str
    groups: tuple[str, ...]
    verb: str
    path: str
    code: int


class ClusterState:
    def __init__(self, *, version: str = DEFAULT_VERSION, k3s_components: bool = True) -> None:
        self.store = Store()
        self.default_version = version
        self.controllers: list[Controller] = list(BUILTIN_CONTROLLERS)
        # Inert until its Deployment is applied (as on a real K3s cluster).
        self.controllers.append(SystemUpgradeController())
        self.audit: deque[AuditEntry] = deque(maxlen=AUDIT_LOG)
        self._ip_lock = threading.Lock()
        self._node_index: dict[str, int] = {}
        self._next_ip: dict[str, int] = {}
        for ns in SYSTEM_NAMESPACES:
            self.store.create(
                ("", "namespaces"),
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"},
                },
            )
        if k3s_components:
            from goman.sandbox.kubeapi.k3s import k3s_components as objects

            for key, obj in objects():
                self.store.create(key, obj)
        self.reconcile()

    # -- the node emulator's calls ------------------------------------------------------

    def add_node(
        self,
        name: str,
        *,
        role: Role = "agent",
        kubelet_version: str | None = None,
        internal_ip: str = "",
        external_ip: str | None = None,
        ready: bool = True,
        etcd: bool = False,
    ) -> Obj:
        """A node joins (or re-registers: its addresses, version and readiness are updated,
        its cordon and labels kept). Servers get K3s's role labels; `etcd` marks a server of
        an embedded-etcd (ha) cluster."""
        version = kubelet_version or self.default_version
        with self.store.lock, self._ip_lock:
            index = self._node_index.setdefault(name, self._free_index())
        with self.store.lock:
            labels = {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/instance-type": "k3s",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": "k3s",
            }
            if role == "server":
                labels["node-role.kubernetes.io/control-plane"] = "true"
                labels["node-role.kubernetes.io/master"] = "true"
                if etcd:
                    labels["node-role.kubernetes.io/etcd"] = "true"
            addresses = [{"type": "InternalIP", "address": internal_ip or f"10.0.0.{index + 10}"}]
            if external_ip:
                addresses.append({"type": "ExternalIP", "address": external_ip})
            addresses.append({"type": "Hostname", "address": name})
            existing = self.store.get(NODES, "", name)
            node = existing or {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "annotations": {"k3s.io/node-args": f'["{role}"]'}},
                "spec": {
                    "podCIDR": f"10.42.{index}.0/24",
                    "podCIDRs": [f"10.42.{index}.0/24"],
                    "providerID": f"k3s://{name}",
                },
            }
            node["metadata"]["labels"] = {**(node["metadata"].get("labels") or {}), **labels}
            node["status"] = {
                "addresses": addresses,
                "capacity": {"cpu": "2", "memory": "3964328Ki", "pods": "110"},
                "allocatable": {"cpu": "2", "memory": "3964328Ki", "pods": "110"},
                "conditions": _conditions(ready),
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "architecture": "amd64",
                    "bootID": name,
                    "containerRuntimeVersion": "containerd://2.0.5-k3s1",
                    "kernelVersion": "6.8.0-1029-aws",
                    "kubeProxyVersion": version,
                    "kubeletVersion": version,
                    "machineID": name,
                    "operatingSystem": "linux",
                    "osImage": "Ubuntu 24.04.2 LTS",
                    "systemUUID": name,
                },
            }
            if existing is None:
                stored = self.store.create(NODES, node)
            else:
                stored = self.store.update(NODES, node)
            self.reconcile()
            return stored

    def set_node_ready(self, name: str, ready: bool) -> None:
        self._edit_node(name, lambda node: node["status"].update(conditions=_conditions(ready)))

    def set_kubelet_version(self, name: str, version: str) -> None:
        def edit(node: Obj) -> None:
            info = node["status"].setdefault("nodeInfo", {})
            info["kubeletVersion"] = version
            info["kubeProxyVersion"] = version

        self._edit_node(name, edit)

    def set_unschedulable(self, name: str, unschedulable: bool) -> None:
        self._edit_node(name, lambda node: node["spec"].update(unschedulable=unschedulable))

    def remove_node(self, name: str) -> bool:
        """The node's Node object goes (as `kubectl delete node`); its pods are collected."""
        with self.store.lock:
            gone = self.store.delete(NODES, "", name) is not None
            self.reconcile()
            return gone

    def _edit_node(self, name: str, edit: Callable[[Obj], None]) -> None:
        with self.store.lock:
            node = self.store.get(NODES, "", name)
            if node is None:
                raise KeyError(f"no node {name!r}")
            node.setdefault("status", {})
            node.setdefault("spec", {})
            edit(node)
            self.store.update(NODES, node)
            self.reconcile()

    # -- reading ------------------------------------------------------------------------

    def node(self, name: str) -> Obj | None:
        return self.store.get(NODES, "", name)

    def nodes(self) -> list[Obj]:
        return self.store.objects(NODES)

    def pods(self, *, node: str | None = None, namespace: str | None = None) -> list[Obj]:
        pods = self.store.objects(PODS, namespace)
        if node is None:
            return pods
        return [p for p in pods if (p.get("spec") or {}).get("nodeName") == node]

    @property
    def server_version(self) -> str:
        """What /version reports: the kubelet version of the first server node (the API
        server runs there), else the version the cluster was created with."""
        servers = [
            n
            for n in self.nodes()
            if "node-role.kubernetes.io/control-plane" in (n["metadata"].get("labels") or {})
        ]
        if servers:
            info = (servers[0].get("status") or {}).get("nodeInfo") or {}
            return str(info.get("kubeletVersion") or self.default_version)
        return self.default_version

    # -- controllers --------------------------------------------------------------------

    def add_controller(self, controller: Controller) -> None:
        """Run `controller(state)` after every API write and on every tick (under the
        store's lock; it must be idempotent and quick)."""
        with self.store.lock:
            self.controllers.append(controller)

    def reconcile(self) -> None:
        with self.store.lock:
            for _ in range(MAX_PASSES):
                before = self.store.resource_version
                for controller in list(self.controllers):
                    controller(self)
                if self.store.resource_version == before:
                    return

    # -- addresses ----------------------------------------------------------------------

    def _free_index(self) -> int:
        used = set(self._node_index.values())
        return next(i for i in range(256) if i not in used)

    def node_ip(self, node: str) -> str:
        found = self.store.get(NODES, "", node)
        for addr in ((found or {}).get("status") or {}).get("addresses") or []:
            if addr.get("type") == "InternalIP":
                return str(addr.get("address"))
        return ""

    def allocate_pod_ip(self, node: str) -> str:
        with self._ip_lock:
            index = self._node_index.setdefault(node, self._free_index())
            host = self._next_ip.get(node, 2)
            self._next_ip[node] = host + 1 if host < 254 else 2
            return str(ipaddress.ip_address(f"10.42.{index}.0") + host)


def _conditions(ready: bool) -> list[Obj]:
    stamp = now_rfc3339()
    out = [
        {
            "type": kind,
            "status": "False",
            "reason": f"KubeletHasSufficient{kind.removesuffix('Pressure')}",
            "message": "",
            "lastHeartbeatTime": stamp,
            "lastTransitionTime": stamp,
        }
        for kind in ("MemoryPressure", "DiskPressure", "PIDPressure")
    ]
    out.append(
        {
            "type": "Ready",
            "status": "True" if ready else "False",
            "reason": "KubeletReady" if ready else "KubeletNotReady",
            "message": "kubelet is posting ready status" if ready else "node is not ready",
            "lastHeartbeatTime": stamp,
            "lastTransitionTime": stamp,
        }
    )
    return out
