"""`goman jobs list|show|cancel` and `goman worker`."""

from __future__ import annotations

import click

from goman.cli import interrupt
from goman.cli.complete import job_ids
from goman.cli.context import App, pass_app
from goman.cli.output import echo, emit, kv, output_option, table


@click.group()
def jobs() -> None:
    """List, show and cancel background jobs."""


@jobs.command("list")
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Every job document kept (one request per job), not only the queue's.",
)
@output_option()
@pass_app
def list_(app: App, every: bool, fmt: str) -> None:
    """Jobs of this profile, newest first: unfinished ones and the last 100 finished."""
    from goman.clusters.views import job_row_view
    from goman.jobs.queue import list_jobs, recent_jobs

    jobs = list_jobs(app.store) if every else recent_jobs(app.store)
    rows = [job_row_view(j) for j in jobs]
    if fmt == "table" and not rows:
        echo("No jobs.", err=True)
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
@click.argument("job_id", metavar="ID", shell_complete=job_ids)
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
                ("Created", v["created_at"]),
                ("Finished", v["finished_at"]),
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
@click.argument("job_id", metavar="ID", shell_complete=job_ids)
@pass_app
def cancel(app: App, job_id: str) -> None:
    """Cancel a job: at once if nobody runs it, else at its next step."""
    from goman.jobs.queue import cancel_job, get_job

    before = get_job(app.store, job_id)
    running = next((s.name for s in before.steps if s.status == "running"), None)
    job = cancel_job(app.store, job_id)
    done = [s.name for s in job.steps if s.status == "done"]
    if job.status == "cancelled":
        where = (
            f"it stopped before step {running}"
            if running
            else (f"after step {done[-1]}" if done else "before its first step")
        )
        echo(f"Job {job.id} is cancelled ({where}).", err=True)
    elif job.finished:
        echo(f"Job {job.id} had already finished ({job.status}).", err=True)
    else:
        step = running or (job.current_step.name if job.current_step else None)
        at = f" step {step}" if step else " its current step"
        echo(
            f"Cancel requested: job {job.id} is running{at}; it stops there, within a "
            "second or so in a long wait, else when the step ends.",
            err=True,
        )


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
    import threading

    from goman.cli.progress import Progress
    from goman.jobs.worker import Worker

    progress = Progress()
    runner = Worker(app.store, on_progress=progress)
    try:
        if once:
            count = runner.run_once()
            progress.done()
            echo(f"Ran {count} job(s); none is left runnable.", err=True)
            return
        echo(f"Worker {runner.owner} waiting for jobs (Ctrl-C to stop).", err=True)
        runner.run_forever(threading.Event(), poll=poll)
    except KeyboardInterrupt as exc:
        # Ctrl-C or SIGTERM (a service manager stopping it): the job in hand, if any,
        # was given back to the queue on the way out.
        progress.done()
        echo(
            f"{interrupt.said(exc)} Stopped; a job it was running is given back to the queue.",
            err=True,
        )
        raise click.exceptions.Exit(interrupt.exit_code(exc)) from None
