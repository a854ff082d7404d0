"""`goman state migrate`: the seed's local .state folder into the bucket, safely."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from goman.models.cluster import ClusterDoc, ClusterIndex, ClusterSpec, ClusterSummary
from goman.models.config import AppConfig
from goman.models.job import Job
from tests.conftest import BUCKET


def _write(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc.model_dump_json(indent=2))


@pytest.fixture
def seed_state(tmp_path: Path) -> Path:
    """`.state/` as the seed kept it, with the default and team-a profiles."""
    root = tmp_path / "repo" / ".state"
    web = ClusterDoc(cluster_id="c-web", spec=ClusterSpec(name="web", workers=2), revision=3)
    summary = ClusterSummary(
        name="web",
        cluster_id="c-web",
        mode="dev",
        region="ap-south-1",
        phase="Running",
        created_at=web.created_at,
    )
    for profile in ("default", "team-a"):
        _write(root / profile / "config.json", AppConfig(workers=2, revision=1))
        _write(root / profile / "clusters" / "web.state.json", web)
        _write(
            root / profile / "clusters" / "clusters.json",
            ClusterIndex(clusters={"web": summary}, revision=3),
        )
        _write(
            root / profile / "jobs" / "j-1.json",
            Job(id="j-1", type="create", cluster="web", cluster_id="c-web", revision=5),
        )
    (root / "default" / "notes.txt").write_text("not state")
    return root


def _remote(s3: Any, prefix: str = "state/") -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if not s3.list_buckets()["Buckets"]:
        return out
    for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []):
        out[obj["Key"]] = json.loads(s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
    return out


def test_migrate_round_trip(goman: Any, s3: Any, seed_state: Path) -> None:
    before = sorted(p.relative_to(seed_state).as_posix() for p in seed_state.rglob("*"))
    res = goman("state", "migrate", "--from", str(seed_state), "--yes", "-o", "json")
    assert res.exit_code == 0, res.output
    report = {f["key"]: f["action"] for f in res.json()["files"]}
    assert report == {
        "config.json": "create",
        "clusters/clusters.json": "create",
        "clusters/web.state.json": "create",
        "jobs/j-1.json": "create",
        "notes.txt": "ignored",
    }
    remote = _remote(s3)
    assert sorted(remote) == [
        "state/default/clusters/clusters.json",
        "state/default/clusters/web.state.json",
        "state/default/config.json",
        "state/default/jobs/j-1.json",
        "state/default/queue.json",  # the migrated job joined the queue
    ]
    assert list(remote["state/default/queue.json"]["jobs"]) == ["j-1"]
    assert remote["state/default/clusters/web.state.json"]["revision"] == 3
    assert remote["state/default/jobs/j-1.json"]["revision"] == 5
    assert goman("config", "get", "workers").stdout == "2\n"
    # The local folder is left as it was.
    assert sorted(p.relative_to(seed_state).as_posix() for p in seed_state.rglob("*")) == before

    again = goman("state", "migrate", "--from", str(seed_state), "--yes", "-o", "json")
    assert again.exit_code == 0, again.output
    assert {f["action"] for f in again.json()["files"]} == {"unchanged", "ignored"}


def test_migrate_accepts_one_profile_folder_and_the_folder_holding_state(
    goman: Any, s3: Any, seed_state: Path
) -> None:
    res = goman(
        "--profile", "team-a", "state", "migrate", "--from", str(seed_state / "team-a"), "--yes"
    )
    assert res.exit_code == 0, res.output
    assert "create" in res.stdout and "clusters/web.state.json" in res.stdout
    res = goman(
        "--profile", "team-b", "state", "migrate", "--from", str(seed_state.parent), "--yes"
    )
    assert res.exit_code == 2
    assert "no folder for profile 'team-b' (found: default, team-a)" in res.stderr
    assert sorted(_remote(s3)) == [
        f"state/team-a/{k}"
        for k in (
            "clusters/clusters.json",
            "clusters/web.state.json",
            "config.json",
            "jobs/j-1.json",
            "queue.json",
        )
    ]


def test_dry_run_uploads_nothing(goman: Any, s3: Any, seed_state: Path) -> None:
    res = goman("state", "migrate", "--from", str(seed_state), "--dry-run")
    assert res.exit_code == 0, res.output
    assert "dry run: nothing uploaded" in res.stdout
    assert _remote(s3) == {}


def test_an_invalid_file_stops_everything_and_is_named(
    goman: Any, s3: Any, seed_state: Path
) -> None:
    bad = seed_state / "default" / "jobs" / "j-2.json"
    bad.write_text(json.dumps({"id": "j-2", "type": "explode"}))
    res = goman("state", "migrate", "--from", str(seed_state), "--yes", "-o", "json")
    assert res.exit_code == 1
    assert str(bad) in res.stderr and "Nothing was uploaded" in res.stderr
    invalid = [f for f in res.json()["files"] if f["action"] == "invalid"]
    assert [f["key"] for f in invalid] == ["jobs/j-2.json"]
    assert _remote(s3) == {}


def test_a_newer_remote_document_is_kept_unless_forced(
    goman: Any, s3: Any, seed_state: Path
) -> None:
    assert goman("state", "migrate", "--from", str(seed_state), "--yes").exit_code == 0
    assert goman("config", "set", "workers", "7").exit_code == 0  # remote revision 2 > local 1
    res = goman("state", "migrate", "--from", str(seed_state), "--yes", "-o", "json")
    assert res.exit_code == 0, res.output
    config = next(f for f in res.json()["files"] if f["key"] == "config.json")
    assert config["action"] == "keep-remote" and "remote revision 2 > local 1" in config["detail"]
    assert goman("config", "get", "workers").stdout == "7\n"

    forced = goman("state", "migrate", "--from", str(seed_state), "--yes", "--force", "-o", "json")
    assert forced.exit_code == 0, forced.output
    config = next(f for f in forced.json()["files"] if f["key"] == "config.json")
    assert config["action"] == "overwrite"
    assert goman("config", "get", "workers").stdout == "2\n"
    assert _remote(s3)["state/default/config.json"]["revision"] == 3  # never goes backwards


def test_an_older_remote_document_is_replaced(goman: Any, s3: Any, seed_state: Path) -> None:
    assert goman("init").exit_code == 0  # remote config.json at revision 1
    _write(seed_state / "default" / "config.json", AppConfig(workers=9, revision=4))
    res = goman("state", "migrate", "--from", str(seed_state), "--yes", "-o", "json")
    assert res.exit_code == 0, res.output
    config = next(f for f in res.json()["files"] if f["key"] == "config.json")
    assert config["action"] == "replace"
    assert _remote(s3)["state/default/config.json"]["workers"] == 9


def test_migrate_needs_yes_without_a_terminal(goman: Any, s3: Any, seed_state: Path) -> None:
    res = goman("state", "migrate", "--from", str(seed_state))
    assert res.exit_code == 2 and "--yes" in res.stderr
    assert _remote(s3) == {}


def test_migrate_refuses_a_folder_that_is_not_state(goman: Any, tmp_path: Path) -> None:
    res = goman("state", "migrate", "--from", str(tmp_path), "--yes")
    assert res.exit_code == 2 and "does not look like goman state" in res.stderr


def test_reindex_after_migration_rebuilds_the_index(goman: Any, s3: Any, seed_state: Path) -> None:
    (seed_state / "default" / "clusters" / "clusters.json").unlink()
    assert goman("state", "migrate", "--from", str(seed_state), "--yes").exit_code == 0
    res = goman("state", "reindex", "-o", "json")
    assert res.exit_code == 0, res.output
    assert res.json() == {"clusters": ["web"], "queue": 1}
    index = _remote(s3)["state/default/clusters/clusters.json"]
    assert list(index["clusters"]) == ["web"]


def _cluster(name: str) -> ClusterDoc:
    return ClusterDoc(cluster_id=f"c-{name}", spec=ClusterSpec(name=name), revision=1)


def _job_json(job_id: str) -> str:
    # Built as JSON: the model itself refuses an invalid id.
    data = Job(id="j-0", type="create", cluster="web", cluster_id="c-web").model_dump(mode="json")
    return json.dumps({**data, "id": job_id})


def _summary(name: str) -> ClusterSummary:
    return ClusterSummary(
        name=name,
        cluster_id=f"c-{name}",
        mode="dev",
        region="ap-south-1",
        phase="Running",
        created_at=_cluster(name).created_at,
    )


@pytest.mark.parametrize(
    ("rel", "body", "problem"),
    [
        # A state file that describes another cluster would overwrite that one's truth.
        ("clusters/db.state.json", _cluster("web").model_dump_json(), "'web'"),
        # A job whose id differs from its file name would be claimed under the wrong key.
        (
            "jobs/j-9.json",
            _job_json("j-1"),
            "'j-1'",
        ),
        # A file name that is not a cluster name: it could never be read back as one.
        ("clusters/Web_1.state.json", _cluster("web").model_dump_json(), "Web_1"),
        (
            "jobs/j.1.json",
            _job_json("j.1"),
            "j.1",
        ),
        # An index row filed under another name than its own.
        (
            "clusters/clusters.json",
            ClusterIndex.model_construct(clusters={"db": _summary("web")}).model_dump_json(),
            "'db'",
        ),
        (
            "clusters/clusters.json",
            ClusterIndex.model_construct(clusters={"../x": _summary("web")}).model_dump_json(),
            "../x",
        ),
    ],
    ids=["state-name", "job-id", "bad-state-file-name", "bad-job-id", "index-row", "index-key"],
)
def test_a_file_whose_name_disagrees_with_its_content_is_refused(
    goman: Any, s3: Any, seed_state: Path, rel: str, body: str, problem: str
) -> None:
    path = seed_state / "default" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    res = goman("state", "migrate", "--from", str(seed_state), "--yes", "-o", "json")
    assert res.exit_code == 1, res.output
    assert "Nothing was uploaded" in res.stderr
    invalid = [f for f in res.json()["files"] if f["action"] == "invalid"]
    assert [f["key"] for f in invalid] == [rel]
    assert problem in invalid[0]["detail"]
    assert _remote(s3) == {}
