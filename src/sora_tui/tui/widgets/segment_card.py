"""One segment on the board: state, progress, queue position, timing, retries, cost and a thumbnail."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from ...core.models import SegmentStatus
from ..format import SEGMENT_STATUS_STYLE, STATUS_ICON, duration, excerpt, money
from ..live import LiveSegment
from .halfblock import HalfBlockImage


class SegmentCard(Vertical):
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
    SegmentCard > .card-title { text-style: bold; width: 100%; height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    SegmentCard > .card-state { width: 100%; height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    SegmentCard > ProgressBar { width: 100%; }
    SegmentCard > ProgressBar Bar { width: 1fr; }
    SegmentCard > .card-info { color: $text-muted; width: 100%; height: 2; text-wrap: nowrap; text-overflow: ellipsis; }
    SegmentCard > HalfBlockImage { height: 8; margin-top: 0; }
    """

    def __init__(self, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = index
        self.thumb_source: str | None = None
        self._title = Static(f"#{index}", classes="card-title")
        self._state = Static("", classes="card-state")
        self._bar = ProgressBar(total=1.0, show_eta=False, show_percentage=True)
        self._info = Static("", classes="card-info")
        self._thumb = HalfBlockImage(placeholder="no frame yet")
        self._pending: tuple[LiveSegment, float] | None = None
        self._drawn: dict[str, object] = {}  # what each part shows now: unchanged parts are not redrawn

    def compose(self) -> ComposeResult:
        yield self._title
        yield self._state
        yield self._bar
        yield self._info
        yield self._thumb

    def on_mount(self) -> None:
        if self._pending is not None:
            self.update_from(*self._pending)

    def update_from(self, seg: LiveSegment, now: float) -> None:
        if not (self.is_mounted and self._bar.is_mounted):
            self._pending = (seg, now)  # drawn once the card is on screen
            return
        self._pending = None
        title = f"#{seg.index} {seg.title}".strip() if seg.title else f"#{seg.index}"
        self._set(self._title, "title", excerpt(f"{title} · {seg.seconds}s", 40))
        style = SEGMENT_STATUS_STYLE.get(seg.status, "")
        state = Text.assemble((f"{STATUS_ICON.get(seg.status, '')} {seg.status}", style))
        detail = seg.message or seg.stage
        if seg.status is SegmentStatus.FAILED and seg.error:
            detail = seg.error
        if detail and detail != str(seg.status):
            state.append(f"  {excerpt(detail, 24)}", "dim")
        self._set(self._state, "state", state)
        if self._drawn.get("fraction") != seg.fraction:
            self._drawn["fraction"] = seg.fraction
            self._bar.update(total=1.0, progress=seg.fraction)
        queue = f"queue #{seg.queue_position}" if seg.queue_position is not None else ""
        eta = seg.eta(now)
        line1 = "  ".join(
            p
            for p in (f"elapsed {duration(seg.elapsed(now))}", f"eta {duration(eta)}" if eta is not None else "", queue)
            if p
        )
        retries = max(0, seg.attempts)
        line2 = f"retries {retries}  submits {seg.submits}  cost {money(seg.cost_usd)}"
        self._set(self._info, "info", f"{line1}\n{line2}")
        self.set_class(seg.status is SegmentStatus.DONE, "-done")
        self.set_class(seg.status is SegmentStatus.FAILED, "-failed")
        self.set_class(
            seg.status in (SegmentStatus.SUBMITTED, SegmentStatus.RUNNING, SegmentStatus.DOWNLOADED), "-active"
        )

    def _set(self, widget: Static, part: str, content: str | Text) -> None:
        if self._drawn.get(part) != content:
            self._drawn[part] = content
            widget.update(content, layout=False)  # fixed-size lines: the board needs no new layout

    def set_thumbnail(self, pixels: Any, source: str | None) -> None:
        self.thumb_source = source
        self._thumb.set_pixels(pixels)
