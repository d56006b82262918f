"""The progress model: the live state of one job, its rows from the store folded with its runner's events.

One model for both front ends: the studio (``tui/jobs.py``'s JobWatch keeps one LiveJob per job it
follows; the board and the keyframe review draw from them, so a screen that is not on screen loses
nothing) and ``sora-tui show --follow`` / a foreground run (``cli/progress.py`` draws its bars from
it). What a segment's progress is (0..1 by stage), how far the whole job is (segments weighted by
length, then the join), a segment's ETA, what was spent: here, once. No UI toolkit.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .models import (
    CostUpdate,
    Event,
    Job,
    JobStatus,
    JobStatusChanged,
    JoinProgress,
    KeyframeReady,
    LogLine,
    Mode,
    Segment,
    SegmentProgress,
    SegmentStatus,
    SegmentStatusChanged,
)
from .store import Keyframe

LOG_LINES = 500

# where each stage sits inside one segment's progress bar (0..1)
_STAGE_SPAN = {"queued": (0.0, 0.05), "rendering": (0.05, 0.85), "rendered": (0.85, 0.85), "downloading": (0.85, 0.97)}
_STATUS_FLOOR = {
    SegmentStatus.PENDING: 0.0,
    SegmentStatus.WAITING: 0.0,
    SegmentStatus.SUBMITTED: 0.02,
    SegmentStatus.RUNNING: 0.05,
    SegmentStatus.DOWNLOADED: 0.97,
    SegmentStatus.DONE: 1.0,
    SegmentStatus.FAILED: 0.0,
}


@dataclass
class LiveSegment:
    index: int
    title: str
    seconds: int
    prompt: str = ""
    status: SegmentStatus = SegmentStatus.PENDING
    fraction: float = 0.0
    stage: str = ""
    queue_position: int | None = None
    message: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    submits: int = 0
    cost_usd: float = 0.0
    gpu_seconds: float | None = None  # a local model's render: the seconds it held the GPU
    first_frame: str | None = None
    last_frame: str | None = None
    error: str | None = None
    seam: dict[str, Any] | None = None  # the seam before this segment, from the job's seam report
    row: tuple[object, ...] = ()  # the store row's fields this state was last updated from

    @classmethod
    def from_segment(cls, seg: Segment) -> LiveSegment:
        live = cls(index=seg.index, title=seg.title, seconds=seg.seconds, prompt=seg.prompt)
        live.update_from(seg)
        live.fraction = _STATUS_FLOOR.get(seg.status, 0.0)
        return live

    def update_from(self, seg: Segment) -> None:
        self.row = _row(seg)
        self.status = seg.status
        self.title = seg.title
        self.seconds = seg.seconds
        self.prompt = seg.prompt
        self.started_at = seg.started_at
        self.finished_at = seg.finished_at
        self.attempts = seg.attempts
        self.submits = seg.submits
        self.cost_usd = seg.cost_usd
        self.gpu_seconds = seg.gpu_seconds
        self.first_frame = seg.first_frame
        self.last_frame = seg.last_frame
        self.error = seg.error

    @property
    def label(self) -> str:
        """What the segment does, in a few words: the provider's or the local model's own words while it
        works ("denoising step 3 of 50, ETA 2 min 10 s"), else its stage and place in the provider's queue
        ("queued #3", "rendering"), else its status."""
        if self.status in (SegmentStatus.SUBMITTED, SegmentStatus.RUNNING) and self.stage:
            if self.message and not self.message.startswith("queue position"):
                return self.message
            return self.stage + (f" #{self.queue_position}" if self.queue_position is not None else "")
        return str(self.status)

    @property
    def thumbnail_source(self) -> str | None:
        return self.last_frame or self.first_frame

    def elapsed(self, now: float) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at if self.finished_at is not None else now
        return max(0.0, end - self.started_at)

    def eta(self, now: float) -> float | None:
        """Seconds left, from elapsed time and progress; None when unknown."""
        if self.status in (SegmentStatus.DONE, SegmentStatus.FAILED) or self.started_at is None:
            return None
        elapsed = self.elapsed(now) or 0.0
        if self.fraction < 0.05 or elapsed <= 0:
            return None
        return elapsed * (1 - self.fraction) / self.fraction


@dataclass
class LiveJob:
    job: Job
    segments: dict[int, LiveSegment] = field(default_factory=dict)
    keyframes: dict[int, Keyframe] = field(default_factory=dict)  # keyframe mode: boundary images 0..N
    log: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_LINES))
    join_fraction: float = 0.0
    spent_usd: float = 0.0
    running: bool = False  # a runner holds the job's lease (or is starting)
    state: str = ""  # what to call it: the job's status, or "interrupted" (runner.display_status), or "starting"
    runner: str = ""  # who runs it: "process N on host H"
    waits_for: str = ""  # its place in the queue and what it waits for ("queued #2 · waits for a free job slot")
    task: str = ""  # a runner task on the job (finish, export, keyframe: core/tasks.py), while one holds it

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def status(self) -> JobStatus:
        return self.job.status

    @classmethod
    def from_rows(cls, job: Job, segments: list[Segment], keyframes: list[Keyframe], log: list[str]) -> LiveJob:
        live = cls(job=job, spent_usd=job.cost_usd, state=str(job.status))
        for seg in segments:
            live.segments[seg.index] = LiveSegment.from_segment(seg)
        live.attach_seams()
        live.keyframes = {k.index: k for k in keyframes}
        live.log.extend(log)
        if job.status is JobStatus.COMPLETED:
            live.join_fraction = 1.0
        return live

    def update_rows(self, job: Job, segments: list[Segment], keyframes: list[Keyframe]) -> set[int]:
        """Take the store's rows (they win over events); returns the segments whose row changed."""
        self.job = job
        self.spent_usd = job.cost_usd
        changed = set(self.segments) - {s.index for s in segments}
        for idx in changed:
            self.segments.pop(idx)
        for seg in segments:
            live = self.segments.get(seg.index)
            if live is None:
                self.segments[seg.index] = LiveSegment.from_segment(seg)
                changed.add(seg.index)
            elif live.row != _row(seg):
                live.update_from(seg)
                floor = _STATUS_FLOOR.get(seg.status, 0.0)
                reset = seg.status in (SegmentStatus.PENDING, SegmentStatus.WAITING, SegmentStatus.FAILED)
                live.fraction = floor if reset else max(live.fraction, floor)
                changed.add(seg.index)
        changed |= self.attach_seams()
        self.keyframes = {k.index: k for k in keyframes}
        if job.status is JobStatus.COMPLETED:
            self.join_fraction = 1.0
        return changed

    def attach_seams(self) -> set[int]:
        """Give each segment the seam before it (from the last join's report); returns those that changed."""
        by_index = {s["index"]: s for s in (self.job.seams or {}).get("seams", [])}
        changed = set()
        for idx, seg in self.segments.items():
            seam = by_index.get(idx - 1)
            if seam != seg.seam:
                seg.seam = seam
                changed.add(idx)
        return changed

    @property
    def is_keyframe_job(self) -> bool:
        return str(self.job.mode) == Mode.KEYFRAMES

    def apply(self, event: Event) -> None:
        """Fold one engine event (from the runner's event log) into the state."""
        if isinstance(event, JobStatusChanged):
            self.job.status = event.status
            if event.status is JobStatus.JOINING:
                self.join_fraction = 0.0
            elif event.status is JobStatus.COMPLETED:
                self.join_fraction = 1.0
        elif isinstance(event, SegmentStatusChanged):
            seg = self.segments.get(event.index)
            if seg is not None:
                seg.status = event.status
                seg.message = event.message
                floor = _STATUS_FLOOR.get(event.status, 0.0)
                if event.status in (SegmentStatus.PENDING, SegmentStatus.WAITING, SegmentStatus.FAILED):
                    seg.fraction = floor
                else:
                    seg.fraction = max(seg.fraction, floor)
                if event.status is not SegmentStatus.SUBMITTED:
                    seg.queue_position = None
        elif isinstance(event, SegmentProgress):
            seg = self.segments.get(event.index)
            if seg is not None:
                seg.stage = event.stage
                seg.queue_position = event.queue_position
                lo, hi = _STAGE_SPAN.get(event.stage, (0.05, 0.85))
                if event.fraction is not None:
                    seg.fraction = max(seg.fraction, lo + (hi - lo) * max(0.0, min(1.0, event.fraction)))
                else:
                    seg.fraction = max(seg.fraction, lo)
                if event.message:
                    seg.message = event.message
        elif isinstance(event, LogLine):
            self.log.append(log_text(event.level, event.message, event.index))
        elif isinstance(event, CostUpdate):
            self.spent_usd = event.spent_usd
            self.job.cost_usd = event.spent_usd
            self.job.estimated_cost_usd = event.estimated_usd
        elif isinstance(event, JoinProgress):
            self.join_fraction = max(0.0, min(1.0, event.fraction))
        elif isinstance(event, KeyframeReady):
            kf = self.keyframes.get(event.index)
            if kf is not None:
                kf.status = "done"
                kf.file = event.path

    @property
    def total_seconds(self) -> int:
        return sum(s.seconds for s in self.segments.values())

    @property
    def overall(self) -> float:
        """Overall progress 0..1: segments weighted by length (90 %), the join (10 %)."""
        if self.job.status is JobStatus.COMPLETED:
            return 1.0
        total = self.total_seconds or 1
        seg_part = sum(s.seconds * s.fraction for s in self.segments.values()) / total
        return min(1.0, 0.9 * seg_part + 0.1 * self.join_fraction)

    def counts(self) -> dict[SegmentStatus, int]:
        out: dict[SegmentStatus, int] = {}
        for s in self.segments.values():
            out[s.status] = out.get(s.status, 0) + 1
        return out


def _row(seg: Segment) -> tuple[object, ...]:
    return (
        seg.status,
        seg.title,
        seg.seconds,
        seg.prompt,
        seg.started_at,
        seg.finished_at,
        seg.attempts,
        seg.submits,
        seg.cost_usd,
        seg.gpu_seconds,
        seg.first_frame,
        seg.last_frame,
        seg.error,
    )


def log_text(level: str, message: str, index: int | None) -> str:
    prefix = f"[seg {index}] " if index is not None else ""
    marker = {"warning": "! ", "error": "✗ "}.get(level, "")
    return f"{marker}{prefix}{message}"
