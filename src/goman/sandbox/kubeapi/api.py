"""The REST semantics of the emulated API server, independent of HTTP and TLS.

`KubeApi.handle(Request) -> Response` routes discovery, /version and health, and the
resource paths (`/api/v1/...`, `/apis/<group>/<version>/...`, namespaced or not, with the
`status` and `eviction` subresources) onto the cluster's store, then lets the controllers
react to every write.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any

import yaml

from goman.sandbox.kubeapi import openapi
from goman.sandbox.kubeapi import patch as patches
from goman.sandbox.kubeapi.cluster import AuditEntry, ClusterState
from goman.sandbox.kubeapi.kinds import CRD_KEY, Kind, Registry
from goman.sandbox.kubeapi.messages import (
    ApiError,
    Request,
    Response,
    not_found,
    status_body,
)
from goman.sandbox.kubeapi.objects import meta, name_of, suffix
from goman.sandbox.kubeapi.policy import PDB_KEY, decide
from goman.sandbox.kubeapi.selectors import FieldSelector, LabelSelector, SelectorError
from goman.sandbox.kubeapi.tables import table
from goman.sandbox.kubeapi.watch import watch_stream

log = logging.getLogger(__name__)
# A DNS subdomain (names of most objects; CRDs are <plural>.<group>), or a generateName prefix.
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9-])?$")

Obj = dict[str, Any]
GIT_COMMIT = "0000000000000000000000000000000000000000"


@dataclass
class Target:
    kind: Kind
    namespace: str | None  # None: every namespace (collections) or cluster-scoped
    name: str | None
    sub: str | None


class KubeApi:
    def __init__(self, state: ClusterState, stopping: threading.Event | None = None) -> None:
        self.state = state
        self.store = state.store
        self.stopping = stopping or threading.Event()

    # -- entry --------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        try:
            response = self._route(req)
        except ApiError as exc:
            response = Response(
                exc.code, status_body(exc.code, exc.reason, exc.message, exc.details)
            )
        except (patches.PatchError, SelectorError) as exc:
            response = Response(400, status_body(400, "BadRequest", str(exc)))
        except Exception as exc:  # a malformed object must not drop the connection
            log.warning("kubeapi: %s %s failed", req.method, req.path, exc_info=True)
            response = Response(
                500, status_body(500, "InternalError", f"{type(exc).__name__}: {exc}")
            )
        self.state.audit.append(
            AuditEntry(req.user.name, req.user.groups, req.method, req.path, response.code)
        )
        return response

    def registry(self) -> Registry:
        return Registry(self.store.objects(CRD_KEY))

    def _route(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"
        parts = [p for p in path.split("/") if p]
        if path == "/version":
            return Response(200, self._version())
        if parts and parts[0] in {"healthz", "livez", "readyz"}:
            return Response(200, text="ok")
        registry = self.registry()
        if parts[:2] == ["openapi", "v3"]:
            doc = (
                openapi.root(registry)
                if len(parts) == 2
                else openapi.group_version(registry, "/".join(parts[2:]))
            )
            if doc is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return Response(200, doc)
        if parts == ["api"]:
            return Response(
                200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
            )
        if parts == ["apis"]:
            return Response(200, registry.group_list())
        if len(parts) == 2 and parts[0] == "apis":
            found = registry.group(parts[1])
            if found is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return Response(200, found)
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            listing = registry.resource_list(group, version)
            if listing is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return Response(200, listing)
        target = self._target(registry, group, version, rest)
        return self._dispatch(req, target)

    def _target(self, registry: Registry, group: str, version: str, rest: list[str]) -> Target:
        def kind(plural: str) -> Kind:
            found = registry.find(group, version, plural)
            if found is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return found

        if (
            rest[0] == "namespaces"
            and len(rest) >= 3
            and not (len(rest) == 3 and rest[2] in {"status", "finalize"})
        ):
            found = kind(rest[2])
            if not found.namespaced:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return Target(
                found,
                rest[1],
                rest[3] if len(rest) > 3 else None,
                rest[4] if len(rest) > 4 else None,
            )
        if len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        found = kind(rest[0])
        name = rest[1] if len(rest) > 1 else None
        if found.namespaced and name is not None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return Target(found, None, name, rest[2] if len(rest) > 2 else None)

    def _dispatch(self, req: Request, t: Target) -> Response:
        m = req.method
        if t.sub is not None and t.sub not in t.kind.subresources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if t.name is None:
            if m == "GET":
                if req.query.get("watch") in {"1", "true"}:
                    return self._watch(req, t)
                return self._list(req, t)
            if m == "POST":
                return self._write(lambda: self._create(req, t))
            raise ApiError(405, "MethodNotAllowed", f"{m} is not supported on a collection")
        if t.sub == "eviction":
            if m != "POST":
                raise ApiError(405, "MethodNotAllowed", "evictions are created with POST")
            return self._write(lambda: self._evict(req, t))
        if m == "GET":
            return self._get(req, t)
        if m == "PUT":
            return self._write(lambda: self._replace(req, t))
        if m == "PATCH":
            return self._write(lambda: self._patch(req, t))
        if m == "DELETE":
            return self._write(lambda: self._delete(req, t))
        raise ApiError(405, "MethodNotAllowed", f"{m} is not supported")

    def _write(self, action: Any) -> Response:
        with self.store.lock:
            response: Response = action()
            self.state.reconcile()
            return response

    # -- helpers ------------------------------------------------------------------------

    def _version(self) -> Obj:
        version = self.state.server_version
        core = version.lstrip("v").split("+")[0].split("-")[0].split(".")
        return {
            "major": core[0] if core else "1",
            "minor": core[1] if len(core) > 1 else "0",
            "emulationMajor": core[0] if core else "1",
            "emulationMinor": core[1] if len(core) > 1 else "0",
            "gitVersion": version,
            "gitCommit": GIT_COMMIT,
            "gitTreeState": "clean",
            "buildDate": "2025-07-16T00:00:00Z",
            "goVersion": "go1.24.4",
            "compiler": "gc",
            "platform": "linux/amd64",
        }

    def present(self, kind: Kind, obj: Obj) -> Obj:
        obj["apiVersion"] = kind.api_version
        obj["kind"] = kind.kind
        return obj

    def _wants_table(self, req: Request) -> bool:
        return "as=Table" in req.headers.get("accept", "")

    def _body(self, req: Request, *, yaml_ok: bool = False) -> Any:
        try:
            text = req.body.decode("utf-8")
            if yaml_ok:
                return yaml.safe_load(text)
            return json.loads(text)
        except (UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
            raise ApiError(
                400, "BadRequest", f"the request body could not be decoded: {exc}"
            ) from exc

    def _ns_must_exist(self, namespace: str) -> None:
        if self.store.get(("", "namespaces"), "", namespace) is None:
            raise ApiError(
                404,
                "NotFound",
                f'namespaces "{namespace}" not found',
                {"name": namespace, "kind": "namespaces"},
            )

    def _no_dry_run(self, req: Request) -> None:
        if req.query.get("dryRun"):
            raise ApiError(400, "BadRequest", "dryRun is not supported by the goman sandbox")

    def _ident(self, t: Target) -> tuple[str, str]:
        return (t.namespace or "", t.name or "")

    def _existing(self, t: Target) -> Obj:
        ns, name = self._ident(t)
        found = self.store.get(t.kind.key, ns, name)
        if found is None:
            raise not_found(t.kind, name)
        return found

    def _check_identity(self, t: Target, obj: Obj) -> None:
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "the object must be a JSON object")
        m = meta(obj)
        for field_name in ("labels", "annotations"):
            value = m.get(field_name)
            if value is not None and not (
                isinstance(value, dict)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
            ):
                raise ApiError(
                    422, "Invalid", f"metadata.{field_name}: must map strings to strings"
                )
        for field_name in ("name", "namespace", "generateName"):
            value = m.get(field_name)
            if value is not None and not (isinstance(value, str) and _NAME.match(value)):
                raise ApiError(
                    422, "Invalid", f"metadata.{field_name}: Invalid value: {str(value)[:80]!r}"
                )
        if t.name is not None and m.get("name") not in (None, t.name):
            raise ApiError(
                400, "BadRequest", "the name of the object does not match the name on the URL"
            )
        if t.kind.namespaced and t.namespace and m.get("namespace") not in (None, "", t.namespace):
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the object does not match the namespace on the URL",
            )

    # -- verbs --------------------------------------------------------------------------

    def _get(self, req: Request, t: Target) -> Response:
        obj = self.present(t.kind, self._existing(t))
        if self._wants_table(req) and t.sub is None:
            return Response(200, table(t.kind.key, [obj], meta(obj).get("resourceVersion", "")))
        return Response(200, obj)

    def select(self, req: Request, t: Target) -> list[Obj]:
        labels = LabelSelector(req.query.get("labelSelector", ""))
        fields = FieldSelector(req.query.get("fieldSelector", ""))
        return [
            self.present(t.kind, o)
            for o in self.store.objects(t.kind.key, t.namespace)
            if labels.matches(o) and fields.matches(o)
        ]

    def _list(self, req: Request, t: Target) -> Response:
        with self.store.lock:
            items = self.select(req, t)
            rv = str(self.store.resource_version)
        if self._wants_table(req):
            return Response(200, table(t.kind.key, items, rv))
        return Response(
            200,
            {
                "kind": f"{t.kind.kind}List",
                "apiVersion": t.kind.api_version,
                "metadata": {"resourceVersion": rv},
                "items": items,
            },
        )

    def _create(self, req: Request, t: Target) -> Response:
        self._no_dry_run(req)
        obj = self._body(req)
        self._check_identity(t, obj)
        m = meta(obj)
        if not m.get("name"):
            if m.get("generateName"):
                m["name"] = f"{m['generateName']}{suffix()}"
            else:
                raise ApiError(
                    422,
                    "Invalid",
                    "metadata.name: Required value: name or generateName is required",
                )
        if t.kind.namespaced:
            m["namespace"] = t.namespace or m.get("namespace") or "default"
            self._ns_must_exist(m["namespace"])
        else:
            m.pop("namespace", None)
        return Response(201, self._create_obj(t.kind, obj))

    def _create_obj(self, kind: Kind, obj: Obj) -> Obj:
        m = meta(obj)
        if self.store.get(kind.key, m.get("namespace", ""), m["name"]) is not None:
            raise ApiError(
                409,
                "AlreadyExists",
                f'{kind.plural}{"." + kind.group if kind.group else ""} "{m["name"]}" already exists',
                {"name": m["name"], "group": kind.group, "kind": kind.plural},
            )
        self.present(kind, obj)
        if kind.key == ("", "namespaces"):
            obj["status"] = {"phase": "Active"}
            m.setdefault("labels", {})["kubernetes.io/metadata.name"] = m["name"]
        if kind.key == ("", "pods"):
            obj["status"] = {"phase": "Pending"}
        if kind.key == CRD_KEY:
            self._check_crd(obj)
        return self.store.create(kind.key, obj)

    def _check_crd(self, crd: Obj) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group, plural = spec.get("group"), names.get("plural")
        if not group or not plural or not names.get("kind"):
            raise ApiError(
                422, "Invalid", "spec.group, spec.names.plural and spec.names.kind are required"
            )
        if name_of(crd) != f"{plural}.{group}":
            raise ApiError(
                422,
                "Invalid",
                f'metadata.name: Invalid value: must be spec.names.plural+"."+spec.group ({plural}.{group})',
            )

    def _save(self, t: Target, old: Obj, new: Obj) -> Obj:
        """Store `new` in place of `old`; for the status subresource only its status."""
        if t.sub == "status":
            merged = copy.deepcopy(old)
            merged["status"] = new.get("status")
            new = merged
        elif "status" in t.kind.subresources:
            # As on a real API server: the main resource does not write the status.
            new["status"] = old.get("status")
        m = meta(new)
        m["name"] = meta(old)["name"]
        if meta(old).get("namespace"):
            m["namespace"] = meta(old)["namespace"]
        else:
            m.pop("namespace", None)
        if new.get("status") is None:
            new.pop("status", None)
        self.present(t.kind, new)
        return self.store.update(t.kind.key, new)

    def _replace(self, req: Request, t: Target) -> Response:
        self._no_dry_run(req)
        obj = self._body(req)
        self._check_identity(t, obj)
        old = self._existing(t)
        wanted = meta(obj).get("resourceVersion")
        if wanted and wanted != meta(old).get("resourceVersion"):
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {t.kind.plural} "{t.name}": the object has been modified; please apply your changes to the latest version and try again',
            )
        return Response(200, self._save(t, old, obj))

    def _patch(self, req: Request, t: Target) -> Response:
        self._no_dry_run(req)
        kind = req.headers.get("content-type", "").split(";")[0].strip()
        ns, name = self._ident(t)
        old = self.store.get(t.kind.key, ns, name)
        if kind == "application/apply-patch+yaml":
            if not req.query.get("fieldManager"):
                raise ApiError(
                    400, "BadRequest", "PATCH, fieldManager is required for apply requests"
                )
            applied = self._body(req, yaml_ok=True)
            self._check_identity(t, applied)
            if old is None:
                if t.sub is not None:
                    raise not_found(t.kind, name)
                meta(applied)["name"] = name
                if t.kind.namespaced:
                    meta(applied)["namespace"] = ns
                    self._ns_must_exist(ns)
                return Response(201, self._create_obj(t.kind, applied))
            return Response(200, self._save(t, old, patches.merge_patch(old, applied)))
        if old is None:
            raise not_found(t.kind, name)
        body = self._body(req)
        if kind == "application/json-patch+json":
            new = patches.json_patch(old, body)
        elif kind == "application/merge-patch+json":
            new = patches.merge_patch(old, body)
        elif kind == "application/strategic-merge-patch+json":
            if patches.has_directives(body):
                raise ApiError(
                    400,
                    "BadRequest",
                    "strategic merge patch directives ($patch, $retainKeys, ...) are not supported by the goman sandbox",
                )
            new = patches.merge_patch(old, body)
        else:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {kind!r})",
            )
        if not isinstance(new, dict):
            raise ApiError(422, "Invalid", "the patched object is not an object")
        self._check_identity(t, new)
        wanted = meta(new).get("resourceVersion")
        if wanted and wanted != meta(old).get("resourceVersion"):
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {t.kind.plural} "{name}": the object has been modified; please apply your changes to the latest version and try again',
            )
        return Response(200, self._save(t, old, new))

    def _delete(self, req: Request, t: Target) -> Response:
        self._no_dry_run(req)
        if t.sub is not None:
            raise ApiError(405, "MethodNotAllowed", "subresources cannot be deleted")
        old = self._existing(t)
        options = self._body(req) if req.body.strip() else {}
        uid = ((options or {}).get("preconditions") or {}).get("uid")
        if uid and uid != meta(old).get("uid"):
            raise ApiError(
                409,
                "Conflict",
                f"Precondition failed: UID in precondition: {uid}, UID in object meta: {meta(old).get('uid')}",
            )
        ns, name = self._ident(t)
        gone = self.store.delete(t.kind.key, ns, name)
        if t.kind.key == ("", "namespaces"):
            for key in self.store.types():
                for obj in self.store.objects(key, name):
                    self.store.delete(key, name, name_of(obj))
        return Response(200, self.present(t.kind, gone or old))

    def _evict(self, req: Request, t: Target) -> Response:
        body = self._body(req)
        if not isinstance(body, dict) or body.get("kind") != "Eviction":
            raise ApiError(400, "BadRequest", "the body must be a policy/v1 Eviction")
        pod = self._existing(t)
        ns = t.namespace or ""
        verdict = decide(pod, self.store.objects(PDB_KEY, ns), self.store.objects(("", "pods"), ns))
        if not verdict.allowed:
            details = (
                {"causes": [{"reason": "DisruptionBudget", "message": verdict.cause}]}
                if verdict.cause
                else None
            )
            raise ApiError(verdict.code, verdict.reason, verdict.message, details)
        self.store.delete(t.kind.key, ns, t.name or "")
        return Response(201, status_body(201, "", ""))

    def _watch(self, req: Request, t: Target) -> Response:
        return Response(200, stream=watch_stream(self, req, t))
