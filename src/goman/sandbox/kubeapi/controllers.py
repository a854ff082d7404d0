"""The control loops of the emulated cluster, each a function of the ClusterState.

They stand in for kube-controller-manager, the scheduler and the kubelets, just enough for
workloads to behave: Deployments own one ReplicaSet, ReplicaSets keep their pod count
(re-creating an evicted pod on another schedulable node), DaemonSets keep one pod per
node, pods of vanished nodes are removed, unscheduled pods go to the Ready schedulable node
with the fewest pods, a scheduled pod runs and is Ready while its node is Ready, and
PodDisruptionBudgets and CustomResourceDefinitions get their status.

Controllers run under the store's lock after every write through the API and on every
tick of the cluster's loop. They must be idempotent: writing an unchanged object is free.
Add one with `ClusterState.add_controller(fn)` (see docs/kubernetes.md).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from goman.sandbox.kubeapi.kinds import CRD_KEY
from goman.sandbox.kubeapi.objects import (
    controller_of,
    finished,
    labels_of,
    meta,
    name_of,
    namespace_of,
    node_ready,
    node_schedulable,
    owned_by,
    owner_ref,
    suffix,
    template_hash,
    terminating,
)
from goman.sandbox.kubeapi.policy import PDB_KEY, pdb_status
from goman.sandbox.kubeapi.store import now_rfc3339

if TYPE_CHECKING:
    from goman.sandbox.kubeapi.cluster import ClusterState

Obj = dict[str, Any]
NODES = ("", "nodes")
PODS = ("", "pods")
DEPLOYMENTS = ("apps", "deployments")
REPLICASETS = ("apps", "replicasets")
DAEMONSETS = ("apps", "daemonsets")


def _live(pods: list[Obj], owner: Obj) -> list[Obj]:
    return [p for p in pods if owned_by(p, owner) and not terminating(p) and not finished(p)]


def new_pod(owner: Obj, template: Obj, name: str, node: str | None = None) -> Obj:
    spec = copy.deepcopy(template.get("spec") or {})
    if node:
        spec["nodeName"] = node
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("schedulerName", "default-scheduler")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace_of(owner),
            "labels": dict((template.get("metadata") or {}).get("labels") or {}),
            "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
            "ownerReferences": [owner_ref(owner)],
        },
        "spec": spec,
        "status": {"phase": "Pending"},
    }


def deployments(state: ClusterState) -> None:
    """One ReplicaSet per Deployment, named after its pod template (changing the template
    replaces the ReplicaSet and its pods at once: a Recreate rollout)."""
    replicasets = state.store.view(REPLICASETS)
    pods = state.store.view(PODS)
    for deploy in state.store.view(DEPLOYMENTS):
        spec = deploy.get("spec") or {}
        template = copy.deepcopy(spec.get("template") or {})
        pod_hash = template_hash(template)
        template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = pod_hash
        rs_name = f"{name_of(deploy)}-{pod_hash}"
        ns = namespace_of(deploy)
        replicas = int(spec.get("replicas", 1))
        current = None
        for rs in replicasets:
            if not owned_by(rs, deploy):
                continue
            if name_of(rs) == rs_name:
                current = rs
            else:
                state.store.delete(REPLICASETS, ns, name_of(rs))
                for pod in pods:
                    if owned_by(pod, rs):
                        state.store.delete(PODS, ns, name_of(pod))
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
        desired = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name,
                "namespace": ns,
                "labels": dict(template["metadata"]["labels"]),
                "ownerReferences": [owner_ref(deploy)],
            },
            "spec": {"replicas": replicas, "selector": selector, "template": template},
        }
        if current is None:
            current = state.store.create(REPLICASETS, desired)
        elif current.get("spec") != desired["spec"]:
            current = state.store.update(REPLICASETS, {**current, "spec": desired["spec"]})
        status = current.get("status") or {}
        ready = int(status.get("readyReplicas", 0))
        new_status = {
            "observedGeneration": meta(deploy).get("generation", 1),
            "replicas": int(status.get("replicas", 0)),
            "updatedReplicas": int(status.get("replicas", 0)),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if ready >= replicas else "False",
                    "reason": "MinimumReplicasAvailable"
                    if ready >= replicas
                    else "MinimumReplicasUnavailable",
                }
            ],
        }
        if deploy.get("status") != new_status:
            state.store.update(DEPLOYMENTS, {**deploy, "status": new_status})


def replicasets(state: ClusterState) -> None:
    """Keep `spec.replicas` pods per ReplicaSet; new pods are left for the scheduler."""
    for rs in state.store.view(REPLICASETS):
        pods = _live(state.store.view(PODS, namespace_of(rs)), rs)
        want = int((rs.get("spec") or {}).get("replicas", 1))
        template = (rs.get("spec") or {}).get("template") or {}
        for _ in range(want - len(pods)):
            pods.append(
                state.store.create(PODS, new_pod(rs, template, f"{name_of(rs)}-{suffix()}"))
            )
        if len(pods) > want:
            pods.sort(key=lambda p: (bool((p.get("spec") or {}).get("nodeName")), name_of(p)))
            for pod in pods[: len(pods) - want]:
                state.store.delete(PODS, namespace_of(pod), name_of(pod))
            pods = pods[len(pods) - want :]
        ready = sum(1 for p in pods if _ready(p))
        new_status = {
            "replicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "fullyLabeledReplicas": len(pods),
            "observedGeneration": meta(rs).get("generation", 1),
        }
        if rs.get("status") != new_status:
            state.store.update(REPLICASETS, {**rs, "status": new_status})


def _ready(pod: Obj) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def _selects(node_selector: Any, node: Obj) -> bool:
    labels = labels_of(node)
    return all(labels.get(str(k)) == str(v) for k, v in (node_selector or {}).items())


def daemonsets(state: ClusterState) -> None:
    """One pod per matching node (cordoned nodes included, as DaemonSets tolerate them)."""
    nodes = state.store.view(NODES)
    for ds in state.store.view(DAEMONSETS):
        template = (ds.get("spec") or {}).get("template") or {}
        node_selector = (template.get("spec") or {}).get("nodeSelector")
        wanted = {name_of(n) for n in nodes if _selects(node_selector, n)}
        pods = _live(state.store.view(PODS, namespace_of(ds)), ds)
        placed: set[str] = set()
        for pod in pods:
            node = str((pod.get("spec") or {}).get("nodeName") or "")
            if node not in wanted or node in placed:
                state.store.delete(PODS, namespace_of(pod), name_of(pod))
            else:
                placed.add(node)
        for node in sorted(wanted - placed):
            state.store.create(PODS, new_pod(ds, template, f"{name_of(ds)}-{suffix()}", node))
        pods = _live(state.store.view(PODS, namespace_of(ds)), ds)
        ready = sum(1 for p in pods if _ready(p))
        new_status = {
            "desiredNumberScheduled": len(wanted),
            "currentNumberScheduled": len(pods),
            "updatedNumberScheduled": len(pods),
            "numberReady": ready,
            "numberAvailable": ready,
            "numberMisscheduled": 0,
            "observedGeneration": meta(ds).get("generation", 1),
        }
        if ds.get("status") != new_status:
            state.store.update(DAEMONSETS, {**ds, "status": new_status})


_OWNER_KEYS = {
    "Deployment": DEPLOYMENTS,
    "ReplicaSet": REPLICASETS,
    "DaemonSet": DAEMONSETS,
    "StatefulSet": ("apps", "statefulsets"),
    "Job": ("batch", "jobs"),
}


def garbage_collector(state: ClusterState) -> None:
    """ReplicaSets and pods whose controlling owner is gone are deleted (cascading)."""
    uids = {
        kind: {meta(o).get("uid") for o in state.store.view(key)}
        for kind, key in _OWNER_KEYS.items()
    }
    for key in (REPLICASETS, PODS):
        for obj in state.store.view(key):
            ref = controller_of(obj)
            if ref and ref.get("kind") in uids and ref.get("uid") not in uids[str(ref["kind"])]:
                state.store.delete(key, namespace_of(obj), name_of(obj))


def pod_gc(state: ClusterState) -> None:
    """Pods bound to a node that no longer exists are deleted."""
    nodes = {name_of(n) for n in state.store.view(NODES)}
    for pod in state.store.view(PODS):
        node = (pod.get("spec") or {}).get("nodeName")
        if node and node not in nodes:
            state.store.delete(PODS, namespace_of(pod), name_of(pod))


def scheduler(state: ClusterState) -> None:
    """Unscheduled pods go to the Ready, schedulable node (honouring nodeSelector) that
    runs the fewest pods; with no such node they stay Pending."""
    nodes = [n for n in state.store.view(NODES) if node_schedulable(n)]
    if not nodes:
        return
    pods = state.store.view(PODS)
    load = {name_of(n): 0 for n in nodes}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node in load:
            load[node] += 1
    for pod in pods:
        spec = pod.get("spec") or {}
        if spec.get("nodeName") or terminating(pod):
            continue
        fits = [n for n in nodes if _selects(spec.get("nodeSelector"), n)]
        if not fits:
            continue
        target = min(fits, key=lambda n: (load[name_of(n)], name_of(n)))
        load[name_of(target)] += 1
        state.store.update(PODS, {**pod, "spec": {**spec, "nodeName": name_of(target)}})


def kubelet(state: ClusterState) -> None:
    """A scheduled pod runs; it is Ready while its node is Ready."""
    nodes = {name_of(n): n for n in state.store.view(NODES)}
    for pod in state.store.view(PODS):
        spec = pod.get("spec") or {}
        node = nodes.get(str(spec.get("nodeName") or ""))
        if node is None or terminating(pod) or finished(pod):
            continue
        status = copy.deepcopy(pod.get("status") or {})
        ready = "True" if node_ready(node) else "False"
        since = status.get("startTime") or now_rfc3339()
        status["phase"] = "Running"
        status["startTime"] = since
        status["hostIP"] = state.node_ip(name_of(node))
        if not status.get("podIP"):
            status["podIP"] = state.allocate_pod_ip(name_of(node))
        status["podIPs"] = [{"ip": status["podIP"]}]
        status["qosClass"] = "BestEffort"
        status["conditions"] = [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": since},
            {"type": "Initialized", "status": "True", "lastTransitionTime": since},
            {"type": "ContainersReady", "status": ready, "lastTransitionTime": since},
            {"type": "Ready", "status": ready, "lastTransitionTime": since},
        ]
        status["containerStatuses"] = [
            {
                "name": c.get("name", ""),
                "image": c.get("image", ""),
                "imageID": "",
                "containerID": f"containerd://{name_of(pod)}-{c.get('name', '')}",
                "ready": ready == "True",
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": since}},
            }
            for c in spec.get("containers") or []
            if isinstance(c, dict)
        ]
        if status != pod.get("status"):
            state.store.update(PODS, {**pod, "status": status})


def disruption_budgets(state: ClusterState) -> None:
    for pdb in state.store.view(PDB_KEY):
        status = pdb_status(pdb, state.store.view(PODS, namespace_of(pdb)))
        if pdb.get("status") != status:
            state.store.update(PDB_KEY, {**pdb, "status": status})


def custom_resource_definitions(state: ClusterState) -> None:
    """A stored CRD is established at once: its kinds are served from then on."""
    for crd in state.store.view(CRD_KEY):
        names = (crd.get("spec") or {}).get("names") or {}
        status = {
            "acceptedNames": names,
            "storedVersions": [
                v.get("name")
                for v in (crd.get("spec") or {}).get("versions") or []
                if isinstance(v, dict) and v.get("storage")
            ],
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
            ],
        }
        if crd.get("status") != status:
            state.store.update(CRD_KEY, {**crd, "status": status})


BUILTIN_CONTROLLERS = (
    garbage_collector,
    custom_resource_definitions,
    deployments,
    replicasets,
    daemonsets,
    pod_gc,
    scheduler,
    kubelet,
    disruption_budgets,
)
