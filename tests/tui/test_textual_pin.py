"""The studio relies on two Textual internals; Textual is pinned to the version they were checked
against (pyproject.toml), and this test fails on any other, so an upgrade re-checks them.

* tui/jobs.py reads ``_closing``/``_closed`` of a subscriber (is it going away?);
* tui/screens/mode.py calls no private method, but its public ``@on(events.ScreenResume)`` handler clears
  ``event.refresh_styles`` before Screen's own handler reads it;
* tui/widgets/text_area.py reads ``_component_styles`` (does a TextArea still have its styles?), to draw a
  removed one blank instead of raising (Textualize/textual#6528).
tui/app.py no longer reads ``_screen_stacks`` (it keeps its own set of visited modes)."""

from __future__ import annotations

import inspect
from importlib.metadata import version

from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import TextArea

CHECKED = "8.2.8"


def test_textual_is_the_version_the_internals_were_checked_against() -> None:
    assert version("textual") == CHECKED, (
        f"textual {version('textual')} is installed; the studio's uses of Textual internals were checked "
        f"against {CHECKED}: re-check them (tui/jobs.py _closing, tui/screens/mode.py: Screen's "
        "_on_screen_resume reads event.refresh_styles, tui/widgets/text_area.py _component_styles), "
        "then update CHECKED and the pin in pyproject.toml"
    )


def test_the_internals_are_there() -> None:
    node = DOMNode()
    assert node._closing is False and node._closed is False  # tui/jobs.py: is a subscriber going away?
    # tui/screens/mode.py clears event.refresh_styles before Screen's own handler reads it
    assert "event.refresh_styles" in inspect.getsource(Screen._on_screen_resume)
    # tui/widgets/text_area.py: the component styles a TextArea's theme reads, by name
    assert node._component_styles == {} and "text-area--gutter" in TextArea.COMPONENT_CLASSES
