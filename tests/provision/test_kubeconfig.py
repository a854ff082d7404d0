"""Kubeconfig renaming, writing and merging; kubectl must accept the result."""

from __future__ import annotations

import base64
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from goman.aws.errors import GomanError
from goman.provision.kubeconfig import (
    context_kubeconfig,
    default_kubeconfig_path,
    merge_kubeconfig,
    write_kubeconfig,
)


def fake_kubeconfig(endpoint_host: str, k3s_version: str) -> str:
    """A K3s-shaped admin kubeconfig (names all `default`) whose server is the endpoint."""

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    cert = "-----BEGIN CERTIFICATE-----\nZ29tYW4tc2FuZGJveA==\n-----END CERTIFICATE-----\n"
    key = "-----BEGIN EC PRIVATE KEY-----\nZ29tYW4tc2FuZGJveA==\n-----END EC PRIVATE KEY-----\n"
    return (
        f"# K3s {k3s_version}\n"
        "apiVersion: v1\n"
        "clusters:\n"
        "- cluster:\n"
        f"    certificate-authority-data: {b64(cert)}\n"
        f"    server: https://{endpoint_host}:6443\n"
        "  name: default\n"
        "contexts:\n"
        "- context:\n"
        "    cluster: default\n"
        "    user: default\n"
        "  name: default\n"
        "current-context: default\n"
        "kind: Config\n"
        "preferences: {}\n"
        "users:\n"
        "- name: default\n"
        "  user:\n"
        f"    client-certificate-data: {b64(cert)}\n"
        f"    client-key-data: {b64(key)}\n"
    )


K3S = fake_kubeconfig("54.1.2.3", "v1.33.3+k3s1")


def _names(data: dict[str, Any], section: str) -> list[str]:
    return [item["name"] for item in data.get(section, [])]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _kubectl_view(path: Path) -> dict[str, Any]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    proc = subprocess.run(
        [kubectl, "--kubeconfig", str(path), "config", "view", "-o", "yaml"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = yaml.safe_load(proc.stdout)
    return out


def test_context_renames_cluster_user_and_context() -> None:
    data = context_kubeconfig(K3S, "goman-team-web")
    assert _names(data, "clusters") == ["goman-team-web"]
    assert _names(data, "users") == ["goman-team-web"]
    assert data["contexts"] == [
        {
            "name": "goman-team-web",
            "context": {"cluster": "goman-team-web", "user": "goman-team-web"},
        }
    ]
    assert data["current-context"] == "goman-team-web"
    assert data["clusters"][0]["cluster"]["server"] == "https://54.1.2.3:6443"
    assert "client-key-data" in data["users"][0]["user"]


@pytest.mark.parametrize("text", ["{{not yaml", "- a list", "clusters: []\nusers: []\n"])
def test_context_refuses_what_is_not_a_usable_kubeconfig(text: str) -> None:
    with pytest.raises(GomanError):
        context_kubeconfig(text, "x")


def test_write_is_private_and_creates_folders(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "web.yaml"
    data = context_kubeconfig(K3S, "goman-default-web")
    write_kubeconfig(path, data)
    assert _mode(path) == 0o600
    assert yaml.safe_load(path.read_text()) == data
    assert [p.name for p in path.parent.iterdir()] == ["web.yaml"]  # no temp file left
    viewed = _kubectl_view(path)
    assert viewed["current-context"] == "goman-default-web"
    assert viewed["clusters"][0]["cluster"]["server"] == "https://54.1.2.3:6443"


def test_write_replaces_a_loose_file_with_a_private_one(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("old")
    path.chmod(0o644)
    write_kubeconfig(path, context_kubeconfig(K3S, "a"))
    assert _mode(path) == 0o600


def test_merge_keeps_other_entries_and_replaces_same_names(tmp_path: Path) -> None:
    path = tmp_path / ".kube" / "config"
    path.parent.mkdir()
    other = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "prod", "cluster": {"server": "https://prod.example:443"}}],
        "users": [{"name": "prod-admin", "user": {"token": "abc"}}],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod-admin"}}],
        "current-context": "prod",
        "preferences": {"colors": True},
    }
    path.write_text(yaml.safe_dump(other))
    path.chmod(0o644)

    merge_kubeconfig(path, context_kubeconfig(K3S, "goman-default-web"))
    stale = fake_kubeconfig("54.9.9.9", "v1.33.3+k3s1")
    merge_kubeconfig(path, context_kubeconfig(stale, "goman-default-api"), set_current=False)
    merge_kubeconfig(path, context_kubeconfig(K3S, "goman-default-api"), set_current=False)

    merged = yaml.safe_load(path.read_text())
    assert _mode(path) == 0o600
    assert _names(merged, "clusters") == ["prod", "goman-default-web", "goman-default-api"]
    assert _names(merged, "users") == ["prod-admin", "goman-default-web", "goman-default-api"]
    assert _names(merged, "contexts") == ["prod", "goman-default-web", "goman-default-api"]
    assert merged["current-context"] == "goman-default-web"
    assert merged["preferences"] == {"colors": True}
    api = next(c for c in merged["clusters"] if c["name"] == "goman-default-api")
    assert api["cluster"]["server"] == "https://54.1.2.3:6443"
    assert merged["users"][0] == other["users"][0]
    viewed = _kubectl_view(path)
    assert _names(viewed, "contexts") == sorted(_names(merged, "contexts"))


def test_merge_into_a_missing_or_empty_file(tmp_path: Path) -> None:
    missing = tmp_path / "new" / "config"
    merge_kubeconfig(missing, context_kubeconfig(K3S, "c"), set_current=False)
    assert yaml.safe_load(missing.read_text())["current-context"] == "c"
    empty = tmp_path / "empty"
    empty.write_text("")
    merge_kubeconfig(empty, context_kubeconfig(K3S, "c"))
    assert _names(yaml.safe_load(empty.read_text()), "users") == ["c"]


def test_merge_never_overwrites_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("clusters: {not: a list}\n")
    with pytest.raises(GomanError) as err:
        merge_kubeconfig(path, context_kubeconfig(K3S, "c"))
    assert str(path) in err.value.message
    assert path.read_text() == "clusters: {not: a list}\n"


def test_merge_writes_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "kubeconfig"
    real.parent.mkdir()
    real.write_text("")
    link = tmp_path / "config"
    link.symlink_to(real)
    merge_kubeconfig(link, context_kubeconfig(K3S, "c"))
    assert link.is_symlink()
    assert _names(yaml.safe_load(real.read_text()), "clusters") == ["c"]


def test_default_path_follows_kubeconfig_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path}/a:{tmp_path}/b")
    assert default_kubeconfig_path() == tmp_path / "a"
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_kubeconfig_path() == tmp_path / ".kube" / "config"


# -- local files: locks, symlinks, private folders ---------------------------------------------

MERGE_ONE = """
import sys, time
from pathlib import Path
from goman.provision.kubeconfig import context_kubeconfig, merge_kubeconfig

path, go, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
data = context_kubeconfig(sys.argv[4], name)
(go.parent / f"ready-{name}").touch()
while not go.exists():
    time.sleep(0.001)
merge_kubeconfig(path, data)
"""


def test_ten_concurrent_merges_keep_ten_contexts(tmp_path: Path) -> None:
    """Ten processes merge into one file at the same moment: none loses another's context."""
    import os
    import sys

    path = tmp_path / ".kube" / "config"
    go = tmp_path / "go"
    names = [f"goman-default-c{i}" for i in range(10)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MERGE_ONE, str(path), str(go), name, K3S],
            env={**os.environ},
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    # Start them together once every interpreter is up (each one imports yaml and goman).
    import time

    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < len(names) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    merged = yaml.safe_load(path.read_text())
    assert sorted(_names(merged, "contexts")) == sorted(names)
    assert sorted(_names(merged, "users")) == sorted(names)
    assert not Path(f"{path}.lock").exists()
    assert sorted(_names(_kubectl_view(path), "contexts")) == sorted(names)


def test_merge_recovers_a_lock_left_by_a_dead_process(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "config"
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock = Path(f"{path}.lock")
    lock.write_text(f"{dead.pid}@{socket.gethostname()}\n")
    merge_kubeconfig(path, context_kubeconfig(K3S, "c"), lock_timeout=5)
    assert _names(yaml.safe_load(path.read_text()), "contexts") == ["c"]
    assert not lock.exists()


def test_merge_recovers_an_old_lock(tmp_path: Path) -> None:
    """kubectl's own lock files are empty: one left for minutes by a crash is stale."""
    import os
    import time

    path = tmp_path / "config"
    lock = Path(f"{path}.lock")
    lock.write_text("")
    hour_ago = time.time() - 3600
    os.utime(lock, (hour_ago, hour_ago))
    merge_kubeconfig(path, context_kubeconfig(K3S, "c"), lock_timeout=5)
    assert _names(yaml.safe_load(path.read_text()), "contexts") == ["c"]
    assert not lock.exists()


def test_merge_waits_for_a_live_lock_then_says_who_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("")
    lock = Path(f"{path}.lock")
    lock.write_text("")  # as kubectl leaves it while it writes
    with pytest.raises(GomanError) as err:
        merge_kubeconfig(path, context_kubeconfig(K3S, "c"), lock_timeout=0.3)
    assert f"{path}.lock" in err.value.message
    assert "remove" in err.value.hint
    assert path.read_text() == "" and lock.exists()


def test_merge_goes_on_once_the_lock_is_released(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "config"
    lock = Path(f"{path}.lock")
    lock.write_text("")
    release = threading.Timer(0.2, lock.unlink)
    release.start()
    try:
        merge_kubeconfig(path, context_kubeconfig(K3S, "c"), lock_timeout=10)
    finally:
        release.join()
    assert _names(yaml.safe_load(path.read_text()), "contexts") == ["c"]


def test_file_never_writes_through_a_symlink(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.write_text("keep me\n")
    link = tmp_path / "web.yaml"
    link.symlink_to(precious)
    with pytest.raises(GomanError) as err:
        write_kubeconfig(link, context_kubeconfig(K3S, "c"))
    assert "symbolic link" in err.value.message and "--force" in err.value.hint
    assert precious.read_text() == "keep me\n" and link.is_symlink()

    write_kubeconfig(link, context_kubeconfig(K3S, "c"), force=True)
    assert precious.read_text() == "keep me\n"
    assert not link.is_symlink() and _mode(link) == 0o600
    assert _names(yaml.safe_load(link.read_text()), "contexts") == ["c"]


def test_a_dangling_symlink_is_refused_too(tmp_path: Path) -> None:
    link = tmp_path / "web.yaml"
    link.symlink_to(tmp_path / "elsewhere" / "planted")
    with pytest.raises(GomanError):
        write_kubeconfig(link, context_kubeconfig(K3S, "c"))
    assert not (tmp_path / "elsewhere").exists()


def test_every_folder_it_creates_is_private(tmp_path: Path) -> None:
    import os

    before = _mode(tmp_path)
    old = os.umask(0o022)
    try:
        write_kubeconfig(tmp_path / "a" / "b" / "c" / "web.yaml", context_kubeconfig(K3S, "c"))
        merge_kubeconfig(tmp_path / "home" / ".kube" / "config", context_kubeconfig(K3S, "c"))
    finally:
        os.umask(old)
    for folder in ("a", "a/b", "a/b/c", "home", "home/.kube"):
        assert _mode(tmp_path / folder) == 0o700, folder
    assert _mode(tmp_path) == before  # a folder that existed is left as it was


def test_cluster_kubeconfig_file_refuses_a_symlink_unless_forced(
    goman: Any, s3: Any, tmp_path: Path
) -> None:

    assert goman("cluster", "create", "web", "--workers", "0", "--timeout", "60s").exit_code == 0
    precious = tmp_path / "authorized_keys"
    precious.write_text("ssh-ed25519 AAAA me\n")
    link = tmp_path / "web.yaml"
    link.symlink_to(precious)
    refused = goman("cluster", "kubeconfig", "web", "--file", str(link))
    assert refused.exit_code == 1
    assert "symbolic link" in refused.stderr and "--force" in refused.stderr
    assert precious.read_text() == "ssh-ed25519 AAAA me\n"
    forced = goman("cluster", "kubeconfig", "web", "--file", str(link), "--force")
    assert forced.exit_code == 0, forced.output
    assert precious.read_text() == "ssh-ed25519 AAAA me\n"
    assert not link.is_symlink() and _mode(link) == 0o600
