"""The admin kubeconfig a cluster's server-0 uploads, renamed and written for the user.

K3s names its cluster, user and context all `default`, so two clusters would clash in
one file: each gets the name of its context (e.g. `goman-team-web`). Files are written
atomically with mode 0600 (they hold a client key): a temporary file in the same folder,
renamed over the target, and folders goman creates are 0700. A merge keeps every entry
that is not goman's, under kubectl's own lock (`<file>.lock`, see lockfile.py), and
writes through a symbolic link as kubectl does (a dotfiles-managed ~/.kube/config); a
file written with --file never does: a link there is refused unless forced, and then
replaced by the file, so a planted link cannot redirect a client key elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from goman.aws.errors import GomanError
from goman.provision.lockfile import DEFAULT_TIMEOUT, locked

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


def _private_dirs(folder: Path) -> None:
    """Create `folder` and any missing parent, each with mode 0700 (mkdir -p would give the
    parents the default mode)."""
    missing: list[Path] = []
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for each in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(each, 0o700)


def _replace_with(target: Path, text: str) -> None:
    """Write `text` to a new 0600 file beside `target` and rename it over `target` (a link
    at `target` is replaced, not followed)."""
    try:
        _private_dirs(target.parent)
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


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=False)


def write_kubeconfig(path: Path, data: dict[str, Any], *, force: bool = False) -> None:
    """Write a kubeconfig atomically with mode 0600, creating its folders (0700) if needed.

    A symbolic link at `path` is refused (it could send the client key anywhere); with
    `force` the link itself is replaced by the file."""
    target = path.expanduser()
    if target.is_symlink() and not force:
        raise GomanError(
            f"{target} is a symbolic link (to {os.readlink(target)}): goman does not write "
            "a kubeconfig through a link.",
            "Choose another path with --file, or pass --force to replace the link itself "
            "with the file.",
        )
    _replace_with(target, _dump(data))


def merge_kubeconfig(
    path: Path,
    data: dict[str, Any],
    *,
    set_current: bool = True,
    lock_timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Merge `data` into the kubeconfig at `path`: entries with the same names are
    replaced, every other entry is kept. The file ends up with mode 0600.

    The read and the write happen under `<path>.lock`, kubectl's own lock, so concurrent
    merges (and kubectl) never lose each other's entries."""
    given = path.expanduser()
    try:
        _private_dirs(given.parent)
    except OSError as exc:
        raise GomanError(
            f"Cannot create the folder of {given}: {exc.strerror or exc}.",
            "Check its parent is writable, or write a separate file with --file.",
        ) from exc
    with locked(given, lock_timeout):
        target = Path(os.path.realpath(given))  # through a link, as kubectl writes
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
        _replace_with(target, _dump(merged))
