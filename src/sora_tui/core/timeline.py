"""Where the segments and seams are in a video, for stepping through it frame-exactly.

The joined video's segment spans come from the seam report (``seams.json``, key
``"spans"``: ``[start_s, end_s]`` per segment); without one, from the segments'
durations laid end to end. Positions are frame numbers; :meth:`Timeline.seek_time`
is the time to ask the decoder for so that it returns exactly that frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Stop:
    frame: int
    label: str


def spans_from(report: dict[str, Any] | None, durations: Sequence[float]) -> list[tuple[float, float]]:
    """Segment spans in the joined video: the seam report's when it has one per segment, else durations end to end."""
    spans = (report or {}).get("spans")
    if isinstance(spans, list) and spans and (not durations or len(spans) == len(durations)):
        try:
            out = [(float(a), float(b)) for a, b in spans]
        except (TypeError, ValueError):
            out = []
        if out and all(b > a for a, b in out):
            return out
    out, t = [], 0.0
    for d in durations:
        out.append((t, t + float(d)))
        t += float(d)
    return out


@dataclass(frozen=True)
class Timeline:
    fps: float
    frames: int  # frames in the video
    spans: tuple[tuple[float, float], ...]  # per segment, seconds; one span for a lone segment

    @classmethod
    def build(cls, duration: float, fps: float, spans: Sequence[tuple[float, float]] | None = None) -> Timeline:
        fps = fps if fps > 0 else 24.0
        frames = max(1, round(duration * fps))
        return cls(fps, frames, tuple(spans) if spans else ((0.0, frames / fps),))

    def clamp(self, frame: int) -> int:
        return min(max(0, frame), self.frames - 1)

    def frame_of(self, t: float) -> int:
        return self.clamp(math.floor(t * self.fps + 1e-6))

    def seek_time(self, frame: int) -> float:
        """The time to seek to for frame ``frame``: ffmpeg's accurate seek returns the first frame whose
        timestamp is not before it, so a quarter frame early (timestamps may be rounded)."""
        return max(0.0, (self.clamp(frame) - 0.25) / self.fps)

    def _bounds(self, k: int) -> tuple[int, int]:
        """First and last frame of segment ``k`` (0-based)."""
        a, b = self.spans[k]
        first = self.clamp(round(a * self.fps))
        return first, max(first, self.clamp(round(b * self.fps) - 1))

    def segment_at(self, frame: int) -> int:
        """The 1-based segment that shows ``frame``."""
        for k in range(len(self.spans)):
            if frame <= self._bounds(k)[1]:
                return k + 1
        return len(self.spans)

    def stops(self) -> list[Stop]:
        """Every segment's first and last frame: the two sides of each seam, in order."""
        n = len(self.spans)
        out: list[Stop] = []
        for k in range(n):
            first, last = self._bounds(k)
            start = f"segment {k + 1} start" + (f" · seam {k}|{k + 1}, after" if k else "")
            end = f"segment {k + 1} end" + (f" · seam {k + 1}|{k + 2}, before" if k + 1 < n else "")
            if not out or out[-1].frame != first:
                out.append(Stop(first, start))
            if out[-1].frame != last:
                out.append(Stop(last, end))
        return out

    def step(self, frame: int, direction: int) -> Stop | None:
        """The next stop after (``direction`` > 0) or before ``frame``; None at either end."""
        stops = self.stops()
        if direction > 0:
            return next((s for s in stops if s.frame > frame), None)
        return next((s for s in reversed(stops) if s.frame < frame), None)

    def label(self, frame: int) -> str:
        """What ``frame`` is: a named stop, or the segment it belongs to."""
        for s in self.stops():
            if s.frame == frame:
                return s.label
        return f"segment {self.segment_at(frame)}"
