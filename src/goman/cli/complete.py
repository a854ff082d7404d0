"""Shell completion of cluster names and job ids (bash, zsh and fish; see the README).

Click runs these when the shell asks (`_GOMAN_COMPLETE=...`), never for `--help`, so the
AWS code they import costs nothing elsewhere. A completion must be quick and silent:
cluster names come from the index (one GET), job ids from one listing of the jobs folder
(no job is read), and any failure at all (no credentials, no network, no bucket) simply
completes nothing; it never prints into the user's shell.

What is offered comes from the bucket and lands on the user's command line: only names
and ids of the shapes goman itself makes are offered, so nothing with a space, a `;` or a
line break can be slipped in.
"""

from __future__ import annotations

import contextlib
import io
import re
from typing import Any

import click
from click.shell_completion import CompletionItem


def _profile(ctx: click.Context) -> str | None:
    """The profile named on the command line being completed (before or after the command)."""
    while ctx is not None:
        if ctx.params.get("profile"):
            return str(ctx.params["profile"])
        if ctx.meta.get("goman.profile"):
            return str(ctx.meta["goman.profile"])
        ctx = ctx.parent  # type: ignore[assignment]
    return None


def _store(ctx: click.Context) -> Any:
    from goman.aws.session import AwsContext
    from goman.state.store import StateStore

    return StateStore(AwsContext.from_flag(_profile(ctx)))


_CLUSTER = re.compile(r"[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?")
_JOB = re.compile(r"[0-9]{8}T[0-9]{6}-[0-9a-f]{1,32}")


def _quietly(read: Any) -> list[str]:
    # Libraries may warn or log on stderr: the shell shows whatever lands there.
    sink = io.StringIO()
    try:
        with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
            return [str(v) for v in read()]
    except BaseException:  # even Ctrl-C: a traceback would land in the shell
        return []


def _index_bytes(ctx: click.Context) -> bytes:
    """The index as stored. With simple credentials it comes through the standard-library
    fast path alone (goman.aws.lite, as the store itself reads it), so a TAB costs neither
    boto3 nor pydantic; otherwise through the store."""
    from goman.aws.lite import NoSuchKey, TooLarge
    from goman.aws.session import AwsContext
    from goman.state import keys

    aws = AwsContext.from_flag(_profile(ctx))
    lite = aws.lite
    if lite is not None:
        got = lite.get_object(aws.bucket, aws.prefix + keys.INDEX, aws.account_id)
        if isinstance(got, NoSuchKey | TooLarge):
            return b"{}"  # nothing to offer (and an oversized index is not read at all)
        if got is not None:
            return got[0]
    from goman.state.store import StateStore

    return StateStore(aws).get_bytes(keys.INDEX)[0]


def cluster_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    def read() -> list[str]:
        import json

        # Not the validated document: building the cluster models would double the cost
        # of a TAB, and nothing is used but names that pass the name pattern below.
        clusters = json.loads(_index_bytes(ctx)).get("clusters")
        return sorted(clusters) if isinstance(clusters, dict) else []

    names = _quietly(read)
    return [CompletionItem(n) for n in names if _CLUSTER.fullmatch(n) and n.startswith(incomplete)]


def job_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    def read() -> list[str]:
        from goman.state import keys

        listing = _store(ctx).ls(keys.JOBS_DIR)
        names = [o.key.rsplit("/", 1)[-1] for o in listing if o.key.endswith(".json")]
        # Newest first, as `goman jobs list` shows them (ids start with their time).
        return sorted((n.removesuffix(".json") for n in names), reverse=True)

    ids = _quietly(read)
    return [CompletionItem(j) for j in ids if _JOB.fullmatch(j) and j.startswith(incomplete)]
