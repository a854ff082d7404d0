"""Approximate hourly costs, from a static table (no pricing API call, no extra IAM).

Figures: AWS on-demand Linux prices in USD as published around mid-2025 (checked
2025-06), rounded. They are a guide for the UI, not a bill: check
https://aws.amazon.com/ec2/pricing/on-demand/ for exact and current numbers.

Within a family, on-demand prices scale linearly with size, so the table keeps the
`.large` price per family and region, and each size is a multiple of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from goman.models.cluster import ClusterSpec

PRICES_AS_OF = "2025-06"
HOURS_PER_MONTH = 730.0
ROOT_VOLUME_GIB = 30
PUBLIC_IPV4_PER_HOUR = 0.005  # every public IPv4 address, EIPs included (since 2024-02)

# Size -> multiple of the `.large` price.
_SIZE = {
    "nano": 1 / 16,
    "micro": 1 / 8,
    "small": 1 / 4,
    "medium": 1 / 2,
    "large": 1.0,
    "xlarge": 2.0,
    "2xlarge": 4.0,
    "4xlarge": 8.0,
}
# Sizes offered per family (the ones worth picking for a K3s node).
_BURSTABLE = ("nano", "micro", "small", "medium", "large", "xlarge", "2xlarge")
_FAMILY_SIZES = {
    "t3": _BURSTABLE,
    "t3a": _BURSTABLE,
    "t4g": _BURSTABLE,
    "m5": ("large", "xlarge", "2xlarge", "4xlarge"),
    "m6i": ("large", "xlarge", "2xlarge", "4xlarge"),
    "m7g": ("medium", "large", "xlarge", "2xlarge", "4xlarge"),
    "c5": ("large", "xlarge", "2xlarge", "4xlarge"),
    "c6i": ("large", "xlarge", "2xlarge", "4xlarge"),
    "r5": ("large", "xlarge", "2xlarge", "4xlarge"),
}

_US = {
    "t3": 0.0832,
    "t3a": 0.0752,
    "t4g": 0.0672,
    "m5": 0.096,
    "m6i": 0.096,
    "m7g": 0.0816,
    "c5": 0.085,
    "c6i": 0.085,
    "r5": 0.126,
}

# USD per hour of the `.large` size, per region.
_LARGE: dict[str, dict[str, float]] = {
    "ap-south-1": {
        "t3": 0.0896,
        "t3a": 0.0806,
        "t4g": 0.0448,
        "m5": 0.101,
        "m6i": 0.101,
        "m7g": 0.0859,
        "c5": 0.085,
        "c6i": 0.085,
        "r5": 0.127,
    },
    # The three big US regions share one price list.
    "us-east-1": _US,
    "us-east-2": _US,
    "us-west-2": _US,
    "eu-west-1": {
        "t3": 0.0912,
        "t3a": 0.0816,
        "t4g": 0.0736,
        "m5": 0.107,
        "m6i": 0.107,
        "m7g": 0.0910,
        "c5": 0.096,
        "c6i": 0.096,
        "r5": 0.141,
    },
    "eu-central-1": {
        "t3": 0.096,
        "t3a": 0.0864,
        "t4g": 0.0768,
        "m5": 0.115,
        "m6i": 0.115,
        "m7g": 0.0978,
        "c5": 0.097,
        "c6i": 0.097,
        "r5": 0.152,
    },
    "ap-southeast-1": {
        "t3": 0.1056,
        "t3a": 0.0944,
        "t4g": 0.0848,
        "m5": 0.12,
        "m6i": 0.12,
        "m7g": 0.1018,
        "c5": 0.098,
        "c6i": 0.098,
        "r5": 0.152,
    },
}

# gp3 storage, USD per GiB-month.
_GP3_GIB_MONTH = {
    "ap-south-1": 0.0912,
    "us-east-1": 0.08,
    "us-east-2": 0.08,
    "us-west-2": 0.08,
    "eu-west-1": 0.088,
    "eu-central-1": 0.0952,
    "ap-southeast-1": 0.096,
}

INSTANCE_TYPES: list[str] = [
    f"{family}.{size}" for family, sizes in _FAMILY_SIZES.items() for size in sizes
]
REGIONS: list[str] = sorted(_LARGE)


def price_per_hour(instance_type: str, region: str) -> float | None:
    """On-demand Linux USD/hour of one instance, or None when the table does not know it."""
    family, _, size = instance_type.partition(".")
    if size not in _FAMILY_SIZES.get(family, ()):
        return None
    large = _LARGE.get(region, {}).get(family)
    if large is None:
        return None
    return round(large * _SIZE[size], 5)


def volume_per_hour(region: str, gib: int = ROOT_VOLUME_GIB) -> float | None:
    per_month = _GP3_GIB_MONTH.get(region)
    return None if per_month is None else per_month * gib / HOURS_PER_MONTH


def cluster_cost_per_hour(spec: ClusterSpec) -> float | None:
    """Approximate USD/hour of a cluster as specified: its instances, their 30 GiB gp3
    root volumes and their public IPv4 addresses (every node gets one from the default
    subnet; server-0's is the cluster's Elastic IP). None when a price is unknown."""
    return nodes_cost_per_hour(spec.servers + spec.workers, spec.instance_type, spec.region)


def nodes_cost_per_hour(nodes: int, instance_type: str, region: str) -> float | None:
    """Approximate USD/hour of `nodes` nodes: instance, root volume and public IPv4 each."""
    instance = price_per_hour(instance_type, region)
    volume = volume_per_hour(region)
    if instance is None or volume is None:
        return None
    return round(nodes * (instance + volume + PUBLIC_IPV4_PER_HOUR), 4)


def stopped_cost_per_hour(nodes: int, region: str, *, addresses: int = 1) -> float | None:
    """Approximate USD/hour of `nodes` stopped nodes: a stopped instance is not billed, its
    root volume is, and so is the Elastic IP (`addresses`) the cluster keeps for its
    endpoint. The other nodes' public addresses are released while stopped."""
    volume = volume_per_hour(region)
    if volume is None:
        return None
    return round(nodes * volume + addresses * PUBLIC_IPV4_PER_HOUR, 4)
