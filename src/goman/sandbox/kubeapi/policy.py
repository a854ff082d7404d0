"""Evictions and PodDisruptionBudgets (policy/v1), as the API server's eviction subresource
decides them: an eviction that would leave fewer healthy pods than a budget wants is
answered 429, and the caller retries."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from goman.sandbox.kubeapi.objects import (
    finished,
    labels_of,
    name_of,
    namespace_of,
    pod_healthy,
    terminating,
)
from goman.sandbox.kubeapi.selectors import label_selector_matches

Obj = dict[str, Any]
PDB_KEY = ("policy", "poddisruptionbudgets")


@dataclass(frozen=True)
class Budget:
    expected: int
    healthy: int
    desired: int

    @property
    def allowed(self) -> int:
        return max(0, self.healthy - self.desired)


def _scaled(value: Any, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        try:
            return math.ceil(total * int(value[:-1]) / 100)
        except ValueError:
            return total
    try:
        return int(value)
    except (TypeError, ValueError):
        return total


def pdb_matches(pdb: Obj, pod: Obj) -> bool:
    selector = (pdb.get("spec") or {}).get("selector")
    return namespace_of(pdb) == namespace_of(pod) and label_selector_matches(
        selector, labels_of(pod)
    )


def budget(pdb: Obj, pods: list[Obj]) -> Budget:
    """The budget of `pdb` over the pods of its namespace."""
    matching = [p for p in pods if pdb_matches(pdb, p) and not terminating(p) and not finished(p)]
    expected = len(matching)
    healthy = sum(1 for p in matching if pod_healthy(p))
    spec = pdb.get("spec") or {}
    if spec.get("maxUnavailable") is not None:
        desired = max(0, expected - _scaled(spec["maxUnavailable"], expected))
    elif spec.get("minAvailable") is not None:
        desired = _scaled(spec["minAvailable"], expected)
    else:
        desired = expected  # neither set: the API would refuse it; be strict
    return Budget(expected, healthy, desired)


def pdb_status(pdb: Obj, pods: list[Obj]) -> Obj:
    b = budget(pdb, pods)
    generation = (pdb.get("metadata") or {}).get("generation", 1)
    return {
        "observedGeneration": generation,
        "disruptionsAllowed": b.allowed,
        "currentHealthy": b.healthy,
        "desiredHealthy": b.desired,
        "expectedPods": b.expected,
        "conditions": [
            {
                "type": "DisruptionAllowed",
                "status": "True" if b.allowed > 0 else "False",
                "reason": "SufficientPods" if b.allowed > 0 else "InsufficientPods",
                "message": "",
                "observedGeneration": generation,
                "lastTransitionTime": "1970-01-01T00:00:00Z",
            }
        ],
    }


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    code: int = 201
    reason: str = ""
    message: str = ""
    cause: str = ""


def decide(pod: Obj, pdbs: list[Obj], pods: list[Obj]) -> Verdict:
    """May `pod` be evicted now, given the budgets of its namespace and its pods?"""
    if terminating(pod) or finished(pod) or (pod.get("status") or {}).get("phase") == "Pending":
        return Verdict(True)
    matching = [p for p in pdbs if pdb_matches(p, pod)]
    if not matching:
        return Verdict(True)
    if len(matching) > 1:
        return Verdict(
            False,
            500,
            "InternalError",
            "This pod has more than one PodDisruptionBudget, which the eviction subresource "
            "does not support.",
        )
    pdb = matching[0]
    b = budget(pdb, pods)
    ok = b.allowed >= 1 if pod_healthy(pod) else b.healthy >= b.desired
    if ok:
        return Verdict(True)
    return Verdict(
        False,
        429,
        "TooManyRequests",
        "Cannot evict pod as it would violate the pod's disruption budget.",
        f"The disruption budget {name_of(pdb)} needs {b.desired} healthy pods and has "
        f"{b.healthy} currently",
    )
