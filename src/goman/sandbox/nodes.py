"""The node emulator: boots the sandbox's EC2 instances the way the bootstrap script would.

moto's instances never run anything. This thread watches moto's EC2 backends (in-process,
every account and region) for running instances whose user-data carries the goman
bootstrap marker, reads the presigned URLs out of that user-data and, after a boot delay,
follows the protocol of docs/bootstrap.md: PUT booting, PUT installing, GET the join
secret, then PUT ready - or PUT failed.

Each cluster also gets a Kubernetes API (`sandbox.kubeapi.EmulatedCluster`): when server-0
boots, it GETs the cluster's CA bundle through the same presigned URL a real server-0 uses
and starts the API at the cluster's endpoint (Elastic IPs are 127.x.y.z here, so it binds
https://EIP:6443). Each node joins it as Ready just before it reports ready, turns NotReady
when its instance stops or terminates, and the API stops when the cluster's last instance
is gone, when the sandbox is reset and when it stops.

Knobs (boot delay, which nodes fail) can be changed while it runs: over HTTP with
POST /goman-sandbox/nodes {"boot_delay": 0.5, "fail": ["web-agent-*"]}, or on the object.
A POST /moto-api/reset forgets every node and restores the knobs given at start.
Only loopback URLs are ever requested.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from goman.provision.userdata import MARKER, read_user_data

log = logging.getLogger(__name__)

CONTROL_PATH = "/goman-sandbox/nodes"
# Marks the emulator's own requests so the server can refuse those planned before a reset
# (they would otherwise land in the next test's identically named bucket).
GENERATION_HEADER = "x-goman-sandbox-generation"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
TICK = 0.2
MAX_ATTEMPTS = 3  # per step, like the script's retries (but quicker)
RETRY_PAUSE = 0.25

Environ = dict[str, Any]

# The steps of a boot, as fractions of the boot delay: progress is visible in a UI.
_SCHEDULE = (("booting", 1 / 3), ("installing", 2 / 3), ("finish", 1.0))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _loopback_ip(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"http", "https"} and (parts.hostname or "") in LOOPBACK


API_PORT = 6443


@dataclass
class _Node:
    key: tuple[str, str, str]  # account, region, instance id
    values: dict[str, str]
    first_seen: float
    generation: int
    addresses: tuple[str, str] = ("", "")  # private, public
    done: list[str] = field(default_factory=list)  # steps taken
    phase: str = "launched"
    finished: bool = False
    stopped: bool = False  # its instance is stopped: it boots from disk when started
    attempts: int = 0  # failed tries of the current step
    next_try: float = 0.0

    @property
    def name(self) -> str:
        return self.values.get("GOMAN_NODE", "")


def _user_data_text(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, list | tuple):
        raw = raw[0] if raw else None
        if raw is None:
            return None
    try:
        if hasattr(raw, "decode") and not isinstance(raw, bytes | str):
            return str(raw.decode())
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        if data.startswith(b"#!"):
            return data.decode()
        return base64.b64decode(data).decode()
    except (ValueError, UnicodeDecodeError):
        return None


class NodeEmulator:
    """Emulated K3s nodes for the sandbox's EC2 instances (see the module doc)."""

    def __init__(self, boot_delay: float = 1.0, fail_patterns: list[str] | None = None) -> None:
        self.default_boot_delay = boot_delay
        self.default_fail_patterns = list(fail_patterns or [])
        self.boot_delay = boot_delay
        self.fail_patterns = list(self.default_fail_patterns)
        self.server_lock: Any = None  # makes the sandbox's EC2 state hold still while read
        self._lock = threading.Lock()
        self._nodes: dict[tuple[str, str, str], _Node] = {}
        self._ignored: set[tuple[str, str, str]] = set()
        self._generation = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.api_port = API_PORT
        self._apis: dict[str, Any] = {}  # endpoint host -> EmulatedCluster
        self._joined: dict[tuple[str, str, str], tuple[str, str]] = {}  # key -> (host, node)
        self._waiting: dict[str, list[_Node]] = {}  # host -> nodes ready before its API
        self._api_lock = threading.Lock()
        self._stopped_now: set[tuple[str, str, str]] = set()

    # -- wiring -------------------------------------------------------------------------

    def attach(self, server: Any) -> NodeEmulator:
        """Run beside a SandboxServer: its lifecycle, its lock, its control route."""
        self.server_lock = server.app.reading_ec2
        server.app.hooks.append(self.hook)
        server.extensions.append(self)
        return self

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="goman-node-emulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.stop_apis()

    # -- the clusters' Kubernetes APIs --------------------------------------------------

    def api(self, host: str) -> Any:
        """The EmulatedCluster serving https://host:6443, if one runs."""
        with self._api_lock:
            return self._apis.get(host)

    def stop_apis(self) -> None:
        with self._api_lock:
            apis, self._apis = list(self._apis.values()), {}
            self._joined.clear()
            self._waiting.clear()
        for api in apis:
            api.stop()

    def _start_api(self, node: _Node, body: str) -> str | None:
        """Start the cluster's API from the CA bundle server-0 fetched; None or a reason."""
        from goman.aws.errors import GomanError
        from goman.provision.pki.bundle import CABundle
        from goman.sandbox.kubeapi.server import EmulatedCluster

        host = node.values.get("GOMAN_ENDPOINT_HOST", "")
        if not _loopback_ip(host):
            return f"the endpoint {host} is not a loopback address"
        with self._api_lock:
            if host in self._apis:
                return None
        try:
            bundle = CABundle.from_bytes(body.encode(), source="The CA bundle")
        except GomanError as exc:
            return f"the CA bundle was refused: {exc}"
        api = EmulatedCluster(
            bundle,
            host=host,
            port=self.api_port,
            version=node.values.get("GOMAN_K3S_VERSION") or "v1.33.3+k3s1",
        )
        try:
            api.start()
        except OSError as exc:
            return f"cannot serve the Kubernetes API at {host}:{self.api_port}: {exc}"
        with self._api_lock:
            if node.generation != self._generation or host in self._apis:
                stale = True
            else:
                stale = False
                self._apis[host] = api
        if stale:
            api.stop()
            return None
        with self._api_lock:
            waiting = self._waiting.pop(host, [])
        for other in waiting:
            self._join(other)
        return None

    def _join(self, node: _Node) -> None:
        """The node registers with its cluster's API as Ready (as its kubelet would)."""
        v = node.values
        host = v.get("GOMAN_ENDPOINT_HOST", "")
        with self._api_lock:
            api = self._apis.get(host)
            if api is None:  # joins once server-0 has started the API
                self._waiting.setdefault(host, []).append(node)
                return
        role = "server" if v.get("GOMAN_ROLE") == "server" else "agent"
        etcd = role == "server" and (
            v.get("GOMAN_CLUSTER_INIT") == "true" or bool(v.get("GOMAN_SERVER_URL"))
        )
        api.state.add_node(
            node.name,
            role=role,
            kubelet_version=v.get("GOMAN_K3S_VERSION") or None,
            internal_ip=node.addresses[0],
            external_ip=node.addresses[1] or None,
            ready=True,
            etcd=etcd,
        )
        with self._api_lock:
            self._joined[node.key] = (host, node.name)

    def _left(
        self,
        terminated: list[tuple[str, str, str]],
        stopped: list[tuple[str, str, str]],
        alive: set[tuple[str, str, str]],
    ) -> None:
        """Instances that stopped or terminated: their Nodes go NotReady (deleting a Node is
        the cluster owner's job). A stopped node stays joined, to come back when started;
        a cluster with no instance left at all (running or stopped) loses its API."""
        with self._api_lock:
            left = [(k, self._joined.pop(k)) for k in terminated if k in self._joined]
            paused = [(k, self._joined[k]) for k in stopped if k in self._joined]
            hosts = {self._joined[k][0] for k in self._joined if k in alive}
            apis = dict(self._apis)
        for _, (host, name) in left + paused:
            api = apis.get(host)
            if api is not None and api.state.node(name) is not None:
                api.state.set_node_ready(name, False)
        ended = {host for _, (host, _) in left} - hosts
        for host in ended:
            with self._api_lock:
                api = self._apis.pop(host, None)
            if api is not None:
                api.stop()

    def _back(self, restarted: list[tuple[str, str, str]]) -> None:
        """Started instances: their kubelets post Ready again (the cluster's state, upgraded
        versions and cordons included, lived on in the API)."""
        with self._api_lock:
            back = [self._joined[k] for k in restarted if k in self._joined]
            apis = dict(self._apis)
        for host, name in back:
            api = apis.get(host)
            if api is not None and api.state.node(name) is not None:
                api.state.set_node_ready(name, True)

    # -- knobs --------------------------------------------------------------------------

    def configure(
        self, *, boot_delay: float | None = None, fail_patterns: Iterable[str] | None = None
    ) -> None:
        with self._lock:
            if boot_delay is not None:
                if boot_delay < 0:
                    raise ValueError("boot_delay must be >= 0")
                self.boot_delay = float(boot_delay)
            if fail_patterns is not None:
                self.fail_patterns = [str(p) for p in fail_patterns]

    def reset(self) -> None:
        """Forget every node and go back to the knobs given at construction."""
        with self._lock:
            self._generation += 1
            self._nodes.clear()
            self._ignored.clear()
            self.boot_delay = self.default_boot_delay
            self.fail_patterns = list(self.default_fail_patterns)
        self.stop_apis()

    def fails(self, node: str) -> str | None:
        """The fail pattern that matches a node name, if any."""
        with self._lock:
            patterns = list(self.fail_patterns)
        return next((p for p in patterns if fnmatch.fnmatchcase(node, p)), None)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "boot_delay": self.boot_delay,
                "fail": list(self.fail_patterns),
                "nodes": [
                    {
                        "instance_id": n.key[2],
                        "region": n.key[1],
                        "node": n.name,
                        "phase": n.phase,
                        "stopped": n.stopped,
                    }
                    for n in self._nodes.values()
                ],
            }

    # -- the HTTP side (called by SandboxApp under its lock, for every request) -------

    def hook(self, environ: Environ, start_response: Any) -> list[bytes] | None:
        path = str(environ.get("PATH_INFO", ""))
        if path.startswith("/moto-api/reset") and not path.startswith("/moto-api/reset-auth"):
            self.reset()
            return None
        stamp = environ.get("HTTP_" + GENERATION_HEADER.upper().replace("-", "_"))
        if stamp is not None:
            with self._lock:
                current = self._generation
            if str(stamp) != str(current):
                return _json(start_response, "409 Conflict", {"error": "sandbox was reset"})
            return None
        if path.rstrip("/") != CONTROL_PATH:
            return None
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "GET":
            return _json(start_response, "200 OK", self.snapshot())
        if method != "POST":
            return _json(start_response, "405 Method Not Allowed", {"error": "use GET or POST"})
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            if body.get("reset"):
                self.reset()
            fail = body.get("fail")
            if fail is not None and (
                not isinstance(fail, list) or not all(isinstance(p, str) for p in fail)
            ):
                raise ValueError("fail must be a list of name patterns")
            delay = body.get("boot_delay")
            self.configure(
                boot_delay=None if delay is None else float(delay),
                fail_patterns=fail,
            )
        except (ValueError, TypeError) as exc:
            return _json(start_response, "400 Bad Request", {"error": str(exc)})
        return _json(start_response, "200 OK", self.snapshot())

    # -- the emulation loop -------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(TICK):
            try:
                self.tick()
            except Exception:  # the emulator must never take the sandbox down
                log.exception("node emulator tick failed")

    def _scan(self) -> dict[tuple[str, str, str], tuple[Any, str, str]]:
        """Running instances as {(account, region, id): (raw user-data, private IP, public
        IP)} (read under the lock); the stopped ones are noted in `self._stopped_now`."""
        from moto.ec2.models import ec2_backends

        found: dict[tuple[str, str, str], tuple[Any, str, str]] = {}
        stopped: set[tuple[str, str, str]] = set()
        with self.server_lock() if self.server_lock else threading.Lock():
            for account, per_region in list(dict.items(ec2_backends)):
                for region, backend in list(dict.items(per_region)):
                    for reservation in list(getattr(backend, "reservations", {}).values()):
                        for inst in list(reservation.instances):
                            state = getattr(getattr(inst, "_state", None), "name", "")
                            key = (str(account), str(region), str(inst.id))
                            if state == "running":
                                found[key] = (
                                    inst.user_data,
                                    str(getattr(inst, "private_ip", "") or ""),
                                    str(getattr(inst, "public_ip", "") or ""),
                                )
                            elif state in {"stopping", "stopped"}:
                                stopped.add(key)
        self._stopped_now = stopped
        return found

    def tick(self) -> None:
        """One pass: notice new instances, forget gone ones, take the steps that are due."""
        running = self._scan()
        now = time.monotonic()
        with self._lock:
            generation = self._generation
            stopped_now = self._stopped_now
            gone = [k for k in self._nodes if k not in running]
            terminated, paused, restarted = [], [], []
            for key in gone:
                if key not in stopped_now:
                    del self._nodes[key]  # terminated: forget it
                    terminated.append(key)
                elif not self._nodes[key].stopped:
                    self._nodes[key].stopped = True  # kept: a start boots it from disk
                    paused.append(key)
            for node in self._nodes.values():
                if node.stopped and node.key in running:
                    # Started again: K3s comes back from its disk. User-data runs on the
                    # first boot only, so nothing is reported or fetched again.
                    node.stopped = False
                    restarted.append(node.key)
            self._ignored &= set(running)
            fresh = [k for k in running if k not in self._nodes and k not in self._ignored]
        self._left(terminated, paused, set(running) | stopped_now)
        self._back(restarted)
        for key in fresh:
            text = _user_data_text(running[key][0])
            values = read_user_data(text) if text and MARKER in text else None
            with self._lock:
                if generation != self._generation:
                    return
                if values is None or not values.get("GOMAN_REPORT_URL"):
                    self._ignored.add(key)
                else:
                    addresses = (running[key][1], running[key][2])
                    self._nodes[key] = _Node(key, values, now, generation, addresses)
        with self._lock:
            delay = self.boot_delay
            due = [n for n in self._nodes.values() if not n.finished and not n.stopped]
        for node in due:
            self._advance(node, now, delay)

    def _advance(self, node: _Node, now: float, delay: float) -> None:
        for step, fraction in _SCHEDULE:
            if step in node.done:
                continue
            if now - node.first_seen < delay * fraction or now < node.next_try:
                return
            outcome = self._step(node, step)
            if outcome == "retry":
                node.attempts += 1
                if node.attempts < MAX_ATTEMPTS:
                    node.next_try = now + RETRY_PAUSE * node.attempts
                    return
                if step == "finish":
                    self._report(
                        node,
                        "failed",
                        "fetching the join secret failed after retries "
                        "(the presigned URL did not answer with it)",
                    )
                node.finished = True
                return
            node.attempts = 0
            node.done.append(step)
            if outcome == "stop" or step == "finish":
                node.finished = True
                return

    def _step(self, node: _Node, step: str) -> str:
        """Take one step: "ok", "retry" (a request failed) or "stop" (the node is done)."""
        v = node.values
        if step in {"booting", "installing"}:
            message = (
                "instance started"
                if step == "booting"
                else f"installing K3s {v.get('GOMAN_K3S_VERSION', '')}"
            )
            return "ok" if self._report(node, step, message) else "retry"
        token = self._request(node, "GET", v.get("GOMAN_TOKEN_URL", ""))
        if token is None or not token.strip():
            return "retry"
        pattern = self.fails(node.name)
        if pattern is not None:
            self._report(
                node,
                "failed",
                f"installing K3s failed: the sandbox was told to fail nodes matching "
                f"{pattern!r} (--fail-node)",
            )
            return "stop"
        agent_token_url = v.get("GOMAN_AGENT_TOKEN_URL", "")
        if agent_token_url:
            agent_token = self._request(node, "GET", agent_token_url)
            if agent_token is None or not agent_token.strip():
                return "retry"
        bundle_url = v.get("GOMAN_CA_BUNDLE_URL", "")
        if bundle_url:
            body = self._request(node, "GET", bundle_url)
            if body is None:
                return "retry"
            problem = self._start_api(node, body)
            if problem is not None:
                self._report(node, "failed", f"writing the cluster's CA files failed: {problem}")
                return "stop"
        self._join(node)
        return (
            "ok"
            if self._report(node, "ready", f"K3s {v.get('GOMAN_K3S_VERSION', '')} is Ready")
            else "retry"
        )

    def _report(self, node: _Node, phase: str, message: str) -> bool:
        v = node.values
        body = {
            "node": node.name,
            "role": v.get("GOMAN_ROLE", ""),
            "phase": phase,
            "message": message,
            "k3s_version": v.get("GOMAN_K3S_VERSION", ""),
            "at": _now(),
        }
        data = (json.dumps(body) + "\n").encode()
        ok = self._request(node, "PUT", v["GOMAN_REPORT_URL"], data, "application/json")
        if ok is not None:
            node.phase = phase
        return ok is not None

    def _request(
        self,
        node: _Node,
        method: str,
        url: str,
        data: bytes | None = None,
        content_type: str | None = None,
    ) -> str | None:
        """One request with the script's headers; None on any failure. Loopback only."""
        if not is_loopback(url):
            log.warning("node %s: refusing to contact non-loopback URL %s", node.name, url[:60])
            return None
        headers = {
            "x-amz-expected-bucket-owner": node.values.get("GOMAN_BUCKET_OWNER", ""),
            GENERATION_HEADER: str(node.generation),
        }
        if content_type is not None:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with _OPENER.open(req, timeout=10) as resp:
                return str(resp.read().decode("utf-8", "replace"))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.info("node %s: %s %s failed: %s", node.name, method, urlsplit(url).path, exc)
            return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect could point off loopback: never follow one."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# No proxies (a proxy would carry loopback traffic elsewhere) and no redirects.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def _json(start_response: Any, status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def find_emulator(server: Any) -> NodeEmulator | None:
    """The node emulator running beside a SandboxServer, if any."""
    return next((e for e in getattr(server, "extensions", []) if isinstance(e, NodeEmulator)), None)
