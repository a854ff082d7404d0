"""Where a cluster may go: the regions EC2 offers the account, and the instance types
offered in a region.

Asked before anything is written, so a typo (`--region eu-fake-9`, `--instance-type
t3.mediun`) costs one answer with the nearest valid names instead of state documents, a
security group and an Elastic IP. The two lookups run at once, in background threads that
never keep the process alive, and each answer is kept for the rest of the process.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable
from typing import Any

from goman.aws.constants import STATE_REGION
from goman.aws.errors import GomanError, UsageError, map_error
from goman.aws.session import AwsContext

_MEMO_LOCK = threading.Lock()


class _Lookup:
    """One call run in a daemon thread: a lookup that is no longer needed (the region it
    is for does not exist) never delays the command's exit."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._fn = fn
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="goman-placement", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # handed to whoever waits for the answer
            self._error = exc

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _remembered(ctx: AwsContext, key: tuple[str, ...], fn: Callable[[], Any]) -> _Lookup:
    with _MEMO_LOCK:
        found = ctx.memo.get(key)
        if not isinstance(found, _Lookup) or found._error is not None:
            found = ctx.memo[key] = _Lookup(fn)
        return found


def _call(ctx: AwsContext, what: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except GomanError:
        raise
    except Exception as exc:
        raise map_error(exc, profile=ctx.profile, what=what) from exc


def _regions(ctx: AwsContext) -> frozenset[str]:
    # Without AllRegions, EC2 lists the regions enabled for this account only.
    ec2 = ctx.client("ec2", STATE_REGION)
    resp = _call(ctx, "list the regions EC2 offers", ec2.describe_regions)
    return frozenset(str(r["RegionName"]) for r in resp.get("Regions", []))


def _offered(ctx: AwsContext, region: str, instance_type: str) -> bool:
    ec2 = ctx.client("ec2", region)
    resp = _call(
        ctx,
        f"check instance type {instance_type} in {region}",
        lambda: ec2.describe_instance_type_offerings(
            LocationType="region", Filters=[{"Name": "instance-type", "Values": [instance_type]}]
        ),
    )
    return any(o.get("InstanceType") == instance_type for o in resp["InstanceTypeOfferings"])


def _all_offered(ctx: AwsContext, region: str) -> list[str]:
    ec2 = ctx.client("ec2", region)

    def pages() -> list[dict[str, Any]]:
        paginator = ec2.get_paginator("describe_instance_type_offerings")
        return list(paginator.paginate(LocationType="region"))

    found = _call(ctx, f"list the instance types of {region}", pages)
    return sorted({str(o["InstanceType"]) for p in found for o in p["InstanceTypeOfferings"]})


def _nearest(value: str, choices: list[str] | frozenset[str]) -> str:
    """ "Did you mean a, b? " with the nearest valid names, or ""."""
    close = difflib.get_close_matches(value, sorted(choices), n=3, cutoff=0.6)
    return f"Did you mean {', '.join(close)}? " if close else ""


class PlacementCheck:
    """Start the lookups as soon as what they need is known; `check` waits for them."""

    def __init__(self, ctx: AwsContext) -> None:
        self.ctx = ctx
        self._regions = _remembered(ctx, ("regions",), lambda: _regions(ctx))

    def expect(self, region: str, instance_type: str | None = None) -> None:
        """Start looking up `instance_type` in `region` now (nothing is raised here)."""
        if instance_type:
            ctx = self.ctx
            _remembered(
                ctx,
                ("offered", region, instance_type),
                lambda: _offered(ctx, region, instance_type),
            )

    def check_region(self, region: str) -> None:
        """UsageError unless EC2 offers `region` to this account."""
        regions: frozenset[str] = self._regions.result()
        if region in regions:
            return
        raise UsageError(
            f"Region {region!r} is not a region EC2 offers to this account.",
            _nearest(region, regions)
            + "Pick one with --region (see `aws ec2 describe-regions`); a region that must be "
            "enabled first is enabled in the AWS console.",
        )

    def check(self, region: str, instance_type: str) -> None:
        """UsageError unless `region` is offered and `instance_type` is offered in it."""
        self.expect(region, instance_type)
        self.check_region(region)
        offered = _remembered(
            self.ctx,
            ("offered", region, instance_type),
            lambda: _offered(self.ctx, region, instance_type),
        )
        if offered.result():
            return
        ctx = self.ctx
        types = _remembered(ctx, ("types", region), lambda: _all_offered(ctx, region)).result()
        raise UsageError(
            f"Instance type {instance_type!r} is not offered in {region}.",
            _nearest(instance_type, types)
            + f"Pick one with --instance-type (see `aws ec2 describe-instance-type-offerings "
            f"--region {region}`).",
        )
