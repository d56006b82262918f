"""Screens ask, the app works: no screen or widget calls into the studio app, and none imports it.

Screens get what they read (the engine, the live jobs, the clock) in a ``Studio`` context when they are
made, and ask the app for work with messages or answer with typed ``dismiss`` values. These tests read
the source (AST) and the import graph (grimp, as import-linter does: TYPE_CHECKING imports count).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import grimp
import pytest
from textual.app import App

import sora_tui.tui

from .conftest import MakeApp

TUI = Path(sora_tui.tui.__file__).parent
TEXTUAL_APP = set(dir(App)) | set(vars(App()))  # its methods and the attributes an instance has (console, …)


def _sources() -> list[Path]:
    return sorted([*(TUI / "screens").glob("*.py"), *(TUI / "widgets").glob("*.py"), TUI / "commands.py"])


def app_calls(source: str) -> list[tuple[int, str]]:
    """``self.app.NAME`` uses where NAME is not an attribute of Textual's ``App`` (line, name)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "app"
            and isinstance(node.value.value, ast.Name)
            and node.value.value.id == "self"
            and node.attr not in TEXTUAL_APP
        ):
            found.append((node.lineno, node.attr))
    return found


def test_the_check_finds_a_call_into_the_app() -> None:
    """The reader itself: it flags studio methods and passes Textual's."""
    source = "class S:\n    def f(self):\n        self.app.start_task(1)\n        self.app.push_screen(x)\n"
    assert app_calls(source) == [(3, "start_task")]


@pytest.mark.parametrize("path", _sources(), ids=lambda p: p.name)
def test_screens_and_widgets_use_only_textual_app_attributes(path: Path) -> None:
    calls = app_calls(path.read_text("utf-8"))
    assert not calls, f"{path.name} reaches into the studio app: {calls} (post a message, or use self.studio)"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("sora_tui")


def test_no_screen_widget_or_palette_imports_the_app(graph: grimp.ImportGraph) -> None:
    importers = [m for m in graph.modules if m.startswith(("sora_tui.tui.screens", "sora_tui.tui.widgets"))]
    importers.append("sora_tui.tui.commands")
    assert len(importers) > 20
    chains = {m: graph.find_shortest_chain(importer=m, imported="sora_tui.tui.app") for m in importers}
    assert {m: c for m, c in chains.items() if c} == {}


def test_jobs_and_messages_import_one_way(graph: grimp.ImportGraph) -> None:
    assert graph.find_shortest_chain(importer="sora_tui.tui.messages", imported="sora_tui.tui.jobs") is None


async def test_a_mode_screen_coming_back_is_restyled_only_for_a_new_theme(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ModeScreen's public ScreenResume handler runs before Screen's own and spares the full style pass
    (no private Textual method overridden); a theme change still restyles."""
    from textual.screen import Screen

    from .conftest import SIZE, settle, wait_for

    restyled: list[str] = []
    original = Screen.update_node_styles

    def spy(self: Screen[Any], animate: bool = True) -> None:
        restyled.append(type(self).__name__)
        original(self, animate)

    monkeypatch.setattr(Screen, "update_node_styles", spy)
    app = make_app("prompt")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await wait_for(pilot, lambda: app.current_mode == "history", what="history")
        await pilot.press("f2")
        await wait_for(pilot, lambda: app.current_mode == "prompt", what="back to the prompt")
        await settle(pilot)  # the ScreenResume the switch posted (where the restyle happens) handled
        restyled.clear()
        await pilot.press("f4")
        await wait_for(pilot, lambda: app.current_mode == "history", what="history again")
        await settle(pilot)  # the ScreenResume the switch posted handled
        assert "HistoryScreen" not in restyled  # same theme: no full pass
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await pilot.press("f2")
        await wait_for(pilot, lambda: app.current_mode == "prompt", what="the prompt, new theme")
        await settle(pilot)  # the ScreenResume the switch posted handled
        assert "PromptScreen" in restyled  # the theme changed since it was last styled
