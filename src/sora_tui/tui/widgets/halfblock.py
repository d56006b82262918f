"""An RGB picture drawn with half-block characters: each cell shows two pixels.

``▀`` takes the upper pixel as foreground and the lower one as background, so it
works in any true-colour terminal, over SSH and in the browser (no graphics protocol).
"""

from __future__ import annotations

from typing import Any

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

UPPER_HALF = "▀"


def halfblock_rows(pixels: Any, width: int, pad_style: Style | None = None) -> list[list[Segment]]:
    """Rows of rich Segments for an (h, w, 3) uint8 array, centred in ``width`` cells."""
    h = int(pixels.shape[0])
    w = int(pixels.shape[1])
    pad_left = max(0, (width - w) // 2)
    rows: list[list[Segment]] = []
    for y in range(0, h, 2):
        top = pixels[y]
        bottom = pixels[y + 1] if y + 1 < h else None
        segs: list[Segment] = []
        if pad_left:
            segs.append(Segment(" " * pad_left, pad_style))
        for x in range(min(w, width)):
            r, g, b = (int(v) for v in top[x][:3])
            fg = Color.from_rgb(r, g, b)
            if bottom is not None:
                r2, g2, b2 = (int(v) for v in bottom[x][:3])
                style = Style(color=fg, bgcolor=Color.from_rgb(r2, g2, b2))
            else:
                style = Style(color=fg)
            segs.append(Segment(UPPER_HALF, style))
        rows.append(segs)
    return rows


class HalfBlockImage(Widget):
    """Draws ``pixels`` (an RGB array of up to width × 2·height pixels) or a placeholder text."""

    DEFAULT_CSS = """
    HalfBlockImage {
        width: 100%;
        height: 6;
        color: $text-muted;
        content-align: center middle;
    }
    """

    def __init__(self, placeholder: str = "no frame yet", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.placeholder = placeholder
        self._pixels: Any = None
        self._rows: list[list[Segment]] = []
        self._rows_width = -1

    @property
    def has_image(self) -> bool:
        return self._pixels is not None

    def set_pixels(self, pixels: Any) -> None:
        self._pixels = pixels
        self._rows_width = -1
        self.refresh()

    def clear(self) -> None:
        self.set_pixels(None)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self._pixels is None:
            if y == self.size.height // 2:
                text = self.placeholder[:width].center(width)
                return Strip([Segment(text, self.rich_style)], width)
            return Strip.blank(width, self.rich_style)
        if self._rows_width != width:
            self._rows = halfblock_rows(self._pixels, width, self.rich_style)
            self._rows_width = width
        top_pad = max(0, (self.size.height - len(self._rows)) // 2)
        row = y - top_pad
        if 0 <= row < len(self._rows):
            return Strip(self._rows[row]).adjust_cell_length(width, self.rich_style)
        return Strip.blank(width, self.rich_style)
