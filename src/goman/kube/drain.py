"""Draining a node through the Eviction API (policy/v1), the way `kubectl drain` does.

`drain(kube, node, timeout=..., force=...)`:
1. cordons the node (a node that does not exist is already drained: `found=False`);
2. evicts every pod on it except DaemonSet-owned pods (their controller would put them back
   at once) and mirror pods (annotation `kubernetes.io/config.mirror`: static pods the API
   cannot evict). Pods without a controller and pods with emptyDir volumes are evicted too:
   the node is about to go away, so they would be lost anyway (what `kubectl drain
   --ignore-daemonsets --delete-emptydir-data --force` selects);
3. an eviction a PodDisruptionBudget forbids (429) is retried every `poll` seconds;
4. waits until every evicted pod is gone (same name and uid no longer on the node).

It is idempotent: draining a drained node only re-checks, and a drain cut short (crash)
continues where it stopped when run again.

When the pods are not all gone by `timeout`:
- without `force`: DrainTimeoutError naming the pods and what blocks them;
- with `force`: returns `complete=False` with those pods in `remaining`. Force does not
  delete pods or bypass budgets itself; it only lets the caller go on (delete the Node,
  terminate the instance), which stops the remaining pods without honouring their budgets.
  An eviction refused for another reason than a budget (say, a pod under two budgets, which
  the API refuses with 500) fails the drain at once without `force`, and with `force` leaves
  that pod in `remaining` while the others are drained.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lightkube import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Pod

from goman.kube.errors import DrainTimeoutError
from goman.kube.nodes import PodInfo, list_pods, set_unschedulable

if TYPE_CHECKING:
    from goman.kube.client import KubeClient


@dataclass(frozen=True)
class DrainResult:
    node: str
    found: bool  # the Node existed
    complete: bool  # no evictable pod is left on the node
    evicted: tuple[str, ...] = ()  # namespace/name of the pods this call evicted
    left: tuple[str, ...] = ()  # DaemonSet and mirror pods, left in place on purpose
    remaining: tuple[str, ...] = ()  # pods still there when a forced drain gave up
    reasons: tuple[str, ...] = ()  # why those pods could not be evicted


@dataclass
class _Progress:
    waiting: dict[str, str] = field(default_factory=dict)  # key -> uid evicted, not yet gone
    evicted: list[str] = field(default_factory=list)
    blocked: dict[str, str] = field(default_factory=dict)  # key -> budget message (429)
    failed: dict[str, str] = field(default_factory=dict)  # key -> other refusal (force only)
    left: set[str] = field(default_factory=set)


def _evict(kube: KubeClient, pod: PodInfo) -> tuple[str, str]:
    """('evicted' | 'gone' | 'blocked' | 'refused', message)."""

    def act() -> tuple[str, str]:
        eviction = Pod.Eviction(metadata=ObjectMeta(name=pod.name, namespace=pod.namespace))
        try:
            kube.lk.create(eviction, name=pod.name, namespace=pod.namespace)
        except ApiError as exc:
            code = int(exc.status.code or exc.response.status_code)
            message = str(exc.status.message or "")
            causes = (exc.status.details.causes if exc.status.details else None) or []
            detail = "; ".join(str(c.message) for c in causes if c.message)
            text = f"{message} ({detail})" if detail else message
            if code == 404:
                return ("gone", "")
            if code == 429:
                return ("blocked", text)
            return ("refused", f"{code}: {text}")
        return ("evicted", "")

    result = kube.call(f"evict pod {pod.key}", act)
    assert result is not None
    return result


def _summary(reasons: dict[str, str], limit: int = 3) -> str:
    items = [f"{key}: {why}" if why else key for key, why in sorted(reasons.items())]
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


def drain(
    kube: KubeClient,
    node: str,
    *,
    timeout: float,
    force: bool = False,
    poll: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DrainResult:
    deadline = clock() + max(0.0, timeout)
    if not set_unschedulable(kube, node, True):
        return DrainResult(node=node, found=False, complete=True)
    p = _Progress()
    while True:
        pods = list_pods(kube, node)
        present = {pod.key: pod.uid for pod in pods}
        for key, uid in list(p.waiting.items()):
            if present.get(key) != uid:
                del p.waiting[key]
        todo: list[PodInfo] = []
        for pod in pods:
            if pod.daemonset or pod.mirror:
                p.left.add(pod.key)
            elif pod.key in p.failed or p.waiting.get(pod.key) == pod.uid:
                continue
            elif pod.terminating:
                p.waiting[pod.key] = pod.uid  # already on its way out: wait for it
            else:
                todo.append(pod)
        if not todo and not p.waiting:
            if not p.failed:
                return DrainResult(node, True, True, tuple(p.evicted), tuple(sorted(p.left)))
            break  # only refused pods are left: waiting longer cannot help
        if clock() >= deadline:
            break
        for pod in todo:
            outcome, why = _evict(kube, pod)
            if outcome == "blocked":
                p.blocked[pod.key] = why
                continue
            p.blocked.pop(pod.key, None)
            if outcome == "refused":
                if not force:
                    raise DrainTimeoutError(
                        f"Draining node {node} failed: the API refused to evict {pod.key} ({why}).",
                        "Fix what the message names (e.g. a pod covered by two "
                        "PodDisruptionBudgets), or pass --force to remove the node anyway.",
                    )
                p.failed[pod.key] = why
            elif outcome == "evicted":
                p.waiting[pod.key] = pod.uid
                p.evicted.append(pod.key)
        if p.blocked or p.waiting:
            sleep(max(0.0, min(poll, deadline - clock())))
    stuck = {**{k: "" for k in p.waiting}, **p.blocked, **p.failed}
    for pod in list_pods(kube, node):
        if not (pod.daemonset or pod.mirror) and pod.key not in stuck:
            stuck[pod.key] = ""
    if not force:
        raise DrainTimeoutError(
            f"Draining node {node} did not finish within {timeout:g} s: {len(stuck)} pod(s) are "
            f"still on it ({_summary(stuck)}).",
            "Relax the PodDisruptionBudget that blocks it, give the drain more time "
            "(--drain-timeout), or pass --force to remove the node anyway (its remaining pods "
            "are then stopped without honouring their budgets).",
        )
    return DrainResult(
        node=node,
        found=True,
        complete=False,
        evicted=tuple(p.evicted),
        left=tuple(sorted(p.left)),
        remaining=tuple(sorted(stuck)),
        reasons=tuple(f"{k}: {v}" for k, v in sorted(stuck.items()) if v),
    )
