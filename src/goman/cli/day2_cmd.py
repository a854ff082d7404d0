"""`goman cluster upgrade|stop|start`: a cluster's second day."""

from __future__ import annotations

import click

from goman.cli.cluster_cmd import cluster, duration_callback, run_or_detach
from goman.cli.complete import cluster_names
from goman.cli.confirm import confirm, yes_option
from goman.cli.context import App, pass_app
from goman.cli.output import echo


@cluster.command()
@click.argument("name", shell_complete=cluster_names)
@click.option("--k3s-version", required=True, help="The K3s version to move to, e.g. v1.34.1+k3s1.")
@yes_option()
@click.option("--detach", is_flag=True, help="Only queue the job; do not run it here.")
@click.option(
    "--timeout", callback=duration_callback, help="How long each role's nodes may take (e.g. 30m)."
)
@pass_app
def upgrade(
    app: App, name: str, k3s_version: str, yes: bool, detach: bool, timeout: float | None
) -> None:
    """Upgrade K3s on every node of NAME: servers one at a time, then agents."""
    from goman.clusters.service import get_cluster, upgrade_cluster
    from goman.clusters.state import valid_name

    valid_name(name)
    if not yes:
        doc = get_cluster(app.store, name)
        question = (
            f"Upgrade cluster {name!r} from {doc.spec.k3s_version} to {k3s_version}? "
            "Each node is cordoned and restarted in turn"
        )
        if not confirm(question, yes, "upgrades a cluster"):
            echo("Not upgraded.", err=True)
            raise click.exceptions.Exit(1)
    job = upgrade_cluster(app.store, name, k3s_version, ready_timeout=timeout)
    run_or_detach(job, detach, app, f"Upgrading to {k3s_version}:")


@cluster.command()
@click.argument("name", shell_complete=cluster_names)
@yes_option()
@click.option("--detach", is_flag=True, help="Only queue the job; do not run it here.")
@pass_app
def stop(app: App, name: str, yes: bool, detach: bool) -> None:
    """Stop every instance of NAME (agents first); volumes and the endpoint are kept."""
    from goman.clusters.service import get_cluster, stop_cluster
    from goman.clusters.state import valid_name

    valid_name(name)
    if not yes:
        get_cluster(app.store, name)  # a cluster that does not exist is not asked about
        question = f"Stop every instance of cluster {name!r}? Its API is down until started"
        if not confirm(question, yes, "stops a cluster"):
            echo("Not stopped.", err=True)
            raise click.exceptions.Exit(1)
    job = stop_cluster(app.store, name)
    if job is None:
        echo(f"Cluster {name} is already Stopped: nothing to do.", err=True)
        return
    run_or_detach(job, detach, app, "Stopping")


@cluster.command()
@click.argument("name", shell_complete=cluster_names)
@click.option("--detach", is_flag=True, help="Only queue the job; do not run it here.")
@click.option(
    "--timeout", callback=duration_callback, help="How long the nodes may take (e.g. 15m)."
)
@pass_app
def start(app: App, name: str, detach: bool, timeout: float | None) -> None:
    """Start a Stopped NAME (servers first) and wait until every node is Ready."""
    from goman.clusters.service import start_cluster

    job = start_cluster(app.store, name, ready_timeout=timeout)
    if job is None:
        echo(f"Cluster {name} is already Running: nothing to do.", err=True)
        return
    run_or_detach(job, detach, app, "Starting")
