"""Reaching a cluster's Kubernetes API: the admin kubeconfig goman builds, and a client.

A cluster created by this goman has a CA bundle among its secret objects: the kubeconfig is
built here, on the caller's machine, with a client certificate signed by the cluster's
client CA for the caller's AWS identity. A cluster created before that has only the
kubeconfig its server-0 uploaded; it is used only after `validate_uploaded_kubeconfig`
has rebuilt it from what it checked (the cluster's endpoint, CA data, a client
certificate and nothing else), because anyone who can write the bucket could have planted
it. Imports of cryptography and the Kubernetes client stay inside the functions.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from goman.aws.errors import GomanError, NotFoundError
from goman.models.cluster import ClusterDoc
from goman.state import keys
from goman.state.store import StateStore

CA_BUNDLE = "secrets/ca-bundle.json"
LEGACY_KUBECONFIG = "kubeconfig.yaml"


def legacy_kubeconfig_key(name: str) -> str:
    """Where server-0 of a cluster created before goman owned its PKI uploaded one."""
    return keys.cluster_artefact(name, LEGACY_KUBECONFIG)


def _not_yet(doc: ClusterDoc) -> GomanError:
    name = doc.name
    if doc.status.phase == "Failed":
        return NotFoundError(
            f"Cluster {name!r} failed before server-0 was ready, so it has no kubeconfig.",
            f"See why with `goman cluster get {name}`; `goman cluster retry {name}` tries again.",
        )
    return NotFoundError(
        f"Cluster {name!r} has no kubeconfig yet (it is {doc.status.phase}).",
        f"Follow it with `goman cluster get {name}`; the kubeconfig exists once server-0 is ready.",
    )


def _server0_ready(doc: ClusterDoc) -> bool:
    server0 = doc.node(f"{doc.name}-server-0")
    return server0 is not None and server0.phase == "ready"


def admin_kubeconfig_for(store: StateStore, doc: ClusterDoc, context: str) -> dict[str, Any]:
    """The cluster-admin kubeconfig of `doc`, its cluster, user and context named `context`."""
    from goman.provision.pki import CABundle, admin_kubeconfig, validate_uploaded_kubeconfig

    endpoint = doc.status.endpoint
    try:
        body, _, _ = store.get_bytes(keys.cluster_artefact(doc.name, CA_BUNDLE))
    except NotFoundError:
        body = None
    if body is not None:
        if not endpoint or not _server0_ready(doc):
            raise _not_yet(doc)
        bundle = CABundle.from_bytes(body, source=f"The CA bundle of cluster {doc.name!r}")
        data: dict[str, Any] = admin_kubeconfig(
            bundle, endpoint=endpoint, identity_arn=store.ctx.caller_arn, context=context
        )
        return data
    try:
        text, _, _ = store.get_bytes(legacy_kubeconfig_key(doc.name))
    except NotFoundError:
        raise _not_yet(doc) from None
    if not endpoint:
        raise GomanError(
            f"Cluster {doc.name!r} has no recorded endpoint, so its uploaded kubeconfig "
            "cannot be checked and is not used.",
            f"See `goman cluster get {doc.name}`.",
        )
    checked: dict[str, Any] = validate_uploaded_kubeconfig(
        text,
        endpoint=endpoint,
        context=context,
        source=f"The kubeconfig uploaded by cluster {doc.name!r}",
    )
    return checked


def unreachable_hint(doc: ClusterDoc) -> Any:
    """The fix line of "cannot reach the API": names api_cidrs, and says whether this
    machine's public address is inside them (looked up only when the hint is needed)."""
    cidrs = list(doc.spec.api_cidrs)

    def hint() -> str:
        allowed = ", ".join(cidrs) or "(none)"
        base = (
            f"The API accepts connections only from the cluster's api_cidrs ({allowed}). "
            f"Check the cluster is Running (`goman cluster get {doc.name}`)"
        )
        try:
            from goman.aws.checkip import public_cidr

            mine = ipaddress.ip_network(public_cidr(), strict=False)
        except Exception:  # the look-up is a courtesy: never let it hide the error
            return base + " and that this machine's address is inside them."
        inside = any(
            mine.version == net.version and mine.subnet_of(net)  # type: ignore[arg-type]
            for net in (ipaddress.ip_network(c, strict=False) for c in cidrs)
        )
        if inside:
            return base + f"; this machine's address {mine.network_address} is inside them."
        return (
            f"This machine's address {mine.network_address} is outside the cluster's api_cidrs "
            f"({allowed}), so the API cannot be reached from here. Run goman from an allowed "
            "address, or recreate the cluster with a matching --api-cidr."
        )

    return hint


def kube_client(
    store: StateStore,
    doc: ClusterDoc,
    *,
    connect: float = 5.0,
    read: float = 20.0,
) -> Any:
    """A KubeClient for the cluster's API as the caller (close it, or use `with`)."""
    from goman.kube.client import KubeClient, Timeouts

    config = admin_kubeconfig_for(store, doc, f"goman-{doc.name}")
    return KubeClient(
        config,
        timeouts=Timeouts(connect=connect, read=read),
        unreachable_hint=unreachable_hint(doc),
    )


@dataclass
class LiveNode:
    ready: bool
    version: str
    schedulable: bool
    pods: int


@dataclass
class LiveCluster:
    """What the cluster's API says now; `reachable` False with `error` when it cannot be
    asked (then `nodes` is empty)."""

    reachable: bool
    version: str | None = None
    nodes: dict[str, LiveNode] = field(default_factory=dict)
    error: str | None = None


def live_view(store: StateStore, doc: ClusterDoc, *, timeout: float = 5.0) -> LiveCluster:
    """Ask the cluster's API for its version, nodes and pods per node; never raises."""
    if not doc.status.endpoint:
        return LiveCluster(reachable=False, error="the cluster has no endpoint yet")
    if doc.status.phase in {"Stopping", "Stopped"}:
        # Not asked: its servers are (being) stopped, and a connect timeout helps nobody.
        return LiveCluster(reachable=False, error=f"the cluster is {doc.status.phase.lower()}")
    try:
        with kube_client(store, doc, connect=min(3.0, timeout), read=timeout) as kube:
            version = kube.version()
            nodes = kube.nodes()
            counts = kube.pod_counts()
    except GomanError as exc:
        return LiveCluster(reachable=False, error=f"{exc.message} {exc.hint}".strip())
    return LiveCluster(
        reachable=True,
        version=version,
        nodes={
            n.name: LiveNode(n.ready, n.kubelet_version, n.schedulable, counts.get(n.name, 0))
            for n in nodes
        },
    )
