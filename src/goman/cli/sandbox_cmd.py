"""`goman sandbox serve`: the embedded AWS emulator for other goman processes."""

from __future__ import annotations

import signal
import threading

import click


@click.group()
def sandbox() -> None:
    """Run the embedded AWS emulator (S3, STS, EC2) on 127.0.0.1."""


@sandbox.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=4566,
    show_default=True,
    help="Port on 127.0.0.1 (0 picks a free one).",
)
def serve(port: int) -> None:
    """Serve the sandbox until interrupted, printing the environment to reach it."""
    from goman.sandbox.runtime import default_server

    try:
        server = default_server(port)
    except OSError as exc:
        raise click.ClickException(
            f"Cannot listen on 127.0.0.1:{port}: {exc.strerror}. Is a sandbox already running? "
            "Pick another port with --port."
        ) from exc
    click.echo(f"# goman sandbox serving on {server.endpoint} (Ctrl-C to stop)")
    click.echo("# use it from another shell with:")
    for key, value in server.environment().items():
        click.echo(f"export {key}={value}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        click.echo("# sandbox stopped", err=True)
