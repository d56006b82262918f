"""One segment on the board: state, progress, queue position, timing, retries, cost and a thumbnail.

A card is ONE widget that draws its thirteen lines itself (five of text, eight of
half-block thumbnail). The board shows up to dozens of cards and redraws them while
segments render; one widget per card instead of nine (labels, a progress bar and its
parts, the image) keeps its layout and styling cheap, so keys stay quick.
"""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from ...core.models import SegmentStatus
from ..format import SEGMENT_STATUS_STYLE, STATUS_ICON, duration, excerpt, money, seam_label
from ..live import LiveSegment
from .halfblock import halfblock_rows

TEXT_LINES = 5  # title, state, progress bar, two lines of figures
THUMB_LINES = 8  # half blocks: 16 pixel rows
PLACEHOLDER = "no frame yet"


class SegmentCard(Widget):
    DEFAULT_CSS = """
    SegmentCard {
        height: auto;
        width: 1fr;
        min-width: 28;
        border: round $primary 40%;
        padding: 0 1;
    }
    SegmentCard.-done { border: round $success; }
    SegmentCard.-failed { border: round $error; }
    SegmentCard.-active { border: round $accent; }
    SegmentCard > .segment-card--title { text-style: bold; }
    SegmentCard > .segment-card--muted { color: $text-muted; }
    SegmentCard > .segment-card--bar { color: $accent; }
    SegmentCard.-done > .segment-card--bar { color: $success; }
    SegmentCard > .segment-card--bar-back { color: $foreground 15%; }
    """
    COMPONENT_CLASSES = {
        "segment-card--title",
        "segment-card--muted",
        "segment-card--bar",
        "segment-card--bar-back",
    }

    def __init__(self, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = index
        self.thumb_source: str | None = None
        self._pixels: Any = None
        self._title = f"#{index}"
        self._state = Text("")
        self._fraction = 0.0
        self._info = ("", "")
        self._strips: list[Strip] | None = None  # drawn lines, for the current width and state
        self._strips_width = -1

    # --- state --------------------------------------------------------------------------

    def update_from(self, seg: LiveSegment, now: float) -> None:
        title = f"#{seg.index} {seg.title}".strip() if seg.title else f"#{seg.index}"
        style = SEGMENT_STATUS_STYLE.get(seg.status, "")
        state = Text.assemble((f"{STATUS_ICON.get(seg.status, '')} {seg.status}", style))
        detail = seg.message or seg.stage
        if seg.status is SegmentStatus.FAILED and seg.error:
            detail = seg.error
        if detail and detail != str(seg.status):
            state.append(f"  {excerpt(detail, 24)}", "dim")
        queue = f"queue #{seg.queue_position}" if seg.queue_position is not None else ""
        eta = seg.eta(now)
        timing = "  ".join(
            p
            for p in (f"elapsed {duration(seg.elapsed(now))}", f"eta {duration(eta)}" if eta is not None else "", queue)
            if p
        )
        if seg.seam is not None and seg.status is SegmentStatus.DONE:  # after the join: how it meets the one before
            timing = seam_label(seg.seam, repeat=False)
        figures = f"retries {max(0, seg.attempts)}  submits {seg.submits}  cost {money(seg.cost_usd)}"
        if seg.gpu_seconds is not None:  # a local model: what it cost in GPU time
            figures += f"  GPU {seg.gpu_seconds:.1f}s"
        drawn = (f"{title} · {seg.seconds}s", state, seg.fraction, (timing, figures))
        if drawn != (self._title, self._state, self._fraction, self._info):
            self._title, self._state, self._fraction, self._info = drawn
            self._redraw()
        self.set_class(seg.status is SegmentStatus.DONE, "-done")
        self.set_class(seg.status is SegmentStatus.FAILED, "-failed")
        self.set_class(
            seg.status in (SegmentStatus.SUBMITTED, SegmentStatus.RUNNING, SegmentStatus.DOWNLOADED), "-active"
        )

    def set_thumbnail(self, pixels: Any, source: str | None) -> None:
        self.thumb_source = source
        self._pixels = pixels
        self._redraw()

    @property
    def has_thumbnail(self) -> bool:
        return self._pixels is not None

    def text_lines(self) -> list[str]:
        """The five text lines as plain text (the bar as its percentage)."""
        timing, figures = self._info
        return [self._title, self._state.plain, f"{self._fraction:.0%}", timing, figures]

    def _redraw(self) -> None:
        self._strips = None
        self.refresh()  # a fixed-size card: no new layout

    # --- drawing ------------------------------------------------------------------------

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return TEXT_LINES + THUMB_LINES

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips = None  # a theme or a class (-done, -active) changed the colours

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self._strips is None or self._strips_width != width:
            self._strips = self._draw(width)
            self._strips_width = width
        return self._strips[y] if 0 <= y < len(self._strips) else Strip.blank(width, self.rich_style)

    def _line(self, text: Text, width: int, style: Style) -> Strip:
        text = text.copy()
        text.truncate(width, overflow="ellipsis")
        segments = Segment.apply_style(text.render(self.app.console), style)
        return Strip(segments).adjust_cell_length(width, style)

    def _bar(self, width: int, base: Style) -> Strip:
        label = f" {self._fraction:4.0%}"
        cells = max(0, width - len(label))
        filled = cells * max(0.0, min(1.0, self._fraction))
        full = int(filled)
        half = "╸" if filled - full >= 0.5 and full < cells else ""
        done = self.get_component_rich_style("segment-card--bar")
        back = self.get_component_rich_style("segment-card--bar-back")
        segments = [
            Segment("━" * full, done),
            Segment(half, done),
            Segment("━" * (cells - full - len(half)), back),
            Segment(label, base),
        ]
        return Strip(segments).adjust_cell_length(width, base)

    def _draw(self, width: int) -> list[Strip]:
        base = self.rich_style
        muted = self.get_component_rich_style("segment-card--muted")
        timing, figures = self._info
        strips = [
            self._line(Text(self._title), width, self.get_component_rich_style("segment-card--title")),
            self._line(self._state, width, base),
            self._bar(width, base),
            self._line(Text(timing), width, muted),
            self._line(Text(figures), width, muted),
        ]
        if self._pixels is None:
            rows: list[Strip] = [Strip.blank(width, muted) for _ in range(THUMB_LINES)]
            rows[THUMB_LINES // 2] = Strip([Segment(PLACEHOLDER[:width].center(width), muted)], width)
        else:
            pictured = [Strip(r).adjust_cell_length(width, base) for r in halfblock_rows(self._pixels, width, base)]
            top = max(0, (THUMB_LINES - len(pictured)) // 2)
            rows = [Strip.blank(width, base)] * top + pictured[:THUMB_LINES]
            rows += [Strip.blank(width, base)] * (THUMB_LINES - len(rows))
        return strips + rows
