"""Deletion protection: a protected cluster survives `cluster delete --yes` and cleanup."""

from __future__ import annotations

from typing import Any

from tests.cli.cluster_helpers import PREFIX, live_instances, read_json
from tests.conftest import BUCKET


def _plant_unrecorded_instance(ec2: Any, cluster: str, cluster_id: str) -> str:
    image = ec2.describe_images(Owners=["099720109477"])["Images"][0]["ImageId"]
    tags = [
        {"Key": "goman:cluster", "Value": cluster},
        {"Key": "goman:cluster-id", "Value": cluster_id},
        {"Key": "goman:profile", "Value": "default"},
    ]
    made = ec2.run_instances(
        ImageId=image,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    return str(made["Instances"][0]["InstanceId"])


def test_a_protected_cluster_survives_delete_and_cleanup(goman: Any, s3: Any, ec2: Any) -> None:
    assert goman("cluster", "create", "web", "--protect", "--timeout", "60s").exit_code == 0
    assert goman("cluster", "get", "web", "-o", "json").json()["protected"] is True
    assert goman("cluster", "list", "-o", "json").json()[0]["protected"] is True
    doc = read_json(s3, BUCKET, f"{PREFIX}clusters/web.state.json")
    instances = {i["InstanceId"] for i in live_instances(ec2, doc["cluster_id"])}

    for args, given in ((("--yes",), None), ((), "web\n")):
        res = goman("cluster", "delete", "web", *args, input=given)
        assert res.exit_code == 1, res.output
        assert "protected" in res.stderr and "goman cluster unprotect web" in res.stderr
    after = read_json(s3, BUCKET, f"{PREFIX}clusters/web.state.json")
    assert after["status"]["phase"] == "Running" and after["status"]["job_id"] is None
    assert after["revision"] == doc["revision"]  # nothing written
    assert {i["InstanceId"] for i in live_instances(ec2, doc["cluster_id"])} == instances

    # An unrecorded instance of the protected cluster is an orphan, yet cleanup keeps it.
    stray = _plant_unrecorded_instance(ec2, "web", doc["cluster_id"])
    rows = goman("resources", "list", "-o", "json").json()
    assert next(r for r in rows if r["id"] == stray)["status"] == "orphaned"
    res = goman("resources", "cleanup", "--orphans", "--yes")
    assert res.exit_code == 1 and "goman cluster unprotect web" in res.stderr, res.output
    assert stray in {i["InstanceId"] for i in live_instances(ec2)}

    assert goman("cluster", "unprotect", "web").exit_code == 0
    assert goman("cluster", "get", "web", "-o", "json").json()["protected"] is False
    assert goman("cluster", "list", "-o", "json").json()[0]["protected"] is False
    assert goman("cluster", "protect", "web").exit_code == 0
    assert goman("cluster", "get", "web", "-o", "json").json()["protected"] is True
    assert goman("cluster", "unprotect", "web").exit_code == 0
    assert goman("cluster", "delete", "web", "--yes").exit_code == 0
    assert live_instances(ec2, doc["cluster_id"]) == []


def test_protecting_a_missing_cluster_says_so(goman: Any) -> None:
    res = goman("cluster", "protect", "nope")
    assert res.exit_code == 1 and "does not exist" in res.stderr
