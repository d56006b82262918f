"""The studio's names for the one progress model, which lives in the core (``core/progress.py``)."""

from __future__ import annotations

from ..core.progress import LOG_LINES, LiveJob, LiveSegment, log_text

__all__ = ["LOG_LINES", "LiveJob", "LiveSegment", "log_text"]
