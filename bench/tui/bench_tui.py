"""TUI benchmark: time to first paint of the home screen, and requests while idle.

    uv run python bench/tui/bench_tui.py [--clusters 1000] [--idle 12] [--poll 2]

Runs against a private in-process sandbox (loopback only). Figures are ratios against a
baseline measured in the same run, never pass/fail timings:
- first paint with N clusters in the index vs with 0 clusters;
- requests per minute while idle vs the ideal of one conditional GET per poll, with the
  split of answers (304 Not Modified costs no body and no re-render).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any


def _environment(endpoint: str) -> None:
    from goman.sandbox.runtime import sandbox_config
    from goman.sandbox.server import SANDBOX_CREDENTIALS

    fd, path = tempfile.mkstemp(prefix="goman-bench-", suffix=".ini")
    with os.fdopen(fd, "w") as fh:
        fh.write(sandbox_config("default"))
    os.environ.update(SANDBOX_CREDENTIALS)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_CONFIG_FILE": path,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )


def _store(profile: str) -> Any:
    from goman.aws.session import AwsContext
    from goman.state.store import StateStore

    return StateStore(AwsContext(profile=profile, explicit_profile=False))


def _seed(store: Any, count: int) -> None:
    from goman.models.cluster import ClusterIndex, ClusterSummary
    from goman.state import keys

    now = datetime.now(UTC)
    phases = ["Running", "Running", "Running", "Provisioning", "Failed", "Scaling"]
    rows = {
        f"c{i:04d}": ClusterSummary(
            name=f"c{i:04d}",
            cluster_id=f"id{i:04d}",
            mode="ha" if i % 5 == 0 else "dev",
            region="ap-south-1",
            phase=phases[i % len(phases)],  # type: ignore[arg-type]
            workers=i % 4,
            instance_type="t3.medium",
            nodes_ready=1,
            nodes_total=1 + i % 4,
            endpoint=f"https://203.0.113.{i % 250}:6443",
            cost_per_hour=0.05 * (1 + i % 4),
            created_at=now - timedelta(minutes=i),
        )
        for i in range(count)
    }
    store.update(keys.INDEX, ClusterIndex, lambda _old: ClusterIndex(clusters=rows))


async def _first_paint(store: Any, count: int) -> float:
    from goman.tui.app import GomanApp
    from goman.tui.widgets.clusters_table import ClustersTable

    app = GomanApp(store, poll_interval=3600)
    start = time.perf_counter()
    async with app.run_test(size=(120, 35)) as pilot:
        table = app.screen.query_one(ClustersTable)
        while app.index is None or table.row_count != count:
            await pilot.pause(0.005)
        await pilot.pause()  # the frame that shows the rows
        return time.perf_counter() - start


async def _idle(store: Any, seconds: float, poll: float) -> Counter[str]:
    from goman.tui.app import GomanApp

    seen: Counter[str] = Counter()

    def count(http_response: Any = None, model: Any = None, **_: Any) -> None:
        status = getattr(http_response, "status_code", "?")
        seen[f"{model.name} {status}"] += 1

    def count_error(exception: Any = None, **_: Any) -> None:
        if exception is not None:
            seen[f"error {type(exception).__name__}"] += 1

    s3 = store.ctx.client("s3")
    s3.meta.events.register("after-call.s3", count)
    s3.meta.events.register("after-call-error.s3", count_error)
    app = GomanApp(store, poll_interval=poll)
    async with app.run_test(size=(120, 35)) as pilot:
        while app.index is None:
            await pilot.pause(0.01)
        seen.clear()  # only the idle part counts, not start-up
        await pilot.pause(seconds)
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=12.0, help="idle window, seconds")
    parser.add_argument("--poll", type=float, default=2.0, help="poll interval, seconds")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from goman.sandbox.runtime import default_server

    server = default_server(0)
    try:
        _environment(server.endpoint)
        empty, full = _store("bench-empty"), _store("bench-full")
        _seed(empty, 0)
        _seed(full, args.clusters)
        # Warm both paths once (imports, clients, first bucket access) before measuring.
        asyncio.run(_first_paint(empty, 0))
        base = [asyncio.run(_first_paint(empty, 0)) for _ in range(args.repeat)]
        many = [asyncio.run(_first_paint(full, args.clusters)) for _ in range(args.repeat)]
        b, m = statistics.median(base), statistics.median(many)
        print(f"first paint of home, median of {args.repeat}:")
        print(f"  0 clusters      {b * 1000:8.1f} ms  (baseline)")
        print(f"  {args.clusters} clusters {m * 1000:8.1f} ms  = {m / b:.2f}x baseline")

        before = server.app.request_count
        seen = asyncio.run(_idle(full, args.idle, args.poll))
        total = sum(seen.values())
        per_minute = total * 60 / args.idle
        ideal = 60 / args.poll
        print(f"idle for {args.idle:.0f}s, polling every {args.poll:g}s, {args.clusters} clusters:")
        print(
            f"  {per_minute:.1f} requests/min = {per_minute / ideal:.2f}x the ideal ({ideal:.0f}/min)"
        )
        for what, n in sorted(seen.items()):
            print(f"    {what:<28} {n}")
        print(
            f"  (sandbox saw {server.app.request_count - before} requests in that run, start-up included)"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
