"""IAM enforcement in the sandbox: one identity with exactly a given policy, and presigned
URLs checked like every other request.

moto checks IAM once `INITIAL_NO_AUTH_ACTION_COUNT` is reached (`POST /moto-api/reset-auth`
with `0`), but only for requests signed in their `Authorization` header: its check reads
that header unconditionally, so a presigned URL (signed in its query string) makes it fail
with a KeyError and answer 500. The nodes talk to the bucket through presigned URLs only,
so the sandbox verifies such a request itself (the signature, with the key's secret from
moto's IAM; the expiry) and hands moto the same request signed in its headers by the same
key, which moto then authorizes like any other: the action and resource of the URL, under
the signer's policy.
"""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

Environ = dict[str, Any]

# The query parameters of a SigV4 presigned URL: they sign the request, they are not part of it.
_AUTH_PARAMS = {
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
}
MAX_EXPIRES = 7 * 24 * 3600  # what S3 accepts for X-Amz-Expires


def enforcing() -> bool:
    """Is moto checking IAM for requests now?"""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    return bool(ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT)


def _s3_error(start: Any, code: str, message: str) -> list[bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    ).encode()
    start(
        "403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
    )
    return [body]


def _header(environ: Environ, name: str) -> str:
    if name == "host":
        return str(environ.get("HTTP_HOST", ""))
    if name in {"content-type", "content-length"}:
        return str(environ.get(name.upper().replace("-", "_"), ""))
    return str(environ.get("HTTP_" + name.upper().replace("-", "_"), ""))


def _secret_of(access_key_id: str) -> str | None:
    from moto.iam.access_control import CreateAccessKeyFailure, IAMUserAccessKey
    from moto.iam.models import get_account_id_from

    try:
        key = IAMUserAccessKey(get_account_id_from(access_key_id), "aws", access_key_id, {})
    except CreateAccessKeyFailure:
        return None
    return str(key.create_credentials().secret_key)


def presigned_as_signed(environ: Environ, start: Any) -> list[bytes] | None:
    """Turn a presigned request into the same request signed in its headers, or refuse it.

    Returns None when the request may go on to moto (changed in place if it was presigned),
    or the error answer (403, as S3 words it) when its signature or expiry is wrong."""
    raw_query = str(environ.get("QUERY_STRING", ""))
    params = dict(parse_qsl(raw_query, keep_blank_values=True))
    if "X-Amz-Signature" not in params or environ.get("HTTP_AUTHORIZATION"):
        return None
    from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials

    try:
        key_id, _, region, service, _ = params["X-Amz-Credential"].split("/")
        stamp = params["X-Amz-Date"]
        signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires = int(params["X-Amz-Expires"])
        signed_names = params["X-Amz-SignedHeaders"].split(";")
    except (KeyError, ValueError):
        return _s3_error(start, "AuthorizationQueryParametersError", "Malformed presigned URL.")
    secret = _secret_of(key_id)
    if secret is None or service != "s3":
        return _s3_error(start, "InvalidAccessKeyId", "The AWS access key Id does not exist.")
    creds = Credentials(key_id, secret)
    host = str(environ.get("HTTP_HOST", ""))
    path = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or "").split("?", 1)[0]
    path = path or str(environ.get("PATH_INFO", "/"))
    method = str(environ.get("REQUEST_METHOD", "GET"))
    # The canonical query is the one sent, as sent (already encoded), minus the signature.
    parts = [p for p in raw_query.split("&") if p and not p.startswith("X-Amz-Signature=")]
    presigned = AWSRequest(
        method=method,
        url=f"http://{host}{path}?{'&'.join(parts)}",
        headers={name: _header(environ, name) for name in signed_names if name != "host"},
    )
    presigned.headers["host"] = host
    presigned.context["timestamp"] = stamp
    query_auth = S3SigV4QueryAuth(creds, "s3", region, expires=expires)
    canonical = query_auth.canonical_request(presigned)
    expected = query_auth.signature(query_auth.string_to_sign(presigned, canonical), presigned)
    if not hmac.compare_digest(expected, params["X-Amz-Signature"]):
        return _s3_error(
            start,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    if not 0 < expires <= MAX_EXPIRES or datetime.now(UTC) > signed_at + timedelta(seconds=expires):
        return _s3_error(start, "AccessDenied", "Request has expired")
    # The same request, signed in its headers by the same key, for moto's own IAM check.
    kept = [p for p in parts if p.split("=", 1)[0] not in _AUTH_PARAMS]
    query = "&".join(kept)
    signed = AWSRequest(
        method=method,
        url=f"http://{host}{path}" + (f"?{query}" if query else ""),
        headers={
            **{name: _header(environ, name) for name in signed_names if name != "host"},
            "host": host,
        },
    )
    # A presigned request's payload is unsigned; say so in the header-signed one too.
    signed.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    S3SigV4Auth(creds, "s3", region).add_auth(signed)
    environ["QUERY_STRING"] = query
    for name in ("RAW_URI", "REQUEST_URI"):
        if name in environ:
            environ[name] = path + (f"?{query}" if query else "")
    environ["HTTP_AUTHORIZATION"] = signed.headers["Authorization"]
    environ["HTTP_X_AMZ_DATE"] = signed.headers["X-Amz-Date"]
    environ["HTTP_X_AMZ_CONTENT_SHA256"] = signed.headers["X-Amz-Content-SHA256"]
    return None


def enforce(endpoint: str, policy: dict[str, Any], *, user: str = "goman") -> dict[str, str]:
    """Create an IAM user with exactly `policy` on the sandbox at `endpoint`, then turn IAM
    checks on. Returns the user's keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)."""
    import urllib.request

    import boto3

    from goman.sandbox.server import SANDBOX_CREDENTIALS

    iam = boto3.client(
        "iam",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id=SANDBOX_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=SANDBOX_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="goman", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=b"0",
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as resp:
        resp.read()
    return {
        "AWS_ACCESS_KEY_ID": str(key["AccessKeyId"]),
        "AWS_SECRET_ACCESS_KEY": str(key["SecretAccessKey"]),
    }
