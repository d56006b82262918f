"""The engine: the one entry point shared by the CLI and the TUI.

It resolves requests against the catalog, plans, creates jobs in the store and runs them
(each run is a ``run.JobRun``). A run is resumable at any point: every provider request id is
committed to SQLite before the run waits on it, finished segments are never rendered again, and
a restarted process re-attaches to stored requests. One process runs a job at a time: ``run``
holds the job's lease (``runner.Lease``) and writes every event to its event log, so any other
process can follow it; a second run refuses and names the holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import scheduler
from .catalog import (
    Catalog,
    ImageModelSpec,
    ModelSpec,
    fit_plan,
    frame_size,
    load_catalog,
    resolve_request,
    validate_plan,
)
from .costs import estimate_cost, job_spent, plan_segment_cost, quote
from .errors import Code, JobFailed
from .jobfiles import default_output, fit_image, owned_job_folder, write_json_atomic
from .keys import KeyCache, redact
from .models import (
    CastMember,
    Event,
    InputError,
    Job,
    JobStatus,
    Mode,
    Plan,
    Request,
    SeamSettings,
    Segment,
    SegmentPlan,
    SegmentStatus,
)
from .planner.registry import planner_for
from .plans import keep_lengths, request_for
from .providers.base import Provider
from .run import EventSink, JobRun, RunControl
from .runner import CancelQuote, EventLog, InFlight, Lease, holder, refusal, this_host, watch_stop
from .settings import Paths, Settings, get_paths, load_settings
from .store import Keyframe, Store, new_job_id


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
        from .cast import library_for

        self.cast_library = library_for(self.paths.data_dir)
        self._provider_factory = provider_factory
        self._providers: dict[str, Provider] = {}
        self.controls: dict[str, RunControl] = {}
        self.keys = KeyCache(self.env)  # read once; set/delete through it (or reload_keys) read again
        self._secrets = self.keys.secrets()

    # --- set-up -------------------------------------------------------------------

    def has_key(self, name: str) -> bool:
        return self.keys.get(name).present

    def default_model(self) -> str:
        if self.settings.default_model and self.settings.default_model in self.catalog.models:
            return self.settings.default_model
        return self.catalog.default_model(self.has_key("fal"))

    def resolve(self, req: Request, check_files: bool = True) -> Request:
        resolved = resolve_request(req, self.catalog, check_files)
        resolved.narration = req.narration  # the finishing stage's request field (not the catalog's)
        resolved.cast, resolved.takes = list(req.cast), req.takes  # the shots' fields (checked by the plan)
        return resolved

    def check_render_key(self, model: str, quick: bool = False) -> None:
        """Rendering ``model`` needs its service's key (planning and estimates do not); a local model
        needs the extra, a whole folder and a device (``quick``: not the device, which imports torch)."""
        spec = self.catalog.get(model)
        if spec.provider == "fal" and self._provider_factory is None and not self.has_key("fal"):
            raise InputError(
                "model",
                f"{spec.id} renders on fal.ai and no fal key is set",
                code=Code.RENDER_KEY,
                context={"model": spec.id, "key": "fal", "env_var": "FAL_KEY"},
            )
        if spec.provider == "local" and self._provider_factory is None:
            # no key: the extra, a whole model folder and the device (imports torch: a local model is used);
            # ``quick`` for the studio's form, which checks as the user types; the run's pre-flight checks all
            from .providers.local import check_local_model

            check_local_model(spec, self.paths, self.settings, device=not quick)

    def provider(self, spec: ModelSpec) -> Provider:
        if spec.provider not in self._providers:
            self._providers[spec.provider] = self._make_provider(spec)
        return self._providers[spec.provider]

    def image_provider(self, spec: ImageModelSpec) -> Provider:
        """The provider that runs image model ``spec`` (a fal model needs the fal key: InputError)."""
        if spec.provider == "fal" and self._provider_factory is None and not self.has_key("fal"):
            raise InputError(
                "model",
                f"{spec.id} makes pictures on fal.ai and no fal key is set",
                code=Code.RENDER_KEY,
                context={"model": spec.id, "key": "fal", "env_var": "FAL_KEY"},
            )
        video = next((m for m in self.catalog if m.provider == spec.provider), None)
        if video is None:
            raise InputError("model", f"no provider for {spec.id}")
        return self.provider(video)

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
            key = self.keys.get("fal")
            if not key.present:
                self.check_render_key(spec.id)
            from .providers.fal import FalProvider

            return FalProvider(key.value or "", self.settings)
        if spec.provider == "local":
            from .providers.local import LocalProvider

            local = LocalProvider(self.paths, self.settings)
            local.device  # noqa: B018 - refuses here (before a job starts) where the device cannot run it
            return local
        raise InputError("model", f"unknown provider {spec.provider!r} for {spec.id}")

    def reload_keys(self, reread: bool = True) -> None:
        """After a key was set or deleted: scrub the new values, rebuild providers on next use.
        ``reread=False``: the change went through ``self.keys`` (which read it again already)."""
        if reread:
            self.keys.forget()
        self._secrets = self.keys.secrets()
        for name in [n for n in self._providers if n != "preview"]:
            self._providers.pop(name)

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()
        self._providers.clear()

    # --- planning -----------------------------------------------------------------

    async def plan(self, req: Request) -> Plan:
        spec = self.catalog.get(req.model)
        planner = planner_for(req.planner, self.settings, self.env)
        plan = fit_plan(await planner.plan(req, spec), self.catalog)
        if req.cast and not plan.cast:
            plan.cast = [copy.deepcopy(c) for c in req.cast]
        if req.takes > 1:
            for seg in plan.segments:
                seg.takes = max(seg.takes, req.takes)
        plan.seams = req.seams or self.default_seam_settings()
        plan.seams.validate()
        plan.max_cost = req.max_cost
        return plan

    async def replan_segment(self, plan: Plan, index: int) -> SegmentPlan:
        """A new version of segment ``index`` (1-based) from the planner the plan names."""
        planner = planner_for(plan.planner, self.settings, self.env)
        return await planner.replan_segment(plan, index, self.catalog.get(plan.model))

    async def replan(self, plan: Plan) -> Plan:
        """Every segment planned again; the lengths, cap and seams the user chose stay."""
        return keep_lengths(await self.plan(request_for(plan)), plan)

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

    def load_plan_file(self, path: str | Path, job_dir: Path | None = None) -> Plan:
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
        self.check_plan(plan, job_dir)
        return plan

    def check_plan(self, plan: Plan, job_dir: Path | None = None) -> list[CastMember]:
        """Everything about a plan that can be checked before anything is uploaded: its model
        and values, its cast (library names, pictures) and every shot's route for its cast.

        With ``job_dir`` the members come from the job's own snapshot where it has one (a
        redo or resume never depends on the library), else from the library."""
        from .cast import job_cast, resolve_cast
        from .shots import shot_routes

        validate_plan(plan, self.catalog)
        kept = {m.name.lower(): m for m in job_cast(job_dir)} if job_dir is not None else {}
        if kept and all(c.name.lower() in kept for c in plan.cast):
            members = [kept[c.name.lower()] for c in plan.cast]
        else:
            members = resolve_cast(plan, self.cast_library)
        shot_routes(plan, self.catalog, {m.name: len(m.images) for m in members})
        return members

    def cast_members(self, names: list[str]) -> list[CastMember]:
        """Library members by name (``generate --cast``), as plan entries; InputError for an unknown one."""
        out = []
        for name in names:
            found = self.cast_library.get(name, "cast")
            out.append(CastMember(found.name, found.member.kind, found.member.description))
        return out

    def save_plan_file(self, plan: Plan, path: str | Path) -> Path:
        p = Path(path).expanduser()
        if not p.parent.is_dir():
            raise InputError("output", f"folder {p.parent} does not exist")
        write_json_atomic(p, plan.to_dict())
        return p

    # --- jobs ---------------------------------------------------------------------

    def create_job(self, plan: Plan, status: JobStatus = JobStatus.QUEUED, *, job_id: str | None = None) -> Job:
        """A new job for ``plan`` (``job_id``: a fixed id, for demos and tests; else a new one)."""
        members = self.check_plan(plan)
        job_id = job_id or new_job_id()
        folder = self.paths.jobs_dir / job_id
        folder.mkdir(parents=True, exist_ok=True)
        if members:  # the job keeps its own copies: redo and resume never depend on the library
            from .cast import snapshot_cast

            snapshot_cast(members, folder)
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
        self.reset_keyframes(job_id, plan)
        self.store.log(job_id, f"job created: {len(plan.segments)} segments × {plan.model}, {plan.total_seconds} s")
        return job

    def _segments_for(self, job_id: str, plan: Plan, start: int = 1) -> list[Segment]:
        return [
            Segment(job_id=job_id, index=i, prompt=s.video_prompt(), seconds=s.seconds, title=s.title)
            for i, s in enumerate(plan.segments, 1)
            if i >= start
        ]

    def reset_keyframes(self, job_id: str, plan: Plan) -> None:
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
        members = self.check_plan(plan, job.job_dir)
        if members:
            from .cast import snapshot_cast

            snapshot_cast(members, job.job_dir)
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
        self.reset_keyframes(job_id, plan)
        return self._job(job_id)

    def _job(self, job_id: str) -> Job:
        job = self.store.find_job(job_id)
        if job is None:
            matches = [j.id for j in self.store.list_jobs(search=job_id) if j.id.startswith(job_id)]
            if len(matches) > 1:
                raise InputError(
                    "job",
                    f"{job_id!r} matches {len(matches)} jobs: {', '.join(matches[:10])}; give more of the id",
                    code=Code.JOB_AMBIGUOUS,
                    context={"ref": job_id, "matches": matches},
                )
            raise InputError(
                "job", f"no job {job_id!r} in the history", code=Code.JOB_NOT_FOUND, context={"ref": job_id}
            )
        return job

    def find_job(self, ref: str) -> Job:
        return self._job(ref)

    def check_idle(self, job: Job) -> None:
        """Raise InputError when a run of ``job`` is going on, here or in any other process."""
        if job.id in self.controls:
            raise InputError("job", f"{job.id} is running; cancel it first")
        who = holder(job.job_dir) if job.folder else None
        if who is not None and not (who.pid == os.getpid() and who.host == this_host()):  # not this runner
            raise refusal(job.id, who)

    def start_queue(self) -> int | None:
        """Start the scheduler of this data folder unless one lives (its pid, or None)."""
        return scheduler.ensure(self.env)

    def delete_job(self, job_id: str, remove_files: bool = True) -> None:
        job = self._job(job_id)
        self.check_idle(job)
        self.store.delete_job(job.id)
        folder = owned_job_folder(job.id, job.folder, self.paths.jobs_dir) if remove_files else None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def _redo_plan(self, job: Job, from_index: int, only: bool) -> tuple[Plan, list[int]]:
        """The plan a redo renders (re-read from plan.json, which the user may have edited) and its segments."""
        plan = job.plan
        plan_file = job.job_dir / "plan.json"
        if plan_file.exists():
            plan = self.load_plan_file(plan_file, job.job_dir)
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
        # each segment at its kind's price, as the run's budget check will charge it (no keyframes:
        # a redo renders videos from the keyframes the job has)
        return quote(plan, self.catalog, indexes, keyframes=False).total, indexes

    def prepare_redo(self, job_id: str, from_index: int, only: bool = False) -> Job:
        """Reset segments K..N (or K alone) for a new render, each with a fresh seed."""
        job = self._job(job_id)
        self.check_idle(job)
        plan, indexes = self._redo_plan(job, from_index, only)
        old = {s.index: s for s in self.store.segments(job.id)}
        fresh = {s.index: s for s in self._segments_for(job.id, plan) if s.index in indexes}
        for seg in fresh.values():
            # a deterministic model given the same seed returns the same clip: draw a new one
            seg.seed = random.randrange(1, 2**31)
        rows = [fresh.get(i) or old[i] for i in range(1, len(plan.segments) + 1)]
        self.store.replace_segments(job.id, rows)
        from .takes import TakeBook

        book = TakeBook(job.job_dir)
        if any(i in book.shots or i in book.kept for i in indexes):  # new takes, with the fresh seeds
            for i in indexes:
                book.forget(i)
            book.save()
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

    # --- takes ----------------------------------------------------------------------

    def shot_takes(self, job_id: str, index: int) -> list[dict[str, Any]]:
        """The takes of shot ``index``: take, file, status, seed, cost_usd, kept (take 1 is the
        segment's own render; a shot rendered once has one take)."""
        from .takes import TakeBook, take_seed

        job = self._job(job_id)
        n = len(job.plan.segments) if job.plan else 0
        if not 1 <= index <= n:
            raise InputError("shot", f"shot {index} does not exist in job {job.id}", [f"1-{n}"])
        book = TakeBook(job.job_dir)
        row = self.store.segment(job.id, index)
        takes = book.takes(index)
        if not takes:
            seed = row.seed if row.seed is not None else index
            takes_rows = [
                {"take": 1, "file": row.file, "status": str(row.status), "seed": take_seed(seed, 1),
                 "cost_usd": row.cost_usd, "kept": True}
            ]  # fmt: skip
            return takes_rows
        kept = book.kept.get(index, 1)
        return [
            {"take": t.take, "file": t.file, "status": t.status, "seed": t.seed, "cost_usd": t.cost_usd,
             "kept": t.take == kept, "score": list(t.score)}
            for t in takes
        ]  # fmt: skip

    def pick_quote(self, job_id: str, index: int, take: int) -> tuple[float, list[int]]:
        """What keeping take ``take`` of shot ``index`` costs: the shots that continue from it
        (to the next cut) render again; none when the next boundary is a cut."""
        job = self._job(job_id)
        assert job.plan is not None
        self._pickable(job, index, take)
        after = next((run for run in job.plan.runs() if index in run), [index])
        redo = [i for i in after if i > index]
        cost = sum(
            plan_segment_cost(job.plan, self.catalog.get(job.plan.model), i, catalog=self.catalog)
            * job.plan.segments[i - 1].takes
            for i in redo
        )
        return round(cost, 4), redo

    def _pickable(self, job: Job, index: int, take: int) -> Any:
        from .takes import TakeBook

        rows = self.shot_takes(job.id, index)
        found = next((t for t in rows if t["take"] == take), None)
        if found is None or found["status"] != "done" or not found["file"] or not Path(found["file"]).is_file():
            allowed = [t["take"] for t in rows if t["status"] == "done"]
            raise InputError("take", f"shot {index} of job {job.id} has no finished take {take}", allowed)
        return TakeBook(job.job_dir)

    async def pick_take(self, job_id: str, index: int, take: int) -> tuple[Job, list[int]]:
        """Keep take ``take`` of shot ``index``: the shot's file becomes that take's, the shots that
        continue from it are reset to render again (fresh seeds), and the job is queued to render
        them and join again (run it with ``run``)."""
        job = self._job(job_id)
        self.check_idle(job)
        assert job.plan is not None
        book = self._pickable(job, index, take)
        _, redo = self.pick_quote(job_id, index, take)
        chosen = book.get(index, take)
        assert chosen is not None and chosen.file
        with Lease(job.job_dir, job.id):
            runner = JobRun(self, job, None, None, None, False)
            row = self.store.segment(job.id, index)
            sent = runner.sent_image(row, self.store.segments(job.id))
            await runner.finish_segment(row, Path(chosen.file), sent)
        book.kept[index] = take
        for i in redo:
            book.forget(i)
        book.save()
        old = {s.index: s for s in self.store.segments(job.id)}
        fresh = {s.index: s for s in self._segments_for(job.id, job.plan) if s.index in redo}
        for seg in fresh.values():
            seg.seed = random.randrange(1, 2**31)
            seg.cost_usd = old[seg.index].cost_usd  # what was paid stays spent
        rows = [fresh.get(i) or old[i] for i in sorted(old)]
        self.store.replace_segments(job.id, rows)
        self.store.update_job(job.id, status=JobStatus.QUEUED, error=None, output=None, duration_s=None)
        again = ""
        if redo:
            again = (
                f"; shot {redo[0]} continues from it and renders again"
                if len(redo) == 1
                else f"; shots {', '.join(map(str, redo))} continue from it and render again"
            )
        self.store.log(job.id, f"kept take {take} of shot {index}{again}")
        return self._job(job.id), redo

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

    def cancel_quote(self, job_id: str) -> CancelQuote:
        """What cancelling ``job_id`` leaves paid: spent so far, and the requests in flight."""
        job = self._job(job_id)
        plan = job.plan
        spec = self.catalog.get(plan.model) if plan is not None else None
        flying = []
        for seg in self.store.segments(job.id):
            if not seg.request_id or seg.status in (SegmentStatus.DONE, SegmentStatus.DOWNLOADED):
                continue
            shots = self.catalog if plan is not None and plan.uses_shots else None
            cost = plan_segment_cost(plan, spec, seg.index, seg.seconds, catalog=shots) if plan and spec else 0.0
            cancelled = seg.cancelled_at is not None
            started = seg.cancelled_while == "running" if cancelled else seg.status is SegmentStatus.RUNNING
            flying.append(InFlight(seg.index, seg.request_id, round(cost, 4), str(seg.status), cancelled, started))
        return CancelQuote(job.id, job_spent(self.store, job.id), job.estimated_cost_usd, flying)

    async def run(
        self,
        job_id: str,
        on_event: EventSink | None = None,
        *,
        output: str | Path | None = None,
        max_cost: float | None = None,
        review_keyframes: bool = False,
        review_takes: bool = False,
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
        if max_cost is None and job.plan is not None:
            max_cost = job.plan.max_cost  # the cap saved with the plan (the studio's budget field)
        if output is None:  # the settings' output folder, in every front end (and the runner)
            output = default_output(self.settings.output_dir, job.id)
        # one run of a job at a time, across processes: a second one refuses with the holder's name
        with Lease(job.job_dir, job.id):
            job = self._job(job_id)  # as the previous holder left it
            if job.status is JobStatus.COMPLETED and job.output and Path(job.output).exists():
                return job
            events = EventLog(job.job_dir)  # any process can follow this run (show --follow, other windows)

            def sink(event: Event) -> None:
                try:
                    if on_event is not None:
                        on_event(event)
                finally:
                    with contextlib.suppress(OSError):  # a full disk must not stop a paid render here
                        events.append(event)

            runner = JobRun(self, job, sink, output, max_cost, review_keyframes)
            runner.review_takes = review_takes
            self.controls[job.id] = runner.control
            watcher = asyncio.create_task(watch_stop(job.job_dir, runner.control))
            try:
                return await runner.run()
            finally:
                watcher.cancel()
                self.controls.pop(job.id, None)
                events.close()

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
        runner = JobRun(self, job, on_event, None, None, False)
        with Lease(job.job_dir, job.id):  # not while a run of the job goes on anywhere
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
        self.check_idle(job)
        if not self.store.keyframes(job.id):
            self.reset_keyframes(job.id, job.plan)
        return job

    def redact(self, text: str) -> str:
        """``text`` with every known key replaced: what goes to logs, history and screens."""
        return redact(text, self._secrets)

    def existing_provider(self, name: str) -> Provider | None:
        """The provider already made for ``name`` (None if this process never used it)."""
        return self._providers.get(name)

    def log(self, job_id: str, message: str, level: str = "info", index: int | None = None) -> str:
        message = self.redact(message)
        self.store.log(job_id, message, level, index)
        return message
