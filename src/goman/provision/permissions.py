"""EC2 permission checks by DryRun, for `goman doctor`.

EC2 answers a DryRun request with `DryRunOperation` when the caller may perform it and
`UnauthorizedOperation` when not, without doing anything. Each probe below uses a harmless
parameter set (placeholder ids that exist nowhere), so nothing is created or changed.
Any other answer (e.g. a placeholder id rejected before the permission check) proves
nothing either way and is reported as a warning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from goman.aws.checks import Check
from goman.aws.errors import GomanError, error_code, map_error
from goman.aws.session import AwsContext

_FAKE_SG = "sg-0123456789abcdef0"
_FAKE_INSTANCE = "i-0123456789abcdef0"
_FAKE_ALLOC = "eipalloc-0123456789abcdef0"
_FAKE_ASSOC = "eipassoc-0123456789abcdef0"
_FAKE_AMI = "ami-0123456789abcdef0"
_FAKE_VOLUME = "vol-0123456789abcdef0"
_RULE = [
    {"IpProtocol": "tcp", "FromPort": 6443, "ToPort": 6443, "IpRanges": [{"CidrIp": "10.0.0.0/32"}]}
]

_DENIED = {"UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "Forbidden"}

# ec2:AssociateAddress is not probed: it needs an existing instance, and a placeholder id can
# be rejected before the permission is evaluated, which would prove nothing.
UNPROBED = ("ec2:AssociateAddress",)


def _probes(ec2: Any) -> list[tuple[str, Callable[[], Any]]]:
    return [
        ("ec2:DescribeImages", lambda: ec2.describe_images(DryRun=True, ImageIds=[_FAKE_AMI])),
        ("ec2:DescribeInstances", lambda: ec2.describe_instances(DryRun=True)),
        (
            "ec2:DescribeInstanceTypes",
            # One type: a caller (or emulator) that ignores DryRun gets a small answer.
            lambda: ec2.describe_instance_types(DryRun=True, InstanceTypes=["t3.micro"]),
        ),
        ("ec2:DescribeAvailabilityZones", lambda: ec2.describe_availability_zones(DryRun=True)),
        ("ec2:DescribeVpcs", lambda: ec2.describe_vpcs(DryRun=True)),
        ("ec2:DescribeSubnets", lambda: ec2.describe_subnets(DryRun=True)),
        ("ec2:DescribeSecurityGroups", lambda: ec2.describe_security_groups(DryRun=True)),
        (
            "ec2:CreateSecurityGroup",
            lambda: ec2.create_security_group(
                DryRun=True, GroupName="goman-doctor-probe", Description="goman doctor probe"
            ),
        ),
        (
            "ec2:DeleteSecurityGroup",
            lambda: ec2.delete_security_group(DryRun=True, GroupId=_FAKE_SG),
        ),
        (
            "ec2:AuthorizeSecurityGroupIngress",
            lambda: ec2.authorize_security_group_ingress(
                DryRun=True, GroupId=_FAKE_SG, IpPermissions=_RULE
            ),
        ),
        (
            "ec2:RevokeSecurityGroupIngress",
            lambda: ec2.revoke_security_group_ingress(
                DryRun=True, GroupId=_FAKE_SG, IpPermissions=_RULE
            ),
        ),
        (
            "ec2:RunInstances",
            lambda: ec2.run_instances(
                DryRun=True, ImageId=_FAKE_AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1
            ),
        ),
        (
            "ec2:TerminateInstances",
            lambda: ec2.terminate_instances(DryRun=True, InstanceIds=[_FAKE_INSTANCE]),
        ),
        (
            "ec2:CreateTags",
            lambda: ec2.create_tags(
                DryRun=True,
                Resources=[_FAKE_INSTANCE],
                Tags=[{"Key": "goman:probe", "Value": "doctor"}],
            ),
        ),
        ("ec2:DescribeAddresses", lambda: ec2.describe_addresses(DryRun=True)),
        ("ec2:AllocateAddress", lambda: ec2.allocate_address(DryRun=True, Domain="vpc")),
        (
            "ec2:DisassociateAddress",
            lambda: ec2.disassociate_address(DryRun=True, AssociationId=_FAKE_ASSOC),
        ),
        ("ec2:ReleaseAddress", lambda: ec2.release_address(DryRun=True, AllocationId=_FAKE_ALLOC)),
        ("ec2:DescribeVolumes", lambda: ec2.describe_volumes(DryRun=True)),
        ("ec2:DeleteVolume", lambda: ec2.delete_volume(DryRun=True, VolumeId=_FAKE_VOLUME)),
        ("ec2:DescribeRegions", lambda: ec2.describe_regions(DryRun=True)),
        (
            "ec2:DescribeInstanceTypeOfferings",
            # One type: a caller (or emulator) that ignores DryRun gets a small answer.
            lambda: ec2.describe_instance_type_offerings(
                DryRun=True,
                LocationType="region",
                Filters=[{"Name": "instance-type", "Values": ["t3.micro"]}],
            ),
        ),
    ]


def probe(action: str, call: Callable[[], Any]) -> str:
    """ "allowed", "denied", or the error code that proved nothing."""
    try:
        call()
    except Exception as exc:
        code = error_code(exc)
        if code == "DryRunOperation":
            return "allowed"
        if code in _DENIED:
            return "denied"
        if not code:
            raise
        return code
    # Some read calls ignore DryRun (or an emulator does): a success is an allowed call.
    return "allowed"


def check_ec2_permissions(ctx: AwsContext, region: str) -> list[Check]:
    """One check per EC2 action of the seed policy that can be probed."""
    try:
        ec2 = ctx.client("ec2", region)
    except GomanError as exc:
        return [Check("ec2 permissions", "fail", exc.message, exc.hint)]
    allowed: list[str] = []
    checks: list[Check] = []
    for action, call in _probes(ec2):
        try:
            outcome = probe(action, call)
        except Exception as exc:
            err = map_error(exc, profile=ctx.profile, what=f"check {action} by DryRun")
            return [*checks, Check(f"ec2 {action}", "fail", err.message, err.hint)]
        if outcome == "allowed":
            allowed.append(action)
        elif outcome == "denied":
            checks.append(
                Check(
                    f"ec2 {action}",
                    "fail",
                    f"{action} is denied in {region}: goman cannot manage clusters without it.",
                    f"Grant {action} (see `goman iam-policy`).",
                )
            )
        else:
            checks.append(
                Check(
                    f"ec2 {action}",
                    "warn",
                    f"{action} could not be checked by DryRun in {region} (EC2 answered {outcome}).",
                    "Make sure the identity has it (see `goman iam-policy`).",
                )
            )
    if allowed:
        checks.insert(
            0,
            Check(
                "ec2 permissions",
                "pass",
                f"{len(allowed)} EC2 actions allowed in {region} (checked by DryRun; "
                f"{', '.join(UNPROBED)} cannot be probed).",
            ),
        )
    return checks
