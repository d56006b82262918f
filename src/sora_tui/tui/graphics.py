"""Real pictures where the terminal can draw them (Kitty graphics, Sixel), half-blocks elsewhere.

textual-image asks the terminal what it supports when it is first imported, and that
only works before Textual starts (Textual's input thread takes the answers after): so
``run_app`` calls :func:`detect` once before the app runs. The rule that picks the mode
from the answer and the environment is ``core.reach.picture_mode``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from textual.widget import Widget

from ..core.reach import picture_mode
from .widgets.halfblock import HalfBlockImage

DEFAULT_CELL_PX = (10, 20)


def terminal_reports() -> str | None:
    """What the terminal answered: "kitty" (Kitty graphics protocol), "sixel", or None.

    Importing textual-image sends its queries (a Sixel device-attributes request, then a
    Kitty graphics query, 0.1 s each at most) when stdout is a terminal.
    """
    out = sys.__stdout__
    if out is None or not out.isatty():
        return None
    try:
        from textual_image import renderable
        from textual_image import widget as _widget  # noqa: F401  (caches the cell size while the terminal can answer)
    except Exception:  # a terminal that answers nonsense: no pictures, never a crash
        return None
    chosen = renderable.Image
    if chosen is renderable.TGPImage:
        return "kitty"
    if chosen is renderable.SixelImage:
        return "sixel"
    return None


def detect(env: Mapping[str, str]) -> str:
    """The picture mode for this run; asks the terminal only when the environment leaves a choice."""
    if picture_mode(env, "kitty") == "halfblock":  # forced, a browser, or a console that cannot
        return "halfblock"
    return picture_mode(env, terminal_reports())


def cell_pixels(mode: str) -> tuple[int, int]:
    """Pixels per terminal cell (what the terminal reported, or a common default)."""
    if mode == "halfblock":
        return (1, 2)
    try:
        from textual_image._terminal import get_cell_size

        size = get_cell_size()
        return (size.width, size.height)
    except Exception:
        return DEFAULT_CELL_PX


def picture_widget(mode: str, **kwargs: Any) -> Widget:
    """The widget that draws frames in ``mode``."""
    if mode == "kitty":
        from textual_image.widget import TGPImage

        return TGPImage(**kwargs)
    if mode == "sixel":
        from textual_image.widget import SixelImage

        return SixelImage(**kwargs)
    return HalfBlockImage(placeholder="decoding…", **kwargs)


def show_pixels(widget: Widget, pixels: Any) -> None:
    """Draw an RGB uint8 array in a widget made by :func:`picture_widget`."""
    if isinstance(widget, HalfBlockImage):
        widget.set_pixels(pixels)
        return
    from PIL import Image
    from textual_image.widget import SixelImage, TGPImage

    assert isinstance(widget, TGPImage | SixelImage), f"not a picture widget: {widget!r}"
    widget.image = Image.fromarray(pixels)
