"""What every goman dialog does alike: Enter confirms wherever the focus is, Escape cancels,
and the chosen option is visible without colour."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual.actions import SkipAction
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList, RadioButton, Select

R = TypeVar("R")


class Dialog(ModalScreen[R]):
    """Enter submits from any field: an input, a choice, a drop-down that is closed. Only a
    focused button (Enter presses that button) and an open drop-down (Enter picks the
    option) keep Enter for themselves."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "confirm", "Confirm", show=False, priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def action_confirm(self) -> None:
        focused = self.focused
        if isinstance(focused, Button | OptionList) or (
            isinstance(focused, Select) and focused.expanded
        ):
            raise SkipAction()
        if focused is None:
            self.action_submit()
            return
        # A priority binding runs before the focused field has taken the keys typed just
        # ahead of Enter (one burst from a fast typist, a slow link or a paste): submit
        # behind them in that field's queue, or the form is judged without its last
        # characters and the Enter is lost.
        focused.call_later(self.action_submit)

    def action_submit(self) -> None:  # pragma: no cover - every dialog has its own
        raise NotImplementedError

    def action_cancel(self) -> None:
        self.dismiss(None)


class Choice(RadioButton):
    """A radio button whose state shows in its glyph (● chosen, blank not), not only in its
    colour: readable with NO_COLOR, on a monochrome terminal, or by anyone."""

    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]
        return "●" if self.value else " "
