"""An embedded sandbox (started by `--sandbox` because none was running) says in the TUI
that its state is lost on exit, and the quit warning does not promise otherwise."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Label, Static

from goman.tui.screens.dialogs import ConfirmQuit
from tests.tui.conftest import wait_for


def _badge(app: Any) -> tuple[bool, str]:
    badge = app.screen.query_one("#sandbox-badge", Label)
    return bool(badge.display), str(badge.render())


def _quit_text(app: Any) -> str:
    return " ".join(str(s.render()) for s in app.screen.query(Static))


@pytest.mark.parametrize("embedded", [True, False])
async def test_the_header_and_quit_warning_tell_an_embedded_sandbox(
    make_app: Any, embedded: bool
) -> None:
    app = make_app(sandbox=True, embedded_sandbox=embedded)
    async with app.run_test(size=(160, 30)) as pilot:
        await wait_for(pilot, lambda: app.index is not None, what="index read")
        shown, text = _badge(app)
        assert shown
        assert ("embedded: state is lost on exit" in text) is embedded
        app.push_screen(ConfirmQuit(["20261126T064850-46512d"], 60))
        await pilot.pause()
        words = _quit_text(app)
        assert ("nothing is lost" in words) is not embedded
        assert ("is lost" in words) is True
        assert ("embedded" in words) is embedded
