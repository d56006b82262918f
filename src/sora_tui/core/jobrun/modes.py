"""The plan's modes: chain (runs of continued shots, split at cuts, at once), parallel and
keyframes (every segment at once), extend, and the keyframe images."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from ..errors import JobFailed
from ..jobfiles import fit_image
from ..models import KeyframeReady, Kind, Segment, SegmentStatus, SegmentStatusChanged
from ..providers.base import ImageRequest
from ..store import Keyframe
from .base import _all_or_none, settled
from .takes import TakeSteps


class ModeSteps(TakeSteps):
    """The plan's modes: which segments render when, and from which pictures."""

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
        await _all_or_none(tasks)

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
                # re-rendering one segment between kept neighbours (a redo of one segment): end on the picture the
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
        await _all_or_none(tasks)

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

        async def make_and_keep() -> None:  # paid once made: kept and counted even if the run stops meanwhile
            await provider.generate_image(req, dest)
            await asyncio.to_thread(fit_image, dest, dest, self.width, self.height)
            self.store.upsert_keyframe(
                Keyframe(
                    self.job.id, index, kf.prompt, "done", str(dest), "generated",
                    cost_usd=round(kf.cost_usd + price, 4),
                )
            )  # fmt: skip

        try:
            await self.retry(lambda: settled(make_and_keep()), 0, f"keyframe {index}", segment=False)
        finally:
            if slot is not None:
                slot.release()
        self.emit(KeyframeReady(self.job.id, index, str(dest)))
        self.emit_cost()
        return dest
