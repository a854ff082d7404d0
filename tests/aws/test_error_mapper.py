"""Error classes that the sandbox cannot produce cheaply, through the one mapper."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from goman.aws.errors import map_error


def _client_error(code: str, message: str, op: str, status: int = 400) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
        },
        op,
    )


@pytest.mark.parametrize(
    ("code", "op", "says", "fix"),
    [
        ("ExpiredToken", "GetObject", "have expired", "aws sso login --profile team-a"),
        ("RequestExpired", "DescribeInstances", "have expired", "aws sso login"),
        ("Throttling", "GetCallerIdentity", "throttling requests", "Wait a minute"),
        ("SlowDown", "PutObject", "throttling requests", "Wait a minute"),
        ("AuthorizationHeaderMalformed", "GetObject", "region error", "ap-south-1"),
        ("InvalidAccessKeyId", "GetObject", "rejected the credentials", "get-caller-identity"),
    ],
)
def test_each_error_class_has_a_message_and_a_fix(code: str, op: str, says: str, fix: str) -> None:
    err = map_error(_client_error(code, "x", op), profile="team-a")
    assert says in err.message
    assert fix in err.hint
    assert err.exit_code == 1


def test_access_denied_names_the_action_from_the_message() -> None:
    exc = _client_error(
        "UnauthorizedOperation",
        "You are not authorized to perform: ec2:RunInstances on resource ...",
        "RunInstances",
        403,
    )
    err = map_error(exc, profile="default", what="launch nodes")
    assert "lacks ec2:RunInstances while trying to launch nodes" in err.message
    assert "goman iam-policy" in err.hint


def test_access_denied_without_a_message_names_the_iam_action() -> None:
    err = map_error(_client_error("AccessDenied", "Access Denied", "ListObjectVersions", 403))
    assert "s3:ListBucketVersions" in err.message


def _dated(code: str, op: str, server_ahead: float) -> ClientError:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    when = datetime.now(UTC) + timedelta(seconds=server_ahead)
    return ClientError(
        {
            "Error": {"Code": code, "Message": "x"},
            "ResponseMetadata": {
                "HTTPStatusCode": 400,
                "HTTPHeaders": {"date": format_datetime(when, usegmt=True)},
            },
        },
        op,
    )


@pytest.mark.parametrize(
    ("code", "op", "ahead", "says"),
    [
        ("RequestExpired", "DescribeInstances", -2 * 3600 - 600, "2 hours 10 minutes ahead of"),
        ("AuthFailure", "RunInstances", 3 * 86400, "3 days behind"),
        ("SignatureDoesNotMatch", "GetCallerIdentity", 20 * 60, "20 minutes behind"),
    ],
)
def test_a_skewed_clock_is_named_with_how_far_off_it_is(
    code: str, op: str, ahead: float, says: str
) -> None:
    err = map_error(_dated(code, op, ahead))
    assert "clock" in err.message and says in err.message, err.message
    assert "time sync" in err.hint


@pytest.mark.parametrize(
    ("code", "says"),
    [("RequestExpired", "have expired"), ("SignatureDoesNotMatch", "rejected the credentials")],
)
def test_a_right_clock_is_not_blamed(code: str, says: str) -> None:
    err = map_error(_dated(code, "GetObject", 2))
    assert says in err.message and "clock" not in err.message
