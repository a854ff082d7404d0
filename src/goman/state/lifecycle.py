"""Old versions of secrets expire: a lifecycle rule on the object tag every secret carries.

The bucket is versioned, so a deleted join token or CA key stays readable as a noncurrent
version. `goman cluster delete` removes those versions when it may (s3:DeleteObjectVersion);
this rule is the second line, for deletes without that right and for versions a crash left.
Secrets live beside the state documents (`clusters/{name}/secrets/`), whose history `state
history` and `state restore` need, and a lifecycle prefix cannot single them out: the rule
matches the `goman-secret` object tag instead, which only secrets carry.

S3 has no conditional write for a lifecycle configuration: the rules are read, goman's is
put in or replaced, and every other rule is written back as it was.
"""

from __future__ import annotations

from typing import Any

from goman.aws.errors import error_code, http_status, map_error
from goman.aws.session import AwsContext

SECRET_TAG_KEY = "goman-secret"
SECRET_TAGGING = f"{SECRET_TAG_KEY}=true"  # PutObject's Tagging header
RULE_ID = "goman-secret-versions"
NONCURRENT_DAYS = 1
_DENIED = {"AccessDenied", "AccessDeniedException", "Forbidden", "403"}
_NONE = {"NoSuchLifecycleConfiguration"}


def secret_rule() -> dict[str, Any]:
    return {
        "ID": RULE_ID,
        "Filter": {"Tag": {"Key": SECRET_TAG_KEY, "Value": "true"}},
        "Status": "Enabled",
        "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_DAYS},
    }


def _denied(exc: BaseException) -> bool:
    return error_code(exc) in _DENIED or http_status(exc) == 403


def _missing(action: str) -> str:
    return (
        f"Old versions of secrets are not set to expire: {action} is not granted "
        "(optional, GomanSecretExpiry in `goman iam-policy --optional`); `goman cluster "
        "delete` still removes them where it may."
    )


def _same(rule: dict[str, Any]) -> bool:
    wanted = secret_rule()
    return all(rule.get(k) == v for k, v in wanted.items())


def ensure_secret_expiry(ctx: AwsContext) -> tuple[bool | None, str | None]:
    """Put goman's rule in the bucket's lifecycle (idempotent, other rules kept).

    (True, None) when the rule is in place; (None, warning) when a permission is missing."""
    s3 = ctx.client("s3")
    bucket, owner = ctx.bucket, ctx.account_id
    extra: dict[str, Any] = {}
    try:
        got = s3.get_bucket_lifecycle_configuration(Bucket=bucket, ExpectedBucketOwner=owner)
        rules: list[dict[str, Any]] = list(got.get("Rules", []))
        if got.get("TransitionDefaultMinimumObjectSize"):
            extra["TransitionDefaultMinimumObjectSize"] = got["TransitionDefaultMinimumObjectSize"]
    except Exception as exc:
        if error_code(exc) in _NONE:
            rules = []
        elif _denied(exc):
            return None, _missing("s3:GetLifecycleConfiguration")
        else:
            raise map_error(exc, profile=ctx.profile, what=f"read {bucket}'s lifecycle") from exc
    if any(r.get("ID") == RULE_ID and _same(r) for r in rules):
        return True, None
    rules = [r for r in rules if r.get("ID") != RULE_ID] + [secret_rule()]
    try:
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            ExpectedBucketOwner=owner,
            LifecycleConfiguration={"Rules": rules},
            **extra,
        )
    except Exception as exc:
        if _denied(exc):
            return None, _missing("s3:PutLifecycleConfiguration")
        raise map_error(exc, profile=ctx.profile, what=f"write {bucket}'s lifecycle") from exc
    return True, None
