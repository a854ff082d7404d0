"""The live suite's own arithmetic, checked in the default run (no AWS, no network)."""

from __future__ import annotations

import pytest

from tests.live.helpers import CostMeter


def test_the_cost_meter_counts_node_hours_at_the_price_tables_rates() -> None:
    now = [0.0]
    meter = CostMeter("t4g.small", "ap-south-1", clock=lambda: now[0])
    meter.nodes(1)
    now[0] = 1800.0  # one node for half an hour
    meter.nodes(2)
    now[0] = 3600.0  # two nodes for half an hour
    meter.nodes(0)
    now[0] = 7200.0  # nothing for an hour
    assert meter.node_hours == pytest.approx(1.5)
    report = meter.report()
    assert "1.500 instance hours of t4g.small in ap-south-1 at $0.0112/h = $0.0168" in report


def test_the_cost_meter_says_when_the_price_is_unknown() -> None:
    meter = CostMeter("x9z.huge", "ap-south-1", clock=lambda: 0.0)
    assert "not in goman's price table" in meter.report()
