"""A cluster's settings checked against the world before anything is written.

The region and instance type against what EC2 offers, and `auto` in the API's allowed
CIDRs resolved to the caller's public address. Shared by `cluster create` and
`config set`, so a value refused by one is refused by the other.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from goman.state.config import load_config
from goman.state.store import StateStore

AUTO = "auto"


def resolve_api_cidrs(cidrs: list[str]) -> list[str]:
    """`cidrs` with `auto` replaced by the caller's public address (/32 or /128)."""
    if AUTO not in cidrs:
        return cidrs
    from goman.aws.checkip import public_cidr

    mine = public_cidr()
    out: list[str] = []
    for cidr in cidrs:
        value = mine if cidr == AUTO else cidr
        if value not in out:
            out.append(value)
    return out


def open_to_everyone(cidrs: list[str]) -> str | None:
    """The CIDR that lets the whole internet in (0.0.0.0/0 or ::/0), if any."""
    for cidr in cidrs:
        try:
            if ipaddress.ip_network(cidr, strict=False).prefixlen == 0:
                return cidr
        except ValueError:
            continue
    return None


def open_api_warning(name: str, cidr: str) -> str:
    return (
        f"the Kubernetes API of {name} is open to the whole internet (api_cidrs {cidr}); "
        "narrow it with --api-cidr auto (your address) or --api-cidr CIDR, or for every "
        "cluster with `goman config set api_cidrs auto`."
    )


def check_setting(store: StateStore, key: str, value: Any) -> Any:
    """A valid config value checked against EC2 (the region, the instance type)."""
    if key in {"region", "instance_type"} and isinstance(value, str):
        from goman.provision.placement import PlacementCheck

        placement = PlacementCheck(store.ctx)
        if key == "region":
            placement.check_region(value)
        else:
            placement.check(load_config(store).region, value)
    return value
