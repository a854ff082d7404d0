"""A connection to one cluster's Kubernetes API, built from a kubeconfig dict in memory.

Only certificate authentication is used: the kubeconfig is checked by
`goman.provision.pki.kubeconfig.certificate_credentials` (so an `exec` user or a token is
refused before anything is sent), and the TLS context is built here: the cluster's CA as
the only trust anchor, goman's client certificate loaded from a private temporary folder
that is removed as soon as it is read. Proxies from the environment are not used.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import ssl
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import httpx2
from lightkube import ApiError
from lightkube import Client as LightkubeClient
from lightkube.config.kubeconfig import KubeConfig
from lightkube.config.models import Cluster, User

from goman.kube import drain as drain_mod
from goman.kube import nodes as nodes_mod
from goman.kube import resources as resources_mod
from goman.kube.errors import Hint, KubeError, map_status_error, map_transport_error
from goman.provision.pki.kubeconfig import certificate_credentials

T = TypeVar("T")
FIELD_MANAGER = "goman"


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for a TCP+TLS connection, and for each answer."""

    connect: float = 5.0
    read: float = 20.0


def ssl_context(ca_pem: str, cert_pem: str, key_pem: str) -> ssl.SSLContext:
    """Trust only the cluster's CA; present goman's client certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=ca_pem)
    folder = tempfile.mkdtemp(prefix="goman-kube-")  # 0700
    try:
        cert_path, key_path = os.path.join(folder, "client.crt"), os.path.join(folder, "client.key")
        for path, text in ((cert_path, cert_pem), (key_path, key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
        ctx.load_cert_chain(cert_path, key_path)
    except ssl.SSLError as exc:
        raise KubeError(
            "The kubeconfig's client certificate and key cannot be used.",
            "Get a fresh kubeconfig with `goman cluster kubeconfig NAME`.",
            detail=str(exc),
        ) from exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return ctx


class KubeClient:
    """One cluster's API. Every method raises a KubeError (a GomanError) with a clear
    message on failure; `unreachable_hint` (text, or a function called only when needed)
    becomes the fix line when the API cannot be reached, e.g. naming `api_cidrs` when the
    caller's address is outside them."""

    def __init__(
        self,
        kubeconfig: Mapping[str, Any],
        *,
        timeouts: Timeouts = Timeouts(),
        unreachable_hint: Hint = None,
        field_manager: str = FIELD_MANAGER,
    ) -> None:
        creds = certificate_credentials(kubeconfig)
        self.endpoint = creds.server
        self.timeouts = timeouts
        self.unreachable_hint = unreachable_hint
        self.field_manager = field_manager
        context = ssl_context(creds.ca_pem, creds.client_cert_pem, creds.client_key_pem)
        timeout = httpx2.Timeout(timeouts.read, connect=timeouts.connect)
        self.http = httpx2.Client(
            base_url=self.endpoint,
            transport=httpx2.HTTPTransport(verify=context, trust_env=False),
            timeout=timeout,
            trust_env=False,
        )
        # lightkube builds a TLS context of its own from the config (loading the system's CA
        # store unless told a CA); the transport below replaces it, so hand it the cluster CA.
        cluster = Cluster(
            server=self.endpoint,
            certificate_auth_data=base64.b64encode(creds.ca_pem.encode()).decode(),
        )
        config = KubeConfig.from_one(cluster=cluster, user=User())
        self.lk = LightkubeClient(
            config=config,
            timeout=timeout,
            trust_env=False,
            transport=httpx2.HTTPTransport(verify=context, trust_env=False),
            field_manager=field_manager,
        )

    # -- plumbing -----------------------------------------------------------------------

    def call(self, what: str, action: Callable[[], T], *, missing_ok: bool = False) -> T | None:
        """Run one API action, mapping every failure to a KubeError naming `what`.
        With `missing_ok`, a 404 answer returns None."""
        try:
            return action()
        except ApiError as exc:
            code = int(getattr(exc.status, "code", 0) or exc.response.status_code)
            if missing_ok and code == 404:
                return None
            raise map_status_error(
                code, str(exc.status.message or exc), endpoint=self.endpoint, what=what
            ) from exc
        except httpx2.HTTPError as exc:
            raise map_transport_error(
                exc,
                endpoint=self.endpoint,
                what=what,
                hint=self.unreachable_hint,
                timeout=self.timeouts.connect
                if isinstance(exc, httpx2.ConnectTimeout)
                else self.timeouts.read,
            ) from exc

    def get_json(self, path: str, what: str, *, missing_ok: bool = False) -> Any:
        """GET a non-resource path (/version, discovery) and decode its JSON; with
        `missing_ok`, a 404 answer returns None."""

        def fetch() -> Any:
            response = self.http.get(path, headers={"Accept": "application/json"})
            if missing_ok and response.status_code == 404:
                return None
            if response.status_code >= 400:
                message = response.text
                with contextlib.suppress(ValueError, AttributeError):
                    message = str(response.json().get("message") or message)
                raise map_status_error(
                    response.status_code, message, endpoint=self.endpoint, what=what
                )
            return response.json()

        return self.call(what, fetch)

    def close(self) -> None:
        self.http.close()
        self.lk.close()

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the API goman uses -------------------------------------------------------------

    def version(self) -> str:
        """The API server's version, e.g. `v1.33.3+k3s1`."""
        data = self.get_json("/version", "read the server version")
        return str((data or {}).get("gitVersion", ""))

    def nodes(self) -> list[nodes_mod.NodeStatus]:
        return nodes_mod.list_nodes(self)

    def node(self, name: str) -> nodes_mod.NodeStatus | None:
        return nodes_mod.get_node(self, name)

    def pods(self, node: str | None = None) -> list[nodes_mod.PodInfo]:
        """Pods of every namespace, or of one node."""
        return nodes_mod.list_pods(self, node)

    def pod_counts(self) -> dict[str, int]:
        """Node name -> number of pods on it that have not finished."""
        return nodes_mod.pod_counts(self)

    def cordon(self, name: str) -> bool:
        """Mark a node unschedulable; False if there is no such node."""
        return nodes_mod.set_unschedulable(self, name, True)

    def uncordon(self, name: str) -> bool:
        return nodes_mod.set_unschedulable(self, name, False)

    def delete_node(self, name: str) -> bool:
        """Delete a Node object; False if it was already gone."""
        return nodes_mod.delete_node(self, name)

    def drain(
        self, name: str, *, timeout: float, force: bool = False, poll: float = 2.0
    ) -> drain_mod.DrainResult:
        """Cordon, evict, wait: see goman.kube.drain.drain."""
        return drain_mod.drain(self, name, timeout=timeout, force=force, poll=poll)

    def apply(self, manifests: Iterable[Mapping[str, Any]] | str) -> list[str]:
        """Server-side apply of manifests (dicts, or YAML text); see resources.apply."""
        return resources_mod.apply(self, manifests)

    def get_object(
        self, kind: resources_mod.ResourceKind, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """One object of any kind (e.g. an upgrade Plan), or None."""
        return resources_mod.get_object(self, kind, name, namespace)

    def list_objects(
        self,
        kind: resources_mod.ResourceKind,
        namespace: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Objects of a kind (every namespace when `namespace` is None)."""
        return resources_mod.list_objects(self, kind, namespace, labels)

    def create_object(
        self, kind: resources_mod.ResourceKind, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        return resources_mod.create_object(self, kind, body)

    def patch_object(
        self,
        kind: resources_mod.ResourceKind,
        name: str,
        patch: Mapping[str, Any],
        namespace: str | None = None,
    ) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386)."""
        return resources_mod.patch_object(self, kind, name, patch, namespace)

    def delete_object(
        self, kind: resources_mod.ResourceKind, name: str, namespace: str | None = None
    ) -> bool:
        """Delete an object; False if it was already gone."""
        return resources_mod.delete_object(self, kind, name, namespace)
