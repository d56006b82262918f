"""Provider requests of a run: a provider slot, submit (its request id stored in the same step),
wait, fetch, and cancelling what is in flight when the user stops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..models import Segment, SegmentProgress, SegmentStatus
from ..providers.base import (
    AuthError,
    ContentPolicyError,
    ModelUnavailable,
    Provider,
    ProviderError,
    RenderRequest,
    RenderResult,
    RequestNotFound,
    Submission,
)
from ..retry import with_retries
from ..takes import Take

if TYPE_CHECKING:
    from ..slots import Slot
from .base import PROGRESS_EVERY, SLOT_POLL, RunContext, T, settled


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


class RequestSteps(RunContext):
    """Provider requests: slots, submit (recorded in the same step), wait, fetch, cancel."""

    async def take_slot(self, provider: Provider, idx: int, new: bool, label: str = "") -> Slot | None:
        """Wait until this segment may have a request in flight: the queue and the job are not paused
        (for a new submit; a request already in flight goes on) and one of the provider's slots is
        free (``settings.<provider>_slots``; none for the offline preview). What it waits for is
        logged, sent as progress and noted in the queue (the board and the queue listing show it)."""
        from .. import queue, slots

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

    async def submit(self, provider: Provider, seg: Segment, req: RenderRequest) -> Submission:
        idx = seg.index
        cost = self.segment_cost(seg)
        self.hold_cap(cost, f"segment {idx}", index=idx)
        self.set_segment(idx, SegmentStatus.WAITING, "submitting")

        async def submit_and_record() -> Submission:
            sub = await provider.submit(req)
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

            self.control.in_flight[(idx, 1)] = sub  # a stop cancels it at the provider
            self.store_critical(commit)
            return sub

        # one step that a cancellation cannot split: fal may accept the POST while the run gives up on
        # it (a stop, a sibling's failure); its id is stored all the same, so nothing is paid twice
        sub = await self.retry(lambda: settled(submit_and_record()), idx, "submitting")
        self.log(f"segment {idx} submitted as {req.kind} to {sub.endpoint} (request {sub.request_id})", index=idx)
        self.emit_cost()
        return sub

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

    async def fetch_result(
        self, provider: Provider, sub: Submission, idx: int, cancelled: bool, take: int = 1
    ) -> RenderResult:
        return await self.retry(
            lambda: _gone_if_cancelled(provider.result(sub), sub, cancelled), idx, "fetching the result", take=take
        )

    async def cancel_in_flight(self) -> None:
        """Ask the provider to stop each request in flight (every take of a shot, not only its
        first), keeping its id (and its cost, paid at submit): a retry re-attaches to it and uses
        its video if it finished anyway."""
        for (idx, take), sub in list(self.control.in_flight.items()):
            provider = self.engine.existing_provider(self.shot_spec(idx).provider)  # the shot's own model
            if provider is not None:
                try:
                    await provider.cancel(sub)
                    self.log(f"asked the provider to cancel request {sub.request_id}", "warning", idx)
                except Exception as exc:
                    self.log(f"could not cancel request {sub.request_id}: {exc}", "warning", idx)
            if take > 1:
                self.note_take_cancelled(idx, take, sub)
                continue
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

    def note_take_cancelled(self, idx: int, take: int, sub: Submission) -> None:
        """Take ``take`` of shot ``idx`` was asked to stop: kept with its id, as a segment's request."""
        book = self.takebook
        rec = book.get(idx, take)
        if rec is None or rec.status == "done" or rec.request_id != sub.request_id:
            return
        rec.cancelled_while = "running" if rec.status == "running" else "queued"
        rec.status = "submitted"
        book.put(idx, rec)
        book.save()
        self.log(
            f"take {take} of segment {idx}: request {sub.request_id} is kept: a retry re-attaches to it",
            index=idx,
        )

    async def retry(
        self, call: Callable[[], Awaitable[T]], idx: int, what: str, segment: bool = True, take: int = 1
    ) -> T:
        """A provider call under the retry policy (``retry.with_retries``); for take 2..N of a shot a
        request that ended in an error is forgotten in the take book, not on the segment's row (which
        holds take 1's paid request)."""
        forget = self.forget_take(idx, take) if take > 1 else None
        return await with_retries(self, call, idx, what, segment, forget)

    def forget_take(self, idx: int, take: int) -> Callable[[str], None]:
        def forget(error: str) -> None:
            book = self.takebook
            rec = book.get(idx, take)
            book.put(idx, Take(take, rec.seed if rec else 0, "failed", error=error))
            book.save()
            self.control.in_flight.pop((idx, take), None)
            self.set_segment(idx, SegmentStatus.FAILED, f"take {take} failed", error=error)

        return forget
