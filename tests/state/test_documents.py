"""Documents written by older versions (indented, whole-second times) read and update as
before; new ones are written compact, with sub-second times."""

from __future__ import annotations

import json
from typing import Any

from goman.clusters import service
from goman.clusters.state import update_cluster
from goman.models.cluster import ClusterDoc
from goman.state import keys
from goman.state.store import StateStore
from tests.conftest import BUCKET

OLD_CLUSTER = {
    "schema_version": 1,
    "revision": 7,
    "cluster_id": "0123456789abcdef01234567",
    "spec": {"name": "old", "mode": "dev", "workers": 0},
    "status": {
        "phase": "Running",
        "message": "2 node(s) ready.",
        "updated_at": "2026-01-02T03:04:05Z",
    },
    "created_at": "2026-01-02T03:04:05Z",
    "created_by": "arn:aws:iam::123456789012:user/alice",
}


def test_an_indented_document_with_whole_seconds_reads_and_updates(
    goman: Any, store: StateStore, s3: Any
) -> None:
    assert goman("init").exit_code == 0
    key = f"state/default/{keys.cluster_state('old')}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=(json.dumps(OLD_CLUSTER, indent=2) + "\n").encode())
    shown = goman("cluster", "get", "old", "-o", "json")
    assert shown.exit_code == 0, shown.output
    assert shown.json()["phase"] == "Running"

    def change(doc: ClusterDoc) -> ClusterDoc:
        doc.status.message = "touched"
        return doc

    new = update_cluster(store, "old", change)
    assert new is not None and new.revision == 8
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert b"\n" not in body and b": " not in body  # compact now
    written = json.loads(body)
    assert written["created_at"] == "2026-01-02T03:04:05Z"  # kept as it was
    assert "." in written["status"]["updated_at"]  # sub-second from now on


def test_step_times_keep_sub_second_precision(goman: Any, store: StateStore) -> None:
    """Every step takes a few requests (milliseconds): whole-second times would show most
    of them as taking no time at all, and their order within a second would be lost."""
    from goman.jobs.worker import Worker

    job = service.create_cluster(store, "quick")
    done = Worker(store).run(job.id)
    assert done.status == "succeeded"
    for step in done.steps:
        assert step.started_at is not None and step.ended_at is not None
        assert step.ended_at > step.started_at, step.name
    ended = {s.name: s.ended_at for s in done.steps}
    started = {s.name: s.started_at for s in done.steps}
    assert started["launch-servers"] >= max(ended["prepare"], ended["network"], ended["endpoint"])
    assert started["finish"] >= ended["wait-ready"]


def test_an_index_from_before_rows_listed_resources_reads_and_is_upgraded(
    goman: Any, store: StateStore, s3: Any
) -> None:
    assert goman("cluster", "create", "web", "--timeout", "60s").exit_code == 0
    key = f"state/default/{keys.INDEX}"
    index = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert index["schema_version"] == 2 and index["clusters"]["web"]["resources"]
    # As an older goman wrote it: version 1, indented, rows without resources.
    index["schema_version"] = 1
    for row in index["clusters"].values():
        del row["resources"]
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(index, indent=2).encode())
    assert [r["name"] for r in goman("cluster", "list", "-o", "json").json()] == ["web"]
    rows = goman("resources", "list", "-o", "json").json()
    assert rows and {r["status"] for r in rows} == {"ok"}  # checked against the document
    assert goman("state", "reindex").exit_code == 0
    index = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert index["schema_version"] == 2 and index["clusters"]["web"]["resources"]
