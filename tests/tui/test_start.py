"""Start-up: the studio reads the history in a worker before it chooses a screen; a history it cannot
read still opens the studio, on the prompt, and says why (never a blank screen or a traceback)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sora_tui.core.store import Store
from sora_tui.tui.app import SoraApp
from sora_tui.tui.screens.prompt import PromptScreen

from .conftest import SIZE, notes, on_screen, wait_for


async def test_an_unreadable_history_opens_the_prompt_and_says_why(
    make_app: Callable[..., SoraApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(mode=None)  # as `sora-tui` starts: the screen is chosen once the history is read

    def locked(self: Store, *args: Any, **kwargs: Any) -> Any:
        raise OSError("database is locked by another program")

    monkeypatch.setattr(Store, "list_jobs", locked)
    async with app.run_test(size=SIZE) as pilot:
        await on_screen(pilot, PromptScreen, what="the prompt screen")
        await wait_for(pilot, lambda: any("database is locked" in n for n in notes(app)), what="the reason")
        assert app.current_mode == "prompt"
