"""The admin kubeconfig a cluster's server-0 uploads, renamed and written for the user.

K3s names its cluster, user and context all `default`, so two clusters would clash in
one file: each gets the name of its context (e.g. `goman-team-web`). Files are written
atomically with mode 0600 (they hold a client key), and a merge keeps every entry that
is not goman's.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from goman.aws.errors import GomanError

_SECTIONS = ("clusters", "users", "contexts")


def default_kubeconfig_path() -> Path:
    """Where kubectl reads by default: the first entry of $KUBECONFIG, else ~/.kube/config."""
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), "")
    return Path(first).expanduser() if first else Path.home() / ".kube" / "config"


def _load(text: str, what: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise GomanError(
            f"{what} is not valid YAML: {str(exc).splitlines()[0]}",
            "Fix or move the file, then try again.",
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GomanError(f"{what} is not a kubeconfig (expected a mapping at the top).")
    for section in _SECTIONS:
        items = data.get(section)
        if items is None:
            continue
        if not isinstance(items, list) or not all(
            isinstance(i, dict) and isinstance(i.get("name"), str) for i in items
        ):
            raise GomanError(
                f"{what} is not a valid kubeconfig: '{section}' must be a list of named entries."
            )
    return data


def context_kubeconfig(text: str, context: str) -> dict[str, Any]:
    """The K3s admin kubeconfig `text` with its cluster, user and context named `context`."""
    if not context:
        raise ValueError("context name must not be empty")
    data = _load(text, "The cluster's kubeconfig")
    contexts = data.get("contexts") or []
    clusters = data.get("clusters") or []
    users = data.get("users") or []
    if not contexts or not clusters or not users:
        raise GomanError(
            "The cluster's kubeconfig has no cluster, user or context in it.",
            "The node uploaded an incomplete file; retry once the cluster is Running.",
        )
    current = data.get("current-context")
    chosen = next((c for c in contexts if c["name"] == current), contexts[0])
    ref = chosen.get("context") or {}
    cluster = next((c for c in clusters if c["name"] == ref.get("cluster")), clusters[0])
    user = next((u for u in users if u["name"] == ref.get("user")), users[0])
    ctx_body = dict(ref)
    ctx_body["cluster"] = context
    ctx_body["user"] = context
    return {
        "apiVersion": data.get("apiVersion", "v1"),
        "kind": data.get("kind", "Config"),
        "preferences": data.get("preferences") or {},
        "clusters": [{**cluster, "name": context}],
        "users": [{**user, "name": context}],
        "contexts": [{"name": context, "context": ctx_body}],
        "current-context": context,
    }


def _target(path: Path) -> Path:
    # Write through a symlink (e.g. a dotfiles-managed ~/.kube/config), not over it.
    return Path(os.path.realpath(path.expanduser()))


def write_kubeconfig(path: Path, data: dict[str, Any]) -> None:
    """Write a kubeconfig atomically with mode 0600, creating its folder (0700) if needed."""
    target = _target(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = yaml.safe_dump(data, default_flow_style=False, sort_keys=False)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w") as fh:
                os.fchmod(fh.fileno(), 0o600)
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise GomanError(
            f"Cannot write the kubeconfig {target}: {exc.strerror or exc}.",
            "Check the folder exists and is writable, or pass another path with --file.",
        ) from exc


def merge_kubeconfig(path: Path, data: dict[str, Any], *, set_current: bool = True) -> None:
    """Merge `data` into the kubeconfig at `path`: entries with the same names are
    replaced, every other entry is kept. The file ends up with mode 0600."""
    target = _target(path)
    existing: dict[str, Any] = {}
    if target.exists():
        try:
            text = target.read_text()
        except OSError as exc:
            raise GomanError(
                f"Cannot read the kubeconfig {target}: {exc.strerror or exc}.",
                "Check its permissions, or write a separate file with --file.",
            ) from exc
        existing = _load(text, f"The kubeconfig {target}")
    merged = dict(existing)
    merged.setdefault("apiVersion", "v1")
    merged.setdefault("kind", "Config")
    merged.setdefault("preferences", {})
    for section in _SECTIONS:
        new = list(data.get(section) or [])
        names = {item["name"] for item in new}
        kept = [item for item in existing.get(section) or [] if item["name"] not in names]
        merged[section] = kept + new
    wanted = data.get("current-context")
    if wanted and (set_current or not merged.get("current-context")):
        merged["current-context"] = wanted
    merged.setdefault("current-context", "")
    write_kubeconfig(target, merged)
