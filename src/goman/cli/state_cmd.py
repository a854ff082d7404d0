"""`goman state ...`: the profile's documents in S3, their history, and migration.

KEY is relative to the profile's folder, e.g. `config.json` or `clusters/web.state.json`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from goman.cli.confirm import confirm, yes_option
from goman.cli.context import App, pass_app
from goman.cli.output import echo, emit, output_option


@click.group()
def state() -> None:
    """Inspect, diff, restore and migrate the state documents (state/{profile}/...)."""


def _confirm(question: str, yes: bool, what: str) -> None:
    """Ask on a terminal; without one, --yes is required (nothing is written)."""
    if not confirm(question, yes, what):
        echo("Nothing was written.", err=True)
        raise click.exceptions.Exit(1)


@state.command()
@output_option()
@click.argument("prefix", required=False, default="")
@pass_app
def ls(app: App, fmt: str, prefix: str) -> None:
    """List the documents under the profile's folder (optionally under PREFIX)."""
    objects = app.store.ls(prefix)
    data = [
        {"key": o.key, "size": o.size, "last_modified": o.last_modified, "etag": o.etag}
        for o in objects
    ]
    emit(
        data,
        fmt,
        rows=lambda d: [(r["key"], r["size"], r["last_modified"]) for r in d],
        headers=("key", "size", "last modified"),
    )


@state.command()
@output_option()
@click.argument("key")
@pass_app
def history(app: App, fmt: str, key: str) -> None:
    """Every version of KEY, newest first (needs s3:ListBucketVersions)."""
    from goman.aws.errors import NotFoundError

    versions = app.store.history(key)
    if not versions:
        raise NotFoundError(
            f"{key} has no versions in s3://{app.store.bucket}/{app.store.prefix}",
            "List what exists with `goman state ls`.",
        )
    data = [
        {
            "version_id": v.version_id,
            "last_modified": v.last_modified,
            "size": v.size,
            "is_latest": v.is_latest,
            "is_delete_marker": v.is_delete_marker,
        }
        for v in versions
    ]
    emit(
        data,
        fmt,
        rows=lambda d: [
            (
                r["version_id"],
                r["last_modified"],
                "delete marker" if r["is_delete_marker"] else r["size"],
                "*" if r["is_latest"] else "",
            )
            for r in d
        ],
        headers=("version id", "last modified", "size", "latest"),
    )


@state.command()
@click.argument("key")
@click.option("--version", "version", metavar="V", help="A version id from `state history`.")
@pass_app
def show(app: App, key: str, version: str | None) -> None:
    """Print KEY as stored (the current version, or --version V), even if it is invalid."""
    from goman.state.versions import read_version

    body, _ = read_version(app.store, key, version)
    echo(body.decode("utf-8", errors="replace"), nl=not body.endswith(b"\n"))


@state.command()
@click.argument("key")
@click.argument("v1")
@click.argument("v2", required=False)
@pass_app
def diff(app: App, key: str, v1: str, v2: str | None) -> None:
    """A unified diff of KEY between version V1 and V2 (default: the current version)."""
    from goman.state.versions import diff as diff_versions

    text = diff_versions(app.store, key, v1, v2)
    echo(text if text else "(no differences)", nl=not text)


@state.command()
@click.argument("key")
@click.option("--version", "version", required=True, metavar="V", help="The version to bring back.")
@yes_option()
@output_option()
@pass_app
def restore(app: App, key: str, version: str, yes: bool, fmt: str) -> None:
    """Make version V of KEY the current version again (history keeps every version).

    Restoring a cluster's state document also brings its row in the index back."""
    from goman.clusters.restore import restore_document
    from goman.state.versions import find_version

    info = find_version(app.store, key, version)
    _confirm(
        f"Restore {key} to version {version} from {info.last_modified:%Y-%m-%d %H:%M:%S} UTC?",
        yes,
        "writes to the state bucket",
    )
    result = restore_document(app.store, key, version)
    emit(
        result,
        fmt,
        text=lambda d: (
            f"Restored {d['key']} from version {d['restored_from']}: it is now the "
            f"current version {d['version_id']}"
            + (f" (revision {d['revision']})." if d["revision"] is not None else ".")
            + (" Its row in the cluster index is updated too." if d["index"] else "")
        ),
    )


@state.command()
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="The seed's .state folder, or one profile's folder in it.",
)
@click.option("--dry-run", is_flag=True, help="Report what would happen; upload nothing.")
@click.option("--force", is_flag=True, help="Also replace remote documents that are newer.")
@yes_option()
@output_option()
@pass_app
def migrate(app: App, source: Path, dry_run: bool, force: bool, yes: bool, fmt: str) -> None:
    """Upload a local .state folder (the seed's layout) under the profile's prefix.

    Every document is validated first; if one is invalid nothing is uploaded. A remote
    document is newer when its revision is higher than the local one's (or equal with
    different content); newer ones are kept unless --force. The local folder is left as is.
    """
    from goman.aws.errors import GomanError
    from goman.state.migrate import apply, plan

    migration = plan(app.store, source, force=force)
    if migration.invalid:
        _report_migration(migration.as_dict(dry_run=dry_run, done=False), fmt)
        names = ", ".join(f.file for f in migration.invalid)
        raise GomanError(
            f"Nothing was uploaded: {len(migration.invalid)} invalid file(s): {names}.",
            "Fix or remove them (the problem is listed beside each file) and run migrate again.",
        )
    done = False
    if not dry_run and migration.uploads:
        _confirm(
            f"Upload {len(migration.uploads)} document(s) from {migration.source} to "
            f"s3://{app.store.bucket}/{app.store.prefix}?",
            yes,
            "writes to the state bucket",
        )
        apply(app.store, migration)
        done = True
        if any(f.key.startswith("jobs/") and f.action != "conflict" for f in migration.uploads):
            from goman.jobs.queue import rebuild as rebuild_queue

            rebuild_queue(app.store)  # the uploaded jobs join queue.json
    _report_migration(migration.as_dict(dry_run=dry_run, done=done), fmt)
    conflicts = [f for f in migration.files if f.action == "conflict"]
    if conflicts:
        raise GomanError(
            f"{len(conflicts)} document(s) changed in the bucket during the migration and were "
            "not written.",
            "Run `goman state migrate` again.",
        )


def _report_migration(data: dict[str, Any], fmt: str) -> None:
    def text(d: dict[str, Any]) -> str:
        lines = [f"{r['action']:<12} {r['key']:<40} {r['detail']}".rstrip() for r in d["files"]]
        mode = (
            "dry run: nothing uploaded"
            if d["dry_run"]
            else ("uploaded" if d["uploaded"] else "nothing uploaded")
        )
        lines.append(f"({mode}; from {d['source']} to {d['prefix']})")
        return "\n".join(lines)

    emit(data, fmt, text=text)


# -- reindex ------------------------------------------------------------------------------
# `goman state reindex` belongs to the use-case layer: it rebuilds clusters/clusters.json from
# the clusters/*.state.json files (goman.clusters.index.reindex, which returns the names it
# indexed) and queue.json from the jobs/*.json files (goman.jobs.queue.rebuild).
@state.command()
@output_option()
@pass_app
def reindex(app: App, fmt: str) -> None:
    """Rebuild clusters/clusters.json and queue.json from the documents they summarise."""
    from goman.clusters.index import reindex as rebuild
    from goman.jobs.queue import rebuild as rebuild_queue

    names = list(rebuild(app.store))
    queued = rebuild_queue(app.store)
    emit(
        {"clusters": names, "queue": queued},
        fmt,
        text=lambda d: (
            f"Indexed {len(d['clusters'])} cluster(s)"
            + (f": {', '.join(d['clusters'])}." if d["clusters"] else ".")
            + f" The queue lists {d['queue']} job(s)."
        ),
    )
