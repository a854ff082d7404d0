"""An error a person must fix before goman can go on (no credentials, an unknown profile,
access denied, a bucket owned by another account, a damaged index): said once, whole,
with its fix, instead of retrying for ever. `r` tries again after the fix."""

from __future__ import annotations

from typing import ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from goman.aws.errors import GomanError
from goman.models.text import printable
from goman.tui.hints import for_tui


def problem_text(error: GomanError) -> Text:
    text = Text()
    text.append("error: ", style="bold red")
    text.append(printable(error.message, multiline=True))
    if error.hint:
        text.append("\n\nfix: ", style="bold yellow")
        text.append(printable(for_tui(error.hint), multiline=True))
    text.append("\n\nPolling has stopped: nothing changes until this is fixed.\n")
    text.append(" r ", style="bold reverse")
    text.append(" try again   ")
    text.append(" q ", style="bold reverse")
    text.append(" quit   ")
    text.append(" esc ", style="bold reverse")
    text.append(" close this (the header keeps saying it)")
    return text


class ProblemScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "try_again", "Try again"),
        Binding("q", "app.quit", "Quit"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, error: GomanError) -> None:
        super().__init__()
        self.error = error

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog", classes="dialog -wide -danger"):
            yield Static(Text("goman cannot go on", style="bold"), classes="dialog-title")
            yield Static(problem_text(self.error), id="problem")

    def action_try_again(self) -> None:
        from goman.tui.app import GomanApp

        self.dismiss(None)
        cast("GomanApp", self.app).try_again()

    def action_close(self) -> None:
        self.dismiss(None)
