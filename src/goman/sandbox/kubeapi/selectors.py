"""Label and field selectors, as the API's `labelSelector` and `fieldSelector` parameters
take them, and the LabelSelector objects of PodDisruptionBudgets and workloads."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

_SET = re.compile(r"^([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)$")
_KEY = re.compile(r"^[A-Za-z0-9./_-]+$")


class SelectorError(ValueError):
    pass


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def test(self, value: str | None) -> bool:
        if self.op == "=":
            return value is not None and value in self.values
        if self.op == "!=":
            return value is None or value not in self.values
        if self.op == "in":
            return value in self.values
        if self.op == "notin":
            return value not in self.values
        if self.op == "exists":
            return value is not None
        return value is None


def _split(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def _requirement(term: str) -> Requirement:
    found = _SET.match(term)
    if found:
        values = frozenset(v.strip() for v in found.group(3).split(",") if v.strip())
        return Requirement(found.group(1), found.group(2), values)
    for op in ("!=", "==", "="):
        if op in term:
            key, value = (s.strip() for s in term.split(op, 1))
            if _KEY.match(key):
                return Requirement(key, "!=" if op == "!=" else "=", frozenset({value}))
    if term.startswith("!") and _KEY.match(term[1:].strip()):
        return Requirement(term[1:].strip(), "!exists")
    if _KEY.match(term):
        return Requirement(term, "exists")
    raise SelectorError(f"unable to parse requirement: {term!r}")


class LabelSelector:
    def __init__(self, text: str) -> None:
        self.requirements = [_requirement(t) for t in _split(text or "")]

    def matches(self, obj: Obj) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r.test(_str(labels.get(r.key))) for r in self.requirements)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _meta(field: str) -> Callable[[Obj], str]:
    return lambda o: str((o.get("metadata") or {}).get(field) or "")


_FIELDS: dict[str, Callable[[Obj], str]] = {
    "metadata.name": _meta("name"),
    "metadata.namespace": _meta("namespace"),
    "spec.nodeName": lambda o: str((o.get("spec") or {}).get("nodeName") or ""),
    "spec.unschedulable": lambda o: str(bool((o.get("spec") or {}).get("unschedulable"))).lower(),
    "status.phase": lambda o: str((o.get("status") or {}).get("phase") or ""),
}


class FieldSelector:
    def __init__(self, text: str) -> None:
        self.requirements: list[tuple[Callable[[Obj], str], Requirement]] = []
        for term in _split(text or ""):
            req = _requirement(term)
            getter = _FIELDS.get(req.key)
            if getter is None or req.op not in {"=", "!="}:
                raise SelectorError(f'field label not supported: "{req.key}"')
            self.requirements.append((getter, req))

    def matches(self, obj: Obj) -> bool:
        return all(req.test(getter(obj)) for getter, req in self.requirements)


def label_selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels + matchExpressions). An empty selector matches
    everything, as for a PodDisruptionBudget in policy/v1."""
    if not isinstance(selector, dict):
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(str(key)) != str(value):
            return False
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for expr in selector.get("matchExpressions") or ():
        op = ops.get(str(expr.get("operator")))
        if op is None:
            return False
        req = Requirement(
            str(expr.get("key", "")), op, frozenset(str(v) for v in expr.get("values") or ())
        )
        if not req.test(labels.get(req.key)):
            return False
    return True
