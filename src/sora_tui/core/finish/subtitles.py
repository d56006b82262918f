"""Subtitle timing and files: SRT and WebVTT whose times follow the joined video.

Segment k occupies ``spans[k]`` of the joined video. The seam work may drop frames at the
seams, so those spans are read from ``<job folder>/seams.json`` (``{"spans": [[start, end],
…]}``) when it exists, and otherwise are the cumulative decoded durations of the segment files.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

LINE_CHARS = 42  # the usual subtitle line length
MAX_LINES = 2


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def segment_spans(job_dir: Path, segment_files: Sequence[Path]) -> list[tuple[float, float]]:
    """``[(start_s, end_s), …]`` of each segment in the joined video (seams.json, else decoded durations)."""
    seams = Path(job_dir) / "seams.json"
    if seams.is_file():
        try:
            spans = json.loads(seams.read_text("utf-8")).get("spans")
        except (OSError, ValueError, AttributeError):
            spans = None
        if (
            isinstance(spans, list)
            and len(spans) == len(segment_files)
            and all(isinstance(s, list | tuple) and len(s) == 2 for s in spans)
        ):
            return [(float(a), float(b)) for a, b in spans]
    from ..media import probe

    spans_out = []
    t = 0.0
    for path in segment_files:
        d = probe(path).duration
        spans_out.append((t, t + d))
        t += d
    return spans_out


def wrap(text: str, width: int = LINE_CHARS) -> list[str]:
    return textwrap.wrap(" ".join(text.split()), width=width) or [""]


def split_cue(start: float, end: float, text: str) -> list[Cue]:
    """One cue, or several (each at most two lines) with times shared out by length."""
    lines = wrap(text)
    if len(lines) <= MAX_LINES:
        return [Cue(start, end, "\n".join(lines))]
    chunks = ["\n".join(lines[i : i + MAX_LINES]) for i in range(0, len(lines), MAX_LINES)]
    total = sum(len(c) for c in chunks)
    cues = []
    t = start
    for i, chunk in enumerate(chunks):
        t_end = end if i == len(chunks) - 1 else t + (end - start) * len(chunk) / total
        cues.append(Cue(t, t_end, chunk))
        t = t_end
    return cues


def _stamp(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(cues: Sequence[Cue]) -> str:
    blocks = [f"{i}\n{_stamp(c.start, ',')} --> {_stamp(c.end, ',')}\n{c.text}\n" for i, c in enumerate(cues, 1)]
    return "\n".join(blocks)


def to_vtt(cues: Sequence[Cue]) -> str:
    blocks = [f"{_stamp(c.start, '.')} --> {_stamp(c.end, '.')}\n{c.text}\n" for c in cues]
    return "WEBVTT\n\n" + "\n".join(blocks)


def write_text_atomic(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)
    return path


# a readable default for burned-in subtitles (libass force_style): white, dark outline and shadow
BURN_STYLE = (
    "FontName=DejaVu Sans,FontSize=20,PrimaryColour=&H00FFFFFF,OutlineColour=&H80000000,"
    "BackColour=&H80000000,BorderStyle=1,Outline=2,Shadow=1,MarginV=28,Alignment=2"
)
