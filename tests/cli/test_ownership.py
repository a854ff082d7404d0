"""A profile acts only on its own resources, whatever its state documents say."""

from __future__ import annotations

from typing import Any

from tests.cli.cluster_helpers import PREFIX, live_instances, read_json
from tests.conftest import BUCKET


def _copy_into(s3: Any, name: str, profile: str) -> None:
    body = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}clusters/{name}.state.json")["Body"].read()
    doc = read_json(s3, BUCKET, f"{PREFIX}clusters/{name}.state.json")
    doc["status"]["job_id"] = None  # as a copy made while the cluster was idle
    import json

    body = json.dumps(doc).encode()
    s3.put_object(Bucket=BUCKET, Key=f"state/{profile}/clusters/{name}.state.json", Body=body)


def test_a_copied_document_cannot_delete_another_profile_s_cluster(
    goman: Any, s3: Any, ec2: Any
) -> None:
    assert goman("cluster", "create", "web", "--timeout", "60s").exit_code == 0
    doc = read_json(s3, BUCKET, f"{PREFIX}clusters/web.state.json")
    group, address = doc["status"]["security_group_id"], doc["status"]["eip_allocation_id"]
    instances = {i["InstanceId"] for i in live_instances(ec2, doc["cluster_id"])}
    assert instances and group and address
    _copy_into(s3, "web", "team-b")

    res = goman("--profile", "team-b", "cluster", "delete", "web", "--yes")
    assert res.exit_code == 1, res.output
    assert "belongs to profile 'default'" in res.stderr
    assert "Traceback" not in res.output
    # Nothing of profile default was touched.
    assert {i["InstanceId"] for i in live_instances(ec2, doc["cluster_id"])} == instances
    assert ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    got = ec2.describe_addresses(AllocationIds=[address])["Addresses"]
    assert got and got[0].get("InstanceId") in instances
    assert goman("cluster", "get", "web", "-o", "json").json()["phase"] == "Running"

    # The owner still deletes it.
    assert goman("cluster", "delete", "web", "--yes").exit_code == 0
    assert live_instances(ec2, doc["cluster_id"]) == []
