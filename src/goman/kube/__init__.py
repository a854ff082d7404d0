"""goman's Kubernetes API client: the only code that talks to a cluster's API server.

Import it lazily (inside the function that needs it): it loads lightkube and httpx, which
`goman --help` and `cluster list` must never pay for.

    from goman.kube.client import KubeClient
    with KubeClient(kubeconfig, unreachable_hint=hint) as kube:
        kube.nodes(); kube.drain("web-agent-2", timeout=300)

Modules: client (connection, errors, the facade), nodes (nodes and pods), drain (cordon,
evictions, waiting), resources (manifests and custom resources), errors.
"""
