"""The resource types the emulated API serves: the built-in ones goman and kubectl use, and
any a stored CustomResourceDefinition adds. Discovery documents are built from this list."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ALL_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Kind:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ("status",)
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        """Objects are stored per (group, plural), whatever version they were written in."""
        return (self.group, self.plural)

    def describe(self) -> dict[str, Any]:
        """This type as an APIResource of a discovery document."""
        out: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(ALL_VERBS),
        }
        if self.short_names:
            out["shortNames"] = list(self.short_names)
        if self.categories:
            out["categories"] = list(self.categories)
        return out


def _k(
    group: str,
    version: str,
    kind: str,
    plural: str,
    namespaced: bool,
    short: tuple[str, ...] = (),
    sub: tuple[str, ...] = ("status",),
    all_: bool = False,
) -> Kind:
    return Kind(
        group,
        version,
        kind,
        plural,
        kind.lower(),
        namespaced,
        short,
        sub,
        ("all",) if all_ else (),
    )


BUILTIN: tuple[Kind, ...] = (
    _k("", "v1", "Namespace", "namespaces", False, ("ns",)),
    _k("", "v1", "Node", "nodes", False, ("no",)),
    _k("", "v1", "Pod", "pods", True, ("po",), ("status", "eviction"), all_=True),
    _k("", "v1", "Service", "services", True, ("svc",), all_=True),
    _k("", "v1", "ConfigMap", "configmaps", True, ("cm",), ()),
    _k("", "v1", "Secret", "secrets", True, (), ()),
    _k("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",), ()),
    _k("apps", "v1", "Deployment", "deployments", True, ("deploy",), all_=True),
    _k("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), all_=True),
    _k("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), all_=True),
    _k("apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), all_=True),
    _k("batch", "v1", "Job", "jobs", True, (), all_=True),
    _k("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ("pdb",)),
    _k("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False, (), ()),
    _k(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        False,
        (),
        (),
    ),
    _k("rbac.authorization.k8s.io", "v1", "Role", "roles", True, (), ()),
    _k("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True, (), ()),
    _k(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        ("crd", "crds"),
    ),
)

# The eviction subresource is listed in /api/v1 the way a real API server lists it;
# kubectl drain looks for it there before it evicts.
EVICTION_RESOURCE = {
    "name": "pods/eviction",
    "singularName": "",
    "namespaced": True,
    "group": "policy",
    "version": "v1",
    "kind": "Eviction",
    "verbs": ["create"],
}

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")


def kinds_from_crd(crd: dict[str, Any]) -> list[Kind]:
    """The served versions of a stored CustomResourceDefinition, as Kinds."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    if not (isinstance(group, str) and isinstance(plural, str) and isinstance(kind, str)):
        return []
    singular = names.get("singular") or kind.lower()
    short = tuple(s for s in names.get("shortNames") or () if isinstance(s, str))
    namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    out = []
    for version in spec.get("versions") or ():
        if isinstance(version, dict) and version.get("served", True) and version.get("name"):
            sub = (
                ("status",) if (version.get("subresources") or {}).get("status") is not None else ()
            )
            out.append(
                Kind(group, str(version["name"]), kind, plural, singular, namespaced, short, sub)
            )
    return out


class Registry:
    """Resolves (group, version, plural) to a Kind: the built-ins plus the stored CRDs."""

    def __init__(self, crds: Iterable[dict[str, Any]] = ()) -> None:
        self.kinds: list[Kind] = list(BUILTIN)
        for crd in crds:
            self.kinds.extend(kinds_from_crd(crd))

    def find(self, group: str, version: str, plural: str) -> Kind | None:
        for kind in self.kinds:
            if (kind.group, kind.version, kind.plural) == (group, version, plural):
                return kind
        return None

    def by_kind(self, api_version: str, kind_name: str) -> Kind | None:
        for kind in self.kinds:
            if (kind.api_version, kind.kind) == (api_version, kind_name):
                return kind
        return None

    def groups(self) -> dict[str, list[str]]:
        """group -> its versions, in registration order (the first is preferred)."""
        out: dict[str, list[str]] = {}
        for kind in self.kinds:
            versions = out.setdefault(kind.group, [])
            if kind.version not in versions:
                versions.append(kind.version)
        return out

    def resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        kinds = [k for k in self.kinds if (k.group, k.version) == (group, version)]
        if not kinds:
            return None
        resources: list[dict[str, Any]] = []
        for kind in kinds:
            resources.append(kind.describe())
            for sub in kind.subresources:
                if sub == "eviction":
                    resources.append(dict(EVICTION_RESOURCE))
                else:
                    resources.append(
                        {
                            "name": f"{kind.plural}/{sub}",
                            "singularName": "",
                            "namespaced": kind.namespaced,
                            "kind": kind.kind,
                            "verbs": ["get", "patch", "update"],
                        }
                    )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources,
        }

    def group_list(self) -> dict[str, Any]:
        groups = []
        for group, versions in self.groups().items():
            if not group:
                continue
            listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
            groups.append({"name": group, "versions": listed, "preferredVersion": listed[0]})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def group(self, group: str) -> dict[str, Any] | None:
        versions = self.groups().get(group)
        if not group or not versions:
            return None
        listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": listed,
            "preferredVersion": listed[0],
        }
