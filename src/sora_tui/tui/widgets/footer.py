"""Textual's footer, rebuilt only when the keys it shows change."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer as TextualFooter


def _shown_keys(screen: Screen[Any]) -> tuple[object, ...]:
    """What the footer draws from: each active binding's key, action, label, state and tooltip."""
    return tuple(
        (key, b.action, b.description, b.show, enabled, tooltip)
        for key, (_, b, enabled, tooltip) in screen.active_bindings.items()
    )


class Footer(TextualFooter):
    """The stock footer recomposes all of its key widgets whenever the bindings *may* have
    changed: on every focus change and every switch between screens. That costs tens of
    milliseconds a time, on the path from a key to the next screen. This one keeps its keys
    when the bindings it would show are the same as the ones it shows."""

    DEFAULT_CSS = """
    /* The stock footer docks the palette key one cell short of the right edge; when the keys
       overflow, that cell shows a character of a key scrolled under it. Cover the cell. */
    Footer FooterKey.-command-palette { offset-x: 1; }
    Footer.-compact FooterKey.-command-palette { padding-right: 1; }
    """

    _composed_for: tuple[object, ...] | None = None

    def _ready(self) -> bool:
        return bool(getattr(self, "_bindings_ready", False))  # a Textual internal: if gone, always rebuild

    def compose(self) -> ComposeResult:
        if self._ready():
            self._composed_for = _shown_keys(self.screen)
        yield from super().compose()

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if self._ready() and self.is_attached and screen is self.screen:
            keys = _shown_keys(screen)
            if keys == self._composed_for:
                return
            # a rebuild is queued for these keys: the signals that follow before it runs (a screen
            # opening sends several) with the same keys queue no other
            self._composed_for = keys
        super().bindings_changed(screen)
