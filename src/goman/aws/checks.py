"""One diagnostic result, shared by the state checks and the EC2 permission checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["pass", "warn", "fail"]


@dataclass
class Check:
    name: str
    status: Status
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "message": self.message, "fix": self.fix}
