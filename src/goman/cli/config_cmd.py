"""`goman config show|get|set|unset`: the profile's config.json, changed by CAS."""

from __future__ import annotations

from typing import Any

import click

from goman.cli.context import App, pass_app
from goman.cli.output import echo, emit, kv, output_option

# What the text keys take; numbers and choices are read from the model itself.
_FORMATS = {
    "region": "an AWS region name, e.g. ap-south-1",
    "instance_type": "an EC2 instance type, e.g. t3.medium",
    "k3s_version": "a K3s version, e.g. v1.33.3+k3s1",
    "api_cidrs": "comma-separated CIDR blocks, e.g. 10.0.0.0/8,203.0.113.7/32",
    "kms_key_id": "a KMS key id, a key ARN or alias/NAME",
}


@click.group()
def config() -> None:
    """Show and change the profile's configuration (state/{profile}/config.json).

    List values such as api_cidrs take a comma-separated list: 10.0.0.0/8,192.168.1.0/24.
    """


def _check_key(key: str) -> str:
    from goman.aws.errors import UsageError
    from goman.models.config import CONFIG_KEYS

    if key not in CONFIG_KEYS:
        raise UsageError(f"Unknown config key {key!r}.", f"Known keys: {', '.join(CONFIG_KEYS)}.")
    return key


def _render(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _parse(key: str, raw: str) -> Any:
    from goman.models.config import AppConfig

    annotation = str(AppConfig.model_fields[key].annotation)
    if annotation.startswith("list"):
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def valid_values(key: str) -> str:
    """What `key` accepts, for a person: a range, a choice or a format."""
    import typing

    from goman.models.config import AppConfig

    field = AppConfig.model_fields[key]
    low = next((getattr(m, "ge", None) for m in field.metadata if hasattr(m, "ge")), None)
    high = next((getattr(m, "le", None) for m in field.metadata if hasattr(m, "le")), None)
    if low is not None and high is not None:
        return f"a whole number from {low} to {high}"
    if typing.get_origin(field.annotation) is typing.Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(field.annotation))
    return _FORMATS.get(key, "a valid value")


@config.command()
@output_option()
@pass_app
def show(app: App, fmt: str) -> None:
    """Every key and its value (defaults where config.json is absent)."""
    from goman.models.config import CONFIG_KEYS
    from goman.state.config import load_config

    doc = load_config(app.store)
    data = doc.model_dump(mode="json")
    emit(
        data,
        fmt,
        text=lambda d: kv([(k, _render(d[k])) for k in (*CONFIG_KEYS, "revision")]),
    )


@config.command()
@click.argument("key")
@pass_app
def get(app: App, key: str) -> None:
    """Print one value, bare (lists comma-separated; empty when unset)."""
    from goman.state.config import load_config

    _check_key(key)
    echo(_render(getattr(load_config(app.store), key)))


def _write(app: App, key: str, value: Any, *, unset: bool) -> None:
    from pydantic import ValidationError

    from goman.aws.errors import UsageError
    from goman.models.config import AppConfig
    from goman.state import keys

    before: dict[str, Any] = {}

    def change(current: AppConfig | None) -> AppConfig:
        data = (current or AppConfig()).model_dump()
        before["value"] = data.get(key)
        if unset:
            data.pop(key, None)
        else:
            data[key] = value
        return AppConfig.model_validate(data)

    try:
        # Validate against the defaults first: a bad value fails before any S3 call;
        # then against the world (EC2's regions and types, `auto` addresses).
        from goman.clusters.checks import check_setting, resolve_api_cidrs

        if not unset and key == "api_cidrs":
            value = resolve_api_cidrs(value)
        change(None)
        if not unset:
            value = check_setting(app.store, key, value)
        written = app.store.update(keys.CONFIG, AppConfig, change)
    except ValidationError as exc:
        msg = exc.errors()[0].get("msg", "invalid value") if exc.errors() else "invalid value"
        raise UsageError(
            f"Invalid value for {key}: {msg.removeprefix('Value error, ')}.",
            f"{key} takes {valid_values(key)}; `goman config unset {key}` restores its default.",
        ) from exc
    assert written is not None
    new = getattr(written.doc, key)
    echo(
        f"{key}: {_render(before.get('value')) or '(unset)'} -> {_render(new) or '(unset)'} "
        f"(revision {written.doc.revision})"
    )


# ignore_unknown_options: a value such as -1 is a value, not an option.
@config.command(name="set", context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.argument("value")
@pass_app
def set_(app: App, key: str, value: str) -> None:
    """Set KEY to VALUE (validated; written by compare-and-swap)."""
    _check_key(key)
    _write(app, key, _parse(key, value), unset=False)


@config.command()
@click.argument("key")
@pass_app
def unset(app: App, key: str) -> None:
    """Reset KEY to its default."""
    _check_key(key)
    _write(app, key, None, unset=True)
