"""The studio's mode screens (prompt, board, history, settings): switching back to one is fast.

Textual's ``switch_mode`` resumes a screen with ``ScreenResume(refresh_styles=True)``, and the
screen then re-applies the CSS to every one of its nodes: most of a key → screen switch (bench:
median 38 → 14 ms without it, no load). Nothing a mode screen shows changes its styles while it is
away except the theme (a widget's class changes restyle that widget at once), so the pass runs only
when the theme changed since the screen last had it.
"""

from __future__ import annotations

from textual import events, on
from textual.screen import Screen
from textual.worker import Worker

from ..context import Studio
from ..workers import report_failure


class ModeScreen(Screen[None]):
    """A mode's screen, made once by the app with the studio context (``self.studio``)."""

    _styled_theme: str | None = None  # the theme the last full style pass used

    def __init__(self, studio: Studio) -> None:
        super().__init__()
        self.studio = studio

    @on(events.ScreenResume)
    def _restyle_only_for_a_new_theme(self, event: events.ScreenResume) -> None:
        # Textual calls the handlers of each class in the MRO in turn (a decorated one at its class):
        # this one before Screen's own, which reads the flag set here
        theme = self.app.theme
        if self._styled_theme == theme:
            event.refresh_styles = False
        elif event.refresh_styles:
            self._styled_theme = theme

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failure(self, event)  # the screen's workers' failures, worded once (tui.workers)
