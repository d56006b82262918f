"""Disk space a job needs, checked before anything is paid for.

``disk_need(plan, spec, segments)`` estimates the bytes a render still writes: the segment videos
at the model's bitrate, their boundary pictures and seam caches (the seam analysis, the sound kept
for the join), the join (the final video and its intermediates) and, when the plan is narrated, a
finished version. ``check_disk`` compares it with the free space of the job's folder plus a margin
and raises ``InputError`` (code ``disk_space``) naming both figures; a scheduler may instead hold
the job (``DiskCheck.fits`` is False).

The figures are deliberately generous (a hosted model's H.264 at 0.35 bits per pixel per frame is
above what Veo, LTX, Wan and Kling return): a render that passes the check may still meet a full
disk when something else fills it, and then ends ``failed`` with ``DiskFull`` (``errors.py``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .catalog import frame_size
from .errors import Code, InputError, free_bytes
from .models import Mode, Plan, Segment, SegmentStatus

if TYPE_CHECKING:
    from .catalog import ModelSpec

# bits per pixel per frame of the videos a provider returns (measured: the preview renderer at
# 360p writes about 0.2; hosted models about 0.15-0.3) and of the joined video (re-encoded spans,
# one AAC track)
BITS_PER_PIXEL = {"preview": 0.25}
HOSTED_BITS_PER_PIXEL = 0.35
AUDIO_BYTES_PER_S = 192_000 // 8  # AAC at 192 kb/s
PCM_BYTES_PER_S = 48_000 * 2 * 4  # a segment's sound, decoded as it arrives and kept for the join (float32)
PNG_BYTES_PER_PIXEL = 1.0  # a boundary PNG at compression level 1 (measured: about 0.33 × 3 bytes)
SEAM_CACHE_BYTES_PER_PIXEL = 1.0  # a segment's .seam.npz (measured: 227 kB at 640×360)
JOIN_FACTOR = 2.5  # the joined file (≈ 1.3 × the segments) plus the re-encoded pieces kept while joining
STORE_BYTES = 2_000_000  # history rows, log lines, events.jsonl of one job
MARGIN_SHARE = 0.10  # on top of the estimate
DEFAULT_MARGIN_MB = 100  # and this much left free for everything else on the disk


@dataclass(frozen=True)
class DiskNeed:
    """What a job's render still writes, by part (bytes)."""

    segments: int = 0
    pictures: int = 0  # boundary frames, hand-offs, keyframes
    seam_caches: int = 0
    join: int = 0
    finishing: int = 0
    store: int = STORE_BYTES
    parts: dict[str, int] = field(default_factory=dict, compare=False)

    @property
    def total(self) -> int:
        return self.segments + self.pictures + self.seam_caches + self.join + self.finishing + self.store

    def describe(self) -> str:
        from .reach import human_size

        bits = [
            f"segments {human_size(self.segments)}",
            f"join {human_size(self.join)}",
            f"pictures and seam caches {human_size(self.pictures + self.seam_caches)}",
        ]
        if self.finishing:
            bits.append(f"finishing {human_size(self.finishing)}")
        return f"{human_size(self.total)} ({', '.join(bits)})"


def bytes_per_second(plan: Plan, spec: ModelSpec) -> float:
    """The estimated size of one second of the model's video for this plan (bytes)."""
    width, height = frame_size(plan.resolution, plan.aspect)
    bpp = BITS_PER_PIXEL.get(spec.provider, HOSTED_BITS_PER_PIXEL)
    video = width * height * max(1, spec.fps) * bpp / 8
    audio = AUDIO_BYTES_PER_S if spec.has_audio(plan.audio) else 0
    return video + audio


def disk_need(plan: Plan, spec: ModelSpec, segments: Iterable[Segment] | None = None) -> DiskNeed:
    """Bytes the render of ``plan`` still writes; ``segments`` (the job's rows) leave out those done."""
    rows = list(segments) if segments is not None else []
    done = {s.index for s in rows if s.status is SegmentStatus.DONE and s.file and Path(s.file).is_file()}
    rate = bytes_per_second(plan, spec)
    width, height = frame_size(plan.resolution, plan.aspect)
    pixels = width * height
    seg_bytes = 0.0
    pictures = 0.0
    caches = 0.0
    before = 0.0  # seconds of video before a segment (extend mode returns the source with the extension)
    sound = PCM_BYTES_PER_S if spec.has_audio(plan.audio) else 0
    for k, seg in enumerate(plan.segments, 1):
        if k not in done:
            returned = (before + seg.seconds) if plan.mode is Mode.EXTEND and k > 1 else seg.seconds
            seg_bytes += rate * returned
            pictures += 3 * pixels * PNG_BYTES_PER_PIXEL  # first, last, hand-off
            caches += pixels * SEAM_CACHE_BYTES_PER_PIXEL + sound * seg.seconds
        before += seg.seconds
    if plan.mode is Mode.KEYFRAMES:
        pictures += (len(plan.segments) + 1) * pixels * PNG_BYTES_PER_PIXEL * 2  # image and its fitted copy
    total_s = plan.total_seconds
    join = rate * total_s * JOIN_FACTOR
    finishing = rate * total_s * 1.5 if plan.has_narration else 0.0
    return DiskNeed(int(seg_bytes), int(pictures), int(caches), int(join), int(finishing))


@dataclass(frozen=True)
class DiskCheck:
    """A job's need against the free space where it is written."""

    path: Path
    need: DiskNeed
    free: int
    margin: int

    @property
    def required(self) -> int:
        return int(self.need.total * (1 + MARGIN_SHARE)) + self.margin

    @property
    def fits(self) -> bool:
        return self.free >= self.required

    def describe(self) -> str:
        from .reach import human_size

        return (
            f"this job needs {human_size(self.required)}: about {self.need.describe()}, plus "
            f"{human_size(self.required - self.need.total)} kept spare; {human_size(self.free)} is free at {self.path}"
        )


def free_space(path: Path) -> int:
    """Free bytes where ``path`` lives (its nearest existing folder)."""
    return free_bytes(path)


def measure(
    plan: Plan, spec: ModelSpec, folder: Path, segments: Iterable[Segment] | None = None, margin_mb: int | None = None
) -> DiskCheck:
    """The need of ``plan`` against the free space of ``folder`` (no error either way)."""
    margin = (DEFAULT_MARGIN_MB if margin_mb is None else max(0, margin_mb)) * 1_000_000
    return DiskCheck(Path(folder), disk_need(plan, spec, segments), free_space(Path(folder)), margin)


def check_disk(
    plan: Plan, spec: ModelSpec, folder: Path, segments: Iterable[Segment] | None = None, margin_mb: int | None = None
) -> DiskCheck:
    """Raise InputError (code ``disk_space``) when the render of ``plan`` would not fit in ``folder``."""
    check = measure(plan, spec, folder, segments, margin_mb)
    if not check.fits:
        raise InputError(
            "disk",
            f"not enough free space: {check.describe()}",
            code=Code.DISK_SPACE,
            context={"path": str(check.path), "need": check.required, "free": check.free},
        )
    return check


# --- a reserve for the last words -------------------------------------------------------------

RESERVE_FILE = ".space-reserve"  # next to the history database, on the same file system
RESERVE_BYTES = 2_000_000


def ensure_reserve(folder: Path) -> bool:
    """Keep ``RESERVE_BYTES`` allocated in ``folder`` (best effort): when the disk fills, freeing it
    lets the history record what must not be lost (a paid request's id, the job's failure)."""
    path = Path(folder) / RESERVE_FILE
    try:
        if path.stat().st_size >= RESERVE_BYTES:
            return True
    except OSError:
        pass
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return False
    try:
        try:
            os.posix_fallocate(fd, 0, RESERVE_BYTES)
        except (OSError, AttributeError):  # a file system without fallocate: write it
            os.ftruncate(fd, 0)
            os.write(fd, b"\0" * RESERVE_BYTES)
        return True
    except OSError:
        with contextlib.suppress(OSError):
            path.unlink()
        return False
    finally:
        os.close(fd)


def release_reserve(folder: Path) -> bool:
    """Free the reserve (the disk is full); False when there was none."""
    try:
        (Path(folder) / RESERVE_FILE).unlink()
        return True
    except OSError:
        return False
