"""The static price table and the tag set."""

from __future__ import annotations

import pytest

from goman.models.cluster import ClusterSpec
from goman.provision.prices import (
    INSTANCE_TYPES,
    PUBLIC_IPV4_PER_HOUR,
    REGIONS,
    cluster_cost_per_hour,
    price_per_hour,
    volume_per_hour,
)
from goman.provision.tags import tag_dict, tags_for


def test_known_prices() -> None:
    assert price_per_hour("t3.medium", "us-east-1") == pytest.approx(0.0416)
    assert price_per_hour("t3.micro", "us-east-1") == pytest.approx(0.0104)
    assert price_per_hour("m5.2xlarge", "us-east-1") == pytest.approx(0.384)
    assert price_per_hour("t3.medium", "ap-south-1") == pytest.approx(0.0448)


@pytest.mark.parametrize(
    ("itype", "region"),
    [
        ("t3.medium", "mars-east-1"),
        ("x9.large", "us-east-1"),
        ("m5.nano", "us-east-1"),
        ("t3", "us-east-1"),
    ],
)
def test_unknown_prices_are_none(itype: str, region: str) -> None:
    assert price_per_hour(itype, region) is None


def test_every_listed_type_is_priced_in_every_listed_region() -> None:
    assert "t3.medium" in INSTANCE_TYPES and "t4g.medium" in INSTANCE_TYPES
    assert len(INSTANCE_TYPES) == len(set(INSTANCE_TYPES))
    assert "ap-south-1" in REGIONS
    for region in REGIONS:
        for itype in INSTANCE_TYPES:
            price = price_per_hour(itype, region)
            assert price is not None and 0 < price < 5, (itype, region)


def test_cluster_cost_counts_nodes_volumes_and_public_addresses() -> None:
    per_node = (
        price_per_hour("t3.medium", "ap-south-1")  # type: ignore[operator]
        + volume_per_hour("ap-south-1")
        + PUBLIC_IPV4_PER_HOUR
    )
    dev = cluster_cost_per_hour(ClusterSpec(name="web"))
    ha = cluster_cost_per_hour(ClusterSpec(name="web", mode="ha", workers=2))
    assert dev == pytest.approx(per_node, abs=1e-4)
    assert ha == pytest.approx(5 * per_node, abs=1e-4)
    assert cluster_cost_per_hour(ClusterSpec(name="web", region="sa-east-1")) is None
    assert cluster_cost_per_hour(ClusterSpec(name="web", instance_type="x9.large")) is None


def test_tags_name_the_cluster_id_profile_role_and_node() -> None:
    tags = tag_dict(tags_for("web", "id-1", "team", role="agent", node="web-agent-3"))
    assert tags == {
        "goman:cluster": "web",
        "goman:cluster-id": "id-1",
        "goman:profile": "team",
        "goman:role": "agent",
        "goman:node": "web-agent-3",
        "Name": "web-agent-3",
    }
    group = tag_dict(tags_for("web", "id-1", "team"))
    assert group["Name"] == "goman-team-web" and "goman:role" not in group
    assert tag_dict(tags_for("web", "id-1", "team", name="x"))["Name"] == "x"
    with pytest.raises(ValueError):
        tags_for("web", "id-1", "team", role="master")
