"""`goman state ...`: listing, history, show, diff, restore (by CAS) and recovery."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import BUCKET

CONFIG_KEY = "state/default/config.json"


def _history(goman: Any, key: str = "config.json") -> list[dict[str, Any]]:
    res = goman("state", "history", key, "-o", "json")
    assert res.exit_code == 0, res.output
    return list(res.json())


def _with_three_versions(goman: Any) -> list[dict[str, Any]]:
    assert goman("init").exit_code == 0  # revision 1, workers 0
    assert goman("config", "set", "workers", "2").exit_code == 0  # revision 2
    assert goman("config", "set", "workers", "4").exit_code == 0  # revision 3
    return _history(goman)


def test_ls_lists_documents_relative_to_the_profile(goman: Any) -> None:
    assert goman("init").exit_code == 0
    assert goman("--profile", "team-a", "init").exit_code == 0
    res = goman("state", "ls", "-o", "json")
    assert res.exit_code == 0, res.output
    rows = res.json()
    assert [r["key"] for r in rows] == ["config.json", "probe/conditional-writes.json"]
    assert set(rows[0]) == {"key", "size", "last_modified", "etag"}
    assert "config.json" in goman("state", "ls").stdout


def test_history_is_newest_first(goman: Any) -> None:
    versions = _with_three_versions(goman)
    assert len(versions) == 3
    assert [v["is_latest"] for v in versions] == [True, False, False]
    assert set(versions[0]) >= {"version_id", "last_modified", "size", "is_latest"}
    revisions = [
        json.loads(goman("state", "show", "config.json", "--version", v["version_id"]).stdout)[
            "revision"
        ]
        for v in versions
    ]
    assert revisions == [3, 2, 1]


def test_show_and_diff(goman: Any) -> None:
    versions = _with_three_versions(goman)
    oldest = versions[-1]["version_id"]
    current = json.loads(goman("state", "show", "config.json").stdout)
    assert current["workers"] == 4
    res = goman("state", "diff", "config.json", oldest)
    assert res.exit_code == 0, res.output
    assert '-  "workers": 0\n' in res.stdout and '+  "workers": 4\n' in res.stdout
    between = goman("state", "diff", "config.json", oldest, versions[1]["version_id"])
    assert '+  "workers": 2\n' in between.stdout
    same = goman("state", "diff", "config.json", versions[0]["version_id"], "latest")
    assert same.stdout == "(no differences)\n"


def test_restore_makes_an_old_version_current_again(goman: Any, s3: Any) -> None:
    versions = _with_three_versions(goman)
    oldest = versions[-1]["version_id"]
    res = goman("state", "restore", "config.json", "--version", oldest, "--yes", "-o", "json")
    assert res.exit_code == 0, res.output
    assert res.json()["revision"] == 4
    stored = json.loads(s3.get_object(Bucket=BUCKET, Key=CONFIG_KEY)["Body"].read())
    assert stored["workers"] == 0 and stored["revision"] == 4
    after = _history(goman)
    assert len(after) == 4 and after[0]["version_id"] == res.json()["version_id"]


def test_restore_needs_yes_without_a_terminal(goman: Any, s3: Any) -> None:
    versions = _with_three_versions(goman)
    res = goman("state", "restore", "config.json", "--version", versions[-1]["version_id"])
    assert res.exit_code == 2
    assert "--yes" in res.stderr
    assert len(_history(goman)) == 3  # nothing written


def test_unknown_keys_and_versions_are_clear_errors(goman: Any) -> None:
    assert goman("init").exit_code == 0
    missing = goman("state", "history", "clusters/nope.state.json")
    assert missing.exit_code == 1 and "has no versions" in missing.stderr
    bad = goman("state", "show", "config.json", "--version", "nosuchversion")
    assert bad.exit_code == 1 and "has no version nosuchversion" in bad.stderr
    assert "`goman state history config.json`" in bad.stderr  # where the versions are
    outside = goman("state", "show", "../team-a/config.json")
    assert outside.exit_code == 1 and "not a key inside" in outside.stderr
    gone = goman("state", "restore", "config.json", "--version", "nosuchversion", "--yes")
    assert gone.exit_code == 1 and "has no version nosuchversion" in gone.stderr


def test_corrupted_document_is_reported_then_restored(goman: Any, s3: Any) -> None:
    assert goman("init").exit_code == 0
    assert goman("config", "set", "workers", "3").exit_code == 0
    good = _history(goman)[0]["version_id"]
    s3.put_object(Bucket=BUCKET, Key=CONFIG_KEY, Body=b'{"workers": 3, "revis')

    res = goman("config", "get", "workers")
    assert res.exit_code == 1
    assert f"s3 key {CONFIG_KEY} is invalid: not valid JSON" in res.stderr
    assert f"goman state restore config.json --version {good}" in res.stderr
    assert "Traceback" not in res.output
    assert goman("config", "set", "workers", "5").exit_code == 1  # never silently replaced
    doctor = goman("doctor", "-o", "json")
    assert doctor.exit_code == 1
    assert [c["name"] for c in doctor.json()["checks"] if c["status"] == "fail"] == ["config.json"]

    shown = goman("state", "show", "config.json")
    assert shown.exit_code == 0 and '"revis' in shown.stdout  # the broken body, as stored
    fixed = goman("state", "restore", "config.json", "--version", good, "--yes")
    assert fixed.exit_code == 0, fixed.output
    assert goman("config", "get", "workers").stdout == "3\n"
    assert goman("config", "set", "workers", "5").exit_code == 0


def test_a_corrupted_version_cannot_be_restored(goman: Any, s3: Any) -> None:
    assert goman("init").exit_code == 0
    s3.put_object(Bucket=BUCKET, Key=CONFIG_KEY, Body=b"garbage")
    assert goman("config", "set", "workers", "1").exit_code == 1
    broken = _history(goman)[0]["version_id"]
    res = goman("state", "restore", "config.json", "--version", broken, "--yes")
    assert res.exit_code == 1 and "not a valid document either" in res.stderr


def test_restore_brings_back_a_deleted_document(goman: Any, s3: Any) -> None:
    assert goman("init").exit_code == 0
    first = _history(goman)[0]["version_id"]
    s3.delete_object(Bucket=BUCKET, Key=CONFIG_KEY)
    versions = _history(goman)
    assert versions[0]["is_delete_marker"] is True
    marker = goman(
        "state", "restore", "config.json", "--version", versions[0]["version_id"], "--yes"
    )
    assert marker.exit_code == 2 and "is a delete marker" in marker.stderr
    res = goman("state", "restore", "config.json", "--version", first, "--yes")
    assert res.exit_code == 0, res.output
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=CONFIG_KEY)["Body"].read())["revision"] == 2
