"""EC2 operations against the sandbox: what lands in EC2 is checked with a raw client."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from goman.aws.errors import GomanError
from goman.provision.ec2 import Ec2
from goman.provision.tags import (
    TAG_CLUSTER,
    TAG_CLUSTER_ID,
    TAG_NODE,
    TAG_PROFILE,
    TAG_ROLE,
    tag_dict,
    tags_for,
)
from tests.provision.helpers import CLUSTER, CLUSTER_ID, PROFILE, ec2_ops, launch_for

pytestmark = pytest.mark.usefixtures("aws_env")


@pytest.fixture
def ops(aws_env: dict[str, str]) -> Ec2:
    return ec2_ops()


def _group(ec2: Any, group_id: str) -> dict[str, Any]:
    return dict(ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0])


def _rules(group: dict[str, Any]) -> set[tuple[str, int, int, str]]:
    out = set()
    for perm in group["IpPermissions"]:
        proto = perm["IpProtocol"]
        lo, hi = perm.get("FromPort", -1), perm.get("ToPort", -1)
        for pair in perm.get("UserIdGroupPairs", []):
            out.add((proto, lo, hi, pair["GroupId"]))
        for rng in perm.get("IpRanges", []):
            out.add((proto, lo, hi, rng["CidrIp"]))
        for rng in perm.get("Ipv6Ranges", []):
            out.add((proto, lo, hi, rng["CidrIpv6"]))
    return out


def _instances(ec2: Any, **filters: list[str]) -> list[dict[str, Any]]:
    flt = [{"Name": k.replace("_", "-"), "Values": v} for k, v in filters.items()]
    pages = ec2.get_paginator("describe_instances").paginate(Filters=flt)
    return [i for p in pages for r in p["Reservations"] for i in r["Instances"]]


# -- images and network ------------------------------------------------------------------


def test_architecture_follows_the_instance_type(ops: Ec2) -> None:
    assert ops.arch_of("t3.medium") == "x86_64"
    assert ops.arch_of("t4g.medium") == "arm64"


def test_newest_ubuntu_lts_image_for_the_architecture(ops: Ec2) -> None:
    amd = ops.find_ami("t3.medium")
    arm = ops.find_ami("m7g.large")
    assert amd.arch == "x86_64" and "ubuntu-noble-24.04-amd64-server-" in amd.name
    assert arm.arch == "arm64" and "ubuntu-noble-24.04-arm64-server-" in arm.name
    # the sandbox holds two amd64 noble images: the newer one wins
    assert amd.name.endswith("20251112")
    assert amd.root_device_name.startswith("/dev/")


def test_unknown_instance_type_is_a_clear_error(ops: Ec2) -> None:
    with pytest.raises(GomanError) as err:
        ops.find_ami("q9.colossal")
    assert "q9.colossal" in err.value.message
    assert "--instance-type" in err.value.hint


def test_no_image_is_a_clear_error(ops: Ec2, ec2: Any) -> None:
    for image in ec2.describe_images(Owners=["099720109477"])["Images"]:
        if image.get("Architecture") == "arm64":
            ec2.deregister_image(ImageId=image["ImageId"])
    with pytest.raises(GomanError) as err:
        ops.find_ami("t4g.small")
    assert "No Ubuntu noble-24.04 arm64 image" in err.value.message


def test_default_subnets_sorted_by_zone(ops: Ec2, ec2: Any) -> None:
    subnets = ops.default_subnets()
    assert [s.az for s in subnets] == sorted(s.az for s in subnets)
    assert len({s.az for s in subnets}) == len(subnets) >= 3
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]
    assert {s.vpc_id for s in subnets} == {vpc["VpcId"]}


def test_missing_default_vpc_says_how_to_create_one(ec2: Any) -> None:
    ops = Ec2(ec2_ops().ctx, "eu-west-3")
    raw = ops.client
    vpc = raw.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]
    for subnet in raw.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])[
        "Subnets"
    ]:
        raw.delete_subnet(SubnetId=subnet["SubnetId"])
    for igw in raw.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}]
    )["InternetGateways"]:
        raw.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc["VpcId"])
        raw.delete_internet_gateway(InternetGatewayId=igw["InternetGatewayId"])
    raw.delete_vpc(VpcId=vpc["VpcId"])
    with pytest.raises(GomanError) as err:
        ops.default_subnets()
    assert "no default VPC" in err.value.message
    assert "create-default-vpc --region eu-west-3" in err.value.hint


# -- security group ----------------------------------------------------------------------


def test_security_group_rules_and_tags(ops: Ec2, ec2: Any) -> None:
    vpc = ops.default_subnets()[0].vpc_id
    group_id = ops.ensure_security_group(
        cluster=CLUSTER,
        cluster_id=CLUSTER_ID,
        profile=PROFILE,
        vpc_id=vpc,
        api_cidrs=["203.0.113.0/24", "2001:db8::/32"],
    )
    group = _group(ec2, group_id)
    assert group["GroupName"] == f"goman-{PROFILE}-{CLUSTER}-{CLUSTER_ID[:8]}"
    tags = tag_dict(group["Tags"])
    assert tags[TAG_CLUSTER_ID] == CLUSTER_ID and tags[TAG_CLUSTER] == CLUSTER
    assert tags[TAG_PROFILE] == PROFILE
    assert _rules(group) == {
        ("-1", -1, -1, group_id),
        ("tcp", 6443, 6443, "203.0.113.0/24"),
        ("tcp", 6443, 6443, "2001:db8::/32"),
    }


def test_security_group_is_idempotent_and_follows_cidr_changes(ops: Ec2, ec2: Any) -> None:
    vpc = ops.default_subnets()[0].vpc_id
    kwargs: dict[str, Any] = {
        "cluster": CLUSTER,
        "cluster_id": CLUSTER_ID,
        "profile": PROFILE,
        "vpc_id": vpc,
    }
    first = ops.ensure_security_group(**kwargs, api_cidrs=["0.0.0.0/0"])
    # Someone opened SSH by hand: goman's group gets back to exactly goman's rules.
    ec2.authorize_security_group_ingress(
        GroupId=first,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    second = ops.ensure_security_group(**kwargs, api_cidrs=["10.1.0.0/16"])
    assert second == first
    assert _rules(_group(ec2, first)) == {("-1", -1, -1, first), ("tcp", 6443, 6443, "10.1.0.0/16")}
    groups = ec2.describe_security_groups(
        Filters=[{"Name": f"tag:{TAG_CLUSTER_ID}", "Values": [CLUSTER_ID]}]
    )["SecurityGroups"]
    assert len(groups) == 1


def test_security_group_created_untagged_is_adopted_by_name(ops: Ec2, ec2: Any) -> None:
    """A create whose tags are not visible yet (or lost) must not make a second group."""
    vpc = ops.default_subnets()[0].vpc_id
    name = f"goman-{PROFILE}-{CLUSTER}-{CLUSTER_ID[:8]}"
    made = ec2.create_security_group(GroupName=name, Description="x", VpcId=vpc)["GroupId"]
    got = ops.ensure_security_group(
        cluster=CLUSTER, cluster_id=CLUSTER_ID, profile=PROFILE, vpc_id=vpc, api_cidrs=["0.0.0.0/0"]
    )
    assert got == made
    assert ("tcp", 6443, 6443, "0.0.0.0/0") in _rules(_group(ec2, made))


def test_delete_security_group_waits_for_dependencies(ops: Ec2, ec2: Any) -> None:
    info = ops.run_node(launch_for(ops, "web-agent-0"))
    group_id = launch_for(ops, "web-agent-0").security_group_id
    with pytest.raises(GomanError) as err:
        ops.delete_security_group(group_id, timeout=0.3)
    assert "still in use" in err.value.message
    ops.terminate([info.instance_id])
    ops.wait_terminated([info.instance_id], timeout=10)
    ops.delete_security_group(group_id, timeout=10)
    ops.delete_security_group(group_id, timeout=10)  # gone already: fine
    assert not ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [group_id]}])[
        "SecurityGroups"
    ]


# -- instances ---------------------------------------------------------------------------


def test_run_node_launches_a_hardened_tagged_instance(ops: Ec2, ec2: Any) -> None:
    launch = launch_for(ops, "web-server-0", role="server", user_data="#!/bin/bash\necho hi\n")
    info = ops.run_node(launch)
    assert info.private_ip and info.node == "web-server-0" and info.role == "server"
    raw = _instances(ec2, instance_id=[info.instance_id])[0]
    tags = tag_dict(raw["Tags"])
    assert tags[TAG_NODE] == "web-server-0" and tags[TAG_ROLE] == "server"
    assert tags["Name"] == "web-server-0"
    assert raw["MetadataOptions"]["HttpTokens"] == "required"
    assert raw["MetadataOptions"]["HttpEndpoint"] == "enabled"
    assert raw["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    assert raw["InstanceType"] == "t3.medium"
    assert raw["SubnetId"] == launch.subnet_id
    assert [g["GroupId"] for g in raw["SecurityGroups"]] == [launch.security_group_id]
    assert raw["ImageId"] == launch.ami_id
    volumes = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [info.instance_id]}]
    )["Volumes"]
    assert len(volumes) == 1
    vol = volumes[0]
    assert (vol["Encrypted"], vol["VolumeType"], vol["Size"]) == (True, "gp3", 30)
    assert tag_dict(vol["Tags"])[TAG_CLUSTER_ID] == CLUSTER_ID
    user_data = ec2.describe_instance_attribute(InstanceId=info.instance_id, Attribute="userData")
    assert base64.b64decode(user_data["UserData"]["Value"]).decode() == launch.user_data


def test_run_node_twice_never_duplicates(ops: Ec2, ec2: Any) -> None:
    launch = launch_for(ops, "web-agent-1", index=1)
    first = ops.run_node(launch)
    again = ops.run_node(launch)
    assert again.instance_id == first.instance_id
    alive = [
        i
        for i in _instances(ec2, instance_state_name=["pending", "running"])
        if tag_dict(i.get("Tags"))[TAG_NODE] == "web-agent-1"
    ]
    assert [i["InstanceId"] for i in alive] == [first.instance_id]


def test_run_node_replaces_a_terminated_node(ops: Ec2) -> None:
    launch = launch_for(ops, "web-agent-2", index=2)
    first = ops.run_node(launch)
    ops.terminate([first.instance_id])
    ops.wait_terminated([first.instance_id], timeout=10)
    replacement = ops.run_node(launch_for(ops, "web-agent-2", index=2))
    assert replacement.instance_id != first.instance_id


def test_oversized_user_data_is_refused(ops: Ec2, ec2: Any) -> None:
    launch = launch_for(ops, "web-agent-0", user_data="#!/bin/bash\n" + "#" * 17000)
    with pytest.raises(GomanError) as err:
        ops.run_node(launch)
    assert "16 KB" in err.value.message
    assert not _instances(ec2, instance_state_name=["pending", "running"])


def test_cluster_instances_terminate_and_wait(ops: Ec2) -> None:
    a = ops.run_node(launch_for(ops, "web-agent-0"))
    b = ops.run_node(launch_for(ops, "web-agent-1", index=1))
    other = ops.run_node(launch_for(ops, "other-agent-0", cluster_id="another-cluster-id"))
    listed = ops.cluster_instances(CLUSTER_ID)
    assert [i.node for i in listed] == ["web-agent-0", "web-agent-1"]
    assert {i.instance_id for i in listed} == {a.instance_id, b.instance_id}
    # an unknown id among them must not stop the others from terminating
    ops.terminate([a.instance_id, b.instance_id, "i-0123456789abcdef0"])
    ops.wait_terminated([a.instance_id, b.instance_id], timeout=10)
    assert ops.cluster_instances(CLUSTER_ID) == []
    assert [i.instance_id for i in ops.cluster_instances("another-cluster-id")] == [
        other.instance_id
    ]
    ops.terminate([])


def test_wait_terminated_times_out_with_a_clear_error(ops: Ec2) -> None:
    info = ops.run_node(launch_for(ops, "web-agent-0"))
    with pytest.raises(GomanError) as err:
        ops.wait_terminated([info.instance_id], timeout=0.1)
    assert info.instance_id in err.value.message


def test_launch_errors_say_what_goman_was_doing(ops: Ec2) -> None:
    launch = launch_for(ops, "web-agent-0")
    broken = type(launch)(**{**launch.__dict__, "subnet_id": "subnet-0000000000000000f"})
    with pytest.raises(GomanError) as err:
        ops.run_node(broken)
    assert "launch node web-agent-0" in err.value.message
    assert "\n" not in err.value.message


# -- Elastic IP --------------------------------------------------------------------------


def test_eip_is_found_by_tags_associated_and_released(ops: Ec2, ec2: Any) -> None:
    alloc, ip = ops.ensure_eip(cluster=CLUSTER, cluster_id=CLUSTER_ID, profile=PROFILE)
    assert ops.ensure_eip(cluster=CLUSTER, cluster_id=CLUSTER_ID, profile=PROFILE) == (alloc, ip)
    addresses = ec2.describe_addresses()["Addresses"]
    assert len(addresses) == 1 and tag_dict(addresses[0]["Tags"])[TAG_CLUSTER_ID] == CLUSTER_ID
    info = ops.run_node(launch_for(ops, "web-server-0", role="server"))
    ops.associate_eip(alloc, info.instance_id)
    ops.associate_eip(alloc, info.instance_id)
    address = ec2.describe_addresses(AllocationIds=[alloc])["Addresses"][0]
    assert address["InstanceId"] == info.instance_id
    # the sandbox (like moto) keeps a dead instance's association: release copes
    ops.terminate([info.instance_id])
    ops.release_eip(alloc)
    ops.release_eip(alloc)
    assert ec2.describe_addresses()["Addresses"] == []


# -- inventory ---------------------------------------------------------------------------


def test_find_tagged_lists_every_kind_and_filters_by_profile(ops: Ec2, ec2: Any) -> None:
    ops.run_node(launch_for(ops, "web-agent-0"))
    alloc, _ = ops.ensure_eip(cluster=CLUSTER, cluster_id=CLUSTER_ID, profile=PROFILE)
    other = ec2.allocate_address(
        Domain="vpc",
        TagSpecifications=[
            {"ResourceType": "elastic-ip", "Tags": tags_for("x", "other-id", "team-b")}
        ],
    )["AllocationId"]
    ec2.allocate_address(Domain="vpc")  # not goman's
    found = ops.find_tagged()
    kinds = {r.type for r in found}
    assert kinds == {"instance", "security-group", "elastic-ip", "volume"}
    assert {r.id for r in found if r.type == "elastic-ip"} == {alloc, other}
    mine = ops.find_tagged(PROFILE)
    assert other not in {r.id for r in mine}
    assert all(r.profile == PROFILE and r.cluster_id == CLUSTER_ID for r in mine)
    assert all(r.region == "ap-south-1" for r in mine)
    instance = next(r for r in mine if r.type == "instance")
    assert instance.state in {"pending", "running"} and instance.cluster == CLUSTER
