"""What the studio's screens are handed when they are made: the engine, the live jobs, the clock.

Screens never reach into the app (``self.app`` is Textual's ``App`` to them, and none of them imports
``tui/app.py``): they read through this context and ask the app for work with messages
(``tui/messages.py``). ``studio_of`` serves the few places Textual builds for us (the command palette's
provider).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.app import App

    from ..core.engine import Engine
    from .jobs import JobWatch


@dataclass
class Studio:
    """The studio's shared parts, one per app."""

    engine: Engine
    jobs: JobWatch
    clock: Callable[[], float]
    tz: tzinfo | None = None  # the time zone dates are shown in (None: the machine's)
    picture_mode: str = "halfblock"  # how the preview draws frames (tui/graphics.py)


def studio_of(app: App[Any]) -> Studio:
    """The studio context of ``app`` (for what Textual constructs itself, like the palette's providers)."""
    studio = getattr(app, "studio", None)
    if not isinstance(studio, Studio):
        raise TypeError(f"{type(app).__name__} is not the studio app")
    return studio
