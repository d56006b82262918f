"""The progress view of a run on stderr: Rich bars on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from .render import _console

if TYPE_CHECKING:
    from rich.progress import Progress

    from ..core.engine import Engine
    from ..core.models import Job


class ProgressView:
    """Per-segment progress on stderr: rich bars on a terminal, plain lines otherwise."""

    def __init__(self, engine: Engine, job: Job, quiet: bool) -> None:
        self.engine = engine
        self.job = job
        self.quiet = quiet
        self.console = _console(stderr=True)
        self.live = self.console.is_terminal and not quiet
        self.progress: Progress | None = None
        self.tasks: dict[int, Any] = {}

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
            for seg in self.engine.store.segments(self.job.id):
                done = seg.status == "done"
                self.tasks[seg.index] = self.progress.add_task(
                    f"segment {seg.index:>2}", total=1.0, completed=1 if done else 0, state=str(seg.status)
                )
            self.tasks[0] = self.progress.add_task("join      ", total=1.0, state="waiting")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, event: Any) -> None:
        from ..core import models as m

        if self.progress is not None:
            if isinstance(event, m.SegmentProgress) and event.index in self.tasks:
                state = event.stage + (f" #{event.queue_position}" if event.queue_position is not None else "")
                if event.message and not event.message.startswith("queue position"):
                    state = event.message  # e.g. a local model's "denoising step 3 of 50, ETA 2 min 10 s"
                kwargs: dict[str, Any] = {"state": state}
                if event.fraction is not None and event.stage == "rendering":
                    kwargs["completed"] = min(0.95, event.fraction * 0.9)
                elif event.fraction is not None and event.stage == "downloading":
                    kwargs["completed"] = 0.9 + 0.1 * event.fraction
                self.progress.update(self.tasks[event.index], **kwargs)
            elif isinstance(event, m.SegmentStatusChanged) and event.index in self.tasks:
                done = event.status is m.SegmentStatus.DONE
                self.progress.update(self.tasks[event.index], state=str(event.status), completed=1.0 if done else None)
            elif isinstance(event, m.JoinProgress):
                self.progress.update(self.tasks[0], completed=event.fraction, state="joining")
            elif isinstance(event, m.LogLine) and event.level in ("warning", "error"):
                self.progress.console.print(event.message, style="yellow", markup=False)
            return
        if self.quiet:
            return
        if isinstance(event, m.LogLine):
            print(f"[{event.level}] {event.message}", file=sys.stderr, flush=True)
        elif isinstance(event, m.JobStatusChanged):
            print(f"[job] {event.status}", file=sys.stderr, flush=True)
