"""An emulated system-upgrade-controller: what K3s's automated upgrade does to the nodes,
as seen through the API.

Inert until the controller's Deployment (`system-upgrade/system-upgrade-controller`)
exists. Then, for each Plan in that namespace: the nodes its `nodeSelector` picks that do
not yet carry the label `plan.upgrade.cattle.io/<plan>=<hash>` are upgraded, at most
`concurrency` at a time, each in the steps of a real upgrade Job: cordon (if the Plan says
so), the kubelet restarts (NotReady) on the Plan's `version`, Ready again, uncordon, label.
A Plan whose `prepare` is `["prepare", "<other plan>"]` waits until the other plan has
finished every node it selects (K3s's agent plan waits for the server plan this way).

Each step takes `step_seconds`, so the order is visible from outside. Nodes already
labelled with the Plan's hash are never upgraded again (a re-applied, unchanged Plan does
nothing), and every upgrade bumps the node's annotation `sandbox.goman.dev/upgrades`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from goman.sandbox.kubeapi.controllers import DEPLOYMENTS, NODES
from goman.sandbox.kubeapi.objects import labels_of, meta, name_of
from goman.sandbox.kubeapi.selectors import label_selector_matches

if TYPE_CHECKING:
    from goman.sandbox.kubeapi.cluster import ClusterState

Obj = dict[str, Any]
PLANS = ("upgrade.cattle.io", "plans")
NAMESPACE = "system-upgrade"
CONTROLLER = "system-upgrade-controller"
LABEL_PREFIX = "plan.upgrade.cattle.io/"
UPGRADES_ANNOTATION = "sandbox.goman.dev/upgrades"
STEPS = ("cordon", "restart", "ready", "uncordon", "done")


def plan_hash(plan: Obj) -> str:
    """Stable per Plan spec (the real controller hashes the spec and its secrets)."""
    spec = json.dumps(plan.get("spec") or {}, sort_keys=True).encode()
    return hashlib.sha224(spec).hexdigest()[:40]


@dataclass
class _Applying:
    plan: str
    node: str
    step: int
    since: float


class SystemUpgradeController:
    """Add with `ClusterState.add_controller(SystemUpgradeController())`."""

    def __init__(self, step_seconds: float = 0.15) -> None:
        self.step_seconds = step_seconds
        self._applying: dict[str, _Applying] = {}  # node -> its upgrade under way
        self._busy = False  # its own node edits run the controllers again: not this one

    def __call__(self, state: ClusterState) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            self._run(state)
        finally:
            self._busy = False

    def _run(self, state: ClusterState) -> None:
        store = state.store
        if store.get(DEPLOYMENTS, NAMESPACE, CONTROLLER) is None:
            return
        now = time.monotonic()
        plans = {name_of(p): p for p in store.view(PLANS, NAMESPACE)}
        for node, job in list(self._applying.items()):
            plan = plans.get(job.plan)
            if plan is None or store.get(NODES, "", node) is None:
                self._applying.pop(node, None)  # the Plan or the node went: the Job is deleted
                continue
            if now - job.since >= self.step_seconds:
                self._step(state, plan, job, now)
        # Read after the steps above: a node labelled done just now must not start again.
        nodes = {name_of(n): n for n in store.view(NODES)}
        for name in sorted(plans):
            self._schedule(state, plans[name], plans, nodes, now)

    def _selected(self, plan: Obj, nodes: dict[str, Obj]) -> list[str]:
        selector = (plan.get("spec") or {}).get("nodeSelector") or {}
        return sorted(
            n for n, obj in nodes.items() if label_selector_matches(selector, labels_of(obj))
        )

    def _done(self, plan: Obj, node: Obj) -> bool:
        return labels_of(node).get(LABEL_PREFIX + name_of(plan)) == plan_hash(plan)

    def _schedule(
        self,
        state: ClusterState,
        plan: Obj,
        plans: dict[str, Obj],
        nodes: dict[str, Obj],
        now: float,
    ) -> None:
        spec = plan.get("spec") or {}
        if not spec.get("version"):
            return
        selected = self._selected(plan, nodes)
        todo = [n for n in selected if not self._done(plan, nodes[n])]
        applying = [n for n, j in self._applying.items() if j.plan == name_of(plan)]
        self._status(state, plan, applying)
        args = (spec.get("prepare") or {}).get("args") or []
        if len(args) == 2 and args[0] == "prepare":
            other = plans.get(str(args[1]))
            if other is None or any(
                not self._done(other, nodes[n]) for n in self._selected(other, nodes)
            ):
                return  # the prepare container waits for the other plan
        room = max(1, int(spec.get("concurrency") or 1)) - len(applying)
        for node in todo:
            if room <= 0:
                return
            if node in self._applying:
                continue
            self._applying[node] = _Applying(name_of(plan), node, -1, now - self.step_seconds)
            self._step(state, plan, self._applying[node], now)
            room -= 1
        self._status(state, plan, [n for n, j in self._applying.items() if j.plan == name_of(plan)])

    def _step(self, state: ClusterState, plan: Obj, job: _Applying, now: float) -> None:
        job.step += 1
        job.since = now
        step = STEPS[job.step]
        spec = plan.get("spec") or {}
        if step == "cordon":
            if spec.get("cordon") or spec.get("drain"):
                state.set_unschedulable(job.node, True)
        elif step == "restart":
            state.set_kubelet_version(job.node, str(spec.get("version")))
            state.set_node_ready(job.node, False)
        elif step == "ready":
            state.set_node_ready(job.node, True)
        elif step == "uncordon":
            if spec.get("cordon") or spec.get("drain"):
                state.set_unschedulable(job.node, False)
        else:
            node = state.store.get(NODES, "", job.node)
            if node is not None:
                m = meta(node)
                m.setdefault("labels", {})[LABEL_PREFIX + name_of(plan)] = plan_hash(plan)
                notes = m.setdefault("annotations", {})
                notes[UPGRADES_ANNOTATION] = str(int(notes.get(UPGRADES_ANNOTATION, "0")) + 1)
                state.store.update(NODES, node)
            del self._applying[job.node]

    def _status(self, state: ClusterState, plan: Obj, applying: list[str]) -> None:
        stored = state.store.get(PLANS, NAMESPACE, name_of(plan))
        if stored is None:
            return
        new = copy.deepcopy(stored)
        status: Obj = {
            "latestVersion": str((stored.get("spec") or {}).get("version", "")),
            "latestHash": plan_hash(stored),
        }
        if applying:
            status["applying"] = sorted(applying)
        new["status"] = {**(stored.get("status") or {}), **status}
        if not applying:
            new["status"].pop("applying", None)
        if new != stored:
            state.store.update(PLANS, new)
