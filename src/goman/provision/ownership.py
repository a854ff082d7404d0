"""Whose a resource is: a profile acts only on resources tagged as its own.

A state document says which resources a cluster has, but a document can be copied or
migrated into another profile (or forged by anyone who can write the bucket). So before
goman terminates, releases, detaches, deletes or changes anything, the resource's own
tags must name this profile (`goman:profile`) and, for a cluster's job, this cluster
(`goman:cluster-id`). The tags come from look-ups already made wherever possible.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from goman.aws.errors import SecurityError
from goman.provision.tags import TAG_CLUSTER, TAG_CLUSTER_ID, TAG_PROFILE


@dataclass(frozen=True)
class Owner:
    """What a resource's tags must say for goman to act on it."""

    profile: str
    cluster_id: str | None = None  # None: any cluster of the profile (orphan cleanup)


class NotOwnedError(SecurityError):
    """A resource to act on is not tagged as this profile's (or this cluster's)."""


def check(owner: Owner, kind: str, rid: str, tags: dict[str, str]) -> None:
    """Raise NotOwnedError unless `tags` (a resource's tags) name `owner`."""
    profile = tags.get(TAG_PROFILE)
    cluster_id = tags.get(TAG_CLUSTER_ID)
    if profile != owner.profile:
        whose = f"profile '{profile}'" if profile else "no goman profile (not made by goman)"
        raise NotOwnedError(
            f"Refused to touch {kind} {rid}: it belongs to {whose}, not to profile "
            f"'{owner.profile}'. Nothing was changed.",
            "goman acts only on resources tagged with its own profile. If this cluster's "
            "state document was copied from another profile, delete the cluster from "
            f"there (`goman --profile {profile or '<owner>'} cluster delete "
            f"{tags.get(TAG_CLUSTER) or '<name>'}`).",
        )
    if owner.cluster_id is not None and cluster_id != owner.cluster_id:
        raise NotOwnedError(
            f"Refused to touch {kind} {rid}: it belongs to another cluster of profile "
            f"'{profile}' (goman:cluster-id {cluster_id or 'missing'}, "
            f"goman:cluster {tags.get(TAG_CLUSTER) or 'missing'}). Nothing was changed.",
            "The state document records a resource of another cluster; see `goman resources list`.",
        )


class TagMemory:
    """The tags of every resource a look-up has returned (ids are unique across types)."""

    def __init__(self) -> None:
        self._tags: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def remember(self, rid: str, tags: dict[str, str]) -> None:
        with self._lock:
            self._tags[rid] = dict(tags)

    def get(self, rid: str) -> dict[str, str] | None:
        with self._lock:
            return self._tags.get(rid)
