"""The policy data: the seed's exact grants, and optional extras that never overlap them."""

from __future__ import annotations

import json

from goman.aws.iam_policy import OPTIONAL, optional_policy, seed_actions, seed_policy


def test_seed_policy_is_valid_json_with_unique_sids() -> None:
    policy = json.loads(json.dumps(seed_policy()))
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(sids) == len(set(sids))
    assert len(seed_actions()) == len(set(seed_actions())) == 35


def test_optional_permissions_are_not_in_the_seed_and_say_what_they_enable() -> None:
    seed = set(seed_actions())
    for opt in OPTIONAL:
        assert not seed & set(opt.actions), opt.sid
        assert opt.enables and opt.without


def test_kms_statement_can_be_narrowed_to_one_key() -> None:
    arn = "arn:aws:kms:ap-south-1:123456789012:key/abc"
    kms = next(s for s in optional_policy(arn)["Statement"] if s["Sid"] == "GomanKms")
    assert kms["Resource"] == arn


def test_stop_and_start_are_limited_to_instances_tagged_as_a_clusters() -> None:
    power = next(s for s in seed_policy()["Statement"] if s["Sid"] == "GomanEc2StopStart")
    assert set(power["Action"]) == {"ec2:StopInstances", "ec2:StartInstances"}
    assert power["Resource"] == "arn:aws:ec2:*:*:instance/*"
    assert power["Condition"]["StringLike"] == {"aws:ResourceTag/goman:cluster-id": "?*"}
    others = [s for s in seed_policy()["Statement"] if s["Sid"] != "GomanEc2StopStart"]
    assert not any("ec2:StopInstances" in s["Action"] for s in others)
