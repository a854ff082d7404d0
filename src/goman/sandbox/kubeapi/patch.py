"""The patch formats of the Kubernetes API, as far as the emulator goes.

- JSON merge patch (RFC 7386): `application/merge-patch+json`;
- JSON patch (RFC 6902): `application/json-patch+json`;
- strategic merge patch (`application/strategic-merge-patch+json`) is applied as a merge
  patch: right for what kubectl and goman send (maps, scalars, whole lists), and refused
  with 400 when it carries `$patch`/`$retainKeys`-style directives the emulator cannot honour;
- server-side apply (`application/apply-patch+yaml`) merges the applied object into the
  stored one like a merge patch (no field ownership, no conflicts: as with `force=true`).
"""

from __future__ import annotations

import copy
from typing import Any


class PatchError(ValueError):
    pass


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def has_directives(patch: Any) -> bool:
    if isinstance(patch, dict):
        return any(
            (isinstance(k, str) and k.startswith("$")) or has_directives(v)
            for k, v in patch.items()
        )
    if isinstance(patch, list):
        return any(has_directives(v) for v in patch)
    return False


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(doc, dict):
            if part not in doc:
                raise PatchError(f"path /{'/'.join(parts)} does not exist")
            doc = doc[part]
        elif isinstance(doc, list):
            try:
                doc = doc[int(part)]
            except (ValueError, IndexError) as exc:
                raise PatchError(f"path /{'/'.join(parts)} does not exist") from exc
        else:
            raise PatchError(f"path /{'/'.join(parts)} does not exist")
    return doc


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            try:
                index = int(last)
            except ValueError as exc:
                raise PatchError(f"invalid list index {last!r}") from exc
            if not 0 <= index <= len(parent):
                raise PatchError(f"list index {index} out of range")
            parent.insert(index, value)
    else:
        raise PatchError("cannot add to a scalar")
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    try:
        if isinstance(parent, dict):
            return parent.pop(last)
        if isinstance(parent, list):
            return parent.pop(int(last))
    except (KeyError, ValueError, IndexError) as exc:
        raise PatchError(f"path /{'/'.join(parts)} does not exist") from exc
    raise PatchError("cannot remove from a scalar")


def json_patch(target: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise PatchError("a JSON patch is a list of operations")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            raise PatchError("each JSON patch operation needs an 'op'")
        kind, path = op["op"], _pointer(str(op.get("path", "")))
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            _walk(doc, path)
            if not path:
                doc = copy.deepcopy(op.get("value"))
            else:
                _remove(doc, path)
                doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind in {"move", "copy"}:
            source = _pointer(str(op.get("from", "")))
            value = copy.deepcopy(_walk(doc, source))
            if kind == "move":
                _remove(doc, source)
            doc = _add(doc, path, value)
        elif kind == "test":
            if _walk(doc, path) != op.get("value"):
                raise PatchError(f"test failed at {op.get('path')}")
        else:
            raise PatchError(f"unknown JSON patch operation {kind!r}")
    return doc
