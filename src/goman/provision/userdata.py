"""The user-data script that turns a fresh Ubuntu instance into a K3s node, without SSH.

The node talks to nothing but S3, through presigned URLs goman puts in the script:
one GET for its join secret (so no secret ever sits in user-data, which anyone with
ec2:DescribeInstanceAttribute can read), one PUT for its progress reports; servers GET the
agent token too, and server-0 GETs the cluster's CA bundle, which it writes under K3s's
server/tls before K3s first starts. No node uploads anything but its reports: goman builds
kubeconfigs itself. The protocol is described in docs/bootstrap.md; the sandbox's node
emulator follows the same one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from goman.aws.errors import GomanError

MARKER = "# goman-bootstrap v1"
USER_DATA_LIMIT = 16 * 1024
K3S_INSTALL_URL = "https://get.k3s.io"
API_PORT = 6443

# What the report uploads send as Content-Type. It is a signed header of the presigned PUT,
# so it must equal what the URL was presigned with (StateStore.presign_put's default).
REPORT_CONTENT_TYPE = "application/json"
# server-0 runs this stdlib-only script (shipped in its user-data) to write the CA bundle.
UNPACK_SCRIPT = Path(__file__).parent / "pki" / "unpack.py"

PHASES = ("booting", "installing", "ready", "failed")

# Lines the node emulator (and people) can read back: NAME='value'.
VAR_LINE = re.compile(r"^(GOMAN_[A-Z0-9_]+)=(.*)$")


@dataclass(frozen=True)
class NodeBootstrap:
    cluster: str
    node: str  # e.g. web-server-0
    role: str  # server | agent
    index: int
    k3s_version: str  # e.g. v1.33.3+k3s1 (pinned, never "latest")
    token_url: str  # presigned GET of the join secret (an agent's: the agent token)
    report_url: str  # presigned PUT of this node's report JSON
    ca_bundle_url: str | None  # presigned GET of the CA bundle, server-0 only
    server_url: str | None  # None on server-0, else https://<server-0 private IP>:6443
    endpoint_host: str  # the Elastic IP: --tls-san and the kubeconfig's server address
    bucket_owner: str  # account id, sent as x-amz-expected-bucket-owner (a signed header)
    cluster_init: bool  # ha server-0: start embedded etcd
    # Servers only: presigned GET of the agent-only token (--agent-token-file). None for a
    # cluster created before agents had their own token: everything joins with one token.
    agent_token_url: str | None = None


def shell_quote(value: str) -> str:
    """Single-quote a value for bash (a quote inside becomes '\\'')."""
    return "'" + value.replace("'", "'\\''") + "'"


def _check(b: NodeBootstrap) -> None:
    if b.role not in {"server", "agent"}:
        raise ValueError(f"role must be server or agent, not {b.role!r}")
    if b.server_url is None and not (b.role == "server" and b.index == 0):
        raise ValueError(f"{b.node}: only server-0 starts without a server URL")
    if b.ca_bundle_url is not None and b.server_url is not None:
        raise ValueError(f"{b.node}: only server-0 writes the CA bundle")
    if b.agent_token_url is not None and b.role != "server":
        raise ValueError(f"{b.node}: only servers are given the agent token")
    for name in ("cluster", "node", "k3s_version", "endpoint_host", "bucket_owner"):
        value = getattr(b, name)
        if not value or any(c in value for c in "\n\r\0"):
            raise ValueError(f"{name} must be a non-empty single line")


def render_user_data(b: NodeBootstrap) -> str:
    """The complete bash user-data for one node (well under EC2's 16 KB limit)."""
    _check(b)
    values = {
        "GOMAN_CLUSTER": b.cluster,
        "GOMAN_NODE": b.node,
        "GOMAN_ROLE": b.role,
        "GOMAN_INDEX": str(b.index),
        "GOMAN_K3S_VERSION": b.k3s_version,
        "GOMAN_TOKEN_URL": b.token_url,
        "GOMAN_REPORT_URL": b.report_url,
        "GOMAN_CA_BUNDLE_URL": b.ca_bundle_url or "",
        "GOMAN_AGENT_TOKEN_URL": b.agent_token_url or "",
        "GOMAN_SERVER_URL": b.server_url or "",
        "GOMAN_ENDPOINT_HOST": b.endpoint_host,
        "GOMAN_BUCKET_OWNER": b.bucket_owner,
        "GOMAN_CLUSTER_INIT": "true" if b.cluster_init else "false",
    }
    head = "\n".join(f"{k}={shell_quote(v)}" for k, v in values.items())
    unpack = _unpack_block() if b.ca_bundle_url else ""
    script = f"#!/bin/bash\n{MARKER}\n{_INTRO}\n{head}\n{unpack}{_BODY}"
    if len(script.encode()) > USER_DATA_LIMIT:
        raise GomanError(
            f"The bootstrap script for {b.node} is {len(script.encode())} bytes, over EC2's "
            "16 KB user-data limit.",
            "This is a bug in goman (the presigned URLs are unusually long); please report it.",
        )
    return script


def _unpack_block() -> str:
    """A shell function printing unpack.py's source. Shipped gzipped in base64 (its 4 KB
    would not fit beside four long presigned URLs): base64's alphabet cannot end the
    quoted here-document early."""
    import base64
    import gzip
    import textwrap

    packed = base64.b64encode(gzip.compress(UNPACK_SCRIPT.read_bytes(), 9, mtime=0)).decode()
    lines = "\n".join(textwrap.wrap(packed, 76))
    return f"unpack_py() {{\n  base64 -d <<'GOMAN_UNPACK_PY' | gzip -dc\n{lines}\nGOMAN_UNPACK_PY\n}}\n"


def read_user_data(text: str) -> dict[str, str] | None:
    """The GOMAN_* values of a goman bootstrap script, or None if it is not one."""
    lines = text.splitlines()
    if len(lines) < 2 or lines[1].strip() != MARKER:
        return None
    import shlex

    out: dict[str, str] = {}
    for line in lines:
        found = VAR_LINE.match(line)
        if not found or not found.group(2).startswith("'"):
            continue
        try:
            parts = shlex.split(found.group(2))
        except ValueError:
            continue
        out[found.group(1)] = parts[0] if parts else ""
    return out


_INTRO = """\
# K3s node bootstrap written by goman. No SSH: this node reports its progress through a
# presigned S3 URL that expires within the hour; its join secret (and on server-0 the
# cluster's CA bundle) is fetched from others, never written here.
# Log: /var/log/goman-bootstrap.log
set -Eeuo pipefail
umask 077
"""

_BODY = r"""
# Overridable for tests: a path prefix for every file touched, and the K3s installer.
GOMAN_ROOT="${GOMAN_ROOT:-}"
GOMAN_K3S_INSTALL_URL="${GOMAN_K3S_INSTALL_URL:-https://get.k3s.io}"
GOMAN_READY_TIMEOUT="${GOMAN_READY_TIMEOUT:-900}"
GOMAN_HTTP_ATTEMPTS="${GOMAN_HTTP_ATTEMPTS:-8}"
GOMAN_STEP="starting"

mkdir -p "$GOMAN_ROOT/var/log" "$GOMAN_ROOT/var/lib/goman" "$GOMAN_ROOT/etc/rancher/k3s"
exec > >(tee -a "$GOMAN_ROOT/var/log/goman-bootstrap.log") 2>&1

log() {
  printf '%s goman[%s/%s]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$GOMAN_CLUSTER" "$GOMAN_NODE" "$*"
}

json_escape() {
  local s
  s=$(printf '%s' "$1" | tr -d '\000-\010\013-\037')
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\t'/ }
  s=${s//$'\n'/\\n}
  printf '%s' "$s"
}

# PUT one object through a presigned URL. Content-Type and x-amz-expected-bucket-owner
# are signed headers: they must be sent exactly as presigned.
put_url() {
  local url=$1 type=$2 file=$3 attempt
  for ((attempt = 1; attempt <= GOMAN_HTTP_ATTEMPTS; attempt++)); do
    if curl -fsS --connect-timeout 10 --max-time 60 -X PUT \
      -H "Content-Type: $type" \
      -H "x-amz-expected-bucket-owner: $GOMAN_BUCKET_OWNER" \
      --data-binary "@$file" -o /dev/null "$url"; then
      return 0
    fi
    [ "$attempt" -lt "$GOMAN_HTTP_ATTEMPTS" ] && sleep "$((attempt * 2))"
  done
  return 1
}

get_url() {
  local url=$1 out=$2 attempt
  for ((attempt = 1; attempt <= GOMAN_HTTP_ATTEMPTS; attempt++)); do
    if curl -fsS --connect-timeout 10 --max-time 60 \
      -H "x-amz-expected-bucket-owner: $GOMAN_BUCKET_OWNER" \
      -o "$out" "$url"; then
      return 0
    fi
    [ "$attempt" -lt "$GOMAN_HTTP_ATTEMPTS" ] && sleep "$((attempt * 2))"
  done
  return 1
}

report() {
  local phase=$1 message=${2:-} body="$GOMAN_ROOT/var/lib/goman/report.json"
  printf '{"node":"%s","role":"%s","phase":"%s","message":"%s","k3s_version":"%s","at":"%s"}\n' \
    "$(json_escape "$GOMAN_NODE")" "$GOMAN_ROLE" "$phase" "$(json_escape "$message")" \
    "$(json_escape "$GOMAN_K3S_VERSION")" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$body"
  log "report: $phase $message"
  put_url "$GOMAN_REPORT_URL" "application/json" "$body" || log "could not send the $phase report"
}

on_error() {
  local code=$1 line=$2
  trap - ERR
  set +e
  report failed "$GOMAN_STEP failed (exit code $code, bootstrap line $line); see /var/log/goman-bootstrap.log"
  exit "$code"
}
trap 'on_error $? $LINENO' ERR

GOMAN_STEP="booting"
log "bootstrap of $GOMAN_ROLE $GOMAN_INDEX started"
report booting "instance started"

GOMAN_STEP="fetching the join secret"
report installing "installing K3s $GOMAN_K3S_VERSION"
token_file="$GOMAN_ROOT/etc/rancher/k3s/goman-token"
get_url "$GOMAN_TOKEN_URL" "$token_file"
if [ ! -s "$token_file" ]; then
  GOMAN_STEP="reading the join secret (empty)"
  false
fi
chmod 600 "$token_file"

agent_token_file=""
if [ -n "$GOMAN_AGENT_TOKEN_URL" ]; then
  GOMAN_STEP="fetching the agent token"
  agent_token_file="$GOMAN_ROOT/etc/rancher/k3s/goman-agent-token"
  get_url "$GOMAN_AGENT_TOKEN_URL" "$agent_token_file"
  if [ ! -s "$agent_token_file" ]; then
    GOMAN_STEP="reading the agent token (empty)"
    false
  fi
  chmod 600 "$agent_token_file"
fi

if [ -n "$GOMAN_CA_BUNDLE_URL" ]; then
  # K3s keeps CA files it finds in server/tls at its first start: the cluster's trust
  # anchors are goman's, so goman can sign the admin's client certificate itself.
  GOMAN_STEP="fetching the cluster's CA bundle"
  bundle="$GOMAN_ROOT/var/lib/goman/ca-bundle.json"
  get_url "$GOMAN_CA_BUNDLE_URL" "$bundle"
  GOMAN_STEP="writing the cluster's CA files"
  unpack_py >"$GOMAN_ROOT/var/lib/goman/unpack.py"
  python3 "$GOMAN_ROOT/var/lib/goman/unpack.py" "$GOMAN_ROOT/var/lib/rancher/k3s/server/tls" <"$bundle"
  rm -f "$bundle"
fi

GOMAN_STEP="downloading the K3s installer"
installer="$GOMAN_ROOT/var/lib/goman/install-k3s.sh"
curl -fsSL --retry 8 --retry-delay 3 --connect-timeout 10 -o "$installer" "$GOMAN_K3S_INSTALL_URL"

GOMAN_STEP="installing K3s"
args=("$GOMAN_ROLE" --node-name "$GOMAN_NODE" --token-file "$token_file")
if [ "$GOMAN_ROLE" = "server" ]; then
  args+=(--tls-san "$GOMAN_ENDPOINT_HOST" --write-kubeconfig-mode 0600)
  if [ -n "$agent_token_file" ]; then
    args+=(--agent-token-file "$agent_token_file")
  fi
  if [ "$GOMAN_CLUSTER_INIT" = "true" ]; then
    args+=(--cluster-init)
  elif [ -n "$GOMAN_SERVER_URL" ]; then
    args+=(--server "$GOMAN_SERVER_URL")
  fi
  INSTALL_K3S_VERSION="$GOMAN_K3S_VERSION" K3S_TOKEN_FILE="$token_file" \
    sh "$installer" "${args[@]}"
else
  INSTALL_K3S_VERSION="$GOMAN_K3S_VERSION" K3S_TOKEN_FILE="$token_file" \
    K3S_URL="$GOMAN_SERVER_URL" sh "$installer" "${args[@]}"
fi

GOMAN_STEP="waiting for the node to be Ready"
if [ "$GOMAN_ROLE" = "server" ]; then
  node_kubeconfig="$GOMAN_ROOT/etc/rancher/k3s/k3s.yaml"
else
  node_kubeconfig="$GOMAN_ROOT/var/lib/rancher/k3s/agent/kubelet.kubeconfig"
fi
deadline=$((SECONDS + GOMAN_READY_TIMEOUT))
until [ "$(k3s kubectl --kubeconfig "$node_kubeconfig" get node "$GOMAN_NODE" \
  -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)" = "True" ]; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    GOMAN_STEP="waiting for the node to be Ready (not Ready after ${GOMAN_READY_TIMEOUT}s)"
    false
  fi
  sleep 5
done

GOMAN_STEP="done"
report ready "K3s $GOMAN_K3S_VERSION is Ready"
"""
