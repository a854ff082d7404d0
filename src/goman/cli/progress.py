"""Live progress of a job on stderr: step, nodes ready/total, elapsed. For people only."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from goman.models.cluster import ClusterDoc
    from goman.models.job import Job


class Progress:
    """Prints one line whenever what it shows changes (a rewritten line on a terminal)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.last = ""
        self.tty = sys.stderr.isatty()

    def __call__(self, job: Job, doc: ClusterDoc | None) -> None:
        step = job.current_step
        where = job.status if job.finished else (step.name if step else job.status)
        nodes = ""
        if doc is not None and doc.status.nodes and job.type != "delete":
            total = doc.spec.servers + doc.spec.workers
            nodes = f"  nodes {doc.nodes_ready}/{total} ready"
        phase = f"  [{doc.status.phase}]" if doc is not None else ""
        line = f"{job.type} {job.cluster}: {where}{nodes}{phase}"
        if line == self.last:
            return
        self.last = line
        elapsed = int(time.monotonic() - self.started)
        text = f"{elapsed // 60:02d}:{elapsed % 60:02d}  {line}"
        if self.tty:
            click.echo("\r\033[K" + text, err=True, nl=False)
        else:
            click.echo(text, err=True)

    def done(self) -> None:
        if self.tty and self.last:
            click.echo("", err=True)
