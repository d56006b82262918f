"""The progress view of a run on stderr: Rich bars on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from .render import _console

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from ..core.engine import Engine
    from ..core.models import Event, Job


class ProgressView:
    """Per-segment progress on stderr: rich bars on a terminal, plain lines otherwise.

    The bars draw the one progress model (``core/progress.py``'s LiveJob, the studio's too): each event
    is folded into it, and a bar shows its segment's fraction and label and the join's fraction."""

    def __init__(self, engine: Engine, job: Job, quiet: bool) -> None:
        from ..core.progress import LiveJob

        self.engine = engine
        self.job = job
        self.quiet = quiet
        self.console = _console(stderr=True)
        self.live = self.console.is_terminal and not quiet
        self.state = LiveJob.from_rows(job, engine.store.segments(job.id), [], [])
        self.progress: Progress | None = None
        self.tasks: dict[int, TaskID] = {}

    def __enter__(self) -> ProgressView:
        if self.live:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TextColumn("{task.fields[state]}"),
                TimeElapsedColumn(),
                console=self.console,
            )
            self.progress.start()
            for seg in sorted(self.state.segments.values(), key=lambda s: s.index):
                task = self.progress.add_task(f"segment {seg.index:>2}", total=1.0, state=seg.label)
                self.progress.update(task, completed=seg.fraction)
                self.tasks[seg.index] = task
            self.tasks[0] = self.progress.add_task("join      ", total=1.0, state="waiting")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, event: Event) -> None:
        from ..core import models as m

        self.state.apply(event)
        if self.progress is not None:
            index = getattr(event, "index", None)
            if isinstance(event, m.SegmentProgress | m.SegmentStatusChanged) and index in self.tasks:
                seg = self.state.segments[event.index]
                self.progress.update(self.tasks[event.index], completed=seg.fraction, state=seg.label)
            elif isinstance(event, m.JoinProgress):
                self.progress.update(self.tasks[0], completed=self.state.join_fraction, state="joining")
            elif isinstance(event, m.LogLine) and event.level in ("warning", "error"):
                self.progress.console.print(event.message, style="yellow", markup=False)
            return
        if self.quiet:
            return
        if isinstance(event, m.LogLine):
            print(f"[{event.level}] {event.message}", file=sys.stderr, flush=True)
        elif isinstance(event, m.JobStatusChanged):
            print(f"[job] {event.status}", file=sys.stderr, flush=True)
