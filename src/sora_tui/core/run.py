"""One execution of a job (fresh, resumed or redone): segments in the plan's mode, hand-offs,
the budget, cancellation and the join. The engine starts it; the retry policy is ``retry``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from . import runner
from .cast import job_cast, shot_members
from .catalog import ModelSpec, frame_size
from .costs import job_spent, over_cap, plan_segment_cost
from .errors import Code, DiskFull, FileProblem, JobCancelled, JobFailed, os_failure
from .jobfiles import fit_image, seg_name, write_json_atomic
from .models import (
    CastMember,
    CostUpdate,
    Event,
    InputError,
    Job,
    JobStatus,
    JobStatusChanged,
    JoinProgress,
    KeyframeReady,
    Kind,
    LogLine,
    Mode,
    Plan,
    Segment,
    SegmentProgress,
    SegmentStatus,
    SegmentStatusChanged,
)
from .plans import remaining_cost
from .providers.base import (
    AuthError,
    BadResult,
    ContentPolicyError,
    ImageRequest,
    ModelUnavailable,
    Provider,
    ProviderError,
    RenderRequest,
    RenderResult,
    RequestNotFound,
    Submission,
)
from .retry import FORGET_REQUEST, with_retries
from .shots import ShotRoute, shot_routes
from .store import Keyframe
from .takes import Take, TakeBook, best_take, take_file, take_score, take_seed

if TYPE_CHECKING:
    from .services import EngineServices as Engine
    from .slots import Slot

logger = logging.getLogger(__name__)

EventSink = Callable[[Event], None]
T = TypeVar("T")

PROGRESS_EVERY = 0.2  # seconds: the most often one segment's render progress is reported
SLOT_POLL = 0.1  # seconds between looks for a free provider slot (or the end of a pause)


@dataclass
class RunControl:
    """Handle for a running job: cancel it and see which provider requests are in flight."""

    cancel_event: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: dict[int, Submission] = field(default_factory=dict)

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


class JobRun:
    """One execution of a job (fresh, resumed or redone)."""

    def __init__(
        self,
        engine: Engine,
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

    # --- shots (per-shot model, cast routes, cuts) -------------------------------------

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

    async def cast_keyframe(self, seg: Segment, source: Path | None) -> Path:
        """The first picture of a shot whose cast reaches the model through a keyframe: the image
        model's edit endpoint combines the members' pictures (and the start picture, if any). Made
        once: the file is kept, so a resume or a retry never pays for it again."""
        dest = self.cast_keyframe_path(seg.index)
        if dest.is_file():
            return dest
        spec = self.shot_spec(seg.index)
        image_model = self.engine.catalog.image_model_for(spec)
        price = image_model.price_per_image
        self.hold_cap(price, f"the cast keyframe of segment {seg.index}", index=seg.index)
        pictures = [p for ps in self.cast_pictures(seg.index) for p in ps]
        who = ", ".join(self.plan.segments[seg.index - 1].cast)
        req = ImageRequest(
            endpoint=image_model.edit,
            prompt=f"{seg.prompt} Show {who} exactly as in the reference pictures.",
            width=self.width,
            height=self.height,
            aspect=self.plan.aspect,
            source=source,
            seed=seg.seed if seg.seed is not None else seg.index,
            label=f"cast keyframe {seg.index}",
            references=pictures,
        )
        provider = self.engine.provider(spec)
        self.log(
            f"segment {seg.index}: a keyframe of {who} from {len(pictures)} picture(s) on {image_model.name} "
            f"(${price:.2f})",
            index=seg.index,
        )
        tmp = dest.with_name(f".{dest.name}.part.png")
        await self.retry(lambda: provider.generate_image(req, tmp), seg.index, "making the cast keyframe")
        await asyncio.to_thread(fit_image, tmp, tmp, self.width, self.height)
        os.replace(tmp, dest)
        row = self.store.segment(self.job.id, seg.index)
        self.set_segment(seg.index, cost_usd=round(row.cost_usd + price, 4))
        self.emit_cost()
        return dest

    # --- events -------------------------------------------------------------------

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

    # --- main ---------------------------------------------------------------------

    async def run(self) -> Job:
        job_id = self.job.id
        # cv2 and numpy load in a worker while the first segment renders, not on the hand-off
        asyncio.get_running_loop().run_in_executor(None, _import_media_libs)
        looping = self.note_start()
        if looping:  # its runner keeps dying: wait for the user instead of dying again
            self.record_failure(looping)
            return self.engine.find_job(job_id)
        try:
            _test_hook(self.engine.env, "started", 0)
            await self.preflight()
            self.set_job_status(JobStatus.GENERATING, error=None)
            self.log(f"rendering {len(self.plan.segments)} segments on {self.spec.id} ({self.plan.mode} mode)")
            if self.plan.mode is Mode.CHAIN:
                await self.run_chain()
            elif self.plan.mode is Mode.EXTEND:
                await self.run_extend()
            elif self.plan.mode is Mode.KEYFRAMES:
                frames = await self.run_keyframes()
                if self.review_keyframes:
                    self.set_job_status(JobStatus.AWAITING_REVIEW, "keyframes ready for review")
                    self.log(
                        f"keyframes ready in {self.dir} (kf_00.png … kf_{len(frames) - 1:02d}.png); replace or "
                        f"regenerate any, then `sora-tui resume {job_id}` renders the videos",
                    )
                    return self.engine.find_job(job_id)
                await self.run_parallel(lambda seg: (frames[seg.index - 1], frames[seg.index]))
            else:
                start = Path(self.plan.start_image) if self.plan.start_image else None
                await self.run_parallel(lambda seg: (start if seg.index == 1 else None, None))
            await self.join()
        except InputError as exc:
            # it cannot start (or go on) until the user fixes something: say so, never stay "generating"
            self.control.in_flight.clear()
            message = self.engine.redact(str(exc))
            self.set_job_status(JobStatus.FAILED, message, error=message)
            self.log(message, "error")
            raise
        except TakesToReview as stop:
            # the requests of other runs stay stored (not cancelled): going on re-attaches to them
            self.control.in_flight.clear()
            self.set_job_status(JobStatus.AWAITING_REVIEW, str(stop))
            self.log(str(stop), "warning", stop.index)
        except JobCancelled:
            await self.cancel_in_flight()
            self.set_job_status(JobStatus.CANCELLED, "cancelled")
            self.log("job cancelled; `sora-tui resume " + job_id + "` continues it", "warning")
        except (JobFailed, ProviderError, OSError) as exc:
            # Keep accepted requests stored (not cancelled): they are paid for, and a resume
            # re-attaches to them instead of submitting again.
            self.control.in_flight.clear()
            failure: Exception = os_failure(exc, exc.filename or self.dir) if isinstance(exc, OSError) else exc
            message = self.engine.redact(str(failure))
            if isinstance(failure, DiskFull | FileProblem):
                message += f"; finished segments are kept, and `sora-tui resume {job_id}` carries on once it is fixed"
            self.record_failure(message)
            if isinstance(failure, DiskFull):  # the user must act (free space): bad input, exit 2
                raise InputError(
                    "disk",
                    message,
                    code=Code.DISK_FULL,
                    context={"path": str(failure.path), "free": failure.free, "job": job_id},
                ) from None
            if isinstance(failure, FileProblem):
                raise InputError(
                    "files", message, code=Code.NOT_WRITABLE, context={"path": str(failure.path)}
                ) from None
        except asyncio.CancelledError:
            # the task itself was cancelled (app quit, Ctrl-C): leave the job resumable
            self.store.update_job(job_id, status=JobStatus.CANCELLED, error="interrupted")
            raise
        finally:
            runner.note_end(self.dir)  # ended in order (a death never gets here)
            with contextlib.suppress(JobFailed, sqlite3.Error):  # a full disk: the failure is already said
                self.emit_cost()
        return self.engine.find_job(job_id)

    def store_critical(self, write: Callable[[], None]) -> None:
        """A history write that must not be lost (a paid request's id, the job's failure): when the
        disk is full, free the space reserve kept next to the database (``disk.ensure_reserve``),
        write it, and still raise DiskFull: the run stops while the freed space lets it record why."""
        from . import disk

        try:
            write()
        except DiskFull:
            if not disk.release_reserve(self.store.path.parent):
                raise
            write()
            raise

    def note_start(self) -> str:
        """Count this run's start for crash loops (``runner.note_start``); the message that holds the
        job when its runner died ``settings.crash_limit`` times in a row without progress, else ""."""
        done = sum(1 for s in self.store.segments(self.job.id) if s.status is SegmentStatus.DONE)
        rec = runner.note_start(self.dir, done, self.last_error())
        limit = self.settings.crash_limit
        if not rec.looping(limit):
            return ""
        runner.note_end(self.dir, keep_count=True)
        last = f"; last error: {rec.last_error}" if rec.last_error else ""
        return (
            f"the runner of this job died {rec.deaths} time{'s' if rec.deaths != 1 else ''} in a row without finishing a segment (a crash "
            f"loop), so it is not restarted by itself{last}. Fix the cause, then `sora-tui resume {self.job.id}` "
            "tries again"
        )

    def last_error(self) -> str:
        """What a runner that died last said: its last error or warning in the log, else its last line."""
        for rec in reversed(self.store.logs(self.job.id, tail=40)):
            if rec.level in ("error", "warning"):
                return rec.message
        return self.engine.redact(runner.last_words(self.dir))

    def record_failure(self, message: str) -> None:
        """The job ends ``failed`` with ``message`` in history, its log and the board. On a full disk
        the history may refuse the write: the event still reaches every follower that can hear it."""
        self.job.status = JobStatus.FAILED
        try:
            self.store_critical(lambda: self.store.update_job(self.job.id, status=JobStatus.FAILED, error=message))
        except (JobFailed, sqlite3.Error):
            pass
        self.emit(JobStatusChanged(self.job.id, JobStatus.FAILED, message))
        try:
            self.log(message, "error")
        except (JobFailed, sqlite3.Error):
            self.emit(LogLine(self.job.id, message, "error", None))

    async def preflight(self) -> None:
        """What must hold before anything is paid for: a writable output, a provider (its key), the
        budget, done segments whose files still play, and room on the disk for what the render
        writes (``disk.check_disk``). Raises InputError naming what to fix."""
        from .disk import check_disk, ensure_reserve
        from .jobfiles import check_output_path

        if self.output_arg:
            self.output = check_output_path(self.output_arg)
        for model in dict.fromkeys(
            [self.spec.id] + [self.plan.shot_model(i) for i in range(1, len(self.plan.segments) + 1)]
        ):
            self.engine.check_render_key(model)
            self.engine.provider(self.engine.catalog.get(model))
        if self.plan.cast or self.plan.cut_indexes():
            self.route(1)  # every shot's route, checked before anything is paid (the job's own cast)
        self.check_budget()
        await self.verify_done_segments()
        check_disk(self.plan, self.spec, self.dir, self.store.segments(self.job.id), self.settings.disk_margin_mb)
        ensure_reserve(self.store.path.parent)  # room for the last words if the disk fills anyway

    def check_budget(self) -> None:
        if self.max_cost is None:
            return
        left = remaining_cost(
            self.plan, self.engine.catalog, self.store.segments(self.job.id), self.store.keyframes(self.job.id)
        )
        total = self.spent() + left.total
        if over_cap(total, self.max_cost):
            raise InputError(
                "max_cost",
                f"this job would cost ${total:.2f}, over the cap of ${self.max_cost:.2f}",
                code=Code.OVER_BUDGET,
                context={"total": round(total, 4), "cap": self.max_cost, "job": self.job.id},
            )

    async def verify_done_segments(self) -> None:
        """Segments marked done must still have a playable file (else: clear input error, nothing deleted)."""
        from . import media

        for seg in self.store.segments(self.job.id):
            if seg.status is not SegmentStatus.DONE:
                continue
            path = Path(seg.file or "")
            try:
                await asyncio.to_thread(media.probe, path)
            except (media.MediaError, OSError) as exc:
                raise InputError(
                    f"segment {seg.index}",
                    f"file {path} is missing or corrupt ({exc})",
                    code=Code.SEGMENT_FILE,
                    context={"job": self.job.id, "index": seg.index},
                ) from None

    def check_cancel(self) -> None:
        if self.control.cancelled:
            raise JobCancelled()

    async def run_chain(self) -> None:
        """Each run of shots joined by ``continue`` renders in order; the runs (split at cuts) are
        independent and render at once, within the concurrency limit."""
        segments = self.store.segments(self.job.id)
        runs = self.plan.runs() if len(segments) == len(self.plan.segments) else [[s.index for s in segments]]
        if len(runs) == 1:
            await self.run_one_chain(segments)
            return
        sem = asyncio.Semaphore(max(1, self.settings.concurrency))
        by_index = {s.index: s for s in segments}
        tasks = [
            asyncio.create_task(self.run_one_chain([by_index[i] for i in run if i in by_index], sem)) for run in runs
        ]
        try:
            await _gather_first_error(tasks)
        finally:
            for t in tasks:
                t.cancel()

    async def run_one_chain(self, segments: list[Segment], sem: asyncio.Semaphore | None = None) -> None:
        first = segments[0].index if segments else 1
        start = Path(self.plan.start_image) if self.plan.start_image and first == 1 else None
        for pos, seg in enumerate(segments):
            self.check_cancel()
            if pos > 0 and self.is_cut(seg.index):  # (a single run holds no cut; kept for safety)
                start = None
            if seg.status is SegmentStatus.DONE:
                self.emit(SegmentStatusChanged(self.job.id, seg.index, SegmentStatus.DONE, "already rendered"))
                start = self.handoff_for(seg)
                continue
            end = None
            nxt = segments[pos + 1] if pos + 1 < len(segments) else None
            if nxt is not None and self.is_cut(nxt.index):
                nxt = None  # the next shot is a cut: nothing to end on
            if nxt is not None and nxt.status is SegmentStatus.DONE and nxt.first_frame and start is not None:
                # re-rendering one segment between kept neighbours (`redo --only`): end on the picture the
                # next segment starts from, where the model can; otherwise the report shows that seam
                if self.spec.supports(Kind.FLF2V):
                    end = Path(nxt.first_frame)
                else:
                    self.log(
                        f"segment {seg.index} is re-rendered before kept segment {nxt.index}; {self.spec.name} "
                        "cannot end on a given frame, so check that seam in the report",
                        "warning",
                        seg.index,
                    )
            if sem is None:
                seg = await self.render_shot(seg, start, end)
            else:
                async with sem:
                    seg = await self.render_shot(seg, start, end)
            start = self.handoff_for(seg)

    def handoff_path(self, index: int) -> Path:
        return self.dir / seg_name(index, "_handoff.png")

    def handoff_for(self, seg: Segment) -> Path | None:
        """The picture the next chained segment starts from: the corrected hand-off frame, else the last frame."""
        handoff = self.handoff_path(seg.index)
        if handoff.is_file():
            return handoff
        return Path(seg.last_frame) if seg.last_frame else None

    def sent_image(self, seg: Segment, segments: list[Segment]) -> Path | None:
        """The picture segment ``seg`` was conditioned on (None for text-to-video)."""
        if self.plan.mode is Mode.KEYFRAMES:
            kf = self.engine.keyframe_path(self.job, seg.index - 1)
            return kf if kf.is_file() else None
        if self.plan.mode is Mode.EXTEND and seg.index > 1:
            last = segments[seg.index - 2].last_frame
            return Path(last) if last else None
        if seg.index == 1 or self.plan.mode is Mode.PARALLEL or self.is_cut(seg.index):
            start = Path(self.plan.start_image) if (seg.index == 1 and self.plan.start_image) else None
        else:
            start = self.handoff_for(segments[seg.index - 2])
        if self.plan.cast and self.cast_keyframe_path(seg.index).is_file():
            return self.cast_keyframe_path(seg.index)  # the shot began on its cast keyframe
        spec = self.shot_spec(seg.index)
        if self.plan.cast and self.route(seg.index).kind is Kind.R2V:
            return start if start is not None and spec.for_kind(Kind.R2V).takes_start else None
        if start is None or not spec.supports(Kind.I2V):
            return None
        return start

    def seam_options(self) -> Any:
        from . import seams

        s = self.plan.seams
        # a shot planned as a cut (SegmentPlan.transition == "cut") starts a new run of continued shots
        # with its own colour reference
        cuts = frozenset(self.plan.cut_indexes())
        return seams.SeamOptions(
            enabled=s.seams == "auto",
            crossfade_ms=float(s.crossfade_ms),
            colour=s.colour_anchor,
            reference_image=s.colour_reference,
            cuts=cuts,
        )

    async def prepare_handoff(self, index: int, video: Path, last_png: Path, analysis: Any) -> None:
        """Fade guard and colour anchoring for the frame the next chained segment starts from."""
        from . import colour, media

        handoff = self.handoff_path(index)
        opts = self.seam_options()
        if (
            self.plan.mode is not Mode.CHAIN
            or index == len(self.plan.segments)
            or not opts.enabled
            or self.is_cut(index + 1)  # the next shot is a cut: nothing starts from this one
        ):
            handoff.unlink(missing_ok=True)
            return
        src = last_png
        changed = False
        if analysis.fade_frames:
            await asyncio.to_thread(media.frame_png, video, analysis.last_good, handoff)
            src, changed = handoff, True
            self.log(
                f"segment {index} fades ({analysis.fade_kind}) in its last {analysis.fade_frames} frames; "
                f"the next segment starts from frame {analysis.last_good + 1} instead",
                "warning",
                index,
            )
        if opts.colour:
            decision = await asyncio.to_thread(self.handoff_decision, index, analysis)
            if not decision.grade.identity:
                m = analysis.matrix_obj
                grade = decision.grade

                def correct() -> float:
                    original = media.read_image(src)
                    rgb = grade.apply_rgb(original, m)
                    media.write_png(rgb, handoff)
                    return colour.psnr(rgb, original)

                db = await asyncio.to_thread(correct)
                changed = True
                self.log(
                    f"segment {index} ends {decision.de_before:.1f} ΔE off its colour without the model's drift; "
                    f"the hand-off frame is corrected to {decision.de_after:.1f} ΔE ({db:.1f} dB to the frame it "
                    f"stands for) before it conditions segment {index + 1}",
                    index=index,
                )
            elif decision.note:
                self.log(f"{decision.note}; the hand-off frame is sent as it is", index=index)
        if not changed:
            handoff.unlink(missing_ok=True)

    def handoff_decision(self, index: int, like: Any) -> Any:
        """The colour correction of segment ``index``'s hand-off frame (``like``: its analysis): its end grade
        as the join will show it, planned over the segments so far (each measured once, then cached)."""
        from . import seams

        opts = self.seam_options()
        segments = self.store.segments(self.job.id)
        analyses: list[Any] = []
        first_no = 1
        for seg in segments:
            if seg.index >= index:
                break
            if seg.status is not SegmentStatus.DONE or not seg.file:
                analyses, first_no = [], seg.index + 1  # a gap: what comes after it is held to itself
                continue
            analyses.append(seams.analyze_segment(seg.file, self.sent_image(seg, segments)))
        analyses.append(like)
        cuts = {c - first_no + 1 for c in opts.cuts if c > first_no}
        return seams.handoff_decision(analyses, opts, cuts)

    # --- extend mode (segment k+1 extends segment k's video) ------------------------

    async def run_extend(self) -> None:
        """Segment 1 as in chain mode; every later segment extends the video of the one before."""
        start = Path(self.plan.start_image) if self.plan.start_image else None
        previous: Path | None = None
        for seg in self.store.segments(self.job.id):
            self.check_cancel()
            if seg.status is SegmentStatus.DONE:
                self.emit(SegmentStatusChanged(self.job.id, seg.index, SegmentStatus.DONE, "already rendered"))
            elif previous is None:
                seg = await self.render_segment(seg, start)
            else:
                seg = await self.render_segment(seg, None, None, source=previous)
            previous = Path(seg.file) if seg.file else None

    async def keep_extension(self, seg: Segment, returned: Path, source: Path) -> Path:
        """Measure what the extend endpoint returned and keep only the extension as the segment file."""
        from . import media
        from .extend import split_extension

        dest = self.dir / seg_name(seg.index)
        try:
            result = await asyncio.to_thread(split_extension, returned, source, dest, seg.seconds)
        except media.MediaError as exc:
            raise BadResult(f"segment {seg.index}: {exc}") from None
        self.log(f"segment {seg.index}: {result.describe()}", index=seg.index)
        return dest

    async def run_parallel(self, frames_for: Callable[[Segment], tuple[Path | None, Path | None]]) -> None:
        """Render the pending segments at once (bounded by settings.concurrency)."""
        sem = asyncio.Semaphore(max(1, self.settings.concurrency))

        async def one(seg: Segment) -> None:
            async with sem:
                self.check_cancel()
                start, end = frames_for(seg)
                await self.render_shot(seg, start, end)

        pending = [s for s in self.store.segments(self.job.id) if s.status is not SegmentStatus.DONE]
        for seg in pending:
            self.set_segment(seg.index, SegmentStatus.WAITING, "waiting for a free slot")
        tasks = [asyncio.create_task(one(s)) for s in pending]
        try:
            await _gather_first_error(tasks)
        finally:
            for t in tasks:
                t.cancel()

    # --- keyframes ------------------------------------------------------------------

    async def run_keyframes(self) -> list[Path]:
        """Keyframe 0 (the user's start image or text-to-image), then each an edit of the one before."""
        n = len(self.plan.segments)
        if not self.store.keyframes(self.job.id):
            self.engine.reset_keyframes(self.job.id, self.plan)
        frames = []
        for k in range(n + 1):
            self.check_cancel()
            frames.append(await self.make_keyframe(k))
        return frames

    async def make_keyframe(self, index: int, force: bool = False) -> Path:
        kf = next(k for k in self.store.keyframes(self.job.id) if k.index == index)
        dest = self.engine.keyframe_path(self.job, index)
        if kf.status == "done" and kf.file and Path(kf.file).is_file() and not force:
            self.emit(KeyframeReady(self.job.id, index, kf.file))
            return Path(kf.file)
        if index == 0 and self.plan.start_image and not force:
            await asyncio.to_thread(fit_image, Path(self.plan.start_image), dest, self.width, self.height)
            self.store.upsert_keyframe(Keyframe(self.job.id, 0, kf.prompt, "done", str(dest), source="user"))
            self.log("keyframe 0 is the start image", index=None)
            self.emit(KeyframeReady(self.job.id, 0, str(dest)))
            return dest
        image_model = self.engine.catalog.image_model_for(self.spec)
        source = None
        if index > 0:
            source = self.engine.keyframe_path(self.job, index - 1)
            if not source.is_file():
                raise JobFailed(f"keyframe {index - 1} is missing; regenerate it first")
        price = image_model.price_per_image
        self.hold_cap(price, f"keyframe {index}")
        # a keyframe at the edge of shots with cast is made with the edit endpoint from their pictures
        n = len(self.plan.segments)
        shots = [i for i in (index, index + 1) if 1 <= i <= n]
        refs = list(dict.fromkeys(p for i in shots for ps in self.cast_pictures(i) for p in ps))
        refs = refs[: max(0, image_model.max_images - (1 if source is not None else 0))]
        req = ImageRequest(
            endpoint=image_model.edit if source is not None or refs else image_model.t2i,
            references=refs,
            prompt=kf.prompt,
            width=self.width,
            height=self.height,
            aspect=self.plan.aspect,
            source=source,
            seed=index,
            label=f"keyframe {index}",
        )
        provider = self.engine.provider(self.spec)
        self.log(
            f"keyframe {index}: {'editing keyframe ' + str(index - 1) if source else 'text-to-image'} "
            f"on {image_model.name} (${price:.2f})"
        )
        slot = await self.take_slot(provider, 0, new=True, label=f"keyframe {index}")  # an image request is one too
        try:
            await self.retry(lambda: provider.generate_image(req, dest), 0, f"keyframe {index}", segment=False)
        finally:
            if slot is not None:
                slot.release()
        await asyncio.to_thread(fit_image, dest, dest, self.width, self.height)
        self.store.upsert_keyframe(
            Keyframe(
                self.job.id, index, kf.prompt, "done", str(dest), "generated", cost_usd=round(kf.cost_usd + price, 4)
            )
        )
        self.emit(KeyframeReady(self.job.id, index, str(dest)))
        self.emit_cost()
        return dest

    # --- takes ---------------------------------------------------------------------

    @property
    def takebook(self) -> TakeBook:
        if self._takebook is None:
            self._takebook = TakeBook(self.dir)
        return self._takebook

    def takes_of(self, index: int) -> int:
        return self.plan.segments[index - 1].takes if index <= len(self.plan.segments) else 1

    async def render_shot(self, seg: Segment, start: Path | None, end: Path | None = None) -> Segment:
        """A shot: one render, or (``takes`` > 1) every take at once, each with its own seed and
        paid once; the best by its seam figures is kept (``takes.best_take``)."""
        n = self.takes_of(seg.index)
        if n <= 1:
            return await self.render_segment(seg, start, end)
        idx = seg.index
        if self.plan.cast and self.plan.mode in (Mode.CHAIN, Mode.PARALLEL) and self.route(idx).route == "keyframe":
            start = await self.cast_keyframe(seg, start)  # every take starts on the same cast keyframe
        self.log(f"segment {idx}: rendering {n} takes at once, each with its own seed", index=idx)
        results = await asyncio.gather(
            self.render_segment(seg, start, end), *(self.render_take(seg, t, start, end) for t in range(2, n + 1))
        )
        first = results[0]
        assert isinstance(first, Segment)
        book = self.takebook
        base = seg.seed if seg.seed is not None else idx
        one = book.get(idx, 1) or Take(1, take_seed(base, 1), cost_usd=self.segment_cost(seg))
        one.status, one.file = "done", first.file
        one.first_frame, one.last_frame, one.request_id = first.first_frame, first.last_frame, first.request_id
        book.put(idx, one)
        sent = self.sent_image(first, self.store.segments(self.job.id))
        for take in book.takes(idx):
            if take.status == "done" and take.file:
                take.score = await asyncio.to_thread(self.score_take, Path(take.file), sent)
        best = best_take(book.takes(idx))
        book.kept[idx] = best.take
        book.save()
        figures = ", ".join(f"take {t.take} {t.score}" for t in book.takes(idx))
        self.log(f"segment {idx}: kept take {best.take} of {n} (seam figures {figures})", index=idx)
        if best.take != 1:
            first = await self.finish_segment(first, Path(best.file or ""), sent)
        if self.review_takes:
            raise TakesToReview(idx, best.take)
        return first

    def score_take(self, video: Path, sent: Path | None) -> list[float]:
        from . import seams

        a = seams.analyze_segment(video, sent)
        drift = a.first_stats.delta_e(a.last_stats) if a.first_stats and a.last_stats else 0.0
        return take_score(a.fade_frames, drift, False)

    async def render_take(self, seg: Segment, take: int, start: Path | None, end: Path | None) -> Take:
        """Take ``take`` (2..N) of a shot: submitted, its request id saved before waiting (a resume
        re-attaches), priced and counted once, downloaded beside the segment."""
        from . import media

        idx = seg.index
        book = self.takebook
        rec = book.get(idx, take)
        dest = take_file(self.dir, idx, take)
        if rec is not None and rec.status == "done" and rec.file and Path(rec.file).is_file():
            return rec
        provider = self.engine.provider(self.shot_spec(idx))
        base = seg.seed if seg.seed is not None else idx
        req = self.render_request(seg, start, end)
        req.seed, req.send_seed = take_seed(base, take), True
        req.label += f", take {take}"
        # a take in flight holds one of the provider's slots, as a segment does (core/slots.py)
        slot = await self.take_slot(provider, idx, new=rec is None or not rec.request_id, label=req.label)
        try:
            if rec is None or not rec.request_id:
                cost = self.segment_cost(seg)
                self.hold_cap(cost, f"take {take} of segment {idx}", index=idx)
                sub = await self.retry(lambda: provider.submit(req), idx, f"submitting take {take}")
                rec = Take(
                    take, req.seed, "submitted", cost_usd=cost, request_id=sub.request_id, endpoint=sub.endpoint,
                    status_url=sub.status_url, response_url=sub.response_url, cancel_url=sub.cancel_url,
                )  # fmt: skip
                book.put(idx, rec)
                book.save()  # before waiting: a restart re-attaches to this request
                row = self.store.segment(self.job.id, idx)
                self.set_segment(idx, cost_usd=round(row.cost_usd + cost, 4))
                self.log(f"segment {idx} take {take} submitted to {sub.endpoint} (request {sub.request_id})", index=idx)
                self.emit_cost()
            else:
                self.log(f"segment {idx} take {take}: re-attaching to request {rec.request_id}", index=idx)
            sub = Submission(rec.request_id or "", rec.endpoint or "", rec.status_url, rec.response_url, rec.cancel_url)
            while True:
                self.check_cancel()
                st = await self.retry(lambda: provider.status(sub), idx, f"checking take {take}")
                if st.state == "completed":
                    break
                await provider.wait_for_change(sub, self.poll_interval(provider), self.control.cancel_event)
            result = await self.retry(lambda: provider.result(sub), idx, f"fetching take {take}")
        finally:
            if slot is not None:
                slot.release()
        await self.retry(lambda: provider.download(result, dest, None), idx, f"downloading take {take}")
        first, last = take_file(self.dir, idx, take, "_first.png"), take_file(self.dir, idx, take, "_last.png")
        await asyncio.to_thread(media.boundary_frames, dest, first, last)
        rec.status, rec.file, rec.first_frame, rec.last_frame = "done", str(dest), str(first), str(last)
        book.put(idx, rec)
        book.save()
        return rec

    # --- one segment ----------------------------------------------------------------

    def render_request(
        self, seg: Segment, start: Path | None, end: Path | None = None, source: Path | None = None
    ) -> RenderRequest:
        spec = self.shot_spec(seg.index)
        references: list[list[Path]] = []
        prompt = seg.prompt
        routed = bool(self.plan.cast) and seg.index <= len(self.plan.segments)
        if source is not None:  # extend mode: continue the video before
            kind = Kind.EXTEND
        elif routed and self.route(seg.index).kind is Kind.R2V:
            kind = Kind.R2V
            ks = spec.for_kind(Kind.R2V)
            references = self.cast_pictures(seg.index)
            start = start if ks.takes_start else None
            end = end if ks.references.get("end_field") else None
            tag = ks.references.get("prompt_tag")
            if tag:  # e.g. Kling: "@Element1 is Mara."
                names = self.plan.segments[seg.index - 1].cast
                prompt += " " + " ".join(f"{str(tag).format(n=k)} is {name}." for k, name in enumerate(names, 1))
        elif start is not None and end is not None:
            kind = Kind.FLF2V
        elif start is not None and spec.supports(Kind.I2V):
            kind = Kind.I2V
        else:
            kind = Kind.T2V
            start = None
        return RenderRequest(
            model=spec,
            kind=kind,
            prompt=prompt,
            seconds=seg.seconds,
            resolution=self.plan.resolution,
            aspect=self.plan.aspect,
            audio=spec.has_audio(self.plan.audio),
            width=self.width,
            height=self.height,
            fps=spec.fps,
            start_image=start,
            end_image=end,
            source_video=source,
            seed=seg.seed if seg.seed is not None else seg.index,
            label=f"segment {seg.index} of {len(self.plan.segments)}",
            job_id=self.job.id,
            references=references,
            send_seed=self.takes_of(seg.index) > 1,
        )

    async def render_segment(
        self, seg: Segment, start: Path | None, end: Path | None = None, source: Path | None = None
    ) -> Segment:
        provider = self.engine.provider(self.shot_spec(seg.index))
        idx = seg.index
        if (
            self.plan.cast
            and source is None
            and self.plan.mode in (Mode.CHAIN, Mode.PARALLEL)
            and self.route(idx).route == "keyframe"
        ):
            start = await self.cast_keyframe(seg, start)
        req = self.render_request(seg, start, end, source)
        if seg.status is SegmentStatus.DOWNLOADED and seg.file and Path(seg.file).is_file():
            # paid for and delivered before the run stopped: verify the file and finish it
            finished = await self.finish_downloaded(seg, req, source)
            if finished is not None:
                return finished
        if seg.started_at is None:
            self.set_segment(idx, started_at=time.time())
        sub: Submission | None = None
        cancelled = False  # re-attaching to a request that a cancel asked the provider to stop
        if seg.request_id:
            sub = Submission(seg.request_id, seg.endpoint or "", seg.status_url, seg.response_url, seg.cancel_url)
            cancelled = seg.cancelled_at is not None
            note = " (cancelled earlier; its video is used if it finished)" if cancelled else ""
            self.log(f"re-attaching to request {seg.request_id}{note}", index=idx)
        # a hosted request in flight holds one of the provider's slots, shared by every job (core/slots.py)
        slot = await self.take_slot(provider, idx, new=sub is None)
        try:
            while True:
                self.check_cancel()
                if sub is None:
                    sub = await self.submit(provider, seg, req)
                    cancelled = False
                self.control.in_flight[idx] = sub
                try:
                    await self.wait(provider, sub, idx, cancelled)
                    result = await self.fetch_result(provider, sub, idx, cancelled)
                    if isinstance(gpu := result.raw.get("gpu_seconds"), int | float):  # a local model's GPU time
                        self.set_segment(idx, gpu_seconds=round(float(gpu), 2))
                    break
                except RequestNotFound as exc:
                    cost = self.segment_cost(seg)
                    why = f"the provider no longer knows request {sub.request_id}"
                    changes: dict[str, Any] = {}
                    if isinstance(exc, RequestCancelled):
                        row = self.store.segment(self.job.id, idx)
                        why = f"request {sub.request_id} was cancelled ({exc})"
                        if row.cancelled_while == "queued":  # dropped from the queue before it started: not billed
                            why = f"request {sub.request_id} was cancelled while queued, so it was not billed"
                            changes["cost_usd"] = round(max(0.0, row.cost_usd - cost), 4)
                    self.log(f"{why}; submitting again (cost ${cost:.2f})", "warning", idx)
                    self.set_segment(idx, **FORGET_REQUEST, **changes)
                    sub = None
        finally:
            if slot is not None:
                slot.release()
        dest = self.dir / seg_name(idx, ".returned.mp4" if source is not None else ".mp4")
        self.emit(SegmentProgress(self.job.id, idx, 0.0, "downloading"))
        sent_at = time.monotonic()

        def on_bytes(done: int, total: int | None) -> None:  # called per chunk: reported every PROGRESS_EVERY
            nonlocal sent_at
            now = time.monotonic()
            if now - sent_at >= PROGRESS_EVERY or (total is not None and done >= total):
                sent_at = now
                self.emit(SegmentProgress(self.job.id, idx, (done / total) if total else None, "downloading"))

        await self.retry(lambda: provider.download(result, dest, on_bytes), idx, "downloading")
        self.control.in_flight.pop(idx, None)
        self.set_segment(idx, SegmentStatus.DOWNLOADED, file=str(dest), cancelled_at=None, cancelled_while=None)
        _test_hook(self.engine.env, "downloaded", idx)
        return await self.finish_delivered(seg, dest, req, source)

    async def take_slot(self, provider: Provider, idx: int, new: bool, label: str = "") -> Slot | None:
        """Wait until this segment may have a request in flight: the queue and the job are not paused
        (for a new submit; a request already in flight goes on) and one of the provider's slots is
        free (``settings.<provider>_slots``; none for the offline preview). What it waits for is
        logged, sent as progress and noted in the queue (the board and `sora-tui queue` show it)."""
        from . import queue, slots

        limit = int(getattr(self.settings, f"{provider.name}_slots", 0) or 0)
        waiting: str | None = None

        def note(what: str | None) -> None:
            nonlocal waiting
            if what == waiting:
                return
            waiting = what
            queue.note_waiting(self.store, self.job.id, what)
            if what and label:
                self.log(f"{label} waits for {what}")
            elif what:
                self.log(f"segment {idx} waits for {what}", index=idx)
                self.emit(SegmentProgress(self.job.id, idx, None, "waiting", None, f"waiting for {what}"))

        try:
            while True:
                self.check_cancel()
                why = queue.job_paused(self.store, self.job.id) if new else None
                if why is None:
                    if limit <= 0:
                        return None
                    slot = slots.try_take(self.engine.paths.data_dir, provider.name, limit)
                    if slot is not None:
                        return slot
                    why = f"a {provider.name} slot"
                note(why)
                await asyncio.sleep(SLOT_POLL)
        finally:
            if waiting is not None:
                note(None)

    async def fetch_result(self, provider: Provider, sub: Submission, idx: int, cancelled: bool) -> RenderResult:
        return await self.retry(
            lambda: _gone_if_cancelled(provider.result(sub), sub, cancelled), idx, "fetching the result"
        )

    async def finish_downloaded(self, seg: Segment, req: RenderRequest, source: Path | None) -> Segment | None:
        """Finish a segment whose file arrived before the run stopped (no fetch, no render); None
        when that file does not play (then its request is re-attached to as usual)."""
        from . import media

        dest = Path(seg.file or "")
        try:
            await asyncio.to_thread(media.probe, dest)
        except (media.MediaError, OSError) as exc:
            self.log(
                f"segment {seg.index}: the downloaded file {dest.name} does not play ({exc})", "warning", seg.index
            )
            return None
        self.log(f"segment {seg.index} was downloaded before the interruption; finishing it", index=seg.index)
        self.control.in_flight.pop(seg.index, None)
        return await self.finish_delivered(seg, dest, req, source)

    async def finish_delivered(self, seg: Segment, dest: Path, req: RenderRequest, source: Path | None) -> Segment:
        sent = req.start_image
        if source is not None:
            dest = await self.keep_extension(seg, dest, source)
            # an extension may begin on the source's last picture: the seam work checks for it
            sent = self.dir / seg_name(seg.index - 1, "_last.png")
        return await self.finish_segment(seg, dest, sent)

    async def finish_segment(self, seg: Segment, dest: Path, sent: Path | None = None) -> Segment:
        from . import media

        idx = seg.index
        first = self.dir / seg_name(idx, "_first.png")
        last = self.dir / seg_name(idx, "_last.png")
        try:
            # one ffmpeg run: this is on the critical path of the next chained segment
            info = await asyncio.to_thread(media.boundary_frames, dest, first, last)
        except media.MediaError as exc:
            bad = dest.with_name(dest.stem + ".bad" + dest.suffix)
            if dest.exists():
                os.replace(dest, bad)
            self.set_segment(idx, SegmentStatus.FAILED, str(exc), file=None, error=str(exc), **FORGET_REQUEST)
            raise BadResult(
                f"segment {idx}: the provider returned a file that is not a playable video ({exc}); "
                f"kept as {bad.name} for inspection. `sora-tui resume {self.job.id}` renders it again"
            ) from None
        if abs(info.duration - seg.seconds) > 0.5:
            self.log(f"segment {idx} is {info.duration:.2f} s long (planned {seg.seconds} s)", "warning", idx)
        # measured once, as it arrives: the join reuses it; the next chained segment needs its hand-off
        from . import seams

        try:
            analysis = await asyncio.to_thread(seams.analyze_segment, dest, sent, info)
            await self.prepare_handoff(idx, dest, last, analysis)
        except (media.MediaError, OSError, ValueError) as exc:
            self.handoff_path(idx).unlink(missing_ok=True)
            self.log(
                f"segment {idx}: seam analysis failed ({exc}); its last frame is handed on as it is", "warning", idx
            )
        self.set_segment(
            idx,
            SegmentStatus.DONE,
            f"{info.duration:.1f} s",
            file=str(dest),
            first_frame=str(first),
            last_frame=str(last),
            error=None,
            finished_at=time.time(),
        )
        self.log(f"segment {idx} done ({info.duration:.2f} s, {info.width}×{info.height})", index=idx)
        return self.store.segment(self.job.id, idx)

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

    async def submit(self, provider: Provider, seg: Segment, req: RenderRequest) -> Submission:
        idx = seg.index
        cost = self.segment_cost(seg)
        self.hold_cap(cost, f"segment {idx}", index=idx)
        self.set_segment(idx, SegmentStatus.WAITING, "submitting")
        sub = await self.retry(lambda: provider.submit(req), idx, "submitting")
        # Committed before we wait on it: a restart re-attaches instead of paying again.
        current = self.store.segment(self.job.id, idx)

        def commit() -> None:
            self.set_segment(
                idx,
                SegmentStatus.SUBMITTED,
                f"request {sub.request_id}",
                request_id=sub.request_id,
                endpoint=sub.endpoint,
                status_url=sub.status_url,
                response_url=sub.response_url,
                cancel_url=sub.cancel_url,
                cost_usd=round(current.cost_usd + cost, 4),
                error=None,
            )
            self.store.increment_segment(self.job.id, idx, "submits")

        self.store_critical(commit)
        self.log(f"segment {idx} submitted as {req.kind} to {sub.endpoint} (request {sub.request_id})", index=idx)
        self.emit_cost()
        return sub

    def segment_cost(self, seg: Segment) -> float:
        """One call of segment ``seg`` (its shot's model and route; the plan's model otherwise)."""
        if seg.index <= len(self.plan.segments) and self.plan.uses_shots:
            return plan_segment_cost(self.plan, self.spec, seg.index, seg.seconds, catalog=self.engine.catalog)
        return plan_segment_cost(self.plan, self.spec, seg.index, seg.seconds)

    async def wait(self, provider: Provider, sub: Submission, idx: int, cancelled: bool = False) -> None:
        seen_logs = 0
        state = ""
        sent: tuple[Any, ...] | None = None  # the last SegmentProgress sent: (stage, queue, message)
        sent_fraction: float | None = None
        sent_at = 0.0
        while True:
            self.check_cancel()
            st = await self.retry(
                lambda: _gone_if_cancelled(provider.status(sub), sub, cancelled), idx, "checking status"
            )
            if st.state != state:
                state = st.state
                if state == "running":
                    self.set_segment(idx, SegmentStatus.RUNNING, "rendering")
            for line in st.logs[seen_logs:]:
                self.log(line, "info", idx)
            seen_logs = max(seen_logs, len(st.logs))
            if st.state == "completed":
                self.emit(SegmentProgress(self.job.id, idx, 1.0, "rendered"))
                return
            stage = "queued" if st.state == "queued" else "rendering"
            msg = st.message or (f"queue position {st.queue_position}" if st.queue_position is not None else "")
            # polls are frequent (the preview: 20 a second): send what changed, and the fraction
            # at most PROGRESS_EVERY seconds apart, so that screens and logs are not flooded
            now = time.monotonic()
            what = (stage, st.queue_position, msg)
            if what != sent or (st.progress != sent_fraction and now - sent_at >= PROGRESS_EVERY):
                sent, sent_fraction, sent_at = what, st.progress, now
                self.emit(SegmentProgress(self.job.id, idx, st.progress, stage, st.queue_position, msg))
            # returns at once when the provider streams a status change (fal: SSE), else after the poll interval
            await provider.wait_for_change(sub, self.poll_interval(provider), self.control.cancel_event)

    def poll_interval(self, provider: Provider) -> float:
        if provider.name in ("preview", "local"):  # on this machine: cheap to ask
            return min(self.settings.poll_interval, 0.05 if provider.name == "preview" else 0.2)
        return self.settings.poll_interval

    async def cancel_in_flight(self) -> None:
        """Ask the provider to stop each request in flight, keeping its id (and its cost, paid at
        submit): a retry re-attaches to it and uses its video if it finished anyway."""
        for idx, sub in list(self.control.in_flight.items()):
            provider = self.engine.existing_provider(self.shot_spec(idx).provider)  # the shot's own model
            if provider is not None:
                try:
                    await provider.cancel(sub)
                    self.log(f"asked the provider to cancel request {sub.request_id}", "warning", idx)
                except Exception as exc:
                    self.log(f"could not cancel request {sub.request_id}: {exc}", "warning", idx)
            seg = self.store.segment(self.job.id, idx)
            if seg.status is not SegmentStatus.DONE and seg.request_id == sub.request_id:
                # what the provider was doing with it as last seen: a queued request is dropped (not
                # billed); a running one may finish anyway (and is billed)
                was = "running" if seg.status is SegmentStatus.RUNNING else "queued"
                self.set_segment(idx, SegmentStatus.PENDING, "cancelled", cancelled_at=time.time(), cancelled_while=was)
                self.log(
                    f"request {sub.request_id} is kept: a retry re-attaches to it and uses its video if it "
                    "finished, instead of paying again",
                    index=idx,
                )
        self.control.in_flight.clear()

    async def retry(self, call: Callable[[], Awaitable[T]], idx: int, what: str, segment: bool = True) -> T:
        """A provider call under the retry policy (``retry.with_retries``)."""
        return await with_retries(self, call, idx, what, segment)

    # --- join ---------------------------------------------------------------------

    async def join(self) -> None:
        from . import media

        self.check_cancel()
        segments = self.store.segments(self.job.id)
        not_done = [s.index for s in segments if s.status is not SegmentStatus.DONE]
        if not_done:
            raise JobFailed(f"segments {not_done} are not done; `sora-tui resume {self.job.id}` continues")
        self.set_job_status(JobStatus.JOINING, "joining segments")
        final = self.dir / "final.mp4"
        loop = asyncio.get_running_loop()

        def progress(fraction: float) -> None:
            loop.call_soon_threadsafe(self.emit, JoinProgress(self.job.id, fraction))

        from . import join as joiner

        inputs = [joiner.SeamInput(Path(s.file or ""), self.sent_image(s, segments)) for s in segments]
        opts = self.seam_options()
        try:
            cuts = self.plan.cut_indexes() if len(segments) == len(self.plan.segments) else []
            shots: dict[str, Any] = {"cuts": cuts} if cuts else {}  # hard cuts (a plan without cuts: as before)
            outcome = await asyncio.to_thread(joiner.join_segments, inputs, final, opts, progress, **shots)
        except media.MediaError as exc:
            if "No space left" in str(exc):
                raise DiskFull(final, detail=f"join failed: {exc}") from None
            message = f"join failed: {exc} The segments are kept; `sora-tui resume {self.job.id}` joins again"
            raise JobFailed(message) from None
        result = outcome.result
        report = outcome.report(opts)
        write_json_atomic(self.dir / "seams.json", report)
        self.store.update_job(self.job.id, seams=report)
        for seam in report["seams"]:
            for change in seam["changes"]:
                self.log(f"seam {seam['index']}|{seam['index'] + 1}: {change}")
            if seam["verdict"] != "clean":
                self.log(
                    f"seam {seam['index']}|{seam['index'] + 1} ({seam['time_s']:.2f} s) is {seam['verdict']}: "
                    + "; ".join(seam["reasons"]),
                    "warning",
                )
        self.log(
            f"seams: {report['reencoded_frames']} of {report['frames']} frames re-encoded "
            f"({report['reencoded_share']:.0%}), sound {report['audio']}, "
            f"{sum(1 for s in report['seams'] if s['verdict'] == 'clean')}/{len(report['seams'])} seams clean"
        )
        output = final
        if self.output is not None:
            try:
                tmp = self.output.with_name(f".{self.output.name}.tmp")
                await asyncio.to_thread(shutil.copyfile, final, tmp)
                os.replace(tmp, self.output)
                output = self.output
            except OSError as exc:
                raise JobFailed(f"could not write {self.output}: {exc.strerror}; the video is at {final}") from None
        self.log(f"joined {len(segments)} segments by {result.method} into {output} ({result.duration:.2f} s)")
        self.set_job_status(
            JobStatus.COMPLETED, str(output), output=str(output), duration_s=result.duration, error=None
        )


class TakesToReview(Exception):
    """``--review-takes``: a shot's takes are ready; the run stops for the user's choice."""

    def __init__(self, index: int, kept: int) -> None:
        super().__init__(
            f"the takes of shot {index} are ready (take {kept} is kept for now): keep another with "
            f"pick, or resume to go on with take {kept}"
        )
        self.index = index
        self.kept = kept


class RequestCancelled(RequestNotFound):
    """A request that was cancelled at the provider has no video: it is submitted again."""


async def _gone_if_cancelled(call: Awaitable[T], sub: Submission, cancelled: bool) -> T:
    """``call`` (a status or result of ``sub``); when ``sub`` was cancelled, the provider's refusal
    to deliver it (not a key, policy or model problem) means it is gone: RequestCancelled."""
    try:
        return await call
    except ProviderError as exc:
        if not cancelled or exc.retryable or isinstance(exc, AuthError | ContentPolicyError | ModelUnavailable):
            raise
        raise RequestCancelled(str(exc)) from None


TEST_HOOK_ENV = "SORA_TUI_TEST_KILL_AT"  # tests only: "downloaded:K" SIGKILLs the run right after that commit


def _test_hook(env: dict[str, str], stage: str, index: int) -> None:
    """Kill this process at a named point (tests of crash windows); inert unless the variable is set."""
    if env.get(TEST_HOOK_ENV) == f"{stage}:{index}":
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _import_media_libs() -> None:
    try:
        import cv2  # noqa: F401
    except ImportError:  # pragma: no cover - declared dependency; media reports it where used
        pass


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
