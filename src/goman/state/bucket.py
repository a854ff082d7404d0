"""The state bucket `goman-{AccountID}` in ap-south-1: find, verify, create, harden.

Creation applies versioning (required) and three hardening controls (wanted): Block
Public Access, default encryption and a deny-non-TLS policy. The seed IAM policy does
not grant the hardening calls, so a denied hardening call is one warning, not a failure.
Someone else owning the name (bucket squatting) is a hard security error: nothing is
written to a bucket that is not ours.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from goman.aws.constants import STATE_REGION
from goman.aws.errors import GomanError, SecurityError, error_code, http_status, map_error
from goman.aws.session import AwsContext

_DENIED = {"AccessDenied", "403", "AccessDeniedException", "Forbidden"}


@dataclass
class Hardening:
    """Each control: True (on), False (off) or None (could not tell: permission missing)."""

    public_access_block: bool | None = None
    encryption: bool | None = None
    encryption_type: str | None = None
    tls_only_policy: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "public_access_block": self.public_access_block,
            "encryption": self.encryption,
            "encryption_type": self.encryption_type,
            "tls_only_policy": self.tls_only_policy,
        }


@dataclass
class BucketReport:
    bucket: str
    created: bool = False
    region: str = STATE_REGION
    versioning: str = "Unknown"  # Enabled | Suspended | Disabled | Unknown
    versioning_enabled_now: bool = False
    hardening: Hardening = field(default_factory=Hardening)
    warnings: list[str] = field(default_factory=list)


def squatting_error(bucket: str, account: str) -> SecurityError:
    return SecurityError(
        f"The state bucket name {bucket} is owned by another AWS account, not yours ({account}). "
        "goman will not read or write it: whoever owns it could read your cluster secrets and "
        "kubeconfigs, or feed goman forged state.",
        "Nothing was written. Check the account with `aws sts get-caller-identity`; if the account "
        "is right, the name was taken (bucket squatting): tell your security team and AWS support.",
    )


def tls_only_policy(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "GomanDenyNonTLS",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def ensure_bucket(ctx: AwsContext, *, kms_key_id: str | None = None) -> BucketReport:
    """Make sure the state bucket exists, is ours, in ap-south-1 and versioned."""
    s3 = ctx.client("s3")
    bucket, owner = ctx.bucket, ctx.account_id
    report = BucketReport(bucket=bucket)
    exists, region = _head(ctx, s3, bucket, owner)
    if not exists:
        _create(ctx, s3, bucket)
        report.created = True
        _enable_versioning(ctx, s3, bucket, owner)
        report.versioning, report.versioning_enabled_now = "Enabled", True
        report.hardening = harden(ctx, kms_key_id=kms_key_id, warnings=report.warnings)
        return report
    report.region = region or bucket_region(ctx)
    if report.region != STATE_REGION:
        raise GomanError(
            f"The state bucket {bucket} is in {report.region}, not {STATE_REGION}.",
            "goman keeps state in ap-south-1 only; move the bucket's contents to a bucket in "
            "ap-south-1 (delete and recreate it there) and run `goman init`.",
        )
    report.versioning = versioning_status(ctx)
    if report.versioning != "Enabled":
        _enable_versioning(ctx, s3, bucket, owner)
        report.versioning, report.versioning_enabled_now = "Enabled", True
    return report


def _head(ctx: AwsContext, s3: Any, bucket: str, owner: str) -> tuple[bool, str | None]:
    """Whether the bucket exists, and its region when S3 says it (HeadBucket carries it:
    no GetBucketLocation round trip)."""
    try:
        resp = s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=owner)
        return True, resp.get("BucketRegion") or None
    except Exception as exc:
        code = error_code(exc)
        if code in {"404", "NoSuchBucket", "NotFound"}:
            return False, None
        if code in _DENIED or http_status(exc) == 403:
            # Either we lack s3:ListBucket, or the bucket is someone else's: CreateBucket tells.
            try:
                s3.create_bucket(
                    Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": STATE_REGION}
                )
            except Exception as inner:
                icode = error_code(inner)
                if icode == "BucketAlreadyExists":
                    raise squatting_error(bucket, owner) from inner
                if icode == "BucketAlreadyOwnedByYou":
                    raise map_error(
                        exc, profile=ctx.profile, what=f"check bucket {bucket}"
                    ) from exc
                raise map_error(
                    inner, profile=ctx.profile, what=f"create bucket {bucket}"
                ) from inner
            # It did not exist after all (eventual consistency): we just created it.
            return False, None
        raise map_error(exc, profile=ctx.profile, what=f"check bucket {bucket}") from exc


def _create(ctx: AwsContext, s3: Any, bucket: str) -> None:
    try:
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": STATE_REGION}
        )
    except Exception as exc:
        code = error_code(exc)
        if code == "BucketAlreadyExists":
            raise squatting_error(bucket, ctx.account_id) from exc
        if code == "BucketAlreadyOwnedByYou":
            return
        raise map_error(exc, profile=ctx.profile, what=f"create the state bucket {bucket}") from exc


def _enable_versioning(ctx: AwsContext, s3: Any, bucket: str, owner: str) -> None:
    try:
        s3.put_bucket_versioning(
            Bucket=bucket,
            VersioningConfiguration={"Status": "Enabled"},
            ExpectedBucketOwner=owner,
        )
    except Exception as exc:
        raise map_error(exc, profile=ctx.profile, what=f"enable versioning on {bucket}") from exc


def bucket_region(ctx: AwsContext) -> str:
    s3 = ctx.client("s3")
    try:
        resp = s3.get_bucket_location(Bucket=ctx.bucket, ExpectedBucketOwner=ctx.account_id)
    except Exception as exc:
        raise map_error(exc, profile=ctx.profile, what="read the state bucket's region") from exc
    return str(resp.get("LocationConstraint") or "us-east-1")


def versioning_status(ctx: AwsContext) -> str:
    s3 = ctx.client("s3")
    try:
        resp = s3.get_bucket_versioning(Bucket=ctx.bucket, ExpectedBucketOwner=ctx.account_id)
    except Exception as exc:
        raise map_error(exc, profile=ctx.profile, what="read the bucket's versioning") from exc
    return str(resp.get("Status") or "Disabled")


def harden(ctx: AwsContext, *, kms_key_id: str | None, warnings: list[str]) -> Hardening:
    """Apply the three controls; a denied one becomes one warning."""
    s3 = ctx.client("s3")
    bucket, owner = ctx.bucket, ctx.account_id
    result = Hardening()
    steps: list[tuple[str, str, Any]] = [
        (
            "public_access_block",
            "s3:PutBucketPublicAccessBlock",
            lambda: s3.put_public_access_block(
                Bucket=bucket,
                ExpectedBucketOwner=owner,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            ),
        ),
        (
            "encryption",
            "s3:PutEncryptionConfiguration",
            lambda: s3.put_bucket_encryption(
                Bucket=bucket,
                ExpectedBucketOwner=owner,
                ServerSideEncryptionConfiguration={"Rules": [_encryption_rule(kms_key_id)]},
            ),
        ),
        (
            "tls_only_policy",
            "s3:PutBucketPolicy",
            lambda: s3.put_bucket_policy(
                Bucket=bucket, ExpectedBucketOwner=owner, Policy=tls_only_policy(bucket)
            ),
        ),
    ]
    for attr, action, call in steps:
        try:
            call()
            setattr(result, attr, True)
        except Exception as exc:
            if error_code(exc) in _DENIED or http_status(exc) == 403:
                warnings.append(
                    f"Could not apply {attr.replace('_', ' ')} to {bucket}: {action} is not granted "
                    "(optional; see `goman iam-policy`)."
                )
                setattr(result, attr, None)
            else:
                raise map_error(
                    exc, profile=ctx.profile, what=f"harden {bucket} ({action})"
                ) from exc
    if result.encryption:
        result.encryption_type = "aws:kms" if kms_key_id else "AES256"
    return result


def _encryption_rule(kms_key_id: str | None) -> dict[str, Any]:
    if kms_key_id:
        return {
            "ApplyServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": kms_key_id,
            },
            "BucketKeyEnabled": True,
        }
    return {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
        "BucketKeyEnabled": True,
    }


def read_hardening(ctx: AwsContext) -> Hardening:
    """What is on now (None where the read permission is missing); the three reads at once."""
    from goman.aws.parallel import together

    s3 = ctx.client("s3")
    bucket, owner = ctx.bucket, ctx.account_id
    out = Hardening()

    def public_access() -> None:
        try:
            cfg = s3.get_public_access_block(Bucket=bucket, ExpectedBucketOwner=owner)[
                "PublicAccessBlockConfiguration"
            ]
            out.public_access_block = all(
                cfg.get(k)
                for k in (
                    "BlockPublicAcls",
                    "IgnorePublicAcls",
                    "BlockPublicPolicy",
                    "RestrictPublicBuckets",
                )
            )
        except Exception as exc:
            out.public_access_block = _absent_or_unknown(
                exc, "NoSuchPublicAccessBlockConfiguration"
            )

    def encryption() -> None:
        try:
            rules = s3.get_bucket_encryption(Bucket=bucket, ExpectedBucketOwner=owner)[
                "ServerSideEncryptionConfiguration"
            ]["Rules"]
            algo = rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] if rules else None
            out.encryption, out.encryption_type = bool(algo), algo
        except Exception as exc:
            out.encryption = _absent_or_unknown(
                exc, "ServerSideEncryptionConfigurationNotFoundError"
            )

    def tls_policy() -> None:
        try:
            policy = json.loads(
                s3.get_bucket_policy(Bucket=bucket, ExpectedBucketOwner=owner)["Policy"]
            )
            out.tls_only_policy = _has_tls_deny(policy)
        except Exception as exc:
            out.tls_only_policy = _absent_or_unknown(exc, "NoSuchBucketPolicy")

    together(public_access, encryption, tls_policy)
    return out


def _absent_or_unknown(exc: BaseException, absent_code: str) -> bool | None:
    code = error_code(exc)
    if code == absent_code or code in {"404", "NoSuchBucketPolicy"}:
        return False
    if code in _DENIED or http_status(exc) == 403:
        return None
    if code:
        return None
    raise exc


def _has_tls_deny(policy: dict[str, Any]) -> bool:
    for stmt in policy.get("Statement", []):
        cond = stmt.get("Condition", {}).get("Bool", {})
        if (
            stmt.get("Effect") == "Deny"
            and str(cond.get("aws:SecureTransport", "")).lower() == "false"
        ):
            return True
    return False
