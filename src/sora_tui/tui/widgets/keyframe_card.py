"""One keyframe image: its thumbnail (half blocks), where it sits, its source and cost, its description."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Label, Static

from ...core.store import Keyframe
from ..format import excerpt, money
from .halfblock import HalfBlockImage
from .keyframe_editor import boundary_label

SOURCE_LABEL = {"generated": "generated", "user": "your image"}
COMPACT_ROWS = 5  # half-block rows of a thumbnail in the board's keyframe row


def shrink(pixels: Any, height: int) -> Any:
    """Nearest-neighbour resize of an (h, w, 3) array to at most ``height`` pixel rows, same aspect."""
    import numpy as np

    h, w = pixels.shape[:2]
    if h <= height:
        return pixels
    width = max(1, round(w * height / h))
    ys = np.linspace(0, h - 1, height).round().astype(int)
    xs = np.linspace(0, w - 1, width).round().astype(int)
    return pixels[ys][:, xs]


def keyframe_state(kf: Keyframe | None, busy: bool = False) -> Text:
    """``✓ generated · $0.04`` / ``✓ your image`` / ``… making`` / ``· not made yet``."""
    if busy:
        return Text("… making", style="bold cyan")
    if kf is None or kf.status == "pending":
        return Text("· not made yet", style="dim")
    if kf.status == "failed":
        return Text("✗ failed", style="bold red")
    out = Text("✓ ", style="bold green")
    out.append(SOURCE_LABEL.get(kf.source, kf.source), "bold" if kf.source == "user" else "")
    out.append(f" · {money(kf.cost_usd)}", "dim")
    return out


class KeyframeCard(Vertical):
    """``compact`` (the board's keyframe row): no description, not focusable."""

    DEFAULT_CSS = """
    KeyframeCard {
        height: auto;
        width: 1fr;
        min-width: 24;
        border: round $warning 40%;
        padding: 0 1;
    }
    KeyframeCard.-done { border: round $warning 80%; }
    KeyframeCard:focus, KeyframeCard.-selected { border: double $accent; }
    KeyframeCard > .kf-title { text-style: bold; width: 100%; color: $warning; }
    KeyframeCard > HalfBlockImage { height: 8; }
    KeyframeCard > .kf-desc { color: $text-muted; height: 3; }
    KeyframeCard.-compact { min-width: 18; }
    KeyframeCard.-compact > HalfBlockImage { height: 5; }
    """

    class Selected(Message):
        def __init__(self, card: KeyframeCard) -> None:
            super().__init__()
            self.card = card

    def __init__(self, index: int, segments: int, compact: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = index
        self.segments = segments
        self.compact = compact
        self.can_focus = not compact
        self.set_class(compact, "-compact")
        self.thumb_version: object = None
        where = f"◆ {index}" if compact else f"◆ Keyframe {index} · {boundary_label(index, segments)}"
        self._title = Label(Text(excerpt(where, 60)), classes="kf-title")
        self._state = Static("", classes="kf-state")
        self._thumb = HalfBlockImage(placeholder="not made yet")
        self._desc = Static("", classes="kf-desc")
        self._pending: tuple[Keyframe | None, bool] | None = None

    def compose(self) -> ComposeResult:
        yield self._title
        yield self._state
        yield self._thumb
        if not self.compact:
            yield self._desc

    def on_mount(self) -> None:
        if self._pending is not None:
            self.update_from(*self._pending)

    def update_from(self, kf: Keyframe | None, busy: bool = False) -> None:
        if not (self.is_mounted and self._state.is_mounted):
            self._pending = (kf, busy)  # drawn once the card is on screen
            return
        self._pending = None
        self._state.update(keyframe_state(kf, busy))
        if not self.compact:
            self._desc.update(excerpt(kf.prompt, 160) if kf is not None else "")
        self.set_class(kf is not None and kf.status == "done", "-done")
        if kf is None or kf.status != "done":
            self._thumb.placeholder = "making…" if busy else "not made yet"
            if busy:
                self._thumb.refresh()

    def set_thumbnail(self, pixels: Any, version: object) -> None:
        self.thumb_version = version
        if self.compact and pixels is not None:
            pixels = shrink(pixels, COMPACT_ROWS * 2)
        self._thumb.set_pixels(pixels)

    def on_click(self) -> None:
        if not self.compact:
            self.focus()

    def on_focus(self) -> None:
        self.post_message(self.Selected(self))
