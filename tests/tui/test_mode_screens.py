"""Switching between the studio's modes skips Textual's full style pass unless the theme changed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from textual.dom import DOMNode
from textual.pilot import Pilot
from textual.screen import Screen

from sora_tui.tui.screens.board import BoardScreen
from sora_tui.tui.screens.history import HistoryScreen

from .conftest import SIZE, MakeApp, on_screen, settle

ScreenT = TypeVar("ScreenT", bound="Screen[Any]")


async def _switch(pilot: Pilot[int], key: str, screen_type: type[ScreenT]) -> ScreenT:
    await pilot.press(key)
    screen = await on_screen(pilot, screen_type)
    await settle(pilot)  # the ScreenResume (and ScreenSuspend) the switch posted handled
    return screen


async def test_mode_switch_restyles_only_after_a_theme_change(make_app: MakeApp) -> None:
    app = make_app("board")
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(2):  # each screen's first visits (Textual records its CSS generation on the second)
            await _switch(pilot, "f4", HistoryScreen)
            board = await _switch(pilot, "f3", BoardScreen)
        dark_bg = board.styles.background

        restyled: list[int] = []
        update_nodes = app.stylesheet.update_nodes

        def counting(nodes: Iterable[DOMNode], animate: bool = False) -> None:
            nodes = list(nodes)
            restyled.append(len(nodes))
            return update_nodes(nodes, animate=animate)

        app.stylesheet.update_nodes = counting  # type: ignore[method-assign]
        resumes = board.stack_updates
        await _switch(pilot, "f4", HistoryScreen)
        await _switch(pilot, "f3", BoardScreen)
        assert board.stack_updates == resumes + 2  # one suspend, one resume: Textual's handler ran once each
        whole_board = len(list(board.walk_children(with_self=True)))
        assert sum(restyled) < whole_board  # no full pass over the board on the way back

        app.theme = "textual-light"  # changed while the board is away (as Settings does)
        await _switch(pilot, "f4", HistoryScreen)
        board = await _switch(pilot, "f3", BoardScreen)
        assert board.styles.background != dark_bg  # the board took the new theme on its return
