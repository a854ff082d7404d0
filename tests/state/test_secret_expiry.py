"""Old versions of secrets expire: `goman init` puts a lifecycle rule on the tag every
secret carries, keeps the bucket's other rules, and never touches the state documents."""

from __future__ import annotations

from typing import Any

from tests.cli.cluster_helpers import PREFIX
from tests.conftest import BUCKET

USERS_RULE = {
    "ID": "teams-own-rule",
    "Filter": {"Prefix": "exports/"},
    "Status": "Enabled",
    "Expiration": {"Days": 30},
}


def _rules(s3: Any) -> list[dict[str, Any]]:
    return list(s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"])


def test_init_adds_the_rule_once_and_keeps_every_other_rule(goman: Any, s3: Any) -> None:
    first = goman("init", "-o", "json")
    assert first.exit_code == 0, first.output
    assert first.json()["secret_versions_expire"] is True
    (rule,) = _rules(s3)
    # Only objects tagged as secrets: a prefix would take the state documents' history too.
    assert rule["Filter"] == {"Tag": {"Key": "goman-secret", "Value": "true"}}
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1
    assert "Expiration" not in rule  # current versions are never expired by it

    s3.put_bucket_lifecycle_configuration(
        Bucket=BUCKET, LifecycleConfiguration={"Rules": [USERS_RULE, rule]}
    )
    assert goman("init").exit_code == 0
    rules = _rules(s3)
    assert [r["ID"] for r in rules] == ["teams-own-rule", "goman-secret-versions"]

    # A rule of the same name that a person changed is put back; theirs stays.
    changed = {**rule, "Status": "Disabled"}
    s3.put_bucket_lifecycle_configuration(
        Bucket=BUCKET, LifecycleConfiguration={"Rules": [USERS_RULE, changed]}
    )
    assert goman("init").exit_code == 0
    rules = _rules(s3)
    assert [r["ID"] for r in rules] == ["teams-own-rule", "goman-secret-versions"]
    assert rules[1]["Status"] == "Enabled"
    assert rules[0]["Expiration"] == {"Days": 30}


def test_secrets_carry_the_tag_and_state_documents_do_not(goman: Any, s3: Any) -> None:
    assert goman("init").exit_code == 0
    created = goman("cluster", "create", "web", "--timeout", "60s")
    assert created.exit_code == 0, created.output
    secrets = f"{PREFIX}clusters/web/secrets/"
    found = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=secrets)["Contents"]]
    assert {k.removeprefix(secrets) for k in found} == {
        "join-token",
        "agent-token",
        "ca-bundle.json",
    }
    for key in found:
        tags = s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
        assert tags == [{"Key": "goman-secret", "Value": "true"}], key
    for key in (f"{PREFIX}clusters/web.state.json", f"{PREFIX}config.json"):
        assert s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"] == [], key
