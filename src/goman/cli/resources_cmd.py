"""`goman resources list|cleanup`: goman-tagged AWS resources, and orphans."""

from __future__ import annotations

import click

from goman.cli.confirm import confirm, yes_option
from goman.cli.context import App, pass_app
from goman.cli.output import echo, emit, output_option, warning


@click.group()
def resources() -> None:
    """Find goman-tagged AWS resources and orphans."""


@resources.command("list")
@click.option("--region", "regions", multiple=True, help="Region to scan (repeatable).")
@output_option()
@pass_app
def list_(app: App, regions: tuple[str, ...], fmt: str) -> None:
    """Every resource tagged by this profile: ok, orphaned or missing.

    Scans the regions of the config and of every cluster unless --region is given."""
    from goman.clusters.resources import list_resources

    warnings: list[str] = []
    rows = [r.view() for r in list_resources(app.store, list(regions) or None, warnings)]
    for line in warnings:
        warning(line)
    if fmt == "table" and not rows:
        echo("No goman-tagged resources.", err=True)
        return
    emit(
        rows,
        fmt,
        rows=lambda data: [
            [r["type"], r["id"], r["region"], r["cluster"], r["status"]] for r in data
        ],
        headers=["type", "id", "region", "cluster", "status"],
    )


@resources.command()
@click.option("--orphans", is_flag=True, required=True, help="Remove orphaned resources.")
@click.option("--region", "regions", multiple=True, help="Region to scan (repeatable).")
@yes_option()
@pass_app
def cleanup(app: App, orphans: bool, regions: tuple[str, ...], yes: bool) -> None:
    """Remove resources tagged by goman that no cluster owns."""
    from goman.clusters.resources import cleanup_orphans, list_resources

    warnings: list[str] = []
    every = list_resources(app.store, list(regions) or None, warnings)
    for line in warnings:
        warning(line)
    found = [r for r in every if r.status == "orphaned"]
    if not found:
        echo("No orphaned resources.", err=True)
        return
    guarded = sorted({r.cluster for r in found if r.protected})
    if guarded:
        from goman.aws.errors import GomanError

        names = ", ".join(guarded)
        raise GomanError(
            f"Orphaned resources belong to protected cluster(s) {names}; nothing was removed.",
            "Remove the protection first with "
            + " and ".join(f"`goman cluster unprotect {n}`" for n in guarded)
            + ", then run the cleanup again.",
        )
    for r in found:
        echo(f"  {r.type} {r.id} ({r.region}, cluster {r.cluster or '?'})", err=True)
    if not confirm(f"Remove these {len(found)} resource(s)?", yes, "deletes AWS resources"):
        echo("Nothing removed.", err=True)
        raise click.exceptions.Exit(1)
    removed = cleanup_orphans(app.store, found)
    echo(f"Removed {len(removed)} orphaned resource(s).", err=True)
