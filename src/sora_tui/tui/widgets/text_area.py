"""The studio's multi-line text field: Textual's TextArea, safe to draw while it is being removed.

Textual 8.2.8 clears a widget's component styles when it is removed, but the compositor may still draw it
once from the map it made before (a plan loaded or re-planned replaces every segment editor while the
screen refreshes under load). TextArea then asks for ``text-area--gutter`` and raises KeyError, which ends
the app (Textualize/textual#6528). A TextArea without its component styles draws blank instead: it is
gone from the screen by the next refresh.
"""

from __future__ import annotations

import textual.widgets
from textual.geometry import Region
from textual.strip import Strip

STYLED_BY = "text-area--gutter"  # the first component style TextArea's theme asks for


class TextArea(textual.widgets.TextArea):
    def render_lines(self, crop: Region) -> list[Strip]:
        if STYLED_BY not in self._component_styles:  # removed (or not styled yet): nothing to draw
            return [Strip.blank(crop.width)] * crop.height
        return super().render_lines(crop)
