"""A minimal OpenAPI v3 index: enough for kubectl to learn that the server validates fields
itself (`fieldValidation`), so `kubectl create -f`/`apply -f` send objects without needing
schemas the emulator does not have. No schemas are served."""

from __future__ import annotations

from typing import Any

from goman.sandbox.kubeapi.kinds import Registry

Obj = dict[str, Any]


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def root(registry: Registry) -> Obj:
    paths = {}
    for group, versions in registry.groups().items():
        for version in versions:
            path = _gv_path(group, version)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash=goman"}
    return {"paths": paths}


def group_version(registry: Registry, gv_path: str) -> Obj | None:
    """The paths of one group/version, each with a PATCH operation that names its kind and
    accepts `fieldValidation` (what kubectl's query-parameter check looks for)."""
    paths: Obj = {}
    for kind in registry.kinds:
        if _gv_path(kind.group, kind.version) != gv_path:
            continue
        prefix = "/api/" + kind.version if not kind.group else f"/apis/{kind.group}/{kind.version}"
        scope = "/namespaces/{namespace}" if kind.namespaced else ""
        paths[f"{prefix}{scope}/{kind.plural}/{{name}}"] = {
            "patch": {
                "x-kubernetes-group-version-kind": {
                    "group": kind.group,
                    "version": kind.version,
                    "kind": kind.kind,
                },
                "parameters": [
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {},
            }
        }
    if not paths:
        return None
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "goman-sandbox"},
        "paths": paths,
    }
