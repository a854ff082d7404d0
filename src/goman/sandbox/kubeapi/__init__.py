"""A Kubernetes API emulator for the sandbox: one per emulated cluster, with real mutual TLS
from the cluster's PKI, enough for kubectl and for goman's kube/ package.

    from goman.sandbox.kubeapi.server import EmulatedCluster
    api = EmulatedCluster(bundle, host="127.0.0.5", port=6443).start()
    api.state.add_node("web-server-0", role="server", internal_ip="172.31.0.4")
    ...
    api.stop()

Modules: server (HTTPS, threads, start/stop), tls, api (REST semantics), messages
(requests, answers, Status errors), watch, kinds (types and discovery), openapi, store,
patch, selectors, tables (kubectl's server-side printing), policy (evictions,
PodDisruptionBudgets), cluster (the state the node emulator drives), controllers (workload
loops), k3s (K3s's packaged components), objects. What is emulated and what is not:
docs/kubernetes.md.
"""
