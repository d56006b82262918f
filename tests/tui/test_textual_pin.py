"""The studio touches three Textual internals; Textual is pinned to the version they were checked
against (pyproject.toml), and this test fails on any other, so an upgrade re-checks them."""

from __future__ import annotations

import inspect
from importlib.metadata import version

from textual.app import App
from textual.dom import DOMNode
from textual.screen import Screen

CHECKED = "8.2.8"


def test_textual_is_the_version_the_internals_were_checked_against():
    assert version("textual") == CHECKED, (
        f"textual {version('textual')} is installed; the studio's uses of Textual internals were checked "
        f"against {CHECKED}: re-check them (tui/app.py _screen_stacks, tui/jobs.py _closing, "
        "tui/screens/mode.py _on_screen_resume), then update CHECKED and the pin in pyproject.toml"
    )


def test_the_internals_are_there():
    assert isinstance(App()._screen_stacks, dict)  # tui/app.py: is a mode's screen built already?
    node = DOMNode()
    assert node._closing is False and node._closed is False  # tui/jobs.py: is a subscriber going away?
    # tui/screens/mode.py clears event.refresh_styles before Screen's own handler reads it
    assert "event.refresh_styles" in inspect.getsource(Screen._on_screen_resume)
