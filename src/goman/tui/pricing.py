"""Prices for the dialogs. Prices are information, never a reason to fail: a type or
region without a known price shows "-"."""

from __future__ import annotations

from goman.tui import format as fmt


def node_price(instance_type: str, region: str) -> float | None:
    from goman.provision.prices import price_per_hour

    try:
        return price_per_hour(instance_type, region)
    except Exception:
        return None


def cluster_price(nodes: int, instance_type: str, region: str) -> float | None:
    """The same estimate `cluster list` shows: instances, root volumes and public IPv4."""
    from goman.provision.prices import nodes_cost_per_hour

    try:
        return nodes_cost_per_hour(nodes, instance_type, region)
    except Exception:
        return None


def instance_types(default: str, region: str) -> list[tuple[str, str]]:
    """Select options: "t3.medium  $0.045/h", the configured default always included."""
    from goman.provision.prices import INSTANCE_TYPES

    names = list(dict.fromkeys([*INSTANCE_TYPES, default]))
    width = max(len(n) for n in names)
    return [(f"{n.ljust(width)}  {fmt.money(node_price(n, region))}/h", n) for n in names]
