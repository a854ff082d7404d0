"""The IAM policy goman needs (the seed's, plus the two lookups that check a cluster's
region and instance type before anything is created) and the optional extras.

One source of truth: `goman iam-policy` prints these, the docs quote them, the tests run
goman under exactly this policy, and `goman doctor` names the extras that are missing.
Import-light on purpose (no boto3): `goman iam-policy` needs no AWS at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BUCKET_ARN = "arn:aws:s3:::goman-*"
OBJECTS_ARN = "arn:aws:s3:::goman-*/*"

STS_ACTIONS: tuple[str, ...] = ("sts:GetCallerIdentity",)
BUCKET_ACTIONS: tuple[str, ...] = (
    "s3:CreateBucket",
    "s3:ListBucket",
    "s3:GetBucketLocation",
    "s3:GetBucketVersioning",
    "s3:PutBucketVersioning",
)
# PutObjectTagging: secrets are written with a tag (PutObject's Tagging header needs it),
# by which a lifecycle rule expires their old versions.
OBJECT_ACTIONS: tuple[str, ...] = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:PutObjectTagging",
    "s3:DeleteObject",
)
EC2_ACTIONS: tuple[str, ...] = (
    "ec2:DescribeImages",
    "ec2:DescribeInstances",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeVpcs",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:CreateSecurityGroup",
    "ec2:DeleteSecurityGroup",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:RunInstances",
    "ec2:TerminateInstances",
    "ec2:CreateTags",
    "ec2:DescribeAddresses",
    "ec2:AllocateAddress",
    "ec2:AssociateAddress",
    "ec2:DisassociateAddress",
    "ec2:ReleaseAddress",
    "ec2:DescribeVolumes",
    "ec2:DeleteVolume",
    # Where a cluster may go, asked before anything is written (provision/placement.py).
    "ec2:DescribeRegions",
    "ec2:DescribeInstanceTypeOfferings",
)

# Stop and start act only on instances that carry goman's cluster tag (`cluster stop` /
# `cluster start`): a key that leaks cannot stop anything else in the account.
EC2_POWER_ACTIONS: tuple[str, ...] = ("ec2:StopInstances", "ec2:StartInstances")
EC2_POWER_CONDITION: dict[str, Any] = {
    "StringLike": {"aws:ResourceTag/goman:cluster-id": "?*"},
}


@dataclass(frozen=True)
class OptionalPermission:
    """Permissions outside the seed policy, and what goman does with them."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    enables: str
    without: str  # what happens when it is missing


OPTIONAL: tuple[OptionalPermission, ...] = (
    OptionalPermission(
        sid="GomanStateHistory",
        actions=("s3:ListBucketVersions", "s3:GetObjectVersion"),
        resources=(BUCKET_ARN, OBJECTS_ARN),
        enables="`goman state history`, `state show --version`, `state diff`, `state restore`, "
        "and the newest readable version named in a corrupted-document error",
        without="those commands stop with the missing permission named; everything else works",
    ),
    OptionalPermission(
        sid="GomanBucketPublicAccessBlock",
        actions=("s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock"),
        resources=(BUCKET_ARN,),
        enables="Block Public Access (all four settings) applied when goman creates the bucket, "
        "and reported by `goman status` and `goman doctor`",
        without="one warning at bucket creation; status reports the control as unknown",
    ),
    OptionalPermission(
        sid="GomanBucketEncryption",
        actions=("s3:PutEncryptionConfiguration", "s3:GetEncryptionConfiguration"),
        resources=(BUCKET_ARN,),
        enables="default encryption (SSE-S3, or SSE-KMS with `kms_key_id`) applied at creation "
        "and reported",
        without="one warning at bucket creation; status reports the control as unknown",
    ),
    OptionalPermission(
        sid="GomanBucketTlsOnlyPolicy",
        actions=("s3:PutBucketPolicy", "s3:GetBucketPolicy"),
        resources=(BUCKET_ARN,),
        enables="the deny-non-TLS bucket policy applied at creation and reported",
        without="one warning at bucket creation; status reports the control as unknown",
    ),
    OptionalPermission(
        sid="GomanSecretVersions",
        actions=("s3:ListBucketVersions", "s3:DeleteObjectVersion"),
        resources=(BUCKET_ARN, OBJECTS_ARN),
        enables="a deleted cluster's objects (join secret, key material, node reports) go with "
        "every old version, so no secret outlives its cluster",
        without="the current objects go; `cluster delete` warns once that old versions remain",
    ),
    OptionalPermission(
        sid="GomanSecretExpiry",
        actions=("s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration"),
        resources=(BUCKET_ARN,),
        enables="`goman init` adds a lifecycle rule that expires old versions of secrets "
        "(objects tagged goman-secret) a day after they stop being current; the bucket's "
        "other rules are kept",
        without="one warning at init; old versions of a deleted cluster's secrets stay "
        "unless the delete may remove them (GomanSecretVersions)",
    ),
    OptionalPermission(
        sid="GomanKms",
        actions=("kms:GenerateDataKey", "kms:Decrypt"),
        resources=("*",),
        enables="state in a bucket encrypted with your KMS key (only when `kms_key_id` is set; "
        "narrow Resource to that key's ARN)",
        without="reads and writes of state fail with access denied once SSE-KMS is on",
    ),
)


def seed_policy() -> dict[str, Any]:
    """The policy goman needs and works with, nothing more."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GomanIdentity",
                "Effect": "Allow",
                "Action": list(STS_ACTIONS),
                "Resource": "*",
            },
            {
                "Sid": "GomanStateBucket",
                "Effect": "Allow",
                "Action": list(BUCKET_ACTIONS),
                "Resource": BUCKET_ARN,
            },
            {
                "Sid": "GomanStateObjects",
                "Effect": "Allow",
                "Action": list(OBJECT_ACTIONS),
                "Resource": OBJECTS_ARN,
            },
            {
                "Sid": "GomanEc2",
                "Effect": "Allow",
                "Action": list(EC2_ACTIONS),
                "Resource": "*",
            },
            {
                "Sid": "GomanEc2StopStart",
                "Effect": "Allow",
                "Action": list(EC2_POWER_ACTIONS),
                "Resource": "arn:aws:ec2:*:*:instance/*",
                "Condition": EC2_POWER_CONDITION,
            },
        ],
    }


def optional_policy(kms_key_arn: str | None = None) -> dict[str, Any]:
    """A second policy document with every optional permission (to attach beside the seed)."""
    statements = []
    for opt in OPTIONAL:
        resources: list[str] = list(opt.resources)
        if opt.sid == "GomanKms" and kms_key_arn:
            resources = [kms_key_arn]
        statements.append(
            {
                "Sid": opt.sid,
                "Effect": "Allow",
                "Action": list(opt.actions),
                "Resource": resources[0] if len(resources) == 1 else resources,
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def optional_for(action: str) -> OptionalPermission | None:
    for opt in OPTIONAL:
        if action in opt.actions:
            return opt
    return None


def seed_actions() -> tuple[str, ...]:
    return STS_ACTIONS + BUCKET_ACTIONS + OBJECT_ACTIONS + EC2_ACTIONS + EC2_POWER_ACTIONS
