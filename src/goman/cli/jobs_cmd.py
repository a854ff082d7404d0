"""`goman jobs list|show|cancel` and `goman worker`."""

from __future__ import annotations

import click

from goman.cli.context import App, pass_app
from goman.cli.output import emit, kv, output_option, table


@click.group()
def jobs() -> None:
    """List, show and cancel background jobs."""


@jobs.command("list")
@output_option()
@pass_app
def list_(app: App, fmt: str) -> None:
    """Every job of this profile, newest first (finished ones too, until pruned)."""
    from goman.clusters.views import job_row_view
    from goman.jobs.queue import list_jobs

    rows = [job_row_view(j) for j in list_jobs(app.store)]
    if fmt == "table" and not rows:
        click.echo("No jobs.", err=True)
        return
    emit(
        rows,
        fmt,
        rows=lambda data: [
            [r["id"], r["type"], r["cluster"], r["status"], r["step"], r["owner"], r["created_at"]]
            for r in data
        ],
        headers=["id", "type", "cluster", "status", "step", "owner", "created"],
    )


@jobs.command()
@click.argument("job_id", metavar="ID")
@output_option()
@pass_app
def show(app: App, job_id: str, fmt: str) -> None:
    """One job with its steps."""
    from goman.clusters.views import job_view
    from goman.jobs.queue import get_job

    view = job_view(get_job(app.store, job_id))

    def text(v: dict[str, object]) -> str:
        head = kv(
            [
                ("ID", v["id"]),
                ("Type", v["type"]),
                ("Cluster", v["cluster"]),
                ("Status", v["status"]),
                ("Owner", v["owner"]),
                ("Lease until", v["lease_expires_at"]),
                ("Attempts", v["attempts"]),
                ("Error", v["error"]),
            ]
        )
        steps = v["steps"]
        assert isinstance(steps, list)
        body = table(
            [
                [
                    s["name"],
                    s["status"],
                    s["attempts"],
                    s["started_at"],
                    s["ended_at"],
                    s["message"],
                ]
                for s in steps
            ],
            ["step", "status", "tries", "started", "ended", "message"],
        )
        return head + "\n\n" + body

    emit(view, fmt, text=text)


@jobs.command()
@click.argument("job_id", metavar="ID")
@pass_app
def cancel(app: App, job_id: str) -> None:
    """Cancel a job: at once if nobody runs it, else at its next step."""
    from goman.jobs.queue import cancel_job

    job = cancel_job(app.store, job_id)
    if job.status == "cancelled":
        click.echo(f"Job {job.id} is cancelled.", err=True)
    elif job.finished:
        click.echo(f"Job {job.id} had already finished ({job.status}).", err=True)
    else:
        click.echo(f"Cancel requested: job {job.id} stops at its next step boundary.", err=True)


@click.command()
@click.option("--once", is_flag=True, help="Run what is runnable now, then exit.")
@click.option(
    "--poll",
    type=click.FloatRange(0.2, 300),
    default=2.0,
    show_default=True,
    help="Seconds between looks for new jobs.",
)
@pass_app
def worker(app: App, once: bool, poll: float) -> None:
    """Run queued jobs: pending ones, and ones whose worker's lease expired."""
    import signal
    import threading

    from goman.cli.progress import Progress
    from goman.jobs.worker import Worker

    progress = Progress()
    runner = Worker(app.store, on_progress=progress)
    if once:
        count = runner.run_once()
        progress.done()
        click.echo(f"Ran {count} job(s); none is left runnable.", err=True)
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo(f"Worker {runner.owner} waiting for jobs (Ctrl-C to stop).", err=True)
    try:
        runner.run_forever(stop, poll=poll)
    except KeyboardInterrupt:
        progress.done()
        click.echo("Stopped; a job it was running is given back to the queue.", err=True)
        raise click.exceptions.Exit(130) from None
