"""The finishing stage of one job: narration → subtitles → music bed and loudness → a new version;
exports and the poster; metadata. Used by ``sora-tui finish|export|meta`` and the Export screen.

Nothing here renders video again. The joined video (``final.mp4``) is kept; each finish writes
``finished_vN.mp4``. Narration that was already spoken with the same voice is reused (never
paid twice); what speech costs is checked against the budget before anything is paid.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..costs import job_spent, over_cap
from ..errors import Code, DiskFull, FileProblem, code_of
from ..media import MediaError, probe
from ..models import Event, FinishProgress, InputError, Job, JobStatus, LogLine, Metadata, Plan, normalise_hashtags
from ..reach import human_size
from ..runner.lease import Lease
from ..services import EngineServices
from ..store import NarrationRecord, OutputRecord
from . import narration as rules
from .export import ExportResult, export, get_preset, poster
from .ffmpeg import Cancelled, has_audio_stream, run
from .mix import MixResult, MixSettings, Placement, finish_audio
from .subtitles import Cue, segment_spans, split_cue, to_srt, to_vtt, write_text_atomic
from .tts import TTSError, TTSProvider, get_tts, prepare_clip

EventSink = Callable[[Event], None]
LEAD_S = 0.25  # narration starts this long after its segment begins (when it fits)
MAX_TEMPO = 1.2  # a line at most this much too long is spoken a little faster, never cut


class FinishError(Exception):
    """The finishing stage failed; nothing the job had is lost (the joined video is kept). It keeps
    the ``code`` and ``context`` of the error that stopped it (``errors.code_of``), for the advice."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.code, self.context = code_of(cause) if cause is not None else (None, {})


@dataclass
class FinishOptions:
    narration: bool = True  # speak the plan's narration lines (when it has any)
    tts: str | None = None  # speech provider; None = the tts_provider setting
    music: Path | None = None
    subtitles: bool = True  # SRT + WebVTT files and a soft mov_text track
    burn_subtitles: bool = False
    loudness: float | None = None  # LUFS; None = the loudness_lufs setting
    max_cost: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (what a runner task is given); ``from_dict`` reads it back."""
        data = asdict(self)
        data["music"] = str(self.music) if self.music is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinishOptions:
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        if values.get("music"):
            values["music"] = Path(values["music"])
        return cls(**values)


@dataclass
class FinishResult:
    job_id: str
    path: Path
    version: int
    duration: float
    cues: list[Cue]
    srt: Path | None
    vtt: Path | None
    voice: str | None
    placeholder_voice: bool
    speech_cost_usd: float
    mix: MixResult
    placements: list[Placement] = field(default_factory=list)


def slug(text: str, fallback: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60].strip("-")
    return s or fallback


class Finisher:
    def __init__(self, engine: EngineServices, on_event: EventSink | None = None) -> None:
        self.engine = engine
        self.store = engine.store
        self.settings = engine.settings
        self.on_event = on_event
        self.cancel_event = threading.Event()

    # --- plumbing ---------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        if self.on_event is not None:
            with contextlib.suppress(Exception):
                self.on_event(event)

    def log(self, job_id: str, message: str, level: str = "info") -> None:
        message = self.engine.log(job_id, message, level)
        self.emit(LogLine(job_id, message, level))

    def progress(self, job_id: str, stage: str) -> Callable[[float, float | None], None]:
        def report(fraction: float, eta: float | None) -> None:
            self.emit(FinishProgress(job_id, stage, fraction, eta))

        return report

    def cancel(self) -> None:
        self.cancel_event.set()

    @contextlib.contextmanager
    def _locked(self, job: Job) -> Iterator[None]:
        """One finishing or export at a time per job, never while a run of the job goes on, across
        processes: the job's lease (a runner of this task already holds it), then the finishing lock
        (``clean`` skips a job that holds it). The OS frees both when the process dies."""
        with Lease(job.job_dir, job.id), self._finish_lock(job):
            yield

    @contextlib.contextmanager
    def _finish_lock(self, job: Job) -> Iterator[None]:
        fh = open(job.job_dir / ".finish.lock", "a+")  # noqa: SIM115
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise InputError("job", f"{job.id} is being finished or exported already; wait for it") from None
            yield
        finally:
            fh.close()

    # --- what a job has ---------------------------------------------------------------------

    def current_plan(self, job: Job) -> Plan:
        """The job's plan with the narration, titles and metadata of its plan.json (the user may edit them)."""
        assert job.plan is not None
        path = job.job_dir / "plan.json"
        if not path.is_file():
            return job.plan
        edited = self.engine.load_plan_file(path)
        if [s.seconds for s in edited.segments] != [s.seconds for s in job.plan.segments]:
            raise InputError(
                "plan",
                f"{path} has other segments than the rendered video; finishing takes narration, titles and "
                "metadata from it (segments change by rendering them again)",
                code=Code.PLAN_SEGMENTS_CHANGED,
                context={"job": job.id, "path": str(path)},
            )
        plan = job.plan
        changed = False
        for mine, theirs in zip(plan.segments, edited.segments, strict=True):
            if (mine.narration, mine.title) != (theirs.narration, theirs.title):
                mine.narration, mine.title, changed = theirs.narration, theirs.title, True
        if edited.metadata != plan.metadata:
            plan.metadata, changed = edited.metadata, True
        if changed:
            self.store.update_job(job.id, plan=plan)
            self.store.log(job.id, "narration, titles or metadata taken from the edited plan.json")
        return plan

    def job(self, ref: str) -> Job:
        job = self.engine.find_job(ref)
        if job.status is not JobStatus.COMPLETED or job.plan is None:
            raise InputError(
                "job",
                f"{job.id} is {job.status}; finish and export work on completed jobs",
                code=Code.JOB_NOT_COMPLETED,
                context={"job": job.id, "status": str(job.status)},
            )
        if self.joined(job) is None:
            raise InputError(
                "job", f"the joined video of {job.id} is missing", code=Code.JOINED_MISSING, context={"job": job.id}
            )
        return job

    def joined(self, job: Job) -> Path | None:
        for candidate in (job.job_dir / "final.mp4", Path(job.output) if job.output else None):
            if candidate is not None and candidate.is_file():
                return candidate
        return None

    def versions(self, job: Job) -> list[OutputRecord]:
        return [o for o in self.store.outputs(job.id) if o.kind == "finish" and Path(o.path).is_file()]

    def latest(self, job: Job) -> Path:
        """The newest finished version, else the joined video."""
        versions = self.versions(job)
        if versions:
            return Path(versions[-1].path)
        joined = self.joined(job)
        assert joined is not None
        return joined

    def spans(self, job: Job, duration: float) -> list[tuple[float, float]]:
        assert job.plan is not None
        files = [Path(s.file or "") for s in self.store.segments(job.id)]
        if (job.job_dir / "seams.json").is_file() or all(f.is_file() for f in files):
            try:
                return segment_spans(job.job_dir, files)
            except MediaError:
                pass
        # segment files cleaned up: planned lengths, scaled to the joined video
        total = sum(s.seconds for s in job.plan.segments) or 1
        t, out = 0.0, []
        for s in job.plan.segments:
            d = duration * s.seconds / total
            out.append((t, t + d))
            t += d
        return out

    # --- metadata ---------------------------------------------------------------------------

    def set_metadata(
        self, ref: str, title: str | None = None, description: str | None = None, hashtags: list[str] | None = None
    ) -> Metadata:
        job = self.engine.find_job(ref)
        if job.plan is None:
            raise InputError("job", f"{job.id} has no plan")
        meta = job.plan.metadata
        new = Metadata(
            title=meta.title if title is None else title.strip(),
            description=meta.description if description is None else description.strip(),
            hashtags=meta.hashtags if hashtags is None else normalise_hashtags(hashtags),
        )
        job.plan.metadata = new
        self._save_plan(job, job.plan)
        self.store.log(job.id, "metadata edited")
        return new

    def _save_plan(self, job: Job, plan: Plan) -> None:
        from ..jobfiles import write_json_atomic

        write_json_atomic(job.job_dir / "plan.json", plan.to_dict())
        self.store.update_job(job.id, plan=plan)

    # --- narration --------------------------------------------------------------------------

    def tts(self, opts: FinishOptions) -> TTSProvider:
        return get_tts(opts.tts or self.settings.tts_provider, self.settings, self.engine.env)

    def speech_to_make(self, job: Job, tts: TTSProvider) -> list[tuple[int, str]]:
        """(segment, text) of the lines that have no clip yet with this voice."""
        assert job.plan is not None
        have = {r.index: r for r in self.store.narration(job.id)}
        out = []
        for i, seg in enumerate(job.plan.segments, 1):
            text = seg.narration.strip()
            if not text:
                continue
            rec = have.get(i)
            if rec and rec.text == text and rec.voice == tts.voice and rec.file and Path(rec.file).is_file():
                continue
            out.append((i, text))
        return out

    def estimate_speech(self, job: Job, tts: TTSProvider) -> float:
        return round(sum(tts.estimate(text) for _, text in self.speech_to_make(job, tts)), 6)

    async def narrate(self, job: Job, tts: TTSProvider) -> dict[int, NarrationRecord]:
        folder = job.job_dir / "narration"
        folder.mkdir(exist_ok=True)
        todo = self.speech_to_make(job, tts)
        if tts.placeholder:
            self.log(job.id, f"narration: {tts.LABEL}", "warning")
        for n, (i, text) in enumerate(todo, 1):
            self.check_cancel()
            raw = folder / f".narr_{i:02d}.raw.wav"
            dest = folder / f"narr_{i:02d}.wav"
            self.emit(FinishProgress(job.id, "narration", (n - 1) / len(todo), None, f"segment {i}"))
            try:
                await tts.synthesize(text, raw)
            except TTSError as exc:
                raise FinishError(str(exc), exc) from None
            cost = tts.estimate(text)
            old = next((r for r in self.store.narration(job.id) if r.index == i), None)
            try:
                clip = await asyncio.to_thread(prepare_clip, raw, dest)
            except (TTSError, MediaError) as exc:
                raise FinishError(f"segment {i}: the speech could not be used ({exc})", exc) from None
            finally:
                with contextlib.suppress(OSError):
                    raw.unlink()
            self.store.upsert_narration(
                NarrationRecord(
                    job.id, i, text, tts.voice, str(dest), clip.seconds, round((old.cost_usd if old else 0) + cost, 6)
                )
            )
            self.log(
                job.id,
                f"narration {i}: {clip.seconds:.2f} s spoken by {tts.voice}" + (f" (${cost:.4f})" if cost else ""),
            )
        if todo:
            self.store.update_job(job.id, cost_usd=job_spent(self.store, job.id))
        self.emit(FinishProgress(job.id, "narration", 1.0, 0.0))
        return {r.index: r for r in self.store.narration(job.id)}

    def place(self, job: Job, records: dict[int, NarrationRecord], spans: list[tuple[float, float]]) -> list[Placement]:
        """Where each line starts; a line up to MAX_TEMPO too long is sped up, a longer one is an error."""
        assert job.plan is not None
        out = []
        for i, seg in enumerate(job.plan.segments, 1):
            rec = records.get(i)
            if not seg.narration.strip() or rec is None or not rec.file or rec.seconds is None:
                continue
            start, end = spans[i - 1]
            room = end - start
            clip, seconds = Path(rec.file), float(rec.seconds)
            if seconds > room:
                tempo = seconds / (room * 0.98)
                if tempo > MAX_TEMPO:
                    fits = max(1, int(room * rules.word_count(rec.text) / seconds))  # at this voice's pace
                    raise InputError(
                        f"segment {i} narration",
                        f"spoken it takes {seconds:.1f} s but the segment lasts {room:.1f} s; shorten it to about "
                        f"{fits} words in {job.job_dir / 'plan.json'} and finish again — "
                        "nothing was cut",
                    )
                faster = clip.with_name(clip.stem + ".fit.wav")
                run(["-i", str(clip), "-af", f"atempo={tempo:.4f}", "-c:a", "pcm_s16le", str(faster)], what="tempo")
                self.log(
                    job.id, f"narration {i} is {seconds:.2f} s for {room:.2f} s: spoken {tempo:.2f}× faster", "warning"
                )
                clip, seconds = faster, seconds / tempo
            lead = min(LEAD_S, max(0.0, room - seconds))
            out.append(Placement(clip, start + lead, seconds, rec.text))
        return out

    def check_cancel(self) -> None:
        if self.cancel_event.is_set():
            raise Cancelled("finishing cancelled")

    # --- finish -----------------------------------------------------------------------------

    def check(self, job: Job, opts: FinishOptions, tts: TTSProvider | None) -> float:
        """Everything a user can fix, before anything is paid: narration lengths, music, budget."""
        assert job.plan is not None
        if opts.narration and job.plan.has_narration:
            issues = rules.check_plan(job.plan)
            if issues:
                raise InputError(
                    "narration",
                    "; ".join(str(x) for x in issues) + f" (edit {job.job_dir / 'plan.json'}, nothing was spoken yet)",
                )
        if opts.music is not None:
            music = Path(opts.music).expanduser()
            if not music.is_file():
                raise InputError("music", f"{music} is not a file; give an audio file (wav, mp3, m4a, ogg, flac)")
            if not has_audio_stream(music):
                raise InputError("music", f"{music} holds no sound that ffmpeg can read")
        cost = self.estimate_speech(job, tts) if tts is not None else 0.0
        spent = job_spent(self.store, job.id)
        if over_cap(cost, opts.max_cost, spent):
            raise InputError(
                "max_cost",
                f"narration would cost ${cost:.4f} on top of ${spent:.2f} spent, over the cap of ${opts.max_cost:.2f}",
                code=Code.OVER_BUDGET,
                context={"total": round(spent + cost, 4), "cap": opts.max_cost, "job": job.id, "speech": True},
            )
        return cost

    async def finish(self, ref: str, opts: FinishOptions) -> FinishResult:
        job = self.job(ref)
        assert job.plan is not None
        with self._locked(job):
            try:
                return await self._finish(job, self.current_plan(job), opts)
            except Cancelled:
                self.log(job.id, "finishing cancelled; the joined video and earlier versions are unchanged", "warning")
                raise
            except (MediaError, TTSError, DiskFull, FileProblem) as exc:
                self.log(job.id, f"finishing failed: {exc}", "error")
                raise FinishError(f"{exc}; the joined video and earlier versions are unchanged", exc) from None

    async def _finish(self, job: Job, plan: Plan, opts: FinishOptions) -> FinishResult:
        speak = opts.narration and plan.has_narration
        tts = self.tts(opts) if speak else None
        cost = self.check(job, opts, tts)
        source = self.joined(job)
        assert source is not None
        info = await asyncio.to_thread(probe, source)
        duration = info.duration
        spans = await asyncio.to_thread(self.spans, job, duration)
        placements: list[Placement] = []
        try:
            if tts is not None:
                records = await self.narrate(job, tts)
                placements = await asyncio.to_thread(self.place, job, records, spans)
        finally:
            if tts is not None:
                await tts.aclose()
        self.check_cancel()
        cues: list[Cue] = []
        if placements:
            for p in placements:
                cues += split_cue(p.start, p.start + p.seconds, p.text)
        else:
            for (start, end), seg in zip(spans, plan.segments, strict=False):
                caption = seg.title.strip()
                if caption:
                    cues += split_cue(start + 0.1, max(start + 0.2, end - 0.1), caption)
        version = 1 + sum(1 for o in self.store.outputs(job.id, include_removed=True) if o.kind == "finish")
        dest = job.job_dir / f"finished_v{version}.mp4"
        srt = vtt = None
        if opts.subtitles and cues:
            srt = write_text_atomic(job.job_dir / f"finished_v{version}.srt", to_srt(cues))
            vtt = write_text_atomic(job.job_dir / f"finished_v{version}.vtt", to_vtt(cues))
        meta = plan.metadata
        comment = " ".join([meta.description, " ".join(meta.hashtags)]).strip()
        mix = await asyncio.to_thread(
            finish_audio,
            source,
            dest,
            duration=duration,
            narration=placements,
            music=Path(opts.music).expanduser() if opts.music else None,
            settings=MixSettings(
                loudness=self.settings.loudness_lufs if opts.loudness is None else opts.loudness,
                true_peak=self.settings.true_peak_db,
                music_lufs=self.settings.music_lufs,
            ),
            subtitles=srt,
            burn=srt if opts.burn_subtitles else None,
            metadata={"title": meta.title, "comment": comment},
            workdir=job.job_dir / ".finish-work",
            progress=self.progress(job.id, "mix"),
            cancel=self.cancel_event,
        )
        self.store.add_output(job.id, "finish", f"v{version}", str(dest), dest.stat().st_size, duration)
        for sub in (srt, vtt):
            if sub is not None:
                self.store.add_output(job.id, "subtitles", f"v{version}", str(sub), sub.stat().st_size, None)
        parts = [f"{len(placements)} narration lines" if placements else "no narration"]
        parts.append(f"music {Path(opts.music).name}" if opts.music else "no music")
        parts.append(f"{len(cues)} subtitle cues" + (" burned in" if opts.burn_subtitles else ""))
        self.log(
            job.id,
            f"finished v{version}: {dest.name} ({', '.join(parts)}; {mix.method} {mix.gain_db:+.1f} dB to "
            f"{self.settings.loudness_lufs if opts.loudness is None else opts.loudness:g} LUFS)",
        )
        return FinishResult(
            job.id,
            dest,
            version,
            duration,
            cues,
            srt,
            vtt,
            tts.voice if tts else None,
            bool(tts and tts.placeholder),
            cost,
            mix,
            placements,
        )

    # --- export -----------------------------------------------------------------------------

    async def export(self, ref: str, preset: str, source: Path | None = None) -> ExportResult:
        get_preset(preset)
        job = self.job(ref)
        src = source or self.latest(job)
        meta = job.plan.metadata if job.plan else Metadata()
        base = slug(meta.title, job.id)
        out_dir = job.job_dir / "exports"
        with self._locked(job):
            try:
                result = await asyncio.to_thread(
                    export,
                    src,
                    preset,
                    out_dir / preset if preset != "hls" else out_dir,
                    base,
                    progress=self.progress(job.id, preset),
                    cancel=self.cancel_event,
                )
                poster_path, t = await asyncio.to_thread(poster, src, out_dir / "poster.jpg")
            except Cancelled:
                self.log(job.id, f"export {preset} cancelled", "warning")
                raise
            except (MediaError, DiskFull, FileProblem) as exc:
                self.log(job.id, f"export {preset} failed: {exc}", "error")
                raise FinishError(str(exc), exc) from None
            # subtitles travel with the export (next to it), when the source has them
            sub_files = self._subtitles_for(job, src) if preset != "gif-preview" else []
            for sub in sub_files:
                target = result.path.parent / f"{base}{sub.suffix}"
                target.write_bytes(sub.read_bytes())
                result.files.append(target)
                result.size_bytes += target.stat().st_size
            for old in self.store.outputs(job.id):
                if old.kind in ("export", "poster") and old.name in (preset, "poster"):
                    if old.kind == "poster" or old.path == str(result.path):
                        self.store.mark_output_removed(old.id, "replaced by a newer export")
            self.store.add_output(job.id, "export", preset, str(result.path), result.size_bytes, result.duration)
            self.store.add_output(job.id, "poster", "poster", str(poster_path), poster_path.stat().st_size, None)
        self.log(
            job.id,
            f"export {preset}: {result.path} ({human_size(result.size_bytes)}, {len(result.files)} files; "
            f"poster from {t:.1f} s)",
        )
        return result

    def _subtitles_for(self, job: Job, src: Path) -> list[Path]:
        m = re.match(r"finished_v(\d+)\.mp4$", src.name)
        if not m:
            return []
        return [p for p in (src.with_suffix(".srt"), src.with_suffix(".vtt")) if p.is_file()]


def describe_outputs(records: list[OutputRecord]) -> list[str]:
    """History lines: one per finished version and export, with sizes (removed ones say so)."""
    out = []
    for r in records:
        if r.kind not in ("finish", "export"):
            continue
        label = f"finished {r.name}" if r.kind == "finish" else f"export {r.name}"
        size = human_size(r.size_bytes)
        if r.removed_at is not None:
            out.append(f"{label} · removed ({r.note})")
        else:
            out.append(f"{label} · {size}")
    return out
