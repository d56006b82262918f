"""Small text formatters shared by screens (no Textual)."""

from __future__ import annotations

import time

from ..core.models import JobStatus, SegmentStatus

STATUS_ICON = {
    SegmentStatus.PENDING: "·",
    SegmentStatus.WAITING: "…",
    SegmentStatus.SUBMITTED: "⇡",
    SegmentStatus.RUNNING: "▶",
    SegmentStatus.DOWNLOADED: "⇣",
    SegmentStatus.DONE: "✓",
    SegmentStatus.FAILED: "✗",
}

JOB_STATUS_STYLE = {
    JobStatus.DRAFT: "dim",
    JobStatus.QUEUED: "dim",
    JobStatus.PLANNING: "cyan",
    JobStatus.AWAITING_REVIEW: "cyan",
    JobStatus.GENERATING: "bold cyan",
    JobStatus.JOINING: "bold cyan",
    JobStatus.COMPLETED: "bold green",
    JobStatus.FAILED: "bold red",
    JobStatus.CANCELLED: "yellow",
}

SEGMENT_STATUS_STYLE = {
    SegmentStatus.PENDING: "dim",
    SegmentStatus.WAITING: "dim",
    SegmentStatus.SUBMITTED: "cyan",
    SegmentStatus.RUNNING: "bold cyan",
    SegmentStatus.DOWNLOADED: "cyan",
    SegmentStatus.DONE: "bold green",
    SegmentStatus.FAILED: "bold red",
}


def money(usd: float | None) -> str:
    if usd is None:
        return "–"
    if usd == 0:
        return "$0.00"
    return f"${usd:,.2f}" if usd >= 0.01 else f"${usd:.4f}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    m, s = divmod(seconds, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def date(ts: float | None, short: bool = False) -> str:
    if ts is None:
        return "–"
    return time.strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M", time.localtime(ts))


def excerpt(text: str, width: int = 48) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
