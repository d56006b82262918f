"""One segment: its request (kind, start/end pictures, references), the render from submit to a
finished file, a download kept across a stop, extend mode's cut of the returned video."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from ..jobfiles import fit_image, seg_name
from ..models import Kind, Mode, Segment, SegmentProgress, SegmentStatus
from ..providers.base import BadResult, ImageRequest, RenderRequest, RequestNotFound, Submission
from ..retry import FORGET_REQUEST
from ..testhooks import kill_at
from .base import PROGRESS_EVERY, settled
from .handoff import HandoffSteps
from .requests import RequestCancelled, RequestSteps


class SegmentSteps(RequestSteps, HandoffSteps):
    """One segment from its request to a finished file."""

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

        async def make_and_keep() -> None:  # paid once made: kept and counted even if the run stops meanwhile
            await provider.generate_image(req, tmp)
            await asyncio.to_thread(fit_image, tmp, tmp, self.width, self.height)
            os.replace(tmp, dest)
            row = self.store.segment(self.job.id, seg.index)
            self.set_segment(seg.index, cost_usd=round(row.cost_usd + price, 4))

        await self.retry(lambda: settled(make_and_keep()), seg.index, "making the cast keyframe")
        self.emit_cost()
        return dest

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
                self.control.in_flight[(idx, 1)] = sub
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
        self.control.in_flight.pop((idx, 1), None)
        self.set_segment(idx, SegmentStatus.DOWNLOADED, file=str(dest), cancelled_at=None, cancelled_while=None)
        kill_at(self.engine.env, "downloaded", idx)
        return await self.finish_delivered(seg, dest, req, source)

    async def finish_downloaded(self, seg: Segment, req: RenderRequest, source: Path | None) -> Segment | None:
        """Finish a segment whose file arrived before the run stopped (no fetch, no render); None
        when that file does not play (then its request is re-attached to as usual)."""
        from .. import media

        dest = Path(seg.file or "")
        try:
            await asyncio.to_thread(media.probe, dest)
        except (media.MediaError, OSError) as exc:
            self.log(
                f"segment {seg.index}: the downloaded file {dest.name} does not play ({exc})", "warning", seg.index
            )
            return None
        self.log(f"segment {seg.index} was downloaded before the interruption; finishing it", index=seg.index)
        self.control.in_flight.pop((seg.index, 1), None)
        return await self.finish_delivered(seg, dest, req, source)

    async def finish_delivered(self, seg: Segment, dest: Path, req: RenderRequest, source: Path | None) -> Segment:
        sent = req.start_image
        if source is not None:
            dest = await self.keep_extension(seg, dest, source)
            # an extension may begin on the source's last picture: the seam work checks for it
            sent = self.dir / seg_name(seg.index - 1, "_last.png")
        return await self.finish_segment(seg, dest, sent)

    async def finish_segment(self, seg: Segment, dest: Path, sent: Path | None = None) -> Segment:
        from .. import media

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
                f"kept as {bad.name} for inspection. Resuming job {self.job.id} renders it again"
            ) from None
        if abs(info.duration - seg.seconds) > 0.5:
            self.log(f"segment {idx} is {info.duration:.2f} s long (planned {seg.seconds} s)", "warning", idx)
        # measured once, as it arrives: the join reuses it; the next chained segment needs its hand-off
        from .. import join, seams

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
        # its sound decoded now, while the next segments render, so the join does not wait for a decode
        # (after the segment is recorded done: a full disk here loses nothing paid for)
        await asyncio.to_thread(join.keep_sound, info)
        return self.store.segment(self.job.id, idx)

    async def keep_extension(self, seg: Segment, returned: Path, source: Path) -> Path:
        """Measure what the extend endpoint returned and keep only the extension as the segment file."""
        from .. import media
        from ..extend import split_extension

        dest = self.dir / seg_name(seg.index)
        try:
            result = await asyncio.to_thread(split_extension, returned, source, dest, seg.seconds)
        except media.MediaError as exc:
            raise BadResult(f"segment {seg.index}: {exc}") from None
        self.log(f"segment {seg.index}: {result.describe()}", index=seg.index)
        return dest
