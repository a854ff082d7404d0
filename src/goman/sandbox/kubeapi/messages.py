"""The emulated API's requests, answers and errors (Kubernetes `Status` objects)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from goman.sandbox.kubeapi.kinds import Kind

Obj = dict[str, Any]


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    user: User = User("")


@dataclass
class Response:
    code: int
    body: Any = None  # a JSON document
    text: str | None = None  # or plain text
    stream: Iterator[bytes] | None = None  # or a watch stream (JSON lines)


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details


def status_body(code: int, reason: str, message: str, details: Obj | None = None) -> Obj:
    out: Obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 400 else "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        out["details"] = details
    return out


def not_found(kind: Kind, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{kind.plural}{"." + kind.group if kind.group else ""} "{name}" not found',
        {"name": name, "group": kind.group, "kind": kind.plural},
    )
