"""`goman init`, `status`, `doctor` and `iam-policy`: set-up and diagnosis.

Thin on purpose: the logic lives in goman.state.inspect, goman.state.bucket,
goman.provision.permissions and goman.aws.iam_policy.
"""

from __future__ import annotations

from typing import Any

import click

from goman.cli.context import App, pass_app
from goman.cli.output import FORMATS, echo, emit, kv, output_option, warning


def _on(value: bool | None) -> str:
    return "unknown (no permission to read)" if value is None else ("on" if value else "off")


@click.command()
@output_option()
@pass_app
def init(app: App, fmt: str) -> None:
    """Create or verify the state bucket, and write config.json with defaults if absent.

    Safe to run again: it says what it created and what it found.
    """
    from goman.state.bucket import ensure_bucket, read_hardening
    from goman.state.config import ensure_config
    from goman.state.lifecycle import ensure_secret_expiry
    from goman.state.probe_record import probe_and_record

    ctx = app.aws
    report = ensure_bucket(ctx)
    # Before anything is written into the profile: shared state on an endpoint that
    # ignores conditional writes would lose updates silently.
    probe = probe_and_record(app.store)
    if not probe.ok:
        raise probe.error("goman init stopped before writing config.json.")
    if probe.scratch_left:
        report.warnings.append(
            f"Could not delete the probe's scratch key {ctx.prefix}{probe.scratch_key}; "
            "it is harmless and the next probe removes it."
        )
    hardening = report.hardening if report.created else read_hardening(ctx)
    expiry, expiry_warning = ensure_secret_expiry(ctx)
    if expiry_warning:
        report.warnings.append(expiry_warning)
    config, config_created = ensure_config(app.store)
    data: dict[str, Any] = {
        "account": ctx.account_id,
        "profile": ctx.profile,
        "bucket": report.bucket,
        "bucket_created": report.created,
        "region": report.region,
        "versioning": report.versioning,
        "versioning_enabled_now": report.versioning_enabled_now,
        "hardening": hardening.as_dict(),
        "secret_versions_expire": expiry,
        "config": f"{ctx.prefix}config.json",
        "config_created": config_created,
        "config_revision": config.doc.revision,
        "s3_endpoint": probe.endpoint,
        "conditional_writes": probe.verdict,
        "warnings": report.warnings,
    }
    if fmt != "table":
        emit(data, fmt)
        return
    verb = "Created" if report.created else "Found"
    echo(f"{verb} state bucket s3://{report.bucket} ({report.region}, account {ctx.account_id}).")
    if report.versioning_enabled_now and not report.created:
        echo("Enabled versioning on it (it was off).")
    else:
        echo(f"Versioning: {report.versioning}.")
    echo(
        f"Hardening: public access block {_on(hardening.public_access_block)}, "
        f"encryption {_on(hardening.encryption)}, TLS-only policy {_on(hardening.tls_only_policy)}."
    )
    if expiry:
        echo("Old versions of secrets expire a day after they stop being current.")
    echo(f"Conditional writes: verified on {probe.endpoint} ({len(probe.checks)} checks).")
    verb = "Wrote defaults to" if config_created else "Found"
    echo(f"{verb} s3://{report.bucket}/{ctx.prefix}config.json (revision {config.doc.revision}).")
    for text in report.warnings:
        warning(text)


@click.command()
@output_option()
@pass_app
def status(app: App, fmt: str) -> None:
    """Account, profile, the state bucket and its hardening, and what is stored."""
    from goman.state.inspect import status_report

    data = status_report(app.store)
    if fmt != "table":
        emit(data, fmt)
        return
    h = data["hardening"]
    enc = _on(h["encryption"]) + (f" ({h['encryption_type']})" if h["encryption_type"] else "")
    echo(
        kv(
            [
                ("Account", data["account"]),
                ("Identity", data["identity"]),
                ("Profile", data["profile"]),
                (
                    "Bucket",
                    f"s3://{data['bucket']}" + (" (created now)" if data["bucket_created"] else ""),
                ),
                ("Region", data["region"]),
                ("Prefix", data["prefix"]),
                ("Versioning", data["versioning"]),
                ("Public access block", _on(h["public_access_block"])),
                ("Encryption", enc),
                ("TLS-only policy", _on(h["tls_only_policy"])),
                ("Config", "written" if data["config"] else "not written (defaults; `goman init`)"),
                ("S3 endpoint", data["s3_endpoint"]),
                ("Conditional writes", _verdict(data["conditional_writes"])),
                ("Clusters", data["counts"]["clusters"]),
                ("Jobs", data["counts"]["jobs"]),
            ]
        )
    )
    for text in data["warnings"]:
        warning(text)


def _verdict(value: str) -> str:
    return {
        "verified": "verified (by the last probe of this endpoint)",
        "failed": "FAILED: the endpoint broke a promise goman relies on (`goman doctor` says which)",
    }.get(value, "unknown (run `goman init` or `goman doctor` to probe)")


_MARK = {"pass": ("ok", "green"), "warn": ("warn", "yellow"), "fail": ("FAIL", "red")}


@click.command()
@output_option()
@pass_app
def doctor(app: App, fmt: str) -> None:
    """Check credentials, profile, the state bucket and EC2 permissions, each with its fix.

    Changes no state: its only writes are the conditional-write probe's scratch key
    (deleted again) and the probe's record. Exits 1 if any check fails.
    """
    from goman.aws.checks import Check
    from goman.aws.errors import GomanError

    checks: list[Check] = []
    profile: str | None = None
    try:
        store = app.store  # resolving the profile name may already fail
        profile = store.ctx.profile
    except GomanError as exc:
        checks.append(Check("profile", "fail", exc.message, exc.hint))
    else:
        from goman.provision.permissions import check_ec2_permissions
        from goman.state.inspect import state_checks

        state, region = state_checks(store)
        checks.extend(state)
        if region is not None:
            checks.extend(check_ec2_permissions(store.ctx, region))
    counts = {s: sum(1 for c in checks if c.status == s) for s in ("pass", "warn", "fail")}
    ok = counts["fail"] == 0
    data = {
        "ok": ok,
        "profile": profile,
        "summary": counts,
        "checks": [c.as_dict() for c in checks],
    }
    if fmt != "table":
        emit(data, fmt)
    else:
        for c in checks:
            mark, color = _MARK[c.status]
            echo(f" {c.name}: {c.message}", label=f"[{mark:>4}]", fg=color)
            if c.fix and c.status != "pass":
                echo(f"       fix: {c.fix}")
        echo(f"\n{counts['pass']} passed, {counts['warn']} warnings, {counts['fail']} failed.")
    if not ok:
        click.get_current_context().exit(1)


@click.command(name="iam-policy")
@click.option(
    "--optional",
    "which",
    flag_value="optional",
    help="Print the optional permissions instead (a second policy document to attach).",
)
@click.option(
    "--explain",
    "which",
    flag_value="explain",
    help="List the optional permissions and what each one enables, for people.",
)
@click.option("--kms-key-arn", metavar="ARN", help="Narrow the optional KMS statement to this key.")
@click.option(
    "-o",
    "--output",
    "fmt",
    type=click.Choice(FORMATS),
    help="Output format. [default: json for a policy, table for --explain]",
)
def iam_policy(which: str | None, kms_key_arn: str | None, fmt: str | None) -> None:
    """Print the IAM policy goman needs, as a JSON policy document.

    Without options: the required policy (STS, S3 on goman-*, EC2); goman works with
    exactly this. With --optional: a second document with the optional permissions
    (state history and restore, bucket hardening and its report, KMS). --explain says
    what each optional permission enables.
    """
    from goman.aws.iam_policy import OPTIONAL, optional_policy, seed_policy

    if which == "explain":
        data: Any = [
            {"actions": list(o.actions), "enables": o.enables, "without": o.without}
            for o in OPTIONAL
        ]

        def explained(rows: list[dict[str, Any]]) -> str:
            return "\n".join(
                f"{', '.join(r['actions'])}\n  enables: {r['enables']}\n  without: {r['without']}"
                for r in rows
            )

        emit(data, fmt or "table", text=explained)
        return
    policy = optional_policy(kms_key_arn) if which == "optional" else seed_policy()
    emit(
        policy,
        fmt or "json",
        rows=lambda p: [
            [
                st.get("Sid", ""),
                st["Effect"],
                ", ".join(st["Action"]),
                ", ".join(st["Resource"]) if isinstance(st["Resource"], list) else st["Resource"],
            ]
            for st in p["Statement"]
        ],
        headers=["sid", "effect", "actions", "resource"],
    )
