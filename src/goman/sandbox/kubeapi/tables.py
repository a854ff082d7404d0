"""Server-side printing: the `meta.k8s.io/v1` Table kubectl asks for with
`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, with the columns a real API server
gives nodes, pods and the common workload kinds (priority-1 columns appear with `-o wide`).
Other kinds get NAME and AGE."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]
Column = tuple[str, str, int]  # name, type, priority (1: -o wide only)


def human_age(created: str | None, now: datetime | None = None) -> str:
    """The AGE cell, following the API server's rounding (5m10s, 3h, 2d4h, 400d...)."""
    if not created:
        return "<unknown>"
    try:
        then = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    seconds = int(((now or datetime.now(UTC)) - then).total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    years, days = hours // 24 // 365, (hours // 24) % 365
    if hours < 24 * 365 * 8:
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{years}y"


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _age(obj: Obj) -> str:
    return human_age(_meta(obj).get("creationTimestamp"))


def _none(value: Any) -> str:
    return str(value) if value not in (None, "") else "<none>"


# -- nodes ------------------------------------------------------------------------------


def node_status(node: Obj) -> str:
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    if ready is None:
        text = "Unknown"
    else:
        text = {"True": "Ready", "False": "NotReady"}.get(str(ready.get("status")), "Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        text += ",SchedulingDisabled"
    return text


def node_roles(node: Obj) -> str:
    roles = sorted(
        key.split("/", 1)[1]
        for key in (_meta(node).get("labels") or {})
        if key.startswith("node-role.kubernetes.io/") and key.split("/", 1)[1]
    )
    return ",".join(roles) if roles else "<none>"


def _address(node: Obj, kind: str) -> str:
    for addr in (node.get("status") or {}).get("addresses") or []:
        if addr.get("type") == kind:
            return str(addr.get("address"))
    return "<none>"


def _node_row(node: Obj) -> list[Any]:
    info = (node.get("status") or {}).get("nodeInfo") or {}
    return [
        _meta(node).get("name"),
        node_status(node),
        node_roles(node),
        _age(node),
        info.get("kubeletVersion", ""),
        _address(node, "InternalIP"),
        _address(node, "ExternalIP"),
        _none(info.get("osImage")),
        _none(info.get("kernelVersion")),
        _none(info.get("containerRuntimeVersion")),
    ]


# -- pods -------------------------------------------------------------------------------


def pod_status_text(pod: Obj) -> str:
    if _meta(pod).get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            return str(state["waiting"]["reason"])
        if "terminated" in state and state["terminated"].get("reason"):
            return str(state["terminated"]["reason"])
    return str(status.get("reason") or status.get("phase") or "Pending")


def _pod_row(pod: Obj) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    containers = spec.get("containers") or []
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for cs in statuses if cs.get("ready"))
    restarts = sum(int(cs.get("restartCount", 0)) for cs in statuses)
    return [
        _meta(pod).get("name"),
        f"{ready}/{len(containers)}",
        pod_status_text(pod),
        str(restarts),
        _age(pod),
        _none(status.get("podIP")),
        _none(spec.get("nodeName")),
        _none(status.get("nominatedNodeName")),
        "<none>",
    ]


# -- workloads --------------------------------------------------------------------------


def _images(obj: Obj) -> tuple[str, str]:
    template = (obj.get("spec") or {}).get("template") or {}
    containers = (template.get("spec") or {}).get("containers") or []
    names = ",".join(str(c.get("name", "")) for c in containers)
    images = ",".join(str(c.get("image", "")) for c in containers)
    return _none(names), _none(images)


def _selector(obj: Obj) -> str:
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in labels.items()) or "<none>"


def _deployment_row(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _images(obj)
    return [
        _meta(obj).get("name"),
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        _age(obj),
        names,
        images,
        _selector(obj),
    ]


def _replicaset_row(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _images(obj)
    return [
        _meta(obj).get("name"),
        spec.get("replicas", 1),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        _age(obj),
        names,
        images,
        _selector(obj),
    ]


def _daemonset_row(obj: Obj) -> list[Any]:
    status = obj.get("status") or {}
    node_selector = (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "nodeSelector"
    ) or {}
    names, images = _images(obj)
    return [
        _meta(obj).get("name"),
        status.get("desiredNumberScheduled", 0),
        status.get("currentNumberScheduled", 0),
        status.get("numberReady", 0),
        status.get("updatedNumberScheduled", 0),
        status.get("numberAvailable", 0),
        ",".join(f"{k}={v}" for k, v in node_selector.items()) or "<none>",
        _age(obj),
        names,
        images,
        _selector(obj),
    ]


def _pdb_row(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        _meta(obj).get("name"),
        "N/A" if spec.get("minAvailable") is None else str(spec["minAvailable"]),
        "N/A" if spec.get("maxUnavailable") is None else str(spec["maxUnavailable"]),
        status.get("disruptionsAllowed", 0),
        _age(obj),
    ]


def _namespace_row(obj: Obj) -> list[Any]:
    return [_meta(obj).get("name"), (obj.get("status") or {}).get("phase", "Active"), _age(obj)]


def _generic_row(obj: Obj) -> list[Any]:
    return [_meta(obj).get("name"), _age(obj)]


def _s(name: str, priority: int = 0) -> Column:
    return (name, "string", priority)


def _i(name: str, priority: int = 0) -> Column:
    return (name, "integer", priority)


_WORKLOAD_WIDE = [_s("Containers", 1), _s("Images", 1), _s("Selector", 1)]

PRINTERS: dict[tuple[str, str], tuple[list[Column], Callable[[Obj], list[Any]]]] = {
    ("", "nodes"): (
        [
            _s("Name"),
            _s("Status"),
            _s("Roles"),
            _s("Age"),
            _s("Version"),
            _s("Internal-IP", 1),
            _s("External-IP", 1),
            _s("OS-Image", 1),
            _s("Kernel-Version", 1),
            _s("Container-Runtime", 1),
        ],
        _node_row,
    ),
    ("", "pods"): (
        [
            _s("Name"),
            _s("Ready"),
            _s("Status"),
            _s("Restarts"),
            _s("Age"),
            _s("IP", 1),
            _s("Node", 1),
            _s("Nominated Node", 1),
            _s("Readiness Gates", 1),
        ],
        _pod_row,
    ),
    ("", "namespaces"): ([_s("Name"), _s("Status"), _s("Age")], _namespace_row),
    ("apps", "deployments"): (
        [_s("Name"), _s("Ready"), _i("Up-to-date"), _i("Available"), _s("Age"), *_WORKLOAD_WIDE],
        _deployment_row,
    ),
    ("apps", "replicasets"): (
        [_s("Name"), _i("Desired"), _i("Current"), _i("Ready"), _s("Age"), *_WORKLOAD_WIDE],
        _replicaset_row,
    ),
    ("apps", "daemonsets"): (
        [
            _s("Name"),
            _i("Desired"),
            _i("Current"),
            _i("Ready"),
            _i("Up-to-date"),
            _i("Available"),
            _s("Node Selector"),
            _s("Age"),
            *_WORKLOAD_WIDE,
        ],
        _daemonset_row,
    ),
    ("policy", "poddisruptionbudgets"): (
        [
            _s("Name"),
            _s("Min Available"),
            _s("Max Unavailable"),
            _i("Allowed Disruptions"),
            _s("Age"),
        ],
        _pdb_row,
    ),
}


def table(key: tuple[str, str], objects: list[Obj], resource_version: str) -> Obj:
    columns, row = PRINTERS.get(key, ([_s("Name"), _s("Age")], _generic_row))
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {
                "name": name,
                "type": kind,
                "format": "name" if name == "Name" else "",
                "description": "",
                "priority": prio,
            }
            for name, kind, prio in columns
        ],
        "rows": [
            {
                "cells": row(obj),
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj.get("metadata") or {},
                },
            }
            for obj in objects
        ],
    }
