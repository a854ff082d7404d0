"""Saving a kubeconfig from the TUI, the same way `goman cluster kubeconfig` does."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from goman.state.store import StateStore

if TYPE_CHECKING:
    from goman.tui.screens.dialogs.kubeconfig import KubeconfigRequest


def default_merge_path() -> Path:
    from goman.provision.kubeconfig import default_kubeconfig_path

    return default_kubeconfig_path()


def default_file_path(name: str) -> Path:
    return Path.cwd() / f"{name}.kubeconfig"


def save_kubeconfig(store: StateStore, name: str, request: KubeconfigRequest) -> str:
    """Write or merge; returns what was done, for a notification."""
    from goman.clusters.service import kubeconfig_for
    from goman.provision.kubeconfig import merge_kubeconfig, write_kubeconfig

    data = kubeconfig_for(store, name, request.context)
    path = Path(request.path).expanduser()
    if request.merge:
        merge_kubeconfig(path, data, set_current=True)
        return f"Merged context {request.context} into {path} (now current).\nkubectl get nodes"
    write_kubeconfig(path, data)
    return f"Wrote {path} (context {request.context}).\nkubectl --kubeconfig {path} get nodes"
