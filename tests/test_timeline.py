"""Segment spans, seam stops and frame-exact seeking (decoded frames checked, not metadata)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from sora_tui.core import media
from sora_tui.core.timeline import Timeline, spans_from


def test_spans_from_report_or_durations() -> None:
    report = {"spans": [[0, 3.958333], [3.958333, 7.916667]]}
    assert spans_from(report, [4, 4]) == [(0.0, 3.958333), (3.958333, 7.916667)]
    # no report, a report without spans, or spans that do not match the segments: durations end to end
    assert spans_from(None, [4, 2.5]) == [(0.0, 4.0), (4.0, 6.5)]
    assert spans_from({"seams": []}, [1, 1]) == [(0.0, 1.0), (1.0, 2.0)]
    assert spans_from({"spans": [[0, 1]]}, [1, 1]) == [(0.0, 1.0), (1.0, 2.0)]
    assert spans_from({"spans": [[0, "x"]]}, [2]) == [(0.0, 2.0)]


def test_stops_are_both_sides_of_each_seam() -> None:
    tl = Timeline.build(3.0, 8, [(0, 1.5), (1.5, 3.0)])
    assert tl.frames == 24
    assert [(s.frame, s.label) for s in tl.stops()] == [
        (0, "segment 1 start"),
        (11, "segment 1 end · seam 1|2, before"),
        (12, "segment 2 start · seam 1|2, after"),
        (23, "segment 2 end"),
    ]
    assert [s.frame if s else None for s in (tl.step(0, 1), tl.step(11, 1), tl.step(5, -1))] == [11, 12, 0]
    assert tl.step(23, 1) is None and tl.step(0, -1) is None
    assert tl.segment_at(11) == 1 and tl.segment_at(12) == 2 and tl.segment_at(99) == 2
    assert tl.label(5) == "segment 1" and tl.label(12).startswith("segment 2 start")
    assert tl.frame_of(1.5) == 12 and tl.frame_of(100) == 23
    # a lone segment: its first and last frame
    one = Timeline.build(2.0, 24)
    assert [s.frame for s in one.stops()] == [0, 47]


@pytest.fixture(scope="module")
def grey_ramp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 frames at 8 fps, frame k a flat grey of level 10·k, lossless H.264 with a keyframe every 12."""
    n, w, h = 24, 64, 36
    raw = b"".join(np.full((h, w, 3), 10 * k, np.uint8).tobytes() for k in range(n))
    path = tmp_path_factory.mktemp("ramp") / "ramp.mp4"
    subprocess.run(
        [media.ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}"]
        + ["-r", "8", "-i", "-", "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p", "-g", "12", str(path)],
        input=raw,
        check=True,
    )
    return path


def test_frame_at_returns_exactly_the_asked_frame(grey_ramp: Path) -> None:
    info = media.probe(grey_ramp)
    tl = Timeline.build(info.duration, info.fps, [(0, 1.5), (1.5, 3.0)])
    levels = [int(media.frame_at(grey_ramp, tl.seek_time(k), 32, 32, info)[..., 0].mean().round()) for k in range(24)]
    assert all(abs(level - 10 * k) <= 1 for k, level in enumerate(levels)), levels
    # both sides of the seam
    left, right = (media.frame_at(grey_ramp, tl.seek_time(s.frame), 32, 32, info) for s in tl.stops()[1:3])
    assert abs(int(left.mean()) - 110) <= 1 and abs(int(right.mean()) - 120) <= 1


def test_frame_at_scales_to_fit_and_past_the_end_gives_the_last(grey_ramp: Path) -> None:
    frame = media.frame_at(grey_ramp, 99.0, 40, 40)
    assert frame.shape == (22, 40, 3)  # 16:9 inside 40×40
    assert abs(int(frame.mean()) - 230) <= 1
    with pytest.raises(ValueError):
        media.frame_at(grey_ramp, 0, 0, 10)
