"""`state history` keeps S3's newest-first order for writes made within one second
(LastModified has one-second resolution)."""

from __future__ import annotations

from typing import Any

BUCKET = "goman-123456789012"


def test_history_is_newest_first_even_within_one_second(goman: Any, s3: Any) -> None:
    assert goman("init").exit_code == 0
    key = "state/default/notes.json"
    written = [
        s3.put_object(Bucket=BUCKET, Key=key, Body=f'{{"n": {i}}}'.encode())["VersionId"]
        for i in range(5)
    ]
    result = goman("state", "history", "notes.json", "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = result.json()
    assert [r["version_id"] for r in rows] == list(reversed(written))
    assert [r["is_latest"] for r in rows] == [True, False, False, False, False]


def test_an_empty_profile_name_is_a_usage_error(goman: Any) -> None:
    result = goman("--profile=", "status")
    assert result.exit_code == 2
    assert "cannot be used as a state folder name" in result.stderr
