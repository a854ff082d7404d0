"""Create a cluster: every field validated as it is typed, with the same rules as the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, Static

from goman.models.cluster import check_name
from goman.models.config import INSTANCE_TYPE_RE, K3S_VERSION_RE, REGION_RE, AppConfig
from goman.tui import format as fmt
from goman.tui.pricing import cluster_price, instance_types
from goman.tui.screens.dialogs.base import Dialog


@dataclass(frozen=True)
class CreateRequest:
    name: str
    mode: str
    workers: int
    instance_type: str
    region: str
    k3s_version: str

    def options(self) -> dict[str, Any]:
        """Keyword arguments of `clusters.service.create_cluster`."""
        return {
            "mode": self.mode,
            "workers": self.workers,
            "instance_type": self.instance_type,
            "region": self.region,
            "k3s_version": self.k3s_version,
        }


def name_problem(value: str, existing: set[str]) -> str:
    if not value:
        return "A name is needed (e.g. web)."
    try:
        check_name(value)
    except ValueError as exc:
        return str(exc)
    if value in existing:
        return f"A cluster named {value!r} already exists."
    return ""


def workers_problem(value: str) -> str:
    if not value.strip().isdigit() or not 0 <= int(value) <= 100:
        return "Workers must be a whole number from 0 to 100."
    return ""


def pattern_problem(value: str, pattern: Any, what: str, example: str) -> str:
    return "" if pattern.match(value.strip()) else f"{value!r} is not {what} (e.g. {example})."


class CreateDialog(Dialog[CreateRequest | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "submit", "Create"),
    ]

    def __init__(self, config: AppConfig, existing: set[str]) -> None:
        super().__init__()
        self.config = config
        self.existing = existing

    def compose(self) -> ComposeResult:
        cfg = self.config
        types = instance_types(cfg.instance_type, cfg.region)
        with Vertical(id="dialog", classes="dialog -wide"):
            yield Label("Create a cluster", classes="dialog-title")
            with Grid(id="form"):
                yield Label("Name")
                yield Input(placeholder="e.g. web", id="name", compact=True)
                yield Label("Mode")
                yield Select(
                    [("dev: 1 server", "dev"), ("ha: 3 servers, embedded etcd", "ha")],
                    value=cfg.mode,
                    allow_blank=False,
                    id="mode",
                    compact=True,
                )
                yield Label("Workers")
                yield Input(str(cfg.workers), id="workers", compact=True, restrict=r"\d*")
                yield Label("Instance type")
                yield Select(
                    types,
                    value=cfg.instance_type,
                    allow_blank=False,
                    id="instance_type",
                    compact=True,
                )
                yield Label("Region")
                yield Input(cfg.region, id="region", compact=True)
                yield Label("K3s version")
                yield Input(cfg.k3s_version, id="k3s_version", compact=True)
            yield Static(id="problems", classes="error")
            yield Static(id="estimate", classes="hint")
            yield Static(self._open_api(), id="api-warning", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Create", variant="primary", id="create")
                yield Button("Cancel", id="cancel")

    def _open_api(self) -> Text:
        """What the CLI says after a create, said before it: the API's reach."""
        from goman.clusters.checks import open_to_everyone

        everyone = open_to_everyone(list(self.config.api_cidrs))
        if everyone is None:
            return Text("")
        return Text(
            f"The Kubernetes API will be open to the whole internet (api_cidrs {everyone}); "
            "narrow it with `goman config set api_cidrs auto` (your address) or a CIDR."
        )

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()
        self._validate(show_name=False)

    def _value(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value.strip()

    def _problems(self) -> dict[str, str]:
        problems = {
            "name": name_problem(self._value("name"), self.existing),
            "workers": workers_problem(self._value("workers")),
            "region": pattern_problem(
                self._value("region"), REGION_RE, "an AWS region", "ap-south-1"
            ),
            "k3s_version": pattern_problem(
                self._value("k3s_version"), K3S_VERSION_RE, "a K3s version", self.config.k3s_version
            ),
        }
        itype = str(self.query_one("#instance_type", Select).value)
        if not INSTANCE_TYPE_RE.match(itype):
            problems["instance_type"] = f"{itype!r} is not an EC2 instance type."
        return {k: v for k, v in problems.items() if v}

    def _validate(self, *, show_name: bool = True) -> dict[str, str]:
        problems = self._problems()
        shown = dict(problems)
        if not show_name and not self._value("name"):
            shown.pop("name", None)  # do not scold an empty form before anything is typed
        for field in ("name", "workers", "region", "k3s_version"):
            self.query_one(f"#{field}", Input).set_class(field in shown, "-invalid")
        self.query_one("#problems", Static).update(Text("\n".join(shown.values())))
        self.query_one("#create", Button).disabled = bool(problems)
        self._estimate(problems)
        return problems

    def _estimate(self, problems: dict[str, str]) -> None:
        if "workers" in problems:
            self.query_one("#estimate", Static).update("")
            return
        mode = str(self.query_one("#mode", Select).value)
        servers = 3 if mode == "ha" else 1
        workers = int(self._value("workers"))
        itype = str(self.query_one("#instance_type", Select).value)
        total = cluster_price(servers + workers, itype, self._value("region"))
        self.query_one("#estimate", Static).update(
            f"{servers} server(s) + {workers} worker(s) × {itype} ≈ {fmt.money(total)}/h"
            " with disks and public IPs"
        )

    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self) -> None:
        self._validate()

    @on(Button.Pressed, "#create")
    def action_submit(self) -> None:
        problems = self._validate()
        if problems:
            first = next(iter(problems))
            if first != "instance_type":
                self.query_one(f"#{first}", Input).focus()
            return
        self.dismiss(
            CreateRequest(
                name=self._value("name"),
                mode=str(self.query_one("#mode", Select).value),
                workers=int(self._value("workers")),
                instance_type=str(self.query_one("#instance_type", Select).value),
                region=self._value("region"),
                k3s_version=self._value("k3s_version"),
            )
        )

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
