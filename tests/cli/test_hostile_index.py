"""Index rows are validated like the documents they stand for."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.cli.cluster_helpers import PREFIX, read_json
from tests.conftest import BUCKET


@pytest.mark.parametrize(
    "forge",
    [
        lambda row: row.update(name="../../web"),  # a name that is not a name
        lambda row: row.update(name="other"),  # a row whose key says something else
        lambda row: row.update(job_id="../jobs/x"),  # a job id that is not an id
    ],
    ids=["bad name", "key and name differ", "bad job id"],
)
def test_a_forged_row_makes_the_index_invalid(goman: Any, s3: Any, forge: Any) -> None:
    assert goman("cluster", "create", "web", "--detach").exit_code == 0
    key = f"{PREFIX}clusters/clusters.json"
    index = read_json(s3, BUCKET, key)
    forge(index["clusters"]["web"])
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(index).encode())
    for fmt in ("table", "json"):
        res = goman("cluster", "list", "-o", fmt)
        assert res.exit_code == 1, res.output
        assert "clusters.json" in res.stderr and "invalid" in res.stderr
        assert "fix:" in res.stderr and "Traceback" not in res.output
    # The state documents are the truth: rebuilding the index from them mends it.
    assert goman("state", "reindex").exit_code == 0
    assert [r["name"] for r in goman("cluster", "list", "-o", "json").json()] == ["web"]
