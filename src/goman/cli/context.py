"""What every command gets: the profile, the AWS context and the state store, made lazily."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from goman.aws.session import AwsContext
    from goman.state.store import StateStore


@dataclass
class App:
    profile_flag: str | None = None
    use_sandbox: bool = False
    debug: bool = False
    sandbox_embedded: bool = False  # --sandbox found no running sandbox and started one here
    _aws: AwsContext | None = None
    _store: StateStore | None = None
    _closers: list[Any] = field(default_factory=list)
    _sandbox_started: bool = False

    @property
    def aws(self) -> AwsContext:
        if self._aws is None:
            from goman.aws.session import AwsContext

            # Started on first use, once every option (`--sandbox` and `--profile` after
            # the command too) is known.
            if self.use_sandbox and not self._sandbox_started:
                self.start_sandbox()

            self._aws = AwsContext.from_flag(self.profile_flag)
        return self._aws

    @property
    def store(self) -> StateStore:
        if self._store is None:
            from goman.state.store import StateStore

            self._store = StateStore(self.aws)
        return self._store

    def start_sandbox(self) -> None:
        from goman.aws.session import resolve_profile
        from goman.sandbox.runtime import activate

        profile, _ = resolve_profile(self.profile_flag)
        self._sandbox_started = True
        activation = activate(profile)
        self._closers.append(activation)
        self.sandbox_embedded = activation.embedded
        if activation.embedded:
            from goman.cli.output import echo

            echo(
                f"goman: no `goman sandbox serve` answers at {activation.looked_for}; using "
                "a sandbox inside this process (embedded: state is lost on exit)",
                err=True,
            )

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()


pass_app = click.make_pass_decorator(App)
