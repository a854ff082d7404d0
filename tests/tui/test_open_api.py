"""The create dialog says, like the CLI, when the Kubernetes API will be open to everyone."""

from __future__ import annotations

from typing import Any

from goman.tui.screens.dialogs import CreateDialog
from tests.tui.conftest import text_of, wait_for


async def _dialog_warning(make_app: Any) -> str:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.index is not None and app.config, what="config read")
        await pilot.press("c")
        assert isinstance(app.screen, CreateDialog)
        return text_of(app, "#api-warning")


async def test_the_create_dialog_warns_of_an_api_open_to_everyone(
    make_app: Any, goman: Any
) -> None:
    assert goman("init").exit_code == 0
    said = await _dialog_warning(make_app)
    assert "open to the whole internet" in said and "0.0.0.0/0" in said
    assert "api_cidrs auto" in said

    assert goman("config", "set", "api_cidrs", "198.51.100.0/24").exit_code == 0
    assert await _dialog_warning(make_app) == ""
