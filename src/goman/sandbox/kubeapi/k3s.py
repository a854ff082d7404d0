"""What a fresh K3s server deploys from its packaged manifests, as objects of the emulated
cluster: CoreDNS, local-path-provisioner, metrics-server and Traefik as Deployments, and
ServiceLB's `svclb-traefik` DaemonSet (one pod per node). The Helm install Jobs that put
Traefik in place are left out: their pods would only show as Completed."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
Key = tuple[str, str]

NS = "kube-system"


def _container(name: str, image: str, ports: tuple[int, ...] = ()) -> Obj:
    out: Obj = {"name": name, "image": image, "imagePullPolicy": "IfNotPresent"}
    if ports:
        out["ports"] = [{"containerPort": p, "protocol": "TCP"} for p in ports]
    return out


def _deployment(name: str, labels: dict[str, str], containers: list[Obj], **pod: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": dict(labels)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"containers": containers, **pod},
            },
        },
    }


def _service(
    name: str, selector: dict[str, str], ports: list[int], kind: str = "ClusterIP", ip: str = ""
) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "type": kind,
            "clusterIP": ip,
            "selector": dict(selector),
            "ports": [{"port": p, "protocol": "TCP"} for p in ports],
        },
    }


def k3s_components() -> list[tuple[Key, Obj]]:
    dns = {"k8s-app": "kube-dns"}
    local_path = {"app": "local-path-provisioner"}
    metrics = {"k8s-app": "metrics-server"}
    traefik = {
        "app.kubernetes.io/instance": "traefik-kube-system",
        "app.kubernetes.io/name": "traefik",
    }
    svclb = {"app": "svclb-traefik-6a1b2c3d", "svccontroller.k3s.cattle.io/svcname": "traefik"}
    deployments = [
        _deployment(
            "coredns",
            dns,
            [_container("coredns", "rancher/mirrored-coredns-coredns:1.12.1", (53, 9153))],
            priorityClassName="system-cluster-critical",
        ),
        _deployment(
            "local-path-provisioner",
            local_path,
            [_container("local-path-provisioner", "rancher/local-path-provisioner:v0.0.31")],
            priorityClassName="system-node-critical",
        ),
        _deployment(
            "metrics-server",
            metrics,
            [_container("metrics-server", "rancher/mirrored-metrics-server:v0.7.2", (10250,))],
            priorityClassName="system-node-critical",
            # An emptyDir: `kubectl drain` asks for --delete-emptydir-data, as on K3s.
            volumes=[{"name": "tmp-dir", "emptyDir": {}}],
        ),
        _deployment(
            "traefik",
            traefik,
            [_container("traefik", "rancher/mirrored-library-traefik:3.3.6", (8000, 8443))],
            priorityClassName="system-cluster-critical",
        ),
    ]
    daemonset = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "svclb-traefik-6a1b2c3d", "namespace": NS, "labels": dict(svclb)},
        "spec": {
            "selector": {"matchLabels": {"app": svclb["app"]}},
            "template": {
                "metadata": {"labels": dict(svclb)},
                "spec": {
                    "containers": [
                        _container("lb-tcp-80", "rancher/klipper-lb:v0.4.13", (80,)),
                        _container("lb-tcp-443", "rancher/klipper-lb:v0.4.13", (443,)),
                    ],
                    "priorityClassName": "system-node-critical",
                },
            },
        },
    }
    services = [
        _service("kube-dns", dns, [53, 9153], ip="10.43.0.10"),
        _service("metrics-server", metrics, [443], ip="10.43.0.20"),
        _service("traefik", traefik, [80, 443], kind="LoadBalancer", ip="10.43.0.30"),
    ]
    out: list[tuple[Key, Obj]] = [(("apps", "deployments"), d) for d in deployments]
    out.append((("apps", "daemonsets"), daemonset))
    out += [(("", "services"), s) for s in services]
    return out
