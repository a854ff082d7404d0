"""K3s versions (`v1.33.3+k3s1`) as numbers, and which upgrades K3s allows.

K3s follows the Kubernetes version skew policy: servers and agents move one minor version
at a time, and the upgrade image refuses to go backwards. goman refuses the same before
anything changes, so a refused upgrade never leaves a cluster half-way."""

from __future__ import annotations

from dataclasses import dataclass

from goman.models.config import K3S_VERSION_RE


@dataclass(frozen=True, order=True)
class K3sVersion:
    major: int
    minor: int
    patch: int
    build: int  # the `+k3sN` release of one Kubernetes version

    @classmethod
    def parse(cls, text: str) -> K3sVersion:
        if not K3S_VERSION_RE.fullmatch(text):
            raise ValueError(f"{text!r} is not a K3s version (e.g. v1.33.3+k3s1)")
        numbers, _, build = text[1:].partition("+k3s")
        major, minor, patch = (int(n) for n in numbers.split("."))
        return cls(major, minor, patch, int(build))

    def __str__(self) -> str:
        return f"v{self.major}.{self.minor}.{self.patch}+k3s{self.build}"


def upgrade_problem(current: str, target: str) -> str | None:
    """Why `current` may not be upgraded to `target` (None: it may). `target` must parse."""
    new = K3sVersion.parse(target)
    try:
        old = K3sVersion.parse(current)
    except ValueError:
        return f"the cluster's recorded version {current!r} is not a K3s version"
    if new == old:
        return f"the cluster already runs {current}"
    if new < old:
        return f"{target} is older than the cluster's {current}; K3s does not downgrade"
    if new.major != old.major or new.minor > old.minor + 1:
        return (
            f"{target} skips a minor version: from {current}, upgrade to "
            f"v{old.major}.{old.minor + 1}.x first (K3s moves one minor version at a time)"
        )
    return None
