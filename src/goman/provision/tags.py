"""The tags goman puts on every AWS resource it creates.

`goman:cluster-id` is the key that identifies a resource as a cluster's: names can be
reused after a delete, ids cannot, so lookups and cleanup go by id.
"""

from __future__ import annotations

TAG_CLUSTER = "goman:cluster"
TAG_CLUSTER_ID = "goman:cluster-id"
TAG_PROFILE = "goman:profile"
TAG_ROLE = "goman:role"  # server | agent
TAG_NODE = "goman:node"  # e.g. web-agent-1
TAG_NAME = "Name"

ROLES = ("server", "agent")

# What finds every goman-tagged resource, whichever of its tags survived: any `goman:`
# key (EC2 filter values take `*` wildcards).
GOMAN_TAG_KEYS = ("goman:*",)


def tags_for(
    cluster: str,
    cluster_id: str,
    profile: str,
    *,
    role: str | None = None,
    node: str | None = None,
    name: str | None = None,
) -> list[dict[str, str]]:
    """EC2 tags (Key/Value pairs) for one resource of a cluster.

    `Name` defaults to the node name, else `goman-{profile}-{cluster}`, so the console
    shows something useful.
    """
    if role is not None and role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    tags = {
        TAG_CLUSTER: cluster,
        TAG_CLUSTER_ID: cluster_id,
        TAG_PROFILE: profile,
    }
    if role is not None:
        tags[TAG_ROLE] = role
    if node is not None:
        tags[TAG_NODE] = node
    tags[TAG_NAME] = name or node or f"goman-{profile}-{cluster}"
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tag_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    """EC2's [{"Key", "Value"}] list as a plain dict."""
    return {str(t.get("Key", "")): str(t.get("Value", "")) for t in tags or []}
