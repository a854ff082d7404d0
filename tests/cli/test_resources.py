"""`goman resources`: every goman-tagged resource, orphans found and cleaned, gaps shown."""

from __future__ import annotations

from typing import Any

from tests.cli.cluster_helpers import goman_tagged, live_instances, tag

FIELDS = {"type", "id", "region", "cluster", "profile", "status"}


def _plant_orphan(ec2: Any) -> str:
    image = ec2.describe_images(Owners=["099720109477"])["Images"][0]["ImageId"]
    tags = [
        {"Key": "goman:cluster", "Value": "ghost"},
        {"Key": "goman:cluster-id", "Value": "0123456789abcdef01234567"},
        {"Key": "goman:profile", "Value": "default"},
        {"Key": "goman:node", "Value": "ghost-server-0"},
    ]
    made = ec2.run_instances(
        ImageId=image,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    return str(made["Instances"][0]["InstanceId"])


def test_orphans_are_reported_and_cleaned_and_owned_ones_kept(goman: Any, ec2: Any) -> None:
    assert goman("cluster", "create", "owned", "--timeout", "60s").exit_code == 0
    orphan = _plant_orphan(ec2)
    rows = goman("resources", "list", "-o", "json").json()
    assert all(set(r) == FIELDS for r in rows)
    by_id = {r["id"]: r for r in rows}
    assert by_id[orphan]["status"] == "orphaned" and by_id[orphan]["cluster"] == "ghost"
    owned = [r for r in rows if r["cluster"] == "owned"]
    assert {r["type"] for r in owned} >= {"instance", "security-group", "elastic-ip"}
    assert {r["status"] for r in owned} == {"ok"}

    refused = goman("resources", "cleanup", "--orphans", input="y\n")
    assert refused.exit_code == 2 and "--yes" in refused.stderr  # no terminal to ask on
    assert orphan in {i["InstanceId"] for i in live_instances(ec2)}
    cleaned = goman("resources", "cleanup", "--orphans", "--yes")
    assert cleaned.exit_code == 0, cleaned.output
    assert orphan not in {i["InstanceId"] for i in live_instances(ec2)}
    assert [tag(i, "goman:cluster") for i in live_instances(ec2)] == ["owned"]
    assert goman("resources", "cleanup", "--orphans", "--yes").exit_code == 0

    assert goman("cluster", "delete", "owned", "--yes").exit_code == 0
    assert goman_tagged(ec2) == []
    assert goman("resources", "list", "-o", "json").json() == []


def test_an_instance_removed_behind_goman_s_back_is_missing(goman: Any, ec2: Any) -> None:
    assert goman("cluster", "create", "hurt", "--timeout", "60s").exit_code == 0
    server = live_instances(ec2)[0]["InstanceId"]
    ec2.terminate_instances(InstanceIds=[server])
    rows = goman("resources", "list", "-o", "json").json()
    assert {"type": "instance", "id": server, "status": "missing"}.items() <= next(
        r for r in rows if r["id"] == server
    ).items()
    assert goman("cluster", "delete", "hurt", "--yes").exit_code == 0
    assert goman_tagged(ec2) == []


def test_resources_come_from_the_index_and_a_lagging_index_orphans_nothing(
    goman: Any, ec2: Any, s3: Any, sandbox: Any
) -> None:
    assert goman("cluster", "create", "kept", "--timeout", "60s").exit_code == 0
    for name in ("p1", "p2", "p3"):
        assert goman("cluster", "create", name, "--detach").exit_code == 0
    reads: list[str] = []

    def record(environ: dict[str, Any], start: Any) -> None:
        if environ["REQUEST_METHOD"] == "GET" and "/state/" in environ["PATH_INFO"]:
            reads.append(environ["PATH_INFO"].rsplit("/state/default/", 1)[-1])

    sandbox.app.hooks.append(record)
    try:
        rows = goman("resources", "list", "-o", "json").json()
    finally:
        sandbox.app.hooks.remove(record)
    assert {r["status"] for r in rows} == {"ok"} and len(rows) >= 4
    assert sorted(reads) == ["clusters/clusters.json", "config.json"]  # no state document

    # The index falls behind: gone altogether (a crash, a bad restore). Every resource is
    # then checked against its state document, and none is called orphaned.
    s3.delete_object(Bucket="goman-123456789012", Key="state/default/clusters/clusters.json")
    rows = goman("resources", "list", "-o", "json").json()
    assert {r["status"] for r in rows} == {"ok"}
    assert goman("resources", "cleanup", "--orphans", "--yes").exit_code == 0
    assert {tag(i, "goman:cluster") for i in live_instances(ec2)} == {"kept"}
    assert goman("cluster", "delete", "kept", "--yes").exit_code == 0
    assert goman_tagged(ec2) == []


def test_a_resource_tagged_only_in_part_is_an_orphan_and_cleaned_with_its_objects(
    goman: Any, ec2: Any, s3: Any
) -> None:
    image = ec2.describe_images(Owners=["099720109477"])["Images"][0]["ImageId"]
    made = ec2.run_instances(
        ImageId=image,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "goman:cluster", "Value": "ghost"},
                    {"Key": "goman:profile", "Value": "default"},
                ],
            }
        ],
    )
    ghost = str(made["Instances"][0]["InstanceId"])
    bucket, prefix = "goman-123456789012", "state/default/clusters/ghost/"
    assert goman("init").exit_code == 0
    for name in ("secrets/join-token", "nodes/ghost-server-0.json"):
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=b"old")
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=b"secret")  # two versions
    rows = goman("resources", "list", "-o", "json").json()
    assert {"id": ghost, "cluster": "ghost", "status": "orphaned"}.items() <= next(
        r for r in rows if r["id"] == ghost
    ).items()
    assert goman("resources", "cleanup", "--orphans", "--yes").exit_code == 0
    state = ec2.describe_instances(InstanceIds=[ghost])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] in {"shutting-down", "terminated"}
    left = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
    assert left.get("Versions", []) == [] and left.get("DeleteMarkers", []) == []
