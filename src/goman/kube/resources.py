"""Manifests and objects of any kind: server-side apply of a set of manifests (the
system-upgrade-controller's, say) and get/list/create/patch/delete of custom resources
such as upgrade.cattle.io/v1 Plans.

Kinds lightkube knows (the built-in API) use its typed models; any other kind is resolved
through the API's discovery (its plural and scope) and handled as a generic resource, so a
CustomResourceDefinition applied in the same call can be followed by its objects.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import yaml
from lightkube.core.exceptions import LoadResourceError
from lightkube.core.resource_registry import resource_registry
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.types import PatchType

from goman.kube.errors import KubeError

if TYPE_CHECKING:
    from goman.kube.client import KubeClient

# How long a kind whose CRD was just applied may take to be served.
CRD_ESTABLISH_SECONDS = 10.0
# Applied first, in this order: what the rest may live in or be an instance of.
_FIRST = {"Namespace": 0, "CustomResourceDefinition": 1}


@dataclass(frozen=True)
class ResourceKind:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


PLAN = ResourceKind("upgrade.cattle.io", "v1", "Plan", "plans", namespaced=True)


def _split(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _discover(kube: KubeClient, api_version: str, kind: str) -> ResourceKind | None:
    group, version = _split(api_version)
    path = f"/apis/{group}/{version}" if group else f"/api/{version}"
    data = kube.get_json(path, f"discover {api_version}", missing_ok=True)
    for res in (data or {}).get("resources") or []:
        if res.get("kind") == kind and "/" not in str(res.get("name", "")):
            return ResourceKind(group, version, kind, str(res["name"]), bool(res.get("namespaced")))
    return None


def _model(kind: ResourceKind) -> Any:
    try:
        return resource_registry.load(kind.api_version, kind.kind)
    except LoadResourceError:
        pass
    make = create_namespaced_resource if kind.namespaced else create_global_resource
    return make(kind.group, kind.version, kind.kind, kind.plural)


def _model_for(kube: KubeClient, api_version: str, kind: str, *, wait: float = 0.0) -> Any:
    """The lightkube class for a kind: a built-in model, or a generic resource found through
    discovery (retried for `wait` seconds: a CRD applied just now may not be served yet)."""
    try:
        return resource_registry.load(api_version, kind)
    except LoadResourceError:
        pass
    deadline = time.monotonic() + wait
    while True:
        found = _discover(kube, api_version, kind)
        if found is not None:
            return _model(found)
        if time.monotonic() >= deadline:
            raise KubeError(
                f"The cluster at {kube.endpoint} does not serve {kind} ({api_version}).",
                "Apply its CustomResourceDefinition first.",
            )
        time.sleep(0.25)


def _documents(manifests: Iterable[Mapping[str, Any]] | str) -> list[dict[str, Any]]:
    if isinstance(manifests, str):
        try:
            loaded = [d for d in yaml.safe_load_all(manifests) if d is not None]
        except yaml.YAMLError as exc:
            raise KubeError("The manifests are not valid YAML.", str(exc).splitlines()[0]) from exc
    else:
        loaded = [dict(d) for d in manifests]
    out: list[dict[str, Any]] = []
    for doc in loaded:
        if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
            raise KubeError("A manifest has no apiVersion or kind.", "Check the manifests.")
        if str(doc["kind"]).endswith("List") and isinstance(doc.get("items"), list):
            out.extend(dict(i) for i in doc["items"])
        else:
            out.append(doc)
    return out


def apply(kube: KubeClient, manifests: Iterable[Mapping[str, Any]] | str) -> list[str]:
    """Server-side apply (field manager `goman`, forced) of every object; Namespaces and
    CustomResourceDefinitions first. Re-applying the same manifests changes nothing.
    Returns `kind/name` of each object applied."""
    docs = sorted(_documents(manifests), key=lambda d: _FIRST.get(str(d["kind"]), 2))
    crd_groups: set[str] = set()
    applied: list[str] = []
    for doc in docs:
        api_version, kind = str(doc["apiVersion"]), str(doc["kind"])
        name = str((doc.get("metadata") or {}).get("name", ""))
        wait = CRD_ESTABLISH_SECONDS if _split(api_version)[0] in crd_groups else 0.0
        model = _model_for(kube, api_version, kind, wait=wait)
        obj = model.from_dict(doc)
        kube.call(f"apply {kind} {name}", partial(kube.lk.apply, obj, force=True))
        if kind == "CustomResourceDefinition":
            crd_groups.add(str((doc.get("spec") or {}).get("group", "")))
        applied.append(f"{kind}/{name}")
    return applied


def _ns(kind: ResourceKind, namespace: str | None) -> str | None:
    if not kind.namespaced:
        return None
    if not namespace:
        raise ValueError(f"{kind.kind} is namespaced: a namespace is required")
    return namespace


def _to_dict(obj: Any) -> dict[str, Any]:
    return dict(obj.to_dict())


def get_object(
    kube: KubeClient, kind: ResourceKind, name: str, namespace: str | None
) -> dict[str, Any] | None:
    model, ns = _model(kind), _ns(kind, namespace)
    found = kube.call(
        f"read {kind.kind} {name}",
        lambda: kube.lk.get(model, name, namespace=ns) if ns else kube.lk.get(model, name),
        missing_ok=True,
    )
    return _to_dict(found) if found is not None else None


def list_objects(
    kube: KubeClient,
    kind: ResourceKind,
    namespace: str | None,
    labels: Mapping[str, str] | None,
) -> list[dict[str, Any]]:
    model = _model(kind)
    ns = (namespace or "*") if kind.namespaced else None
    found = kube.call(
        f"list {kind.plural}",
        lambda: [
            _to_dict(o)
            for o in (
                kube.lk.list(model, namespace=ns, labels=dict(labels) if labels else None)
                if ns
                else kube.lk.list(model, labels=dict(labels) if labels else None)
            )
        ],
    )
    return found or []


def create_object(kube: KubeClient, kind: ResourceKind, body: Mapping[str, Any]) -> dict[str, Any]:
    model = _model(kind)
    doc = {"apiVersion": kind.api_version, "kind": kind.kind, **dict(body)}
    name = str((doc.get("metadata") or {}).get("name", ""))
    created = kube.call(f"create {kind.kind} {name}", lambda: kube.lk.create(model.from_dict(doc)))
    assert created is not None
    return _to_dict(created)


def patch_object(
    kube: KubeClient, kind: ResourceKind, name: str, patch: Mapping[str, Any], namespace: str | None
) -> dict[str, Any]:
    model, ns = _model(kind), _ns(kind, namespace)
    patched = kube.call(
        f"patch {kind.kind} {name}",
        lambda: kube.lk.patch(model, name, dict(patch), namespace=ns, patch_type=PatchType.MERGE),
    )
    assert patched is not None
    return _to_dict(patched)


def delete_object(kube: KubeClient, kind: ResourceKind, name: str, namespace: str | None) -> bool:
    model, ns = _model(kind), _ns(kind, namespace)

    def delete() -> bool:
        if ns:
            kube.lk.delete(model, name, namespace=ns)
        else:
            kube.lk.delete(model, name)
        return True

    return bool(kube.call(f"delete {kind.kind} {name}", delete, missing_ok=True))
