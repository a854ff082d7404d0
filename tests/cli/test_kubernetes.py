"""goman speaks Kubernetes, against the sandbox's emulated API at each cluster's endpoint:
the kubeconfig goman builds (real kubectl, TLS verified), what a planted kubeconfig can
do (nothing), `cluster get`'s view from the API, and scale-down by cordon, drain, Node
deletion and termination (budgets honoured, --force, a worker killed mid-drain)."""

from __future__ import annotations

import base64
import json
import signal
from pathlib import Path
from typing import Any

import yaml

from goman.kube.client import KubeClient
from goman.kube.resources import ResourceKind
from goman.provision.pki import admin_kubeconfig, generate_cluster_cas
from goman.provision.userdata import read_user_data
from goman.sandbox.kubeapi.server import EmulatedCluster
from goman.sandbox.server import SandboxServer
from tests.cli.cluster_helpers import PREFIX, live_instances, nodes_control, tag
from tests.cli.kube_helpers import cluster_api
from tests.conftest import BUCKET
from tests.jobs.crash_helpers import popen_goman, read_job, resume_after_leases
from tests.kube.helpers import kubectl
from tests.provision.helpers import wait_for

ARN = "arn:aws:iam::123456789012:user/someone"


def _admin(api: EmulatedCluster) -> KubeClient:
    config = admin_kubeconfig(api.bundle, endpoint=api.endpoint, identity_arn=ARN, context="t")
    return KubeClient(config)


def _create(goman: Any, name: str, workers: int) -> None:
    done = goman("cluster", "create", name, "--workers", str(workers), "--timeout", "60s")
    assert done.exit_code == 0, done.output


def _pin(kube: KubeClient, node: str, *, budget: bool) -> None:
    """A one-pod Deployment on `node`, and (with `budget`) a PDB that forbids evicting it."""
    labels = {"app": "pinned"}
    manifests: list[dict[str, Any]] = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "pinned", "namespace": "default"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "nodeSelector": {"kubernetes.io/hostname": node},
                        "containers": [{"name": "c", "image": "busybox"}],
                    },
                },
            },
        }
    ]
    if budget:
        manifests.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": "pinned", "namespace": "default"},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": labels}},
            }
        )
    kube.apply(manifests)
    wait_for(
        lambda: any(p.name.startswith("pinned-") for p in kube.pods(node)),
        what="the pinned pod to run",
    )


def test_kubectl_through_the_merged_kubeconfig_with_tls_verified(
    goman: Any, sandbox: SandboxServer, s3: Any, tmp_path: Path, aws_env: dict[str, str]
) -> None:
    _create(goman, "web", 2)
    merged = goman("cluster", "kubeconfig", "web", "--merge")
    assert merged.exit_code == 0, merged.output
    home, config = tmp_path / "home", Path(aws_env["KUBECONFIG"])
    data = yaml.safe_load(config.read_text())
    (user,) = data["users"]
    assert set(user["user"]) == {"client-certificate-data", "client-key-data"}
    nodes = kubectl(home, config, "get", "nodes", "-o", "json")
    assert nodes.returncode == 0, nodes.stderr
    items = json.loads(nodes.stdout)["items"]
    ready = {
        n["metadata"]["name"]: next(
            c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready"
        )
        for n in items
    }
    assert ready == {"web-server-0": "True", "web-agent-0": "True", "web-agent-1": "True"}
    plain = kubectl(home, config, "get", "nodes")
    assert plain.returncode == 0 and plain.stdout.count(" Ready ") == 3, plain.stdout
    # The caller's identity is who the API saw.
    api = cluster_api(sandbox, goman, "web")
    assert any("123456789012" in entry.user for entry in api.state.audit)

    # A kubeconfig trusting another CA is refused by kubectl (TLS is really verified).
    other = admin_kubeconfig(
        generate_cluster_cas(), endpoint=api.endpoint, identity_arn=ARN, context="other"
    )
    other_file = tmp_path / "other.yaml"
    other_file.write_text(yaml.safe_dump(other))
    refused = kubectl(home, other_file, "get", "nodes")
    assert refused.returncode != 0
    assert "certificate" in refused.stderr and "authority" in refused.stderr

    # cluster get: readiness and versions from the API.
    got = goman("cluster", "get", "web", "-o", "json").json()
    assert got["kubernetes"] == {"reachable": True, "version": "v1.33.3+k3s1"}
    assert {n["name"]: n["kubernetes"] for n in got["nodes"]} == {
        name: {"ready": True, "version": "v1.33.3+k3s1", "schedulable": True}
        for name in ("web-server-0", "web-agent-0", "web-agent-1")
    }
    # ...and null per node when the API cannot be reached from here.
    api.stop()
    down = goman("cluster", "get", "web", "-o", "json").json()
    assert down["kubernetes"]["reachable"] is False and down["kubernetes"]["version"] is None
    assert "api_cidrs" in down["kubernetes"]["error"]
    assert all(n["kubernetes"] is None for n in down["nodes"])
    text = goman("cluster", "get", "web")
    assert "API not reachable from here" in text.stdout


HOSTILE_USERS: dict[str, dict[str, Any]] = {
    "exec": {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "touch"}},
    "token": {"token": "stolen"},
}


def _legacy(server: str, user: dict[str, Any], ca: str = "Q0E=") -> bytes:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "d", "cluster": {"server": server, "certificate-authority-data": ca}}
            ],
            "users": [{"name": "d", "user": user}],
            "contexts": [{"name": "d", "context": {"cluster": "d", "user": "d"}}],
            "current-context": "d",
        }
    ).encode()


def test_a_planted_kubeconfig_never_reaches_the_user(
    goman: Any, s3: Any, sandbox: SandboxServer, ec2: Any
) -> None:
    _create(goman, "web", 0)
    endpoint = goman("cluster", "get", "web", "-o", "json").json()["endpoint"]
    old_key = f"{PREFIX}clusters/web/kubeconfig.yaml"
    planted = _legacy(endpoint, HOSTILE_USERS["exec"])
    s3.put_object(Bucket=BUCKET, Key=old_key, Body=planted)
    # A cluster with a CA bundle: the object at the old key is never even read.
    built = goman("cluster", "kubeconfig", "web")
    assert built.exit_code == 0
    assert "exec" not in built.stdout and "touch" not in built.stdout

    # A cluster created before (no CA bundle): only a checked certificate kubeconfig passes.
    s3.delete_object(Bucket=BUCKET, Key=f"{PREFIX}clusters/web/secrets/ca-bundle.json")
    api = cluster_api(sandbox, goman, "web")
    for user in HOSTILE_USERS.values():
        s3.put_object(Bucket=BUCKET, Key=old_key, Body=_legacy(endpoint, user))
        refused = goman("cluster", "kubeconfig", "web", "--merge")
        assert refused.exit_code == 1 and "was refused" in refused.stderr
        assert "touch" not in refused.output and "stolen" not in refused.output
    issued = admin_kubeconfig(api.bundle, endpoint=endpoint, identity_arn=ARN, context="x")
    good_user = issued["users"][0]["user"]
    ca = issued["clusters"][0]["cluster"]["certificate-authority-data"]
    s3.put_object(Bucket=BUCKET, Key=old_key, Body=_legacy("https://127.0.0.1:1", good_user, ca))
    other_server = goman("cluster", "kubeconfig", "web")
    assert other_server.exit_code == 1 and "was refused" in other_server.stderr
    s3.put_object(Bucket=BUCKET, Key=old_key, Body=_legacy(endpoint, good_user, ca))
    accepted = goman("cluster", "kubeconfig", "web")
    assert accepted.exit_code == 0, accepted.output
    config = yaml.safe_load(accepted.stdout)
    assert config["clusters"][0]["cluster"]["server"] == endpoint
    assert base64.b64decode(config["users"][0]["user"]["client-key-data"])
    s3.delete_object(Bucket=BUCKET, Key=old_key)
    missing = goman("cluster", "kubeconfig", "web")
    assert missing.exit_code == 1 and "no kubeconfig" in missing.stderr

    # A cluster created before agents had their own token keeps joining them with its one.
    s3.delete_object(Bucket=BUCKET, Key=f"{PREFIX}clusters/web/secrets/agent-token")
    scaled = goman("cluster", "scale", "web", "--workers", "1")
    assert scaled.exit_code == 0, scaled.output
    agent = _user_data(ec2, "web-agent-0")
    assert "secrets/join-token" in agent["GOMAN_TOKEN_URL"]
    assert agent["GOMAN_AGENT_TOKEN_URL"] == ""


def test_a_retried_create_from_before_keeps_its_one_token_and_its_own_cas(
    goman: Any, s3: Any, sandbox: SandboxServer, ec2: Any
) -> None:
    nodes_control(sandbox, fail=["web-agent-1"])
    created = goman("cluster", "create", "web", "--workers", "2", "--timeout", "60s")
    assert created.exit_code == 1
    # As a goman from before agent tokens and its own CAs left it: neither object exists,
    # and the servers that run hold the one join token and CAs K3s made.
    secrets = f"{PREFIX}clusters/web/secrets/"
    for gone in ("agent-token", "ca-bundle.json"):
        s3.delete_object(Bucket=BUCKET, Key=secrets + gone)
    nodes_control(sandbox, fail=[])
    retried = goman("cluster", "retry", "web")
    assert retried.exit_code == 0, retried.output
    kept = s3.list_objects_v2(Bucket=BUCKET, Prefix=secrets).get("Contents", [])
    assert [o["Key"].removeprefix(secrets) for o in kept] == ["join-token"]
    agent = _user_data(ec2, "web-agent-1")
    assert "secrets/join-token" in agent["GOMAN_TOKEN_URL"]
    assert agent["GOMAN_AGENT_TOKEN_URL"] == ""


def _user_data(ec2: Any, node: str) -> dict[str, str]:
    """The GOMAN_* values of a node's user-data, as EC2 returns it."""
    (instance,) = [i for i in live_instances(ec2) if tag(i, "goman:node") == node]
    raw = ec2.describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="userData")
    values = read_user_data(base64.b64decode(raw["UserData"]["Value"]).decode())
    assert values is not None
    return values


def test_agents_get_only_the_agent_token_and_imds_stays_on_the_node(goman: Any, ec2: Any) -> None:
    _create(goman, "web", 1)
    server, agent = _user_data(ec2, "web-server-0"), _user_data(ec2, "web-agent-0")
    assert "secrets/join-token" in server["GOMAN_TOKEN_URL"]
    assert "secrets/agent-token" in server["GOMAN_AGENT_TOKEN_URL"]
    assert "secrets/ca-bundle.json" in server["GOMAN_CA_BUNDLE_URL"]
    assert "secrets/agent-token" in agent["GOMAN_TOKEN_URL"]
    assert not any("join-token" in v or "ca-bundle" in v for v in agent.values())
    for instance in live_instances(ec2):
        assert instance["MetadataOptions"]["HttpPutResponseHopLimit"] == 1


def _not_ready(kube: KubeClient) -> list[str]:
    return [n.name for n in kube.nodes() if not n.ready]


def test_scale_down_drains_deletes_nodes_and_honours_budgets(
    goman: Any, sandbox: SandboxServer, ec2: Any
) -> None:
    _create(goman, "web", 3)
    api = cluster_api(sandbox, goman, "web")
    with _admin(api) as kube:
        _pin(kube, "web-agent-2", budget=False)
        # Scale to 2: agent-2's pods are evicted (moved elsewhere), its Node deleted.
        down = goman("cluster", "scale", "web", "--workers", "2")
        assert down.exit_code == 0, down.output
        assert {n.name for n in kube.nodes()} == {"web-server-0", "web-agent-0", "web-agent-1"}
        evictions = [e.path for e in api.state.audit if e.path.endswith("/eviction")]
        assert any("/pods/pinned-" in p for p in evictions)
        assert not _not_ready(kube)

        # A budget that forbids the eviction holds the drain until --drain-timeout.
        _pin(kube, "web-agent-1", budget=True)
        held = goman("cluster", "scale", "web", "--workers", "1", "--drain-timeout", "1s")
        assert held.exit_code == 1
        assert "did not finish within 1 s" in held.stderr and "--force" in held.stderr
        agent1 = kube.node("web-agent-1")
        assert agent1 is not None and not agent1.schedulable  # cordoned, still there
        assert len(live_instances(ec2)) == 3  # not terminated
        # --force goes on: the node goes without its budget honoured.
        forced = goman("cluster", "retry", "web", "--force")
        assert forced.exit_code == 0, forced.output
        assert {n.name for n in kube.nodes()} == {"web-server-0", "web-agent-0"}
        assert not _not_ready(kube)
    got = goman("cluster", "get", "web", "-o", "json").json()
    assert (got["phase"], got["workers"], len(got["nodes"])) == ("Running", 1, 2)


def test_a_worker_killed_during_a_drain_is_resumed_without_double_work(
    goman: Any, goman_proc: Any, sandbox: SandboxServer, aws_env: dict[str, str], s3: Any
) -> None:
    assert goman("config", "set", "job_lease_seconds", "10").exit_code == 0
    _create(goman, "web", 2)
    api = cluster_api(sandbox, goman, "web")
    with _admin(api) as kube:
        _pin(kube, "web-agent-1", budget=True)
        queued = goman("cluster", "scale", "web", "--workers", "1", "--detach")
        job_id = queued.stdout.strip()
        worker = popen_goman(aws_env, "worker", "--once")
        try:
            # The drain is under way once the budget has refused an eviction.
            wait_for(
                lambda: any(
                    e.path.endswith("/eviction") and e.code == 429 for e in api.state.audit
                ),
                timeout=60,
                what="the drain to meet the budget",
            )
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        job = read_job(s3, job_id)
        steps = {s["name"]: s["status"] for s in job["steps"]}
        assert steps["cordon-agents"] == "done" and steps["drain-agents"] == "running"
        cordons = [e for e in api.state.audit if e.verb == "PATCH" and "/nodes/" in e.path]
        budget = ResourceKind("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets")
        assert kube.delete_object(budget, "pinned", namespace="default")
        resumed = resume_after_leases([job], goman_proc)
        assert resumed.exit_code == 0, resumed.output
        job = read_job(s3, job_id)
        assert job["status"] == "succeeded"
        # The resumed worker did not cordon again (drain's own cordon is a no-op PATCH at
        # most once) and the node is gone.
        again = [e for e in api.state.audit if e.verb == "PATCH" and "/nodes/" in e.path]
        assert len(again) - len(cordons) <= 1
        # ...and evicted no pod twice: each successful eviction names a different pod.
        evicted = [e.path for e in api.state.audit if e.path.endswith("/eviction") and e.code < 300]
        assert evicted and len(evicted) == len(set(evicted))
        assert any("/pods/pinned-" in p for p in evicted)
        assert {n.name for n in kube.nodes()} == {"web-server-0", "web-agent-0"}
        assert not _not_ready(kube)
