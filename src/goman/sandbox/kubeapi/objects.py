"""Helpers to read and build Kubernetes-shaped dicts (metadata, owners, conditions)."""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

Obj = dict[str, Any]

# The alphabet Kubernetes uses for generated name suffixes (no vowels, no look-alikes).
SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def meta(obj: Obj) -> Obj:
    value = obj.get("metadata")
    if not isinstance(value, dict):
        value = {}
        obj["metadata"] = value
    return value


def name_of(obj: Obj) -> str:
    return str(meta(obj).get("name", ""))


def namespace_of(obj: Obj) -> str:
    return str(meta(obj).get("namespace", "") or "")


def labels_of(obj: Obj) -> dict[str, str]:
    return {str(k): str(v) for k, v in (meta(obj).get("labels") or {}).items()}


def suffix(length: int = 5) -> str:
    return "".join(random.choices(SUFFIX_ALPHABET, k=length))


def template_hash(template: Any) -> str:
    """A pod-template-hash: stable for equal templates, in the suffix alphabet."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(SUFFIX_ALPHABET[b % len(SUFFIX_ALPHABET)] for b in digest[:10])


def controller_of(obj: Obj) -> Obj | None:
    for ref in meta(obj).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def owner_ref(owner: Obj) -> Obj:
    return {
        "apiVersion": owner.get("apiVersion", "v1"),
        "kind": owner.get("kind", ""),
        "name": name_of(owner),
        "uid": meta(owner).get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(obj: Obj, owner: Obj) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == meta(owner).get("uid")


def condition(obj: Obj, kind: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond
    return None


def is_true(obj: Obj, kind: str) -> bool:
    cond = condition(obj, kind)
    return cond is not None and cond.get("status") == "True"


def terminating(obj: Obj) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def node_ready(node: Obj) -> bool:
    return is_true(node, "Ready")


def node_schedulable(node: Obj) -> bool:
    return node_ready(node) and not (node.get("spec") or {}).get("unschedulable")


def pod_healthy(pod: Obj) -> bool:
    """What a PodDisruptionBudget counts: Running, Ready and not being deleted."""
    return (
        not terminating(pod)
        and (pod.get("status") or {}).get("phase") == "Running"
        and is_true(pod, "Ready")
    )


def finished(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in {"Succeeded", "Failed"}
