"""The `goman` command: a Click command tree, with errors for people and exit codes.

Exit codes: 0 ok, 1 failure, 2 usage error, 130 interrupted (Ctrl-C), 143 terminated
(SIGTERM).
"""

from __future__ import annotations

from typing import Any

import click

from goman import __version__
from goman.cli import interrupt
from goman.cli.context import App
from goman.cli.lazy import LazyGroup
from goman.cli.output import echo, error, fix

COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("goman.cli.admin:init", "Create or verify the state bucket and config.json."),
    "status": ("goman.cli.admin:status", "Account, bucket, hardening and what is stored."),
    "doctor": ("goman.cli.admin:doctor", "Check credentials, bucket and permissions, with fixes."),
    "iam-policy": ("goman.cli.admin:iam_policy", "Print the IAM policy goman needs."),
    "config": ("goman.cli.config_cmd:config", "Show and change the profile's configuration."),
    "state": ("goman.cli.state_cmd:state", "Inspect, diff, restore and migrate state documents."),
    "cluster": (
        "goman.cli.cluster_cmd:cluster",
        "Create, list, scale, upgrade, stop, start, retry, protect and delete K3s clusters.",
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
        previous = interrupt.catch_sigterm()
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit):
            raise
        except (KeyboardInterrupt, click.exceptions.Abort) as exc:
            # Click would say "Aborted!" and exit 1 (also for Ctrl-C at a prompt); an
            # interrupt is 130 everywhere, and SIGTERM 143.
            echo(interrupt.said(exc), err=True)
            ctx.exit(interrupt.exit_code(exc))
        except Exception as exc:
            app = ctx.obj
            debug = app.debug if isinstance(app, App) else bool(ctx.params.get("debug"))
            ctx.exit(report(exc, debug))
        finally:
            interrupt.restore_sigterm(previous)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        return None if command is None else with_global_options(command)


def _set_global(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """`--profile`, `--sandbox` and `--debug` given after the command: the same as before it."""
    if value is None or value is False:
        return
    name = str(param.name).removeprefix("late_")
    ctx.meta[f"goman.{name}"] = value  # shell completion has no App to read it from
    app = ctx.find_object(App)
    if app is None:
        return
    if name == "profile":
        app.profile_flag = value
    elif name == "sandbox":
        app.use_sandbox = True
    else:
        app.debug = True


def _global_options() -> list[click.Parameter]:
    def flag(decl: str, help_: str, **kw: Any) -> click.Option:
        name = "late_" + decl.removeprefix("--")
        return click.Option(
            [decl, name], expose_value=False, callback=_set_global, help=help_, **kw
        )

    return [
        flag("--profile", "AWS profile (also accepted before the command).", metavar="NAME"),
        flag("--sandbox", "Use the embedded local AWS (also before the command).", is_flag=True),
        flag("--debug", "Show details of errors (also before the command).", is_flag=True),
    ]


def with_global_options(command: click.Command) -> click.Command:
    """Accept the group's own options after any command too: `goman cluster list --profile x`."""
    if not any(p.name == "late_profile" for p in command.params):
        taken = {opt for p in command.params for opt in getattr(p, "opts", [])}
        command.params.extend(o for o in _global_options() if o.opts[0] not in taken)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            with_global_options(sub)
    return command


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
    if ctx.invoked_subcommand is None:
        from goman.tui.launch import run_tui

        code = run_tui(app)
        if code == interrupt.TERMINATED:
            echo("Terminated. Jobs running in the TUI were handed back to the queue.", err=True)
        if code:
            ctx.exit(code)


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="goman")


def report(exc: BaseException, debug: bool) -> int:
    """Print one clear error (and its fix) on stderr; return the exit code."""
    from goman.aws.errors import map_error

    err = map_error(exc)
    error(err.message)
    if err.hint:
        fix(err.hint)
    if debug:
        import traceback

        echo("".join(traceback.format_exception(exc)), err=True)
        if err.detail:
            echo(f"detail: {err.detail}", err=True)
    elif err.detail:
        echo("  (run with --debug for detail)", err=True)
    return err.exit_code
