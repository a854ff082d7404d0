"""EC2 for one region: AMIs, network, the cluster's security group, instances, Elastic IPs.

Every method is idempotent: resources are found by their goman tags before anything is
created, RunInstances carries a ClientToken, and "already there" / "already gone" answers
count as success. Only the EC2 actions of the README's IAM policy are used.
Nothing here waits for a node to boot: readiness comes from the nodes' own reports.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from goman.aws.errors import GomanError, error_code, map_error
from goman.aws.parallel import together
from goman.aws.session import AwsContext
from goman.provision.ownership import Owner, TagMemory
from goman.provision.ownership import check as check_owner
from goman.provision.tags import (
    GOMAN_TAG_KEYS,
    TAG_CLUSTER,
    TAG_CLUSTER_ID,
    TAG_NODE,
    TAG_PROFILE,
    TAG_ROLE,
    tag_dict,
    tags_for,
)

T = TypeVar("T")

CANONICAL_OWNER = "099720109477"
UBUNTU_RELEASE = "noble-24.04"
ROOT_VOLUME_GIB = 30
API_PORT = 6443
USER_DATA_LIMIT = 16 * 1024

# "Non-terminated": everything that still exists and may still cost money.
LIVE_STATES = ["pending", "running", "shutting-down", "stopping", "stopped"]
# States in which an instance can still become (or is) the node it was launched as.
USABLE_STATES = ["pending", "running", "stopping", "stopped"]

# Right after a create, other EC2 calls may not see the new resource for a few seconds
# (eventual consistency): these codes are retried briefly instead of failing the step.
_NOT_YET_VISIBLE = {
    "InvalidGroup.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidAMIID.NotFound",
    "InvalidInstanceID.NotFound",
    "InvalidAllocationID.NotFound",
    "IncorrectInstanceState",
}

_ARCH_CACHE: dict[tuple[str, str], str] = {}
_ARCH_LOCK = threading.Lock()


@dataclass(frozen=True)
class Ami:
    id: str
    name: str
    arch: str  # x86_64 | arm64
    root_device_name: str = "/dev/sda1"
    creation_date: str = ""


@dataclass(frozen=True)
class Subnet:
    id: str
    az: str
    vpc_id: str


@dataclass(frozen=True)
class InstanceInfo:
    instance_id: str
    node: str
    role: str
    state: str  # EC2 state: pending | running | shutting-down | stopping | stopped | terminated
    private_ip: str | None
    public_ip: str | None
    az: str
    instance_type: str
    launch_time: datetime | None


@dataclass(frozen=True)
class NodeLaunch:
    node: str  # e.g. web-server-0
    role: str  # server | agent
    index: int
    instance_type: str
    ami_id: str
    subnet_id: str
    security_group_id: str
    user_data: str
    tags: list[dict[str, str]]
    client_token: str  # deterministic per (cluster, node, attempt): a retry never duplicates


@dataclass(frozen=True)
class TaggedResource:
    type: str  # instance | security-group | elastic-ip | volume
    id: str
    region: str
    cluster: str
    cluster_id: str
    profile: str
    state: str


def _instance_info(raw: dict[str, Any]) -> InstanceInfo:
    tags = tag_dict(raw.get("Tags"))
    return InstanceInfo(
        instance_id=str(raw["InstanceId"]),
        node=tags.get(TAG_NODE, ""),
        role=tags.get(TAG_ROLE, ""),
        state=str(raw.get("State", {}).get("Name", "pending")),
        private_ip=raw.get("PrivateIpAddress") or None,
        public_ip=raw.get("PublicIpAddress") or None,
        az=str(raw.get("Placement", {}).get("AvailabilityZone", "")),
        instance_type=str(raw.get("InstanceType", "")),
        launch_time=raw.get("LaunchTime"),
    )


def _backoff(start: float = 0.25, cap: float = 5.0) -> Iterator[float]:
    delay = start
    while True:
        yield delay
        delay = min(cap, delay * 2)


class _Duplicate(Exception):
    """A rule to add exists already (not an error for an idempotent step)."""


class Ec2:
    """goman's EC2 operations in one region, on the context's cached client."""

    def __init__(self, ctx: AwsContext, region: str, owner: Owner | None = None) -> None:
        self.ctx = ctx
        self.region = region
        # With an owner, every change to an existing resource first checks its tags.
        self.owner = owner
        self.memory = TagMemory()
        self._root_devices: dict[str, str] = {}
        # Tests and benchmarks shorten this; real AWS needs a few seconds at most.
        self.consistency_wait: float = 15.0

    @property
    def client(self) -> Any:
        return self.ctx.client("ec2", self.region)

    def _fail(self, exc: BaseException, what: str) -> GomanError:
        return map_error(exc, profile=self.ctx.profile, what=f"{what} in {self.region}")

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except GomanError:
            raise
        except Exception as exc:
            raise self._fail(exc, what) from exc

    def _call_settling(self, what: str, fn: Callable[[], T], timeout: float | None = None) -> T:
        """Like _call, but retry briefly while a just-created resource is not yet visible."""
        deadline = time.monotonic() + (self.consistency_wait if timeout is None else timeout)
        for delay in _backoff():
            try:
                return fn()
            except (GomanError, _Duplicate):
                raise
            except Exception as exc:
                if error_code(exc) not in _NOT_YET_VISIBLE or time.monotonic() + delay > deadline:
                    raise self._fail(exc, what) from exc
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _pages(self, operation: str, what: str, **kwargs: Any) -> list[dict[str, Any]]:
        def run() -> list[dict[str, Any]]:
            return list(self.client.get_paginator(operation).paginate(**kwargs))

        return self._call(what, run)

    # -- ownership ----------------------------------------------------------------------

    def _remember(self, rid: Any, tags: list[dict[str, str]] | None) -> None:
        self.memory.remember(str(rid), tag_dict(tags))

    def _look_up_tags(self, kind: str, ids: list[str]) -> None:
        """Learn the tags of resources no look-up has returned yet (one request); ids
        that no longer exist stay unknown."""
        if kind == "instance":
            self._describe_instances(
                [
                    {"Name": "instance-id", "Values": ids},
                    {"Name": "instance-state-name", "Values": LIVE_STATES},
                ],
                "look up instances before changing them",
            )
        elif kind == "security group":
            for page in self._pages(
                "describe_security_groups",
                "look up security groups before changing them",
                Filters=[{"Name": "group-id", "Values": ids}],
            ):
                for g in page.get("SecurityGroups", []):
                    self._remember(g["GroupId"], g.get("Tags"))
        elif kind == "Elastic IP":
            self._addresses(Filters=[{"Name": "allocation-id", "Values": ids}])
        elif kind == "volume":
            for page in self._pages(
                "describe_volumes",
                "look up volumes before changing them",
                Filters=[{"Name": "volume-id", "Values": ids}],
            ):
                for v in page.get("Volumes", []):
                    self._remember(v["VolumeId"], v.get("Tags"))

    def owned(self, kind: str, ids: Iterable[str]) -> list[str]:
        """The ids that still exist, once each is known to be the owner's (tags from the
        look-ups already made; the rest looked up together). Raises NotOwnedError."""
        wanted = sorted(set(ids))
        if self.owner is None or not wanted:
            return wanted
        unknown = [i for i in wanted if self.memory.get(i) is None]
        if unknown:
            self._look_up_tags(kind, unknown)
        out = []
        for rid in wanted:
            tags = self.memory.get(rid)
            if tags is None:
                continue  # gone: nothing to change
            check_owner(self.owner, kind, rid, tags)
            out.append(rid)
        return out

    # -- images and network -------------------------------------------------------------

    def arch_of(self, instance_type: str) -> str:
        """x86_64 or arm64 for an instance type (cached per process)."""
        key = (self.region, instance_type)
        with _ARCH_LOCK:
            if key in _ARCH_CACHE:
                return _ARCH_CACHE[key]
        try:
            resp = self.client.describe_instance_types(InstanceTypes=[instance_type])
        except Exception as exc:
            if error_code(exc).startswith("InvalidInstanceType"):
                raise GomanError(
                    f"Instance type {instance_type!r} does not exist in {self.region}.",
                    "Pick another with --instance-type (e.g. t3.medium, or t4g.medium for arm64); "
                    f"`aws ec2 describe-instance-type-offerings --region {self.region}` lists them.",
                ) from exc
            raise self._fail(exc, f"look up instance type {instance_type}") from exc
        types = resp.get("InstanceTypes", [])
        if not types:
            raise GomanError(
                f"Instance type {instance_type!r} is not offered in {self.region}.",
                "Pick another with --instance-type, or another region with --region.",
            )
        archs = types[0].get("ProcessorInfo", {}).get("SupportedArchitectures", [])
        if "x86_64" in archs:
            arch = "x86_64"
        elif "arm64" in archs:
            arch = "arm64"
        else:
            raise GomanError(
                f"Instance type {instance_type!r} supports {archs}, not x86_64 or arm64.",
                "Pick a current-generation type such as t3.medium or t4g.medium.",
            )
        with _ARCH_LOCK:
            _ARCH_CACHE[key] = arch
        return arch

    def find_ami(self, instance_type: str) -> Ami:
        """The newest Canonical Ubuntu 24.04 LTS server image for the type's architecture."""
        arch = self.arch_of(instance_type)
        deb_arch = "arm64" if arch == "arm64" else "amd64"
        pattern = f"ubuntu/images/hvm-ssd*/ubuntu-{UBUNTU_RELEASE}-{deb_arch}-server-*"
        resp = self._call(
            f"find the Ubuntu {UBUNTU_RELEASE} image",
            lambda: self.client.describe_images(
                Owners=[CANONICAL_OWNER],
                Filters=[
                    {"Name": "name", "Values": [pattern]},
                    {"Name": "architecture", "Values": [arch]},
                    {"Name": "state", "Values": ["available"]},
                ],
            ),
        )
        images = resp.get("Images", [])
        if not images:
            raise GomanError(
                f"No Ubuntu {UBUNTU_RELEASE} {deb_arch} image from Canonical was found in "
                f"{self.region}.",
                "Check the region is enabled for your account, or pick another with --region.",
            )
        best = max(images, key=lambda i: (str(i.get("CreationDate", "")), str(i["ImageId"])))
        ami = Ami(
            id=str(best["ImageId"]),
            name=str(best.get("Name", "")),
            arch=arch,
            root_device_name=str(best.get("RootDeviceName") or "/dev/sda1"),
            creation_date=str(best.get("CreationDate", "")),
        )
        self._root_devices[ami.id] = ami.root_device_name
        return ami

    def _root_device(self, ami_id: str) -> str:
        if ami_id not in self._root_devices:
            resp = self._call(
                f"look up image {ami_id}",
                lambda: self.client.describe_images(ImageIds=[ami_id]),
            )
            images = resp.get("Images", [])
            if not images:
                raise GomanError(
                    f"Image {ami_id} does not exist in {self.region}.",
                    "It may have been deregistered; retry the job so a current image is found.",
                )
            self._root_devices[ami_id] = str(images[0].get("RootDeviceName") or "/dev/sda1")
        return self._root_devices[ami_id]

    def default_subnets(self) -> list[Subnet]:
        """The default VPC's default-for-AZ subnets, sorted by availability zone.

        Only the default VPC has default-for-AZ subnets, so one look-up finds both; the
        VPC is looked up on its own only to say what is missing."""
        subnets = self._call(
            "list the default subnets",
            lambda: self.client.describe_subnets(
                Filters=[{"Name": "default-for-az", "Values": ["true"]}]
            ),
        ).get("Subnets", [])
        if not subnets:
            vpcs = self._call(
                "find the default VPC",
                lambda: self.client.describe_vpcs(
                    Filters=[{"Name": "isDefault", "Values": ["true"]}]
                ),
            ).get("Vpcs", [])
            if not vpcs:
                raise GomanError(
                    f"Region {self.region} has no default VPC, which goman launches nodes into.",
                    f"Create one with `aws ec2 create-default-vpc --region {self.region}`, "
                    "or pick another region with --region.",
                )
            vpc_id = str(vpcs[0]["VpcId"])
            raise GomanError(
                f"The default VPC {vpc_id} in {self.region} has no default subnets.",
                f"Create them with `aws ec2 create-default-subnet --availability-zone <az> "
                f"--region {self.region}`.",
            )
        vpc_id = str(subnets[0]["VpcId"])
        found = [
            Subnet(id=str(s["SubnetId"]), az=str(s["AvailabilityZone"]), vpc_id=vpc_id)
            for s in subnets
            if str(s.get("VpcId")) == vpc_id
        ]
        return sorted(found, key=lambda s: (s.az, s.id))

    # -- security group -----------------------------------------------------------------

    def _find_group(self, filters: list[dict[str, Any]]) -> dict[str, Any] | None:
        pages = self._pages(
            "describe_security_groups", "look up the cluster's security group", Filters=filters
        )
        groups = [g for page in pages for g in page.get("SecurityGroups", [])]
        for g in groups:
            self._remember(g["GroupId"], g.get("Tags"))
        return min(groups, key=lambda g: str(g["GroupId"])) if groups else None

    def ensure_security_group(
        self,
        *,
        cluster: str,
        cluster_id: str,
        profile: str,
        vpc_id: str,
        api_cidrs: list[str],
        found: Callable[[str], object] | None = None,
    ) -> str:
        """The cluster's security group, created if missing, with exactly goman's rules:
        all traffic from the group itself, tcp/6443 from each API CIDR, nothing else.
        `found(group_id)` runs while the rules are put in place (to record the id)."""
        group = self._find_group(
            [
                {"Name": f"tag:{TAG_CLUSTER_ID}", "Values": [cluster_id]},
                {"Name": "vpc-id", "Values": [vpc_id]},
            ]
        )
        if group is None:
            name = f"goman-{profile}-{cluster}-{cluster_id[:8]}"
            try:
                resp = self.client.create_security_group(
                    GroupName=name,
                    Description=f"goman cluster {cluster} ({profile}): nodes and the K3s API",
                    VpcId=vpc_id,
                    TagSpecifications=[
                        {
                            "ResourceType": "security-group",
                            "Tags": tags_for(cluster, cluster_id, profile, name=name),
                        }
                    ],
                )
                group_id = str(resp["GroupId"])
            except Exception as exc:
                if error_code(exc) != "InvalidGroup.Duplicate":
                    raise self._fail(exc, f"create security group {name}") from exc
                # Created by an earlier attempt whose tags we cannot see yet, or by a race.
                group = self._find_group(
                    [
                        {"Name": "group-name", "Values": [name]},
                        {"Name": "vpc-id", "Values": [vpc_id]},
                    ]
                )
                if group is None:
                    raise self._fail(exc, f"create security group {name}") from exc
                group_id = str(group["GroupId"])
        else:
            group_id = str(group["GroupId"])
        if group is not None:
            self.owned("security group", [group_id])
        current = group.get("IpPermissions", []) if group is not None else []
        if found is None:
            self._sync_rules(group_id, current, api_cidrs)
        else:
            together(
                lambda: found(group_id), lambda: self._sync_rules(group_id, current, api_cidrs)
            )
        return group_id

    def _sync_rules(
        self, group_id: str, current: list[dict[str, Any]], api_cidrs: list[str]
    ) -> None:
        want = _desired_rules(group_id, api_cidrs)
        have = set(_flatten_rules(current))
        missing = [r for r in want if r not in have]
        extra = [r for r in have if r not in set(want)]
        if missing:
            self._authorize(group_id, [_rule_permission(r) for r in missing])
        for rule in extra:
            try:
                self.client.revoke_security_group_ingress(
                    GroupId=group_id, IpPermissions=[_rule_permission(rule)]
                )
            except Exception as exc:
                if error_code(exc) != "InvalidPermission.NotFound":
                    raise self._fail(
                        exc, f"remove an outdated rule from security group {group_id}"
                    ) from exc

    def _authorize(self, group_id: str, perms: list[dict[str, Any]]) -> None:
        what = f"allow node and API traffic in security group {group_id}"
        try:
            self._call_settling(
                what,
                lambda: self._authorize_raw(group_id, perms),
            )
        except _Duplicate:
            # Some rules exist already (an earlier or concurrent attempt): add one at a time.
            for perm in perms:
                with contextlib.suppress(_Duplicate):
                    self._call_settling(
                        what, functools.partial(self._authorize_raw, group_id, [perm])
                    )

    def _authorize_raw(self, group_id: str, perms: list[dict[str, Any]]) -> None:
        try:
            self.client.authorize_security_group_ingress(GroupId=group_id, IpPermissions=perms)
        except Exception as exc:
            if error_code(exc) == "InvalidPermission.Duplicate":
                raise _Duplicate() from exc
            raise

    def delete_security_group(self, group_id: str, timeout: float = 300) -> None:
        """Delete the group; retry while terminating instances still hold it; gone is fine."""
        if not self.owned("security group", [group_id]):
            return
        deadline = time.monotonic() + timeout
        for delay in _backoff(0.5, 10.0):
            try:
                self.client.delete_security_group(GroupId=group_id)
                return
            except Exception as exc:
                code = error_code(exc)
                if code in {"InvalidGroup.NotFound", "InvalidGroupId.Malformed"}:
                    return
                if code != "DependencyViolation":
                    raise self._fail(exc, f"delete security group {group_id}") from exc
                if time.monotonic() + delay > deadline:
                    raise GomanError(
                        f"Security group {group_id} in {self.region} is still in use after "
                        f"{timeout:.0f}s.",
                        "Something else (an instance or network interface not made by goman?) "
                        "uses it; see `goman resources list`, remove that, then retry the delete.",
                        detail=str(exc),
                    ) from exc
                time.sleep(delay)

    # -- instances ----------------------------------------------------------------------

    def _describe_instances(self, filters: list[dict[str, Any]], what: str) -> list[InstanceInfo]:
        pages = self._pages("describe_instances", what, Filters=filters)
        raw = [
            inst
            for page in pages
            for res in page.get("Reservations", [])
            for inst in res.get("Instances", [])
        ]
        for inst in raw:
            self._remember(inst["InstanceId"], inst.get("Tags"))
        found = [_instance_info(inst) for inst in raw]
        return sorted(found, key=lambda i: (i.node, i.instance_id))

    def find_node(self, cluster_id: str, node: str) -> InstanceInfo | None:
        """The usable (not terminating) instance of one node, if it exists."""
        found = self._describe_instances(
            [
                {"Name": f"tag:{TAG_CLUSTER_ID}", "Values": [cluster_id]},
                {"Name": f"tag:{TAG_NODE}", "Values": [node]},
                {"Name": "instance-state-name", "Values": USABLE_STATES},
            ],
            f"look up node {node}",
        )
        if not found:
            return None
        # Two instances for one node would be a bug elsewhere: keep the oldest deterministically.
        return min(found, key=lambda i: (i.launch_time or datetime.max, i.instance_id))

    def run_node(self, launch: NodeLaunch) -> InstanceInfo:
        """Launch one node, or return the instance an earlier attempt already launched.

        Returns as soon as RunInstances answers (the private IP is known then)."""
        cluster_id = tag_dict(launch.tags).get(TAG_CLUSTER_ID, "")
        if not cluster_id:
            raise ValueError("NodeLaunch.tags must carry goman:cluster-id (use tags_for)")
        existing = self.find_node(cluster_id, launch.node)
        if existing is not None:
            return existing
        if len(launch.user_data.encode()) > USER_DATA_LIMIT:
            raise GomanError(
                f"The bootstrap script for {launch.node} is larger than EC2's 16 KB limit.",
                "This is a bug in goman; please report it.",
            )
        root = self._root_device(launch.ami_id)
        params: dict[str, Any] = {
            "ImageId": launch.ami_id,
            "InstanceType": launch.instance_type,
            "MinCount": 1,
            "MaxCount": 1,
            "ClientToken": launch.client_token,
            "SubnetId": launch.subnet_id,
            "SecurityGroupIds": [launch.security_group_id],
            "UserData": launch.user_data,
            "MetadataOptions": {
                "HttpTokens": "required",
                "HttpEndpoint": "enabled",
                # 1: a pod's traffic takes a second hop, so pods cannot reach IMDS and
                # read the user-data (its presigned URLs) or the instance's credentials.
                "HttpPutResponseHopLimit": 1,
            },
            "BlockDeviceMappings": [
                {
                    "DeviceName": root,
                    "Ebs": {
                        "VolumeSize": ROOT_VOLUME_GIB,
                        "VolumeType": "gp3",
                        "Encrypted": True,
                        "DeleteOnTermination": True,
                    },
                }
            ],
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": launch.tags},
                {"ResourceType": "volume", "Tags": launch.tags},
            ],
        }
        resp = self._call_settling(
            f"launch node {launch.node}", lambda: self.client.run_instances(**params)
        )
        self._remember(resp["Instances"][0]["InstanceId"], launch.tags)
        info = _instance_info(resp["Instances"][0])
        if info.state in {"shutting-down", "terminated"}:
            # EC2 answered an old request with the same ClientToken: that instance is gone.
            raise GomanError(
                f"EC2 returned the terminated instance {info.instance_id} for node {launch.node} "
                "(its launch token was already used).",
                "Retry the job: a replacement node needs a new launch token.",
            )
        return info

    def cluster_instances(
        self, cluster_id: str, *, include_shutting_down: bool = True
    ) -> list[InstanceInfo]:
        """The cluster's instances that are not terminated, sorted by node name.

        Instances still shutting down are included by default (they exist and cost);
        look at `state` to tell them apart."""
        states = LIVE_STATES if include_shutting_down else USABLE_STATES
        return self._describe_instances(
            [
                {"Name": f"tag:{TAG_CLUSTER_ID}", "Values": [cluster_id]},
                {"Name": "instance-state-name", "Values": states},
            ],
            "list the cluster's instances",
        )

    def terminate(self, instance_ids: Iterable[str]) -> None:
        """Terminate instances; ones that are already gone are fine."""
        ids = self.owned("instance", instance_ids)
        if not ids:
            return
        try:
            self.client.terminate_instances(InstanceIds=ids)
            return
        except Exception as exc:
            if error_code(exc) != "InvalidInstanceID.NotFound":
                raise self._fail(exc, f"terminate {', '.join(ids)}") from exc
        # One unknown id fails the whole call: go one by one, skipping the missing.
        for instance_id in ids:
            try:
                self.client.terminate_instances(InstanceIds=[instance_id])
            except Exception as exc:
                if error_code(exc) != "InvalidInstanceID.NotFound":
                    raise self._fail(exc, f"terminate {instance_id}") from exc

    def wait_terminated(self, instance_ids: Iterable[str], timeout: float) -> None:
        """Poll until every instance is terminated (or unknown to EC2)."""
        ids = sorted(set(instance_ids))
        if not ids:
            return
        deadline = time.monotonic() + timeout
        for delay in _backoff(0.2, 5.0):
            alive = [
                i
                for i in self._describe_instances(
                    [
                        {"Name": "instance-id", "Values": ids},
                        {"Name": "instance-state-name", "Values": LIVE_STATES},
                    ],
                    "check that instances terminated",
                )
            ]
            if not alive:
                return
            if time.monotonic() + delay > deadline:
                states = ", ".join(f"{i.instance_id} ({i.state})" for i in alive)
                raise GomanError(
                    f"Instances did not terminate within {timeout:.0f}s: {states}.",
                    f"Retry the job; if they stay, check them in the EC2 console ({self.region}).",
                )
            time.sleep(delay)

    # -- volumes ------------------------------------------------------------------------

    def delete_volume(self, volume_id: str) -> None:
        """Delete a detached (available) volume; one that is already gone is fine.

        Root volumes go with their instance; this is for one left behind."""
        if not self.owned("volume", [volume_id]):
            return
        try:
            self.client.delete_volume(VolumeId=volume_id)
        except Exception as exc:
            if error_code(exc) == "InvalidVolume.NotFound":
                return
            raise self._fail(exc, f"delete volume {volume_id}") from exc

    # -- Elastic IP ---------------------------------------------------------------------

    def _addresses(self, **kwargs: Any) -> list[dict[str, Any]]:
        found = list(
            self._call(
                "look up Elastic IPs",
                lambda: self.client.describe_addresses(**kwargs),
            ).get("Addresses", [])
        )
        for a in found:
            self._remember(a["AllocationId"], a.get("Tags"))
        return found

    def ensure_eip(self, *, cluster: str, cluster_id: str, profile: str) -> tuple[str, str]:
        """(allocation id, public IP) of the cluster's API address, allocated if missing."""
        found = self._addresses(Filters=[{"Name": f"tag:{TAG_CLUSTER_ID}", "Values": [cluster_id]}])
        if found:
            best = min(found, key=lambda a: (a.get("AssociationId") is None, a["AllocationId"]))
            self.owned("Elastic IP", [str(best["AllocationId"])])
            return str(best["AllocationId"]), str(best["PublicIp"])
        tags = tags_for(cluster, cluster_id, profile, name=f"goman-{profile}-{cluster}-api")
        resp = self._call(
            "allocate the cluster's Elastic IP",
            lambda: self.client.allocate_address(
                Domain="vpc",
                TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": tags}],
            ),
        )
        self._remember(resp["AllocationId"], tags)
        return str(resp["AllocationId"]), str(resp["PublicIp"])

    def associate_eip(
        self, allocation_id: str, instance_id: str, *, timeout: float = 120, look: bool = True
    ) -> None:
        """Point the address at the instance (no-op when it already is). With look=False
        it is not looked up first: associating again is harmless (AllowReassociation).

        A just-launched instance may still be `pending`, which EC2 refuses: retried
        until `timeout`."""

        def current() -> dict[str, Any]:
            try:
                found = self.client.describe_addresses(AllocationIds=[allocation_id])
            except Exception as exc:
                if error_code(exc) == "InvalidAllocationID.NotFound":
                    raise GomanError(
                        f"Elastic IP {allocation_id} no longer exists in {self.region}.",
                        "Retry the job: a new address will be allocated.",
                    ) from exc
                raise self._fail(exc, f"look up Elastic IP {allocation_id}") from exc
            addresses = found.get("Addresses") or []
            for a in addresses:
                self._remember(a["AllocationId"], a.get("Tags"))
            return dict(addresses[0]) if addresses else {}

        if look:
            now = current()
            self.owned("Elastic IP", [allocation_id])
            if now.get("InstanceId") == instance_id:
                return
        else:
            self.owned("Elastic IP", [allocation_id])
        self._call_settling(
            f"attach Elastic IP {allocation_id} to {instance_id}",
            lambda: self.client.associate_address(
                AllocationId=allocation_id, InstanceId=instance_id, AllowReassociation=True
            ),
            timeout=timeout,
        )

    def release_eip(self, allocation_id: str) -> None:
        """Detach (if attached) and release the address; an unknown one is fine."""
        try:
            found = self.client.describe_addresses(AllocationIds=[allocation_id])
        except Exception as exc:
            if error_code(exc) in {"InvalidAllocationID.NotFound", "InvalidAddress.NotFound"}:
                return
            raise self._fail(exc, f"look up Elastic IP {allocation_id}") from exc
        addresses = found.get("Addresses", [])
        if self.owner is not None:
            for address in addresses:
                check_owner(self.owner, "Elastic IP", allocation_id, tag_dict(address.get("Tags")))
        for address in addresses:
            association = address.get("AssociationId")
            if association:
                try:
                    self.client.disassociate_address(AssociationId=association)
                except Exception as exc:
                    if error_code(exc) not in {
                        "InvalidAssociationID.NotFound",
                        "InvalidAddress.NotFound",
                    }:
                        raise self._fail(exc, f"detach Elastic IP {allocation_id}") from exc
        deadline = time.monotonic() + 60
        for delay in _backoff():
            try:
                self.client.release_address(AllocationId=allocation_id)
                return
            except Exception as exc:
                code = error_code(exc)
                if code in {"InvalidAllocationID.NotFound", "InvalidAddress.NotFound"}:
                    return
                # A detach takes a moment to settle on AWS.
                if code != "InvalidIPAddress.InUse" or time.monotonic() + delay > deadline:
                    raise self._fail(exc, f"release Elastic IP {allocation_id}") from exc
                time.sleep(delay)

    # -- inventory ----------------------------------------------------------------------

    def find_tagged(self, profile: str | None = None) -> list[TaggedResource]:
        """Every resource in this region that carries any goman tag (optionally one
        profile's): live instances, security groups, Elastic IPs and volumes. A resource
        tagged only in part (no cluster id, say) is found too: it is still goman's."""
        filters: list[dict[str, Any]] = [{"Name": "tag-key", "Values": list(GOMAN_TAG_KEYS)}]
        if profile is not None:
            filters.append({"Name": f"tag:{TAG_PROFILE}", "Values": [profile]})

        def item(
            kind: str, rid: str, tags: list[dict[str, str]] | None, state: str
        ) -> TaggedResource:
            t = tag_dict(tags)
            self.memory.remember(str(rid), t)
            return TaggedResource(
                type=kind,
                id=rid,
                region=self.region,
                cluster=t.get(TAG_CLUSTER, ""),
                cluster_id=t.get(TAG_CLUSTER_ID, ""),
                profile=t.get(TAG_PROFILE, ""),
                state=state,
            )

        def instances() -> list[TaggedResource]:
            inst_filters = [*filters, {"Name": "instance-state-name", "Values": LIVE_STATES}]
            pages = self._pages(
                "describe_instances", "list goman's instances", Filters=inst_filters
            )
            return [
                item("instance", i["InstanceId"], i.get("Tags"), i.get("State", {}).get("Name", ""))
                for page in pages
                for res in page.get("Reservations", [])
                for i in res.get("Instances", [])
            ]

        def groups() -> list[TaggedResource]:
            pages = self._pages(
                "describe_security_groups", "list goman's security groups", Filters=filters
            )
            return [
                item("security-group", g["GroupId"], g.get("Tags"), "exists")
                for page in pages
                for g in page.get("SecurityGroups", [])
            ]

        def addresses() -> list[TaggedResource]:
            return [
                item(
                    "elastic-ip",
                    a["AllocationId"],
                    a.get("Tags"),
                    "associated" if a.get("AssociationId") else "unassociated",
                )
                for a in self._addresses(Filters=filters)
            ]

        def volumes() -> list[TaggedResource]:
            pages = self._pages("describe_volumes", "list goman's volumes", Filters=filters)
            return [
                item("volume", v["VolumeId"], v.get("Tags"), v.get("State", ""))
                for page in pages
                for v in page.get("Volumes", [])
            ]

        # Four independent look-ups: sent at once, one round trip.
        found = together(instances, groups, addresses, volumes)
        return [r for part in found for r in part]


# -- security group rules as comparable tuples ----------------------------------------------

# (protocol, from_port, to_port, source) with source "sg:<id>", "v4:<cidr>" or "v6:<cidr>"
Rule = tuple[str, int, int, str]


def _desired_rules(group_id: str, api_cidrs: list[str]) -> list[Rule]:
    rules: list[Rule] = [("-1", -1, -1, f"sg:{group_id}")]
    for cidr in dict.fromkeys(api_cidrs):
        net = ipaddress.ip_network(cidr, strict=False)
        family = "v6" if net.version == 6 else "v4"
        rules.append(("tcp", API_PORT, API_PORT, f"{family}:{net}"))
    return rules


def _norm_protocol(value: Any) -> str:
    text = str(value).lower()
    return {"6": "tcp", "17": "udp", "1": "icmp", "all": "-1"}.get(text, text)


def _flatten_rules(perms: list[dict[str, Any]]) -> Iterator[Rule]:
    for perm in perms:
        proto = _norm_protocol(perm.get("IpProtocol", "-1"))
        lo = -1 if proto == "-1" else int(perm.get("FromPort", -1))
        hi = -1 if proto == "-1" else int(perm.get("ToPort", -1))
        for pair in perm.get("UserIdGroupPairs", []):
            yield (proto, lo, hi, f"sg:{pair['GroupId']}")
        for rng in perm.get("IpRanges", []):
            yield (proto, lo, hi, f"v4:{ipaddress.ip_network(rng['CidrIp'], strict=False)}")
        for rng in perm.get("Ipv6Ranges", []):
            yield (proto, lo, hi, f"v6:{ipaddress.ip_network(rng['CidrIpv6'], strict=False)}")


def _rule_permission(rule: Rule) -> dict[str, Any]:
    proto, lo, hi, source = rule
    perm: dict[str, Any] = {"IpProtocol": proto}
    if proto != "-1":
        perm["FromPort"] = lo
        perm["ToPort"] = hi
    kind, _, value = source.partition(":")
    if kind == "sg":
        perm["UserIdGroupPairs"] = [{"GroupId": value, "Description": "goman nodes"}]
    elif kind == "v6":
        perm["Ipv6Ranges"] = [{"CidrIpv6": value, "Description": "goman K3s API"}]
    else:
        perm["IpRanges"] = [{"CidrIp": value, "Description": "goman K3s API"}]
    return perm
