"""The `goman` command: a Click command tree, with errors for people and exit codes.

Exit codes: 0 ok, 1 failure, 2 usage error, 130 interrupted.
"""

from __future__ import annotations

from typing import Any

import click

from goman import __version__
from goman.cli.context import App
from goman.cli.lazy import LazyGroup

COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("goman.cli.admin:init", "Create or verify the state bucket and config.json."),
    "status": ("goman.cli.admin:status", "Account, bucket, hardening and what is stored."),
    "doctor": ("goman.cli.admin:doctor", "Check credentials, bucket and permissions, with fixes."),
    "iam-policy": ("goman.cli.admin:iam_policy", "Print the IAM policy goman needs."),
    "config": ("goman.cli.config_cmd:config", "Show and change the profile's configuration."),
    "state": ("goman.cli.state_cmd:state", "Inspect, diff, restore and migrate state documents."),
    "cluster": (
        "goman.cli.cluster_cmd:cluster",
        "Create, list, scale, retry and delete K3s clusters.",
    ),
    "jobs": ("goman.cli.jobs_cmd:jobs", "List, show and cancel background jobs."),
    "worker": ("goman.cli.jobs_cmd:worker", "Run queued jobs (headless worker)."),
    "resources": (
        "goman.cli.resources_cmd:resources",
        "Find goman-tagged AWS resources and orphans.",
    ),
    "sandbox": ("goman.cli.sandbox_cmd:sandbox", "Run the embedded AWS emulator."),
}


class GomanGroup(LazyGroup):
    """Turns every error into one message for people and an exit code, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            # Click would say "Aborted!" and exit 1; an interrupt is 130 everywhere.
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except Exception as exc:
            ctx.exit(report(exc, bool(ctx.params.get("debug"))))


@click.group(
    cls=GomanGroup,
    lazy=COMMANDS,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--profile",
    metavar="NAME",
    help="AWS profile; also names the state folder. [default: $AWS_PROFILE or default]",
)
@click.option(
    "--sandbox", is_flag=True, help="Run against an embedded local AWS (no account needed)."
)
@click.option("--debug", is_flag=True, help="Show details (and tracebacks) of errors.")
@click.version_option(__version__, "--version", prog_name="goman")
@click.pass_context
def cli(ctx: click.Context, profile: str | None, sandbox: bool, debug: bool) -> None:
    """goman: K3s clusters on AWS EC2, with all state in one versioned S3 bucket.

    Run without a command to open the terminal UI.
    """
    app = App(profile_flag=profile, use_sandbox=sandbox, debug=debug)
    ctx.obj = app
    ctx.call_on_close(app.close)
    if sandbox:
        app.start_sandbox()
    if ctx.invoked_subcommand is None:
        from goman.tui.launch import run_tui

        run_tui(app)


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="goman")


def report(exc: BaseException, debug: bool) -> int:
    """Print one clear error (and its fix) on stderr; return the exit code."""
    from goman.aws.errors import map_error

    err = map_error(exc)
    click.echo(click.style("error: ", fg="red", bold=True) + err.message, err=True)
    if err.hint:
        click.echo(click.style("  fix: ", fg="yellow") + err.hint, err=True)
    if debug:
        import traceback

        click.echo("".join(traceback.format_exception(exc)), err=True)
        if err.detail:
            click.echo(f"detail: {err.detail}", err=True)
    elif err.detail:
        click.echo("  (run with --debug for detail)", err=True)
    return err.exit_code
