"""Stopping and starting a cluster's instances (EC2 StopInstances / StartInstances).

A stopped instance keeps its root volume, private address and tags; the cluster's Elastic
IP stays allocated and associated with server-0, so the endpoint does not change. Both
calls are idempotent on EC2's side (stopping a stopped instance is a no-op), and the waits
poll DescribeInstances until every instance is in the wanted state.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from goman.aws.errors import GomanError

if TYPE_CHECKING:
    from goman.provision.ec2 import Ec2, InstanceInfo

# Where each call leaves an instance, and the states on the way there.
_SETTLED = {"stopped": {"stopped"}, "running": {"running"}}
_GONE = {"shutting-down", "terminated"}


def stop(ec2: Ec2, instance_ids: Iterable[str]) -> None:
    """Stop instances, each checked first to be this profile's and cluster's."""
    ids = ec2.owned("instance", instance_ids)
    if ids:
        ec2._call_settling(
            f"stop {', '.join(ids)}", lambda: ec2.client.stop_instances(InstanceIds=ids)
        )


def start(ec2: Ec2, instance_ids: Iterable[str]) -> None:
    """Start instances. One still stopping cannot start yet: EC2 answers
    IncorrectInstanceState, which is retried while it settles. Each is checked first to
    be this profile's and cluster's."""
    ids = ec2.owned("instance", instance_ids)
    if ids:
        ec2._call_settling(
            f"start {', '.join(ids)}",
            lambda: ec2.client.start_instances(InstanceIds=ids),
            timeout=120.0,
        )


def states(ec2: Ec2, instance_ids: Iterable[str]) -> list[InstanceInfo]:
    ids = sorted(set(instance_ids))
    if not ids:
        return []
    return ec2._describe_instances(
        [{"Name": "instance-id", "Values": ids}], "read the state of the cluster's instances"
    )


def wait_state(
    ec2: Ec2, instance_ids: Iterable[str], wanted: str, timeout: float
) -> list[InstanceInfo]:
    """Poll until every instance is `wanted` (stopped or running); returns what EC2 said
    last (addresses included)."""
    ids = sorted(set(instance_ids))
    deadline = time.monotonic() + timeout
    delay = 0.2
    found: list[InstanceInfo] = []
    while ids:
        found = states(ec2, ids)
        gone = [i for i in found if i.state in _GONE]
        if gone:
            what = ", ".join(f"{i.instance_id} ({i.state})" for i in gone)
            raise GomanError(
                f"Instances of the cluster were terminated outside goman: {what}.",
                "See `goman cluster get NAME`; `goman cluster delete NAME` removes the rest.",
            )
        late = [i for i in found if i.state not in _SETTLED[wanted]]
        missing = set(ids) - {i.instance_id for i in found}
        if not late and not missing:
            return found
        if time.monotonic() + delay > deadline:
            what = ", ".join(f"{i.instance_id} ({i.state})" for i in late)
            raise GomanError(
                f"Instances were not {wanted} within {timeout:.0f}s: {what or ', '.join(missing)}.",
                f"Retry the job; if they stay, check them in the EC2 console ({ec2.region}).",
            )
        time.sleep(delay)
        delay = min(5.0, delay * 1.5)
    return found
