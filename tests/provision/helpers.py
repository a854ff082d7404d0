"""Shared set-up for provisioning tests: a context and an Ec2 on the sandbox."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from goman.aws.session import AwsContext
from goman.provision.ec2 import Ec2, NodeLaunch
from goman.provision.tags import tags_for

T = TypeVar("T")

REGION = "ap-south-1"
CLUSTER = "web"
CLUSTER_ID = "c0ffee00-1111-2222-3333-444455556666"
PROFILE = "default"


def context() -> AwsContext:
    return AwsContext.from_flag(None)


def ec2_ops() -> Ec2:
    ops = Ec2(context(), REGION)
    ops.consistency_wait = 0.5
    return ops


def launch_for(
    ops: Ec2,
    node: str,
    *,
    role: str = "agent",
    index: int = 0,
    user_data: str = "#!/bin/bash\ntrue\n",
    cluster_id: str = CLUSTER_ID,
    instance_type: str = "t3.medium",
    subnet: int = 0,
) -> NodeLaunch:
    subnets = ops.default_subnets()
    group = ops.ensure_security_group(
        cluster=CLUSTER,
        cluster_id=cluster_id,
        profile=PROFILE,
        vpc_id=subnets[0].vpc_id,
        api_cidrs=["0.0.0.0/0"],
    )
    return NodeLaunch(
        node=node,
        role=role,
        index=index,
        instance_type=instance_type,
        ami_id=ops.find_ami(instance_type).id,
        subnet_id=subnets[subnet].id,
        security_group_id=group,
        user_data=user_data,
        tags=tags_for(CLUSTER, cluster_id, PROFILE, role=role, node=node),
        client_token=f"{cluster_id}-{node}-0",
    )


def wait_for(check: Callable[[], T | None], timeout: float = 10.0, what: str = "it") -> T:
    """Poll `check` every 50 ms until it returns something truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
