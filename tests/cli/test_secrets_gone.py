"""Secrets do not outlive their cluster: every version of its objects goes with it."""

from __future__ import annotations

from typing import Any

from tests.cli.cluster_helpers import PREFIX
from tests.conftest import BUCKET


def test_delete_removes_every_version_of_the_cluster_s_objects(goman: Any, s3: Any) -> None:
    assert goman("cluster", "create", "web", "--workers", "1", "--timeout", "60s").exit_code == 0
    prefix = f"{PREFIX}clusters/web/"
    before = s3.list_object_versions(Bucket=BUCKET, Prefix=prefix)
    keys = {v["Key"].removeprefix(prefix) for v in before.get("Versions", [])}
    assert any(k.startswith("secrets/") for k in keys) and any(
        k.startswith("nodes/") for k in keys
    ), keys
    s3.put_object(Bucket=BUCKET, Key=prefix + "secrets/join-token", Body=b"rotated")  # 2 versions

    res = goman("cluster", "delete", "web", "--yes")
    assert res.exit_code == 0, res.output
    assert "warning:" not in res.stderr  # every version could go
    after = s3.list_object_versions(Bucket=BUCKET, Prefix=prefix)
    assert after.get("Versions", []) == [] and after.get("DeleteMarkers", []) == []
