"""Helpers for cluster tests: what EC2 and S3 really hold, and the node emulator's knobs."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from goman.sandbox.server import SandboxServer

PREFIX = "state/default/"
TAG_ID = "goman:cluster-id"


def nodes_control(sandbox: SandboxServer, **body: Any) -> dict[str, Any]:
    """Change the node emulator (boot_delay, fail patterns) through its control route."""
    req = urllib.request.Request(
        f"{sandbox.endpoint}/goman-sandbox/nodes",
        method="POST",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        data: dict[str, Any] = json.loads(resp.read())
        return data


def live_instances(ec2: Any, cluster_id: str | None = None) -> list[dict[str, Any]]:
    filters = [
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}
    ]
    filters.append(
        {"Name": f"tag:{TAG_ID}", "Values": [cluster_id]}
        if cluster_id
        else {"Name": "tag-key", "Values": [TAG_ID]}
    )
    out = []
    for res in ec2.describe_instances(Filters=filters)["Reservations"]:
        out.extend(res["Instances"])
    return out


def tag(resource: dict[str, Any], key: str) -> str:
    return next((t["Value"] for t in resource.get("Tags", []) if t["Key"] == key), "")


def goman_tagged(ec2: Any) -> list[str]:
    """Every goman-tagged resource that still exists (terminated instances do not count)."""
    tagged = [{"Name": "tag-key", "Values": [TAG_ID]}]
    found = [i["InstanceId"] for i in live_instances(ec2)]
    found += [g["GroupId"] for g in ec2.describe_security_groups(Filters=tagged)["SecurityGroups"]]
    found += [a["AllocationId"] for a in ec2.describe_addresses(Filters=tagged)["Addresses"]]
    found += [v["VolumeId"] for v in ec2.describe_volumes(Filters=tagged)["Volumes"]]
    return found


def keys_under(s3: Any, bucket: str, prefix: str) -> list[str]:
    resp = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in resp.get("Contents", []))


def read_json(s3: Any, bucket: str, key: str) -> Any:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def create_ha(goman: Any, name: str, k3s_version: str) -> None:
    """A Running cluster of 3 servers and 2 agents on `k3s_version`, through the CLI."""
    made = goman(
        "cluster",
        "create",
        name,
        "--mode",
        "ha",
        "--workers",
        "2",
        "--k3s-version",
        k3s_version,
        "--timeout",
        "60s",
    )
    assert made.exit_code == 0, made.output
