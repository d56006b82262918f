"""Takes of a shot: every take at once, each with its own seed and paid once; the best kept."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ..models import Mode, Segment
from ..providers.base import Provider, RenderRequest, RequestNotFound, Submission
from ..takes import Take, best_take, take_file, take_score, take_seed
from .base import _all_or_none, settled
from .requests import RequestCancelled, _gone_if_cancelled
from .segment import SegmentSteps


class TakesToReview(Exception):
    """A shot's takes are ready and the user asked to review them: the run stops for the choice."""

    def __init__(self, index: int, kept: int) -> None:
        super().__init__(
            f"the takes of shot {index} are ready (take {kept} is kept for now): keep another with "
            f"pick, or resume to go on with take {kept}"
        )
        self.index = index
        self.kept = kept


class TakeSteps(SegmentSteps):
    """A shot rendered as N takes at once; the best kept."""

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
        take_one = asyncio.create_task(self.render_segment(seg, start, end))
        others = [asyncio.create_task(self.render_take(seg, t, start, end)) for t in range(2, n + 1)]
        await _all_or_none([take_one, *others])  # one fails: the others stop (each submit still recorded)
        first = take_one.result()
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
        from .. import seams

        a = seams.analyze_segment(video, sent)
        drift = a.first_stats.delta_e(a.last_stats) if a.first_stats and a.last_stats else 0.0
        return take_score(a.fade_frames, drift, False)

    async def render_take(self, seg: Segment, take: int, start: Path | None, end: Path | None) -> Take:
        """Take ``take`` (2..N) of a shot: submitted and its request id saved as one step (a resume
        re-attaches), priced and counted once, cancelled at the provider by a stop like any request,
        submitted again only when the provider dropped it, downloaded beside the segment."""
        from .. import media

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
        cost = self.segment_cost(seg)
        # a take in flight holds one of the provider's slots, as a segment does (core/slots.py)
        slot = await self.take_slot(provider, idx, new=rec is None or not rec.request_id, label=req.label)
        try:
            while True:
                self.check_cancel()
                cancelled = False  # re-attaching to a request that a stop asked the provider to cancel
                if rec is None or not rec.request_id:
                    rec = await self.submit_take(provider, seg, take, req, cost)
                else:
                    cancelled = rec.cancelled_while is not None
                    note = " (cancelled earlier; its video is used if it finished)" if cancelled else ""
                    self.log(f"segment {idx} take {take}: re-attaching to request {rec.request_id}{note}", index=idx)
                sub = Submission(
                    rec.request_id or "", rec.endpoint or "", rec.status_url, rec.response_url, rec.cancel_url
                )
                self.control.in_flight[(idx, take)] = sub
                try:
                    await self.wait_take(provider, sub, idx, rec, cancelled)
                    result = await self.fetch_result(provider, sub, idx, cancelled, take)
                    break
                except RequestNotFound as exc:
                    why = f"the provider no longer knows request {sub.request_id}"
                    if isinstance(exc, RequestCancelled):
                        why = f"request {sub.request_id} was cancelled ({exc})"
                        if rec.cancelled_while == "queued":  # dropped before it started: not billed
                            why = f"request {sub.request_id} was cancelled while queued, so it was not billed"
                            row = self.store.segment(self.job.id, idx)
                            self.set_segment(idx, cost_usd=round(max(0.0, row.cost_usd - rec.cost_usd), 4))
                    self.log(
                        f"take {take} of segment {idx}: {why}; submitting again (cost ${cost:.2f})", "warning", idx
                    )
                    self.control.in_flight.pop((idx, take), None)
                    rec = Take(take, rec.seed)
                    book.put(idx, rec)
                    book.save()
        finally:
            if slot is not None:
                slot.release()
        await self.retry(lambda: provider.download(result, dest, None), idx, f"downloading take {take}", take=take)
        self.control.in_flight.pop((idx, take), None)
        first, last = take_file(self.dir, idx, take, "_first.png"), take_file(self.dir, idx, take, "_last.png")
        await asyncio.to_thread(media.boundary_frames, dest, first, last)
        rec.status, rec.file, rec.first_frame, rec.last_frame = "done", str(dest), str(first), str(last)
        rec.cancelled_while = None
        book.put(idx, rec)
        book.save()
        return rec

    async def submit_take(self, provider: Provider, seg: Segment, take: int, req: RenderRequest, cost: float) -> Take:
        """Submit take ``take`` of shot ``seg``: the POST and the recording of its request id (in
        ``takes.json``, its cost on the segment's row) are one step a cancellation cannot split."""
        idx = seg.index
        self.hold_cap(cost, f"take {take} of segment {idx}", index=idx)
        book = self.takebook

        async def submit_and_record() -> Take:
            sub = await provider.submit(req)
            rec = Take(
                take, req.seed, "submitted", cost_usd=cost, request_id=sub.request_id, endpoint=sub.endpoint,
                status_url=sub.status_url, response_url=sub.response_url, cancel_url=sub.cancel_url,
            )  # fmt: skip
            self.control.in_flight[(idx, take)] = sub  # a stop cancels it at the provider
            book.put(idx, rec)
            book.save()  # before waiting: a restart re-attaches to this request
            row = self.store.segment(self.job.id, idx)
            self.store_critical(lambda: self.set_segment(idx, cost_usd=round(row.cost_usd + cost, 4)))
            return rec

        rec = await self.retry(lambda: settled(submit_and_record()), idx, f"submitting take {take}", take=take)
        self.log(f"segment {idx} take {take} submitted to {rec.endpoint} (request {rec.request_id})", index=idx)
        self.emit_cost()
        return rec

    async def wait_take(self, provider: Provider, sub: Submission, idx: int, rec: Take, cancelled: bool) -> None:
        """Until take ``rec``'s request has completed (noting when it starts running: a stop then
        knows the provider may bill it)."""
        while True:
            self.check_cancel()
            st = await self.retry(
                lambda: _gone_if_cancelled(provider.status(sub), sub, cancelled),
                idx,
                f"checking take {rec.take}",
                take=rec.take,
            )
            if st.state == "completed":
                return
            if st.state == "running" and rec.status != "running":
                rec.status = "running"
                self.takebook.put(idx, rec)
                self.takebook.save()
            await provider.wait_for_change(sub, self.poll_interval(provider), self.control.cancel_event)
