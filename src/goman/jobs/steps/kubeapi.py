"""How a step reaches a cluster's Kubernetes API: the same client `goman cluster get` and
`cluster kubeconfig` use (`goman.clusters.access`), as the identity running the job."""

from __future__ import annotations

from typing import TYPE_CHECKING

from goman.jobs.steps.common import StepContext

if TYPE_CHECKING:
    from goman.kube.client import KubeClient


def kube_client(ctx: StepContext) -> KubeClient:
    from goman.clusters.access import kube_client as client

    found: KubeClient = client(ctx.store, ctx.cluster())
    return found
