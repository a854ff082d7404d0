"""What `goman status` reports and what `goman doctor` checks about the state side.

Status ensures the bucket (every command does, on first use) and only reads the probe's
record. Doctor changes no state: apart from the conditional-write probe (a scratch key it
deletes again, and the probe's record) it only reads, so it is safe against any account.
"""

from __future__ import annotations

from typing import Any

from goman.aws.checks import Check
from goman.aws.constants import STATE_REGION
from goman.aws.errors import CorruptDocumentError, GomanError, error_code, http_status, map_error
from goman.aws.parallel import both
from goman.models.config import AppConfig
from goman.state import keys
from goman.state.bucket import (
    Hardening,
    bucket_region,
    ensure_bucket,
    read_hardening,
    squatting_error,
    versioning_status,
)
from goman.state.probe import endpoint_identity
from goman.state.probe_record import probe_and_record, read_verdict
from goman.state.store import StateStore

_DENIED = {"AccessDenied", "403", "AccessDeniedException", "Forbidden"}


def status_report(store: StateStore) -> dict[str, Any]:
    """The `goman status` document (a stable JSON contract, see docs/state.md).

    Counts come from the index and the queue, not from listing the folder: a profile with
    thousands of jobs costs the same few requests as an empty one."""
    from goman.models.cluster import ClusterIndex
    from goman.models.job import JobQueue

    ctx = store.ctx
    report = ensure_bucket(ctx)
    # The documents, the probe's record and the hardening are read at once: one wait.
    ((config, index, queue), (verdict, problem)), hardening = both(
        lambda: both(
            lambda: store.get_many(
                [(keys.CONFIG, AppConfig), (keys.INDEX, ClusterIndex), (keys.QUEUE, JobQueue)]
            ),
            lambda: read_verdict(store),
        ),
        lambda: report.hardening if report.created else read_hardening(ctx),
    )
    warnings = list(report.warnings)
    if problem:
        warnings.append(problem)
    return {
        "account": ctx.account_id,
        "identity": ctx.caller_arn,
        "profile": ctx.profile,
        "bucket": ctx.bucket,
        "region": report.region,
        "prefix": ctx.prefix,
        "bucket_created": report.created,
        "versioning": report.versioning,
        "hardening": hardening.as_dict(),
        "config": config is not None,
        "counts": {
            "clusters": len(index.doc.clusters) if index else 0,
            "jobs": len(queue.doc.jobs) if queue else 0,
        },
        "objects": None,  # counting them means listing the whole folder: `goman state ls`
        "s3_endpoint": endpoint_identity(ctx),
        "conditional_writes": verdict,
        "warnings": warnings,
    }


def hardening_checks(h: Hardening, bucket: str) -> list[Check]:
    rows = [
        (
            "public access block",
            h.public_access_block,
            "s3:GetBucketPublicAccessBlock",
            f"aws s3api put-public-access-block --bucket {bucket} --public-access-block-configuration "
            "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true",
        ),
        (
            "default encryption",
            h.encryption,
            "s3:GetEncryptionConfiguration",
            f"aws s3api put-bucket-encryption --bucket {bucket} --server-side-encryption-configuration "
            """'{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'""",
        ),
        (
            "tls-only policy",
            h.tls_only_policy,
            "s3:GetBucketPolicy",
            "add a Deny statement for aws:SecureTransport=false to the bucket policy "
            "(see docs/state.md)",
        ),
    ]
    out = []
    for name, on, read_action, fix in rows:
        if on:
            extra = (
                f" ({h.encryption_type})"
                if name == "default encryption" and h.encryption_type
                else ""
            )
            out.append(Check(f"bucket {name}", "pass", f"{name} is on{extra}."))
        elif on is None:
            out.append(
                Check(
                    f"bucket {name}",
                    "warn",
                    f"Cannot tell whether {name} is on: {read_action} is not granted (optional).",
                    f"Grant {read_action} to see it (see `goman iam-policy --optional`).",
                )
            )
        else:
            out.append(Check(f"bucket {name}", "warn", f"{name} is off on {bucket}.", fix))
    return out


def state_checks(store: StateStore) -> tuple[list[Check], str | None]:
    """The doctor's checks up to the bucket and config; returns them and the EC2 region
    to check (None when identity failed, so EC2 checks would say nothing new)."""
    ctx = store.ctx
    checks: list[Check] = []
    how = "--profile or AWS_PROFILE" if ctx.explicit_profile else "the default"
    try:
        session = ctx.session
    except GomanError as exc:
        return [Check("profile", "fail", exc.message, exc.hint)], None
    checks.append(
        Check("profile", "pass", f"Profile '{ctx.profile}' ({how}); state folder {ctx.prefix}.")
    )
    try:
        creds = session.get_credentials()
    except Exception as exc:
        err = map_error(exc, profile=ctx.profile)
        return [*checks, Check("credentials", "fail", err.message, err.hint)], None
    if creds is None:
        err = map_error(_no_credentials(), profile=ctx.profile)
        return [*checks, Check("credentials", "fail", err.message, err.hint)], None
    checks.append(Check("credentials", "pass", f"Credentials found ({creds.method})."))
    try:
        account, arn = ctx.account_id, ctx.caller_arn
    except GomanError as exc:
        return [*checks, Check("identity", "fail", exc.message, exc.hint)], None
    checks.append(Check("identity", "pass", f"Account {account} as {arn}."))
    region = STATE_REGION
    if _bucket_checks(store, checks):
        region = _config_check(store, checks) or region
        checks.append(_probe_check(store))
    return checks, region


def _probe_check(store: StateStore) -> Check:
    """Run the conditional-write probe (see goman.state.probe) and record its verdict."""
    try:
        result = probe_and_record(store)
    except GomanError as exc:
        return Check(
            "conditional writes", "fail", f"The probe could not run: {exc.message}", exc.hint
        )
    if result.ok:
        return Check("conditional writes", "pass", result.summary())
    return Check("conditional writes", "fail", result.problem(), result.fix())


def _no_credentials() -> BaseException:
    from botocore.exceptions import NoCredentialsError

    exc: BaseException = NoCredentialsError()
    return exc


def _bucket_checks(store: StateStore, checks: list[Check]) -> bool:
    """Append the bucket checks; True when the bucket is usable for further checks."""
    ctx = store.ctx
    s3, bucket, owner = ctx.client("s3"), ctx.bucket, ctx.account_id
    try:
        s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=owner)
    except Exception as exc:
        code = error_code(exc)
        if code in {"404", "NoSuchBucket", "NotFound"}:
            checks.append(
                Check(
                    "bucket",
                    "warn",
                    f"The state bucket {bucket} does not exist yet.",
                    "Run `goman init` (any goman command also creates it on first use).",
                )
            )
            return False
        if code in _DENIED or http_status(exc) == 403:
            checks.append(_denied_bucket_check(s3, bucket, owner, ctx.profile))
            return False
        err = map_error(exc, profile=ctx.profile, what=f"reach bucket {bucket}")
        checks.append(Check("bucket", "fail", err.message, err.hint))
        return False
    checks.append(Check("bucket", "pass", f"{bucket} is reachable and owned by {owner}."))
    try:
        region = bucket_region(ctx)
        if region == STATE_REGION:
            checks.append(Check("bucket region", "pass", f"{bucket} is in {region}."))
        else:
            checks.append(
                Check(
                    "bucket region",
                    "fail",
                    f"{bucket} is in {region}, not {STATE_REGION}.",
                    "Recreate the bucket in ap-south-1 and copy the state folder over.",
                )
            )
        status = versioning_status(ctx)
        if status == "Enabled":
            checks.append(Check("bucket versioning", "pass", "Versioning is enabled."))
        else:
            checks.append(
                Check(
                    "bucket versioning",
                    "fail",
                    f"Versioning is {status}: state history and recovery are not possible.",
                    "Run `goman init` (it enables versioning).",
                )
            )
        checks.extend(hardening_checks(read_hardening(ctx), bucket))
    except GomanError as exc:
        checks.append(Check("bucket settings", "fail", exc.message, exc.hint))
    checks.append(_history_check(store))
    return True


def _denied_bucket_check(s3: Any, bucket: str, owner: str, profile: str) -> Check:
    try:
        # Reachable without the owner check means it exists and is not ours.
        s3.head_bucket(Bucket=bucket)
    except Exception:
        return Check(
            "bucket",
            "fail",
            f"Access to {bucket} is denied: the identity lacks s3:ListBucket on it, or another "
            "AWS account owns that bucket name.",
            "Grant s3:ListBucket on arn:aws:s3:::goman-* (see `goman iam-policy`); if it is "
            "granted, `goman init` tells whether the name is taken.",
        )
    err = squatting_error(bucket, owner)
    return Check("bucket", "fail", err.message, err.hint)


def _history_check(store: StateStore) -> Check:
    ctx = store.ctx
    try:
        ctx.client("s3").list_object_versions(
            Bucket=ctx.bucket, Prefix=ctx.prefix, MaxKeys=1, ExpectedBucketOwner=ctx.account_id
        )
    except Exception as exc:
        if error_code(exc) in _DENIED or http_status(exc) == 403:
            return Check(
                "state history",
                "warn",
                "s3:ListBucketVersions is not granted (optional): `goman state history`, diff "
                "and restore will not work.",
                "Grant s3:ListBucketVersions and s3:GetObjectVersion "
                "(see `goman iam-policy --optional`).",
            )
        err = map_error(exc, profile=ctx.profile, what="list versions")
        return Check("state history", "fail", err.message, err.hint)
    return Check("state history", "pass", "Versions can be listed (history, diff, restore).")


def _config_check(store: StateStore, checks: list[Check]) -> str | None:
    try:
        got = store.get(keys.CONFIG, AppConfig)
    except CorruptDocumentError as exc:
        checks.append(Check("config.json", "fail", exc.message, exc.hint))
        return None
    except GomanError as exc:
        checks.append(Check("config.json", "fail", exc.message, exc.hint))
        return None
    if got is None:
        checks.append(
            Check(
                "config.json",
                "warn",
                f"{store.prefix}{keys.CONFIG} is not written yet (defaults apply).",
                "Run `goman init` to write it.",
            )
        )
        return None
    checks.append(
        Check("config.json", "pass", f"{keys.CONFIG} is valid (revision {got.doc.revision}).")
    )
    return got.doc.region
