"""The orchestrator: plan → segment tasks → segment files → joined video → history.

``Engine`` is the one entry point shared by the CLI and the TUI. It resolves
requests against the catalog, plans, creates jobs in the store and runs them.
A run is resumable at any point: every provider request id is committed to
SQLite before the pipeline waits on it, finished segments are never rendered
again, and a restarted process re-attaches to stored requests.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .catalog import (
    Catalog,
    ModelSpec,
    estimate_cost,
    fit_plan,
    frame_size,
    keyframe_count,
    load_catalog,
    plan_segment_cost,
    resolve_request,
    validate_plan,
)
from .keys import get_key, known_secrets, redact
from .models import (
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
    Request,
    SeamSettings,
    Segment,
    SegmentProgress,
    SegmentStatus,
    SegmentStatusChanged,
)
from .providers.base import (
    AuthError,
    BadResult,
    ContentPolicyError,
    ImageRequest,
    ModelUnavailable,
    Provider,
    ProviderError,
    RenderRequest,
    RequestNotFound,
    Submission,
)
from .settings import Paths, Settings, get_paths, load_settings
from .store import Keyframe, Store, new_job_id

EventSink = Callable[[Event], None]
T = TypeVar("T")

# segment columns cleared when a provider request must not be re-attached to (ended in error, cancelled, expired)
FORGET_REQUEST: dict[str, Any] = {"request_id": None, "status_url": None, "response_url": None, "cancel_url": None}


PROGRESS_EVERY = 0.2  # seconds: the most often one segment's render progress is reported


class JobFailed(Exception):
    """The job stopped with an error; it stays resumable."""


class JobCancelled(Exception):
    pass


class DiskFull(JobFailed):
    """The disk filled up (e.g. during the join): the job fails resumable and the caller gets an InputError."""


def seg_name(index: int, suffix: str = ".mp4") -> str:
    return f"seg_{index:02d}{suffix}"


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
    os.replace(tmp, path)


def check_output_path(output: str | Path) -> Path:
    """Where the final video will be copied; raises InputError for a missing or read-only folder."""
    out = Path(output).expanduser()
    if out.is_dir():
        raise InputError("output", f"{out} is a folder; give a file name such as {out / 'video.mp4'}")
    folder = out.parent.resolve()
    if not folder.is_dir():
        raise InputError("output", f"folder {folder} does not exist; create it or choose another path")
    if not os.access(folder, os.W_OK):
        raise InputError("output", f"folder {folder} is read-only; choose a writable folder")
    if out.suffix.lower() not in (".mp4", ".mov", ".m4v"):
        raise InputError("output", f"{out.name} must end in .mp4", [".mp4", ".mov", ".m4v"])
    return out.resolve()


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


class Engine:
    def __init__(
        self,
        paths: Paths | None = None,
        settings: Settings | None = None,
        env: dict[str, str] | None = None,
        provider_factory: Callable[[ModelSpec], Provider] | None = None,
    ) -> None:
        self.env = dict(os.environ) if env is None else env
        self.paths = paths or get_paths(self.env)
        self.settings = settings or load_settings(self.paths, self.env)
        self.catalog: Catalog = load_catalog(self.paths.catalog_file)
        self.store = Store(self.paths.db_file)
        self._provider_factory = provider_factory
        self._providers: dict[str, Provider] = {}
        self.controls: dict[str, RunControl] = {}
        self._secrets = known_secrets(self.env)

    # --- set-up -------------------------------------------------------------------

    def has_key(self, name: str) -> bool:
        return get_key(name, self.env).present

    def default_model(self) -> str:
        if self.settings.default_model and self.settings.default_model in self.catalog.models:
            return self.settings.default_model
        return self.catalog.default_model(self.has_key("fal"))

    def resolve(self, req: Request) -> Request:
        resolved = resolve_request(req, self.catalog)
        resolved.narration = req.narration  # the finishing stage's request field (not the catalog's)
        spec = self.catalog.get(resolved.model)
        if spec.provider == "fal" and not self.has_key("fal"):
            raise InputError(
                "model",
                f"{spec.id} runs on fal.ai and no fal key is set; run `sora-tui keys set fal` or export FAL_KEY, "
                "or use --model preview to render offline",
            )
        return resolved

    def provider(self, spec: ModelSpec) -> Provider:
        if spec.provider not in self._providers:
            self._providers[spec.provider] = self._make_provider(spec)
        return self._providers[spec.provider]

    def _make_provider(self, spec: ModelSpec) -> Provider:
        if self._provider_factory is not None:
            return self._provider_factory(spec)
        if spec.provider == "preview":
            from .providers.preview import PreviewProvider

            return PreviewProvider(
                self.paths.cache_dir / "preview",
                latency=self.settings.preview_latency,
                image_latency=self.settings.preview_image_latency,
                drift=self.settings.preview_drift,
            )
        if spec.provider == "fal":
            key = get_key("fal", self.env)
            if not key.present:
                raise InputError("fal key", "not set; run `sora-tui keys set fal` or export FAL_KEY")
            from .providers.fal import FalProvider  # type: ignore[import-not-found]

            return FalProvider(key.value or "", self.settings)
        raise InputError("model", f"unknown provider {spec.provider!r} for {spec.id}")

    def reload_keys(self) -> None:
        """After a key was set or deleted: scrub the new values, rebuild providers on next use."""
        self._secrets = known_secrets(self.env)
        for name in [n for n in self._providers if n != "preview"]:
            self._providers.pop(name)

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()
        self._providers.clear()

    # --- planning -----------------------------------------------------------------

    async def plan(self, req: Request) -> Plan:
        from .planner.base import get_planner

        spec = self.catalog.get(req.model)
        kwargs: dict[str, Any] = {}
        if req.planner == "openai":
            kwargs = {"settings": self.settings, "env": self.env}
        planner = get_planner(req.planner, **kwargs)
        plan = fit_plan(await planner.plan(req, spec), self.catalog)
        plan.seams = req.seams or self.default_seam_settings()
        plan.seams.validate()
        return plan

    def default_seam_settings(self) -> SeamSettings:
        s = self.settings
        return SeamSettings(
            seams=s.seams,
            crossfade_ms=float(s.seam_crossfade_ms),
            colour_anchor=bool(s.colour_anchor),
            colour_reference=s.colour_reference or None,
        )

    def estimate(self, plan: Plan) -> float:
        from .finish.tts import estimate_plan_speech

        # video (and keyframes) plus the narration's speech with the configured TTS provider
        return round(estimate_cost(plan, self.catalog) + estimate_plan_speech(plan, self.settings), 4)

    def load_plan_file(self, path: str | Path) -> Plan:
        p = Path(path).expanduser()
        try:
            data = json.loads(p.read_text("utf-8"))
        except FileNotFoundError:
            raise InputError("plan", f"{p} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError("plan", f"cannot read {p}: {exc}") from None
        except json.JSONDecodeError as exc:
            raise InputError("plan", f"{p} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
        plan = Plan.from_dict(data)
        validate_plan(plan, self.catalog)
        return plan

    def save_plan_file(self, plan: Plan, path: str | Path) -> Path:
        p = Path(path).expanduser()
        if not p.parent.is_dir():
            raise InputError("output", f"folder {p.parent} does not exist")
        write_json_atomic(p, plan.to_dict())
        return p

    # --- jobs ---------------------------------------------------------------------

    def create_job(self, plan: Plan, status: JobStatus = JobStatus.QUEUED) -> Job:
        validate_plan(plan, self.catalog)
        job_id = new_job_id()
        folder = self.paths.jobs_dir / job_id
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / "plan.json", plan.to_dict())
        job = Job(
            id=job_id,
            prompt=plan.prompt,
            model=plan.model,
            mode=plan.mode,
            status=status,
            plan=plan,
            estimated_cost_usd=self.estimate(plan),
            folder=str(folder),
        )
        self.store.create_job(job, self._segments_for(job_id, plan))
        self._reset_keyframes(job_id, plan)
        self.store.log(job_id, f"job created: {len(plan.segments)} segments × {plan.model}, {plan.total_seconds} s")
        return job

    def _segments_for(self, job_id: str, plan: Plan, start: int = 1) -> list[Segment]:
        return [
            Segment(job_id=job_id, index=i, prompt=s.prompt, seconds=s.seconds, title=s.title)
            for i, s in enumerate(plan.segments, 1)
            if i >= start
        ]

    def _reset_keyframes(self, job_id: str, plan: Plan) -> None:
        """(Re)create the keyframe rows of a keyframe-mode job; done images whose prompt is unchanged stay."""
        if plan.mode is not Mode.KEYFRAMES:
            return
        old = {k.index: k for k in self.store.keyframes(job_id)}
        for k, prompt in enumerate(plan.keyframe_prompts()):
            prev = old.get(k)
            if prev is not None and prev.prompt == prompt and prev.status == "done":
                continue
            self.store.upsert_keyframe(Keyframe(job_id, k, prompt))

    def update_plan(self, job_id: str, plan: Plan) -> Job:
        """Replace the plan of a job that has not rendered anything yet (draft / review)."""
        job = self._job(job_id)
        validate_plan(plan, self.catalog)
        write_json_atomic(job.job_dir / "plan.json", plan.to_dict())
        self.store.update_job(
            job_id,
            plan=plan,
            prompt=plan.prompt,
            model=plan.model,
            mode=plan.mode,
            estimated_cost_usd=self.estimate(plan),
        )
        self.store.replace_segments(job_id, self._segments_for(job_id, plan))
        self._reset_keyframes(job_id, plan)
        return self._job(job_id)

    def _job(self, job_id: str) -> Job:
        job = self.store.find_job(job_id)
        if job is None:
            raise InputError("job", f"no job {job_id!r} in the history; see `sora-tui history`")
        return job

    def find_job(self, ref: str) -> Job:
        return self._job(ref)

    def delete_job(self, job_id: str, remove_files: bool = True) -> None:
        job = self._job(job_id)
        if job.id in self.controls:
            raise InputError("job", f"{job.id} is running; cancel it first")
        self.store.delete_job(job.id)
        if remove_files and job.folder and Path(job.folder).is_dir():
            shutil.rmtree(job.folder, ignore_errors=True)

    def _redo_plan(self, job: Job, from_index: int, only: bool) -> tuple[Plan, list[int]]:
        """The plan a redo renders (re-read from plan.json, which the user may have edited) and its segments."""
        plan = job.plan
        plan_file = job.job_dir / "plan.json"
        if plan_file.exists():
            plan = self.load_plan_file(plan_file)
        assert plan is not None
        n = len(plan.segments)
        if not (1 <= from_index <= n):
            raise InputError("from", f"segment {from_index} does not exist in job {job.id}", [f"1-{n}"])
        old = self.store.segments(job.id)
        not_done = [s.index for s in old if s.index < from_index and s.status is not SegmentStatus.DONE]
        if only:
            if len(old) != n:
                raise InputError("only", f"the plan now has {n} segments, the job {len(old)}; redo from {from_index}")
            not_done += [s.index for s in old if s.index > from_index and s.status is not SegmentStatus.DONE]
        if not_done:
            raise InputError(
                "from", f"segments {', '.join(map(str, not_done))} are not done; redo from {min(not_done)}"
            )
        return plan, [from_index] if only else list(range(from_index, n + 1))

    def redo_cost(self, job_id: str, from_index: int, only: bool = False) -> tuple[float, list[int]]:
        """What re-rendering costs (before anything is paid) and which segments it renders."""
        job = self._job(job_id)
        plan, indexes = self._redo_plan(job, from_index, only)
        spec = self.catalog.get(plan.model)
        audio = spec.has_audio(plan.audio)
        cost = sum(spec.segment_cost(plan.segments[i - 1].seconds, plan.resolution, audio) for i in indexes)
        return round(cost, 4), indexes

    def prepare_redo(self, job_id: str, from_index: int, only: bool = False) -> Job:
        """Reset segments K..N (or K alone) for a new render, each with a fresh seed."""
        job = self._job(job_id)
        if job.id in self.controls:
            raise InputError("job", f"{job.id} is running; cancel it first")
        plan, indexes = self._redo_plan(job, from_index, only)
        old = {s.index: s for s in self.store.segments(job.id)}
        fresh = {s.index: s for s in self._segments_for(job.id, plan) if s.index in indexes}
        for seg in fresh.values():
            # a deterministic model given the same seed returns the same clip: draw a new one
            seg.seed = random.randrange(1, 2**31)
        rows = [fresh.get(i) or old[i] for i in range(1, len(plan.segments) + 1)]
        self.store.replace_segments(job.id, rows)
        self.store.update_job(
            job.id,
            plan=plan,
            status=JobStatus.QUEUED,
            error=None,
            output=None,
            duration_s=None,
            estimated_cost_usd=self.estimate(plan),
        )
        if only:
            note = f"redo segment {from_index} alone: it renders again with a fresh seed; the others are kept"
        else:
            note = f"redo from segment {from_index}: segments {from_index}..{len(plan.segments)} render again with fresh seeds"
        self.store.log(job.id, note)
        return self._job(job.id)

    def check_reference_image(self, path: str | Path) -> str:
        """A colour reference must be a picture that can be read; returns its absolute path."""
        from . import media

        p = Path(path).expanduser()
        try:
            media.read_image(p)
        except media.MediaError as exc:
            raise InputError("colour_reference", f"{p}: {exc}; give a PNG or JPEG picture") from None
        return str(p.resolve())

    # --- running ------------------------------------------------------------------

    def cancel(self, job_id: str) -> bool:
        control = self.controls.get(job_id)
        if control is None:
            return False
        control.cancel()
        return True

    async def run(
        self,
        job_id: str,
        on_event: EventSink | None = None,
        *,
        output: str | Path | None = None,
        max_cost: float | None = None,
        review_keyframes: bool = False,
    ) -> Job:
        """Render (or resume) a job to the end. Returns the final Job; never raises for job failures.

        With ``review_keyframes`` a keyframe-mode job stops in ``awaiting_review`` once its
        keyframes exist, before any video is paid for; running it again renders the videos.
        """
        job = self._job(job_id)
        if job.id in self.controls:
            raise InputError("job", f"{job.id} is already running")
        if job.status is JobStatus.COMPLETED and job.output and Path(job.output).exists():
            return job
        out_path = check_output_path(output) if output else None
        runner = _JobRun(self, job, on_event, out_path, max_cost, review_keyframes)
        self.controls[job.id] = runner.control
        try:
            return await runner.run()
        finally:
            self.controls.pop(job.id, None)

    def keyframe_path(self, job: Job, index: int) -> Path:
        return job.job_dir / f"kf_{index:02d}.png"

    def replace_keyframe(self, job_id: str, index: int, image: str | Path) -> Path:
        """Use the user's own image as keyframe ``index`` (fitted to the video size)."""
        job = self._keyframe_job(job_id, index)
        src = Path(image).expanduser()
        if not src.is_file():
            raise InputError("image", f"{src} is not a readable file")
        assert job.plan is not None
        w, h = frame_size(job.plan.resolution, job.plan.aspect)
        dest = self.keyframe_path(job, index)
        fit_image(src, dest, w, h)
        old = next(k for k in self.store.keyframes(job.id) if k.index == index)
        # what was spent generating the replaced image stays spent
        self.store.upsert_keyframe(
            Keyframe(job.id, index, old.prompt, "done", str(dest), source="user", cost_usd=old.cost_usd)
        )
        self.store.log(job.id, f"keyframe {index} replaced by {src.name}")
        return dest

    async def regenerate_keyframe(
        self, job_id: str, index: int, prompt: str | None = None, on_event: EventSink | None = None
    ) -> Path:
        """Make keyframe ``index`` again (optionally with a new description)."""
        job = self._keyframe_job(job_id, index)
        kf = next(k for k in self.store.keyframes(job.id) if k.index == index)
        self.store.upsert_keyframe(Keyframe(job.id, index, prompt or kf.prompt, "pending", None, cost_usd=kf.cost_usd))
        runner = _JobRun(self, job, on_event, None, None, False)
        try:
            return await runner.make_keyframe(index, force=True)
        except JobFailed as exc:
            raise InputError(f"keyframe {index}", str(exc)) from None

    def _keyframe_job(self, job_id: str, index: int) -> Job:
        job = self._job(job_id)
        if job.mode is not Mode.KEYFRAMES or job.plan is None:
            raise InputError("job", f"{job.id} is not a keyframe-mode job")
        n = len(job.plan.segments)
        if not (0 <= index <= n):
            raise InputError("keyframe", f"keyframe {index} does not exist", [f"0-{n}"])
        if job.id in self.controls:
            raise InputError("job", f"{job.id} is running; cancel it first")
        if not self.store.keyframes(job.id):
            self._reset_keyframes(job.id, job.plan)
        return job

    def log(self, job_id: str, message: str, level: str = "info", index: int | None = None) -> str:
        message = redact(message, self._secrets)
        self.store.log(job_id, message, level, index)
        return message


class _JobRun:
    """One execution of a job (fresh, resumed or redone)."""

    def __init__(
        self,
        engine: Engine,
        job: Job,
        on_event: EventSink | None,
        output: Path | None,
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
        self.output = output
        self.max_cost = max_cost
        self.review_keyframes = review_keyframes
        self.control = RunControl()
        self.width, self.height = frame_size(self.plan.resolution, self.plan.aspect)
        self.audio = self.spec.has_audio(self.plan.audio)

    # --- events -------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # a broken listener must not kill a paid render
                pass

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
        videos = sum(s.cost_usd for s in self.store.segments(self.job.id))
        images = sum(k.cost_usd for k in self.store.keyframes(self.job.id))
        speech = self.store.finishing_cost(self.job.id)  # narration made by the finishing stage
        return round(videos + images + speech, 4)

    def emit_cost(self) -> None:
        spent = self.spent()
        self.store.update_job(self.job.id, cost_usd=spent)
        self.emit(CostUpdate(self.job.id, spent, self.job.estimated_cost_usd))

    # --- main ---------------------------------------------------------------------

    async def run(self) -> Job:
        job_id = self.job.id
        # cv2 and numpy load in a worker while the first segment renders, not on the hand-off
        asyncio.get_running_loop().run_in_executor(None, _import_media_libs)
        try:
            self.check_budget()
            await self.verify_done_segments()
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
                    return self.engine._job(job_id)
                await self.run_parallel(lambda seg: (frames[seg.index - 1], frames[seg.index]))
            else:
                start = Path(self.plan.start_image) if self.plan.start_image else None
                await self.run_parallel(lambda seg: (start if seg.index == 1 else None, None))
            await self.join()
        except JobCancelled:
            await self.cancel_in_flight()
            self.set_job_status(JobStatus.CANCELLED, "cancelled")
            self.log("job cancelled; `sora-tui resume " + job_id + "` continues it", "warning")
        except (JobFailed, ProviderError) as exc:
            # Keep accepted requests stored (not cancelled): they are paid for, and a resume
            # re-attaches to them instead of submitting again.
            self.control.in_flight.clear()
            message = redact(str(exc), self.engine._secrets)
            self.set_job_status(JobStatus.FAILED, message, error=message)
            self.log(message, "error")
            if isinstance(exc, DiskFull):  # the user must act (free space): bad input, exit 2
                raise InputError("disk", message) from None
        except asyncio.CancelledError:
            # the task itself was cancelled (app quit, Ctrl-C): leave the job resumable
            self.store.update_job(job_id, status=JobStatus.CANCELLED, error="interrupted")
            raise
        finally:
            self.emit_cost()
        return self.engine._job(job_id)

    def check_budget(self) -> None:
        if self.max_cost is None:
            return
        remaining = sum(
            plan_segment_cost(self.plan, self.spec, s.index, s.seconds)
            for s in self.store.segments(self.job.id)
            if s.status is not SegmentStatus.DONE and not s.request_id
        )
        if self.plan.mode is Mode.KEYFRAMES:
            done = sum(1 for k in self.store.keyframes(self.job.id) if k.status == "done")
            missing = max(0, keyframe_count(self.plan) - done)
            remaining += missing * self.engine.catalog.image_model_for(self.spec).price_per_image
        total = self.spent() + remaining
        if total > self.max_cost + 1e-9:
            raise InputError(
                "max_cost",
                f"this job would cost ${total:.2f}, over the cap of ${self.max_cost:.2f}; "
                "raise --max-cost, use fewer or shorter segments, or a cheaper model",
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
                    f"file {path} is missing or corrupt ({exc}); "
                    f"run `sora-tui redo {self.job.id} --from {seg.index}` to render it again",
                ) from None

    def check_cancel(self) -> None:
        if self.control.cancelled:
            raise JobCancelled()

    async def run_chain(self) -> None:
        start = Path(self.plan.start_image) if self.plan.start_image else None
        segments = self.store.segments(self.job.id)
        for pos, seg in enumerate(segments):
            self.check_cancel()
            if seg.status is SegmentStatus.DONE:
                self.emit(SegmentStatusChanged(self.job.id, seg.index, SegmentStatus.DONE, "already rendered"))
                start = self.handoff_for(seg)
                continue
            end = None
            nxt = segments[pos + 1] if pos + 1 < len(segments) else None
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
            seg = await self.render_segment(seg, start, end)
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
        if seg.index == 1 or self.plan.mode is Mode.PARALLEL:
            start = Path(self.plan.start_image) if (seg.index == 1 and self.plan.start_image) else None
        else:
            start = self.handoff_for(segments[seg.index - 2])
        if start is None or not self.spec.supports(Kind.I2V):
            return None
        return start

    def seam_options(self) -> Any:
        from . import seams

        s = self.plan.seams
        return seams.SeamOptions(
            enabled=s.seams == "auto",
            crossfade_ms=float(s.crossfade_ms),
            colour=s.colour_anchor,
            reference_image=s.colour_reference,
        )

    async def prepare_handoff(self, index: int, video: Path, last_png: Path, analysis: Any) -> None:
        """Fade guard and colour anchoring for the frame the next chained segment starts from."""
        from . import colour, media, seams

        handoff = self.handoff_path(index)
        opts = self.seam_options()
        if self.plan.mode is not Mode.CHAIN or index == len(self.plan.segments) or not opts.enabled:
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
            anchor = await asyncio.to_thread(self.anchor_stats, analysis)
            grade, de = seams.handoff_grade(analysis, anchor)
            if not grade.identity:
                m = analysis.matrix_obj

                def correct() -> float:
                    rgb = grade.apply_rgb(media.read_image(src), m)
                    media.write_png(rgb, handoff)
                    return colour.graded_stats(analysis.last_small, grade, m).delta_e(anchor)

                after = await asyncio.to_thread(correct)
                changed = True
                self.log(
                    f"segment {index}: colour drifted {de:.1f} ΔE from the anchor; the hand-off frame is "
                    f"corrected to {after:.1f} ΔE before it conditions segment {index + 1}",
                    index=index,
                )
        if not changed:
            handoff.unlink(missing_ok=True)

    def anchor_stats(self, like: Any) -> Any:
        """The colour the chain is held to: the reference picture, else segment 1's first shown frame."""
        from . import seams

        opts = self.seam_options()
        if opts.reference_image:
            return seams.reference_stats(Path(opts.reference_image), like)
        first = self.store.segment(self.job.id, 1)
        if first.status is not SegmentStatus.DONE or not first.file:
            return like.first_stats if Path(like.path).name == seg_name(1) else None
        if Path(first.file) == Path(like.path):
            return like.first_stats
        return seams.analyze_segment(first.file, self.sent_image(first, self.store.segments(self.job.id))).first_stats

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
                await self.render_segment(seg, start, end)

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
            self.engine._reset_keyframes(self.job.id, self.plan)
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
        if self.max_cost is not None and self.spent() + price > self.max_cost + 1e-9:
            raise JobFailed(f"budget cap reached before keyframe {index}; resume with a higher --max-cost")
        req = ImageRequest(
            endpoint=image_model.edit if source is not None else image_model.t2i,
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
        await self.retry(lambda: provider.generate_image(req, dest), 0, f"keyframe {index}", segment=False)
        await asyncio.to_thread(fit_image, dest, dest, self.width, self.height)
        self.store.upsert_keyframe(
            Keyframe(
                self.job.id, index, kf.prompt, "done", str(dest), "generated", cost_usd=round(kf.cost_usd + price, 4)
            )
        )
        self.emit(KeyframeReady(self.job.id, index, str(dest)))
        self.emit_cost()
        return dest

    # --- one segment ----------------------------------------------------------------

    def render_request(
        self, seg: Segment, start: Path | None, end: Path | None = None, source: Path | None = None
    ) -> RenderRequest:
        if source is not None:  # extend mode: continue the video before
            kind = Kind.EXTEND
        elif start is not None and end is not None:
            kind = Kind.FLF2V
        elif start is not None and self.spec.supports(Kind.I2V):
            kind = Kind.I2V
        else:
            kind = Kind.T2V
            start = None
        return RenderRequest(
            model=self.spec,
            kind=kind,
            prompt=seg.prompt,
            seconds=seg.seconds,
            resolution=self.plan.resolution,
            aspect=self.plan.aspect,
            audio=self.audio,
            width=self.width,
            height=self.height,
            fps=self.spec.fps,
            start_image=start,
            end_image=end,
            source_video=source,
            seed=seg.seed if seg.seed is not None else seg.index,
            label=f"segment {seg.index} of {len(self.plan.segments)}",
        )

    async def render_segment(
        self, seg: Segment, start: Path | None, end: Path | None = None, source: Path | None = None
    ) -> Segment:
        provider = self.engine.provider(self.spec)
        idx = seg.index
        req = self.render_request(seg, start, end, source)
        if seg.started_at is None:
            self.set_segment(idx, started_at=time.time())
        sub: Submission | None = None
        if seg.request_id:
            sub = Submission(seg.request_id, seg.endpoint or "", seg.status_url, seg.response_url, seg.cancel_url)
            self.log(f"re-attaching to request {seg.request_id}", index=idx)
        while True:
            self.check_cancel()
            if sub is None:
                sub = await self.submit(provider, seg, req)
            self.control.in_flight[idx] = sub
            try:
                await self.wait(provider, sub, idx)
                break
            except RequestNotFound:
                cost = plan_segment_cost(self.plan, self.spec, seg.index, seg.seconds)
                self.log(
                    f"the provider no longer knows request {sub.request_id}; submitting again (cost ${cost:.2f})",
                    "warning",
                    idx,
                )
                self.set_segment(idx, **FORGET_REQUEST)
                sub = None
        result = await self.retry(lambda: provider.result(sub), idx, "fetching the result")
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
        self.set_segment(idx, SegmentStatus.DOWNLOADED, file=str(dest))
        sent = req.start_image
        if source is not None:
            dest = await self.keep_extension(seg, dest, source)
            # an extension may begin on the source's last picture: the seam work checks for it
            sent = self.dir / seg_name(idx - 1, "_last.png")
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

    async def submit(self, provider: Provider, seg: Segment, req: RenderRequest) -> Submission:
        idx = seg.index
        cost = plan_segment_cost(self.plan, self.spec, seg.index, seg.seconds)
        if self.max_cost is not None and self.spent() + cost > self.max_cost + 1e-9:
            raise JobFailed(
                f"budget cap reached: ${self.spent():.2f} spent, segment {idx} would cost ${cost:.2f} "
                f"over the cap of ${self.max_cost:.2f}; resume with a higher --max-cost"
            )
        self.set_segment(idx, SegmentStatus.WAITING, "submitting")
        sub = await self.retry(lambda: provider.submit(req), idx, "submitting")
        # Committed before we wait on it: a restart re-attaches instead of paying again.
        current = self.store.segment(self.job.id, idx)
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
        self.log(f"segment {idx} submitted as {req.kind} to {sub.endpoint} (request {sub.request_id})", index=idx)
        self.emit_cost()
        return sub

    async def wait(self, provider: Provider, sub: Submission, idx: int) -> None:
        seen_logs = 0
        state = ""
        sent: tuple[Any, ...] | None = None  # the last SegmentProgress sent: (stage, queue, message)
        sent_fraction: float | None = None
        sent_at = 0.0
        while True:
            self.check_cancel()
            st = await self.retry(lambda: provider.status(sub), idx, "checking status")
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
            msg = f"queue position {st.queue_position}" if st.queue_position is not None else ""
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
        return min(self.settings.poll_interval, 0.05) if provider.name == "preview" else self.settings.poll_interval

    async def retry(self, call: Callable[[], Awaitable[T]], idx: int, what: str, segment: bool = True) -> T:
        """Run a provider call, retrying transient errors with exponential backoff and jitter.

        ``idx`` is the segment the call is for; with ``segment=False`` (keyframes) no segment row changes.
        """
        attempt = 0
        while True:
            self.check_cancel()
            try:
                return await call()
            except ContentPolicyError as exc:
                if not segment:
                    raise JobFailed(
                        f"{what} was refused by the image model's content policy: {exc}. Edit its description "
                        f"(plan screen or {self.dir / 'plan.json'}) and regenerate it"
                    ) from None
                prompt = self.store.segment(self.job.id, idx).prompt
                excerpt = prompt[:80] + ("…" if len(prompt) > 80 else "")
                self.set_segment(idx, SegmentStatus.FAILED, "content policy", error=str(exc), **FORGET_REQUEST)
                raise JobFailed(
                    f"segment {idx} was refused by {self.spec.name}'s content policy: {exc}. "
                    f'Prompt: "{excerpt}". Edit segment {idx} (in the plan screen, or in {self.dir / "plan.json"}) '
                    f"and run `sora-tui redo {self.job.id} --from {idx}`"
                ) from None
            except AuthError as exc:
                if segment:
                    self.set_segment(idx, SegmentStatus.FAILED, "key rejected", error=str(exc))
                raise JobFailed(
                    f"the fal key was rejected ({exc}); set a valid key with `sora-tui keys set fal` or export FAL_KEY, "
                    f"then `sora-tui resume {self.job.id}`"
                ) from None
            except ModelUnavailable as exc:
                current = [m.id for m in self.engine.catalog if m.provider == self.spec.provider and not m.retired]
                if segment:
                    self.set_segment(idx, SegmentStatus.FAILED, "model unavailable", error=str(exc))
                raise JobFailed(
                    f"{self.spec.id} is not available on {self.spec.provider} ({exc}); it may be retired. "
                    f"Current models: {', '.join(current)}"
                ) from None
            except RequestNotFound:
                raise
            except ProviderError as exc:
                label = f"segment {idx}" if segment else what
                if not exc.retryable:
                    if segment:
                        # the request ended in an error (no video, failed render): a resume must not
                        # re-attach to it forever, so forget it; resuming submits again (logged with its cost)
                        self.set_segment(idx, SegmentStatus.FAILED, str(exc), error=str(exc), **FORGET_REQUEST)
                    raise JobFailed(f"{label}: {exc}; `sora-tui resume {self.job.id}` submits it again") from None
                attempt += 1
                if segment:
                    self.store.increment_segment(self.job.id, idx, "attempts")
                if attempt > self.settings.max_retries:
                    if segment:
                        self.set_segment(idx, SegmentStatus.FAILED, str(exc), error=str(exc))
                    raise JobFailed(
                        f"{label}: {what} failed {attempt} times ({exc}); "
                        f"the job is saved, run `sora-tui resume {self.job.id}` to continue"
                    ) from None
                delay = min(self.settings.retry_max_delay, self.settings.retry_base_delay * 2 ** (attempt - 1))
                delay *= 0.5 + random.random() / 2
                self.log(
                    f"{what} failed ({exc}); retry {attempt}/{self.settings.max_retries} in {delay:.1f} s",
                    "warning",
                    idx if segment else None,
                )
                try:
                    await asyncio.wait_for(self.control.cancel_event.wait(), timeout=delay)
                except TimeoutError:
                    pass

    async def cancel_in_flight(self) -> None:
        provider = self.engine._providers.get(self.spec.provider)
        for idx, sub in list(self.control.in_flight.items()):
            if provider is not None:
                try:
                    await provider.cancel(sub)
                    self.log(f"cancelled request {sub.request_id}", "warning", idx)
                except Exception as exc:
                    self.log(f"could not cancel request {sub.request_id}: {exc}", "warning", idx)
            seg = self.store.segment(self.job.id, idx)
            if seg.status is not SegmentStatus.DONE:
                self.set_segment(idx, SegmentStatus.PENDING, "cancelled", **FORGET_REQUEST)
        self.control.in_flight.clear()

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
            outcome = await asyncio.to_thread(joiner.join_segments, inputs, final, opts, progress)
        except media.MediaError as exc:
            message = f"join failed: {exc} The segments are kept; `sora-tui resume {self.job.id}` joins again"
            if "No space left" in str(exc):
                raise DiskFull(message) from None
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


def _import_media_libs() -> None:
    try:
        import cv2  # noqa: F401
    except ImportError:  # pragma: no cover - declared dependency; media reports it where used
        pass


def fit_image(src: Path, dest: Path, width: int, height: int) -> Path:
    """Scale and centre-crop an image to exactly width×height, written as PNG (atomically)."""
    import cv2
    import numpy as np

    data = np.fromfile(str(src), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise InputError("image", f"{src} is not an image that can be read (PNG or JPEG)")
    h, w = img.shape[:2]
    if (w, h) != (width, height):
        scale = max(width / w, height / h)
        nw, nh = max(width, round(w * scale)), max(height, round(h * scale))
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        x, y = (nw - width) // 2, (nh - height) // 2
        img = img[y : y + height, x : x + width]
    elif src.suffix.lower() == ".png" and Path(src) == Path(dest):
        return dest
    ok, buf = cv2.imencode(".png", img)
    if not ok:  # pragma: no cover
        raise InputError("image", f"cannot encode {dest.name}")
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.write_bytes(buf.tobytes())
    os.replace(tmp, dest)
    return dest


async def _gather_first_error(tasks: list[asyncio.Task]) -> None:
    """Wait for all tasks; on the first failure cancel the rest and raise it."""
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    for t in done:
        if not t.cancelled() and t.exception() is not None:
            for p in pending:
                p.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            raise t.exception()  # type: ignore[misc]
