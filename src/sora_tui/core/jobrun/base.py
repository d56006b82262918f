"""What every part of a run shares: the job, its plan and models, events, history writes, the
budget cap, cancellation, the retry policy, and the one step a cancellation cannot split (``settled``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..cast import job_cast, shot_members
from ..catalog import ModelSpec, frame_size
from ..costs import job_spent, over_cap, plan_segment_cost
from ..errors import Code, DiskFull, JobCancelled
from ..jobfiles import seg_name
from ..models import (
    CastMember,
    CostUpdate,
    Event,
    InputError,
    Job,
    JobStatus,
    JobStatusChanged,
    LogLine,
    Plan,
    Segment,
    SegmentStatus,
    SegmentStatusChanged,
)
from ..providers.base import Provider, Submission
from ..shots import ShotRoute, shot_routes
from ..takes import TakeBook

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..settings import Paths, Settings
    from ..store import Store

logger = logging.getLogger("sora_tui.core.run")  # one logger for every part of a run

EventSink = Callable[[Event], None]
T = TypeVar("T")

PROGRESS_EVERY = 0.2  # seconds: the most often one segment's render progress is reported
SLOT_POLL = 0.1  # seconds between looks for a free provider slot (or the end of a pause)


class RunHost(Protocol):
    """What a run needs of the engine that starts it (``core.engine.Engine``)."""

    @property
    def store(self) -> Store: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def catalog(self) -> Catalog: ...
    @property
    def env(self) -> dict[str, str]: ...
    @property
    def paths(self) -> Paths: ...
    def provider(self, spec: ModelSpec) -> Provider: ...
    def existing_provider(self, name: str) -> Provider | None: ...
    def log(self, job_id: str, message: str, level: str = "info", index: int | None = None) -> str: ...
    def redact(self, text: str) -> str: ...
    def find_job(self, ref: str) -> Job: ...
    def keyframe_path(self, job: Job, index: int) -> Path: ...
    def reset_keyframes(self, job_id: str, plan: Plan) -> None: ...
    def check_render_key(self, model: str, quick: bool = False) -> None: ...


@dataclass
class RunControl:
    """Handle for a running job: cancel it and see which provider requests are in flight, keyed by
    (segment, take): take 1 is the segment's own request, takes 2..N the extra takes of a shot."""

    cancel_event: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: dict[tuple[int, int], Submission] = field(default_factory=dict)

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


class RunContext:
    """The state and rules every part of a run shares; ``JobRun`` is built on it."""

    def __init__(
        self,
        engine: RunHost,
        job: Job,
        on_event: EventSink | None,
        output: str | Path | None,
        max_cost: float | None,
        review_keyframes: bool = False,
    ) -> None:
        self.engine = engine
        self.store = engine.store
        self.settings = engine.settings
        self.job = job
        assert job.plan is not None
        self.plan: Plan = job.plan
        self.spec = engine.catalog.get(self.plan.model)
        self.dir = job.job_dir
        self.on_event = on_event
        self.output_arg = output  # checked before the run starts (see preflight)
        self.output: Path | None = None
        self.max_cost = max_cost
        self.review_keyframes = review_keyframes
        self.control = RunControl()
        self.width, self.height = frame_size(self.plan.resolution, self.plan.aspect)
        self.audio = self.spec.has_audio(self.plan.audio)
        self._routes: dict[int, ShotRoute] | None = None
        self._takebook: TakeBook | None = None
        self.review_takes = False  # stop after a shot's takes (the best kept for now) for the user's choice
        self._members: list[CastMember] | None = None

    def shot_spec(self, index: int) -> ModelSpec:
        """The model that renders segment ``index``: the shot's own, else the plan's."""
        if index > len(self.plan.segments):
            return self.spec
        return self.engine.catalog.get(self.plan.shot_model(index))

    @property
    def members(self) -> list[CastMember]:
        """The cast the job keeps (its own snapshot: never the library as it is now)."""
        if self._members is None:
            self._members = job_cast(self.dir) if self.plan.cast else []
        return self._members

    def route(self, index: int) -> ShotRoute:
        if self._routes is None:
            pictures = {m.name: len(m.images) for m in self.members}
            self._routes = {r.index: r for r in shot_routes(self.plan, self.engine.catalog, pictures)}
        return self._routes[index]

    def is_cut(self, index: int) -> bool:
        return 1 < index <= len(self.plan.segments) and self.plan.segments[index - 1].is_cut

    def cast_pictures(self, index: int) -> list[list[Path]]:
        """Each member's pictures for shot ``index`` (from the job's snapshot)."""
        return [[Path(p) for p in m.images] for m in shot_members(self.plan, self.members, index)]

    def cast_keyframe_path(self, index: int) -> Path:
        return self.dir / seg_name(index, "_cast.png")

    def emit(self, event: Event) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # a broken listener must not kill a paid render, nor hide its bug
                logger.exception("event listener failed on %s of job %s", type(event).__name__, self.job.id)

    def log(self, message: str, level: str = "info", index: int | None = None) -> None:
        message = self.engine.log(self.job.id, message, level, index)
        self.emit(LogLine(self.job.id, message, level, index))

    def set_job_status(self, status: JobStatus, message: str = "", **changes: Any) -> None:
        self.store.update_job(self.job.id, status=status, **changes)
        self.job.status = status
        self.emit(JobStatusChanged(self.job.id, status, message))

    def set_segment(self, index: int, status: SegmentStatus | None = None, message: str = "", **changes: Any) -> None:
        if status is not None:
            changes["status"] = status
        self.store.update_segment(self.job.id, index, **changes)
        if status is not None:
            self.emit(SegmentStatusChanged(self.job.id, index, status, message))

    def spent(self) -> float:
        return job_spent(self.store, self.job.id)

    def emit_cost(self) -> None:
        spent = self.spent()
        self.store.update_job(self.job.id, cost_usd=spent)
        self.emit(CostUpdate(self.job.id, spent, self.job.estimated_cost_usd))

    def store_critical(self, write: Callable[[], None]) -> None:
        """A history write that must not be lost (a paid request's id, the job's failure): when the
        disk is full, free the space reserve kept next to the database (``disk.ensure_reserve``),
        write it, and still raise DiskFull: the run stops while the freed space lets it record why."""
        from .. import disk

        try:
            write()
        except DiskFull:
            if not disk.release_reserve(self.store.path.parent):
                raise
            write()
            raise

    def check_cancel(self) -> None:
        if self.control.cancelled:
            raise JobCancelled()

    def hold_cap(self, cost: float, what: str, index: int | None = None) -> None:
        """Refuse to pay ``cost`` for ``what`` over the job's cap: the user must act (a higher cap), so an
        InputError with its code and facts, worded by each front end; the job is left failed and resumable."""
        spent = self.spent()
        if not over_cap(cost, self.max_cost, spent):
            return
        facts: dict[str, Any] = {"total": round(spent + cost, 4), "cap": self.max_cost, "job": self.job.id}
        if index is not None:
            facts["index"] = index
        raise InputError(
            "max_cost",
            f"budget cap reached: ${spent:.2f} spent, {what} would cost ${cost:.2f} over the cap of ${self.max_cost:.2f}",
            code=Code.OVER_BUDGET,
            context=facts,
        )

    def segment_cost(self, seg: Segment) -> float:
        """One call of segment ``seg`` (its shot's model and route; the plan's model otherwise)."""
        if seg.index <= len(self.plan.segments) and self.plan.uses_shots:
            return plan_segment_cost(self.plan, self.spec, seg.index, seg.seconds, catalog=self.engine.catalog)
        return plan_segment_cost(self.plan, self.spec, seg.index, seg.seconds)

    def takes_of(self, index: int) -> int:
        return self.plan.segments[index - 1].takes if index <= len(self.plan.segments) else 1

    @property
    def takebook(self) -> TakeBook:
        if self._takebook is None:
            self._takebook = TakeBook(self.dir)
        return self._takebook


async def settled(step: Awaitable[T]) -> T:
    """Run ``step`` to its end even when the caller is cancelled meanwhile, then pass the
    cancellation on: a provider call that may be paid for and the recording of what it returned
    are one step (a submit whose answer is on the wire when the run stops is still stored)."""
    task = asyncio.ensure_future(step)
    interrupted = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():  # the step itself was cancelled (not only the caller)
                raise
            interrupted = True
        except BaseException:
            if interrupted:  # the caller is gone: its cancellation, not the step's failure, goes on
                raise asyncio.CancelledError from None
            raise
    if interrupted:
        raise asyncio.CancelledError
    return result


async def _all_or_none(tasks: list[asyncio.Task[Any]]) -> None:
    """Wait for all tasks; on the first failure (or when this waiter is cancelled) cancel the rest and
    wait until they have ended (a submit on the wire is recorded first, see ``settled``)."""
    try:
        await _gather_first_error(tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _gather_first_error(tasks: list[asyncio.Task[Any]]) -> None:
    """Wait for all tasks; on the first failure cancel the rest and raise it."""
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    for t in done:
        if not t.cancelled() and t.exception() is not None:
            for p in pending:
                p.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            raise t.exception()  # type: ignore[misc]  # not None: checked in the if above
