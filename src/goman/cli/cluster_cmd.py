"""`goman cluster ...`: create, list, get, scale, retry, delete, protect, kubeconfig (and,
from `goman.cli.day2_cmd`, upgrade, stop, start)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import click

from goman.cli import interrupt
from goman.cli.complete import cluster_names
from goman.cli.confirm import typed, yes_option
from goman.cli.context import App, pass_app
from goman.cli.output import echo, emit, error, fix, kv, output_option, table, warning

if TYPE_CHECKING:
    from goman.models.cluster import ClusterDoc
    from goman.models.job import Job

_DURATION = re.compile(r"\A(\d+(?:\.\d+)?)([smh]?)\Z")


def parse_duration(text: str) -> float:
    found = _DURATION.fullmatch(text.strip().lower())
    if not found or float(found.group(1)) <= 0:
        raise click.BadParameter(f"{text!r} is not a duration: use e.g. 90s, 15m or 1h.")
    return float(found.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[found.group(2)]


def duration_callback(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> float | None:
    return None if value is None else parse_duration(value)


@click.group()
def cluster() -> None:
    """Create, list, scale, upgrade, stop, start, retry, protect and delete K3s clusters."""


def run_in_foreground(app: App, job: Job, *, verb: str) -> None:
    """Run the job here with live progress; exit 0 when it succeeds, 1 otherwise.

    Ctrl-C (130) and SIGTERM (143) hand the job back to the queue at once."""
    from goman.cli.progress import Progress
    from goman.jobs.worker import Worker

    progress = Progress()
    echo(f"{verb} {job.cluster}: job {job.id} (Ctrl-C leaves it resumable)", err=True)
    try:
        done = Worker(app.store, on_progress=progress).run(job.id)
    except KeyboardInterrupt as exc:
        progress.done()
        echo(
            f"{interrupt.said(exc)} Job {job.id} is saved and will resume where it stopped: "
            "run `goman worker --once` (or leave `goman worker` running); follow it with "
            f"`goman jobs show {job.id}`.",
            err=True,
        )
        raise click.exceptions.Exit(interrupt.exit_code(exc)) from None
    progress.done()
    if done.status == "succeeded":
        for step in done.steps:
            if step.message.startswith("warning: "):
                warning(step.message.removeprefix("warning: "))
        echo(f"{job.cluster}: {job.type} done.", err=True)
        return
    error(f"{job.type} {done.status}: {done.error or done.status}")
    if done.status == "cancelled":
        raise click.exceptions.Exit(1)
    fix(
        f"See `goman cluster get {job.cluster}` and `goman jobs show {job.id}`; "
        + failed_next_steps(job.cluster, job.type)
    )
    raise click.exceptions.Exit(1)


def failed_next_steps(name: str, last_job_type: str | None) -> str:
    """What to run about a Failed cluster (the TUI says the same with keys)."""
    if last_job_type == "delete":
        return f"run `goman cluster delete {name}` again."
    if last_job_type in {"upgrade", "stop", "start"}:
        return (
            f"`goman cluster retry {name}` resumes the {last_job_type} where it stopped "
            "(nodes already done are left alone)."
        )
    return (
        f"`goman cluster retry {name}` tries again (replacing nodes that failed), "
        f"`goman cluster delete {name}` removes what was made."
    )


def run_or_detach(job: Job, detach: bool, app: App, verb: str) -> None:
    if detach:
        echo(job.id)
        echo(
            f"Queued job {job.id}; run it with `goman worker` and follow it with "
            f"`goman jobs show {job.id}`.",
            err=True,
        )
        return
    run_in_foreground(app, job, verb=verb)


@cluster.command()
@click.argument("name")
@click.option("--mode", type=click.Choice(["dev", "ha"]), help="dev: 1 server; ha: 3 servers.")
@click.option("--workers", type=click.IntRange(0, 100), help="Number of agent nodes.")
@click.option("--instance-type", help="EC2 instance type, e.g. t3.medium.")
@click.option("--region", help="AWS region of the cluster, e.g. ap-south-1.")
@click.option("--k3s-version", help="K3s version, e.g. v1.33.3+k3s1.")
@click.option(
    "--api-cidr",
    "api_cidrs",
    multiple=True,
    help="CIDR allowed to reach the API (repeatable); `auto` is your public address.",
)
@click.option("--detach", is_flag=True, help="Only queue the job; do not run it here.")
@click.option(
    "--timeout",
    callback=duration_callback,
    help="How long the nodes may take to report ready (e.g. 15m). [default: 15m]",
)
@click.option("--protect", is_flag=True, help="Protect it from deletion from the start.")
@pass_app
def create(
    app: App,
    name: str,
    mode: str | None,
    workers: int | None,
    instance_type: str | None,
    region: str | None,
    k3s_version: str | None,
    api_cidrs: tuple[str, ...],
    detach: bool,
    timeout: float | None,
    protect: bool,
) -> None:
    """Create cluster NAME (defaults come from `goman config`), and wait until it runs."""
    from goman.clusters.service import create_cluster

    job = create_cluster(
        app.store,
        name,
        mode=mode,
        workers=workers,
        instance_type=instance_type,
        region=region,
        k3s_version=k3s_version,
        api_cidrs=list(api_cidrs) or None,
        ready_timeout=timeout,
        on_warning=warning,
        protected=protect,
    )
    run_or_detach(job, detach, app, "Creating")


@cluster.command("list")
@output_option()
@pass_app
def list_(app: App, fmt: str) -> None:
    """List the clusters of this profile (from the index: one request)."""
    # The index module alone: the mutating use cases are not needed to read it.
    from goman.clusters.index import list_clusters
    from goman.clusters.views import summary_view

    rows = [summary_view(s) for s in list_clusters(app.store)]
    if fmt == "table" and not rows:
        echo("No clusters yet. Create one with `goman cluster create NAME`.", err=True)
        return
    emit(
        rows,
        fmt,
        rows=lambda data: [
            [
                r["name"],
                r["mode"],
                r["region"],
                r["phase"],
                f"{r['nodes_ready']}/{r['nodes_total']}",
                r["endpoint"],
                None if r["cost_per_hour"] is None else f"${r['cost_per_hour']:.3f}",
                r["created_at"],
            ]
            for r in data
        ],
        headers=["name", "mode", "region", "phase", "ready", "endpoint", "cost/h", "created"],
    )


@cluster.command()
@click.argument("name", shell_complete=cluster_names)
@output_option()
@pass_app
def get(app: App, name: str, fmt: str) -> None:
    """Show one cluster: spec, phase, nodes and its job."""
    from goman.clusters.access import live_view
    from goman.clusters.service import get_cluster
    from goman.clusters.views import cluster_view

    doc = get_cluster(app.store, name)
    view = cluster_view(doc, live_view(app.store, doc))

    def text(v: dict[str, Any]) -> str:
        rows = [
            ("Name", v["name"]),
            ("Mode", v["mode"]),
            ("Region", v["region"]),
            ("Phase", v["phase"]),
            ("Workers", v["workers"]),
            ("K3s", v["k3s_version"]),
            ("Endpoint", v["endpoint"]),
            ("Kubernetes", _kubernetes_line(v["kubernetes"])),
            ("Cost/h", None if v["cost_per_hour"] is None else f"${v['cost_per_hour']:.3f}"),
            ("Job", v["job"]),
            ("Message", v["message"]),
        ]
        if v["protected"]:
            rows.append(
                ("Protected", f"yes (`goman cluster unprotect {doc.name}` to allow delete)")
            )
        if doc.status.phase == "Failed" and doc.status.job_id is None:
            rows.append(("Next", failed_next_steps(doc.name, _last_job_type(app, doc))))
        head = kv(rows)
        if not v["nodes"]:
            return head
        nodes = table(
            [
                [
                    n["name"],
                    n["role"],
                    n["instance_id"],
                    n["az"],
                    n["state"],
                    n["private_ip"],
                    n["public_ip"],
                    n["phase"],
                    _node_ready(n["kubernetes"]),
                ]
                for n in v["nodes"]
            ],
            [
                "node",
                "role",
                "instance",
                "az",
                "state",
                "private ip",
                "public ip",
                "phase",
                "k8s",
            ],
        )
        return head + "\n\n" + nodes

    emit(view, fmt, text=text)


def _node_ready(k: dict[str, Any] | None) -> str:
    if k is None:
        return "-"
    text = "Ready" if k["ready"] else "NotReady"
    return text + ("" if k["schedulable"] else ",SchedulingDisabled")


def _kubernetes_line(k: dict[str, Any]) -> str:
    if k["reachable"]:
        return f"{k['version']} (API reachable)"
    return "API not reachable from here: " + str(k.get("error") or "no answer")


def _last_job_type(app: App, doc: ClusterDoc) -> str | None:
    """The type of the cluster's last job, if it is still recorded."""
    from goman.aws.errors import GomanError
    from goman.jobs.queue import get_job

    if not doc.status.last_job_id:
        return None
    try:
        return get_job(app.store, doc.status.last_job_id).type
    except GomanError:
        return None


@cluster.command()
@click.argument("name", shell_complete=cluster_names)
@click.option("--workers", type=click.IntRange(0, 100), required=True, help="Agents wanted.")
@click.option("--detach", is_flag=True, help="Only queue the job; do not run it here.")
@click.option(
    "--timeout", callback=duration_callback, help="How long new nodes may take (e.g. 15m)."
)
@click.option(
    "--drain-timeout",
    callback=duration_callback,
    help="How long draining a removed agent may take (e.g. 10m). [default: 5m]",
)
@click.option(
    "--force",
    is_flag=True,
    help="Remove agents even when their drain cannot finish (budgets are then not honoured).",
)
@pass_app
def scale(
    app: App,
    name: str,
    workers: int,
    detach: bool,
    timeout: float | None,
    drain_timeout: float | None,
    force: bool,
) -> None:
    """Change the number of agents of NAME.

    Scale-down removes the highest-numbered agents: each is cordoned, drained (its pods
    evicted, PodDisruptionBudgets honoured), its Node deleted, then its instance terminated."""
    from goman.clusters.service import scale_cluster

    job = scale_cluster(
        app.store,
        name,
        workers,
        ready_timeout=timeout,
        drain_timeout=drain_timeout,
        force=force,
    )
    if job is None:
        echo(f"Cluster {name} already has {workers} worker(s): nothing to do.", err=True)
        return
    run_or_detach(job, detach, app, "Scaling")


@cluster.command()
@click.argument("name", shell_complete=cluster_names)
@click.option("--detach", is_flag=True, help="Only queue the job; do not run it here.")
@click.option(
    "--timeout",
    callback=duration_callback,
    help="How long the nodes may take to report ready (e.g. 15m). [default: the failed job's]",
)
@click.option(
    "--drain-timeout",
    callback=duration_callback,
    help="A scale-down: how long each drain may take. [default: the failed job's]",
)
@click.option(
    "--force", is_flag=True, help="A scale-down: remove agents whose drain cannot finish."
)
@pass_app
def retry(
    app: App,
    name: str,
    detach: bool,
    timeout: float | None,
    drain_timeout: float | None,
    force: bool,
) -> None:
    """Run a Failed create or scale of NAME again, replacing the nodes that failed."""
    from goman.clusters.service import retry_cluster

    job = retry_cluster(
        app.store, name, ready_timeout=timeout, drain_timeout=drain_timeout, force=force or None
    )
    replace = job.params.get("replace") or []
    if replace:
        nodes = ", ".join(f"{p['node']} ({p['instance_id']})" for p in replace)
        echo(f"Replacing failed node(s): {nodes}.", err=True)
    run_or_detach(job, detach, app, f"Retrying the {job.type} of")


@cluster.command()
@click.argument("name", shell_complete=cluster_names)
@yes_option()
@click.option("--detach", is_flag=True, help="Only queue the job; do not run it here.")
@pass_app
def delete(app: App, name: str, yes: bool, detach: bool) -> None:
    """Delete NAME and every AWS resource it has (verified)."""
    from goman.clusters.service import delete_cluster, get_cluster, protected_error
    from goman.clusters.state import valid_name

    valid_name(name)
    if not yes:
        from goman.aws.errors import NotFoundError

        try:
            doc = get_cluster(app.store, name)
        except NotFoundError:
            echo(f"Cluster {name!r} does not exist: nothing to delete.", err=True)
            return
        if doc.spec.protected:
            raise protected_error(name)  # before asking: the answer could not matter
        question = f"This deletes cluster {name!r} and all its instances. Type its name to confirm"
        if not typed(question, name, yes, "deletes a cluster"):
            echo("Not deleted: the name did not match.", err=True)
            raise click.exceptions.Exit(1)
    job = delete_cluster(app.store, name)
    if job is None:
        echo(f"Cluster {name!r} does not exist: nothing to delete.", err=True)
        return
    run_or_detach(job, detach, app, "Deleting")


@cluster.command()
@click.argument("name", shell_complete=cluster_names)
@pass_app
def protect(app: App, name: str) -> None:
    """Protect NAME from deletion (`cluster delete`, `resources cleanup`)."""
    from goman.clusters.service import set_protected

    set_protected(app.store, name, True)
    echo(f"Cluster {name} is protected from deletion.", err=True)


@cluster.command()
@click.argument("name", shell_complete=cluster_names)
@pass_app
def unprotect(app: App, name: str) -> None:
    """Allow NAME to be deleted again."""
    from goman.clusters.service import set_protected

    set_protected(app.store, name, False)
    echo(
        f"Cluster {name} is no longer protected: `goman cluster delete {name}` deletes it.",
        err=True,
    )


@cluster.command()
@click.argument("name", shell_complete=cluster_names)
@click.option(
    "--file", "path", type=click.Path(dir_okay=False), help="Write the kubeconfig to PATH (0600)."
)
@click.option("--merge", is_flag=True, help="Merge into $KUBECONFIG or ~/.kube/config.")
@click.option("--context", help="Context name. [default: goman-{profile}-{name}]")
@click.option(
    "--force", is_flag=True, help="With --file: replace a symbolic link at PATH (never followed)."
)
@pass_app
def kubeconfig(
    app: App, name: str, path: str | None, merge: bool, context: str | None, force: bool
) -> None:
    """Print, write or merge the admin kubeconfig of NAME."""
    from pathlib import Path

    from goman.aws.errors import UsageError
    from goman.clusters.service import default_context, kubeconfig_for
    from goman.provision.kubeconfig import (
        default_kubeconfig_path,
        merge_kubeconfig,
        write_kubeconfig,
    )

    if path and merge:
        raise UsageError("Use either --file or --merge, not both.")
    if force and not path:
        raise UsageError("--force only applies to --file.")
    ctx_name = context or default_context(app.store, name)
    data = kubeconfig_for(app.store, name, ctx_name)
    if path:
        write_kubeconfig(Path(path), data, force=force)
        echo(f"Wrote {path} (context {ctx_name}).", err=True)
    elif merge:
        target = default_kubeconfig_path()
        merge_kubeconfig(target, data)
        echo(
            f"Merged context {ctx_name} into {target} and made it current; "
            "try `kubectl get nodes`.",
            err=True,
        )
    else:
        # YAML escapes every control character itself; cleaning would change the data.
        emit(data, "yaml")


# The day-two commands register themselves on the group above.
from goman.cli import day2_cmd  # noqa: E402,F401
