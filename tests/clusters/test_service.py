"""The face-neutral use cases: conflicts, the index, and what `cluster list` costs."""

from __future__ import annotations

import secrets
import threading
from datetime import timedelta
from typing import Any

import pytest

from goman.aws.errors import AlreadyExistsError, ConflictError
from goman.aws.session import AwsContext
from goman.clusters import index, service
from goman.jobs import queue
from goman.models.base import utcnow
from goman.models.job import Job
from goman.state import keys
from goman.state.store import StateStore


def test_two_creates_of_one_name_at_once_exactly_one_wins(fresh_store: Any) -> None:
    stores = [fresh_store() for _ in range(4)]
    for s in stores:
        assert s.ctx.account_id  # identify first so the writes start together
    barrier = threading.Barrier(len(stores))
    results: list[object] = []

    def create(store: StateStore) -> None:
        barrier.wait()
        try:
            results.append(service.create_cluster(store, "twin", workers=1))
        except (AlreadyExistsError, ConflictError) as exc:
            results.append(exc)

    threads = [threading.Thread(target=create, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [r for r in results if isinstance(r, Job)]
    losses = [r for r in results if isinstance(r, AlreadyExistsError)]
    assert len(wins) == 1 and len(losses) == 3
    assert "already exists" in losses[0].message
    # The losers wrote nothing: one job, and the cluster names the winner's.
    assert [j.id for j in queue.list_jobs(stores[0])] == [wins[0].id]
    assert service.get_cluster(stores[0], "twin").status.job_id == wins[0].id


def test_list_reads_only_identity_and_the_index(store: StateStore, sandbox: Any) -> None:
    """Counted at the wire (the sandbox sees every request, whichever client sent it)."""
    for name in ("a", "b", "c"):
        service.create_cluster(store, name)
    seen: list[str] = []

    def record(environ: dict[str, Any], start: Any) -> None:
        seen.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")

    sandbox.app.hooks.append(record)
    try:
        rows = service.list_clusters(StateStore(AwsContext.from_flag(None)))
    finally:
        sandbox.app.hooks.remove(record)
    assert [r.name for r in rows] == ["a", "b", "c"]
    assert seen == ["POST /", "GET /goman-123456789012/state/default/clusters/clusters.json"]


def test_reindex_rebuilds_the_index_from_the_state_files(store: StateStore) -> None:
    for name in ("x", "y"):
        service.create_cluster(store, name)
    store.delete(keys.INDEX)
    assert service.list_clusters(store) == []
    assert index.reindex(store) == ["x", "y"]
    assert [r.name for r in service.list_clusters(store)] == ["x", "y"]
    assert all(r.phase == "Pending" for r in service.list_clusters(store))


def test_a_finished_job_frees_the_cluster_even_if_its_release_was_lost(
    store: StateStore,
) -> None:
    job = service.create_cluster(store, "stale")
    # The worker died after finishing the job but before clearing the lock.
    store.update(
        keys.job(job.id), Job, lambda j: j.model_copy(update={"status": "failed"}) if j else None
    )
    nxt = service.delete_cluster(store, "stale")
    assert nxt is not None and nxt.type == "delete"
    assert service.get_cluster(store, "stale").status.job_id == nxt.id


def _job_created(store: StateStore, days_ago: float, **changes: Any) -> Job:
    """A job queued `days_ago` days ago (its id carries that time, as goman's ids do)."""
    created = utcnow() - timedelta(days=days_ago)
    job = Job(
        id=created.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3),
        type="create",
        cluster="gone",
        cluster_id="0" * 24,
        created_at=created,
        **changes,
    )
    return queue.enqueue(store, job)


def test_retention_prunes_only_old_finished_jobs(store: StateStore) -> None:
    long_ago = utcnow() - timedelta(days=40)
    old = _job_created(store, 41, status="succeeded", finished_at=long_ago)
    old_open = _job_created(store, 42)  # never finished: never pruned
    recent = _job_created(store, 20, status="failed", finished_at=utcnow() - timedelta(days=19))
    keep = service.create_cluster(store, "new")
    assert queue.prune_jobs(store, 30) == [old.id]
    assert {j.id for j in queue.list_jobs(store)} == {old_open.id, recent.id, keep.id}
    assert old.id not in queue.read_queue(store).jobs
    assert {j.id for j in queue.recent_jobs(store)} == {old_open.id, recent.id, keep.id}


def test_pruning_runs_once_a_day_per_profile(store: StateStore, fresh_store: Any) -> None:
    first = _job_created(store, 41, status="succeeded", finished_at=utcnow() - timedelta(days=40))
    assert queue.prune_if_due(store, 30) == [first.id]
    second = _job_created(store, 41, status="succeeded", finished_at=utcnow() - timedelta(days=40))
    # Another process within the day: the queue says a pass was made, so nothing is read.
    assert queue.prune_if_due(fresh_store(), 30) == []
    assert queue.get_job(store, second.id).status == "succeeded"


def test_scale_refuses_a_cluster_that_is_not_running(store: StateStore) -> None:
    job = service.create_cluster(store, "notyet")
    queue.cancel_job(store, job.id)
    from goman.aws.errors import UsageError

    with pytest.raises(UsageError, match="only a Running cluster"):
        service.scale_cluster(store, "notyet", 2)
