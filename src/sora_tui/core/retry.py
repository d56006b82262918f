"""The retry policy for provider calls: transient errors back off and retry; the rest end the run
with a message that says what to do."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypedDict, TypeVar

from .errors import JobFailed, code_of
from .models import SegmentStatus
from .providers.base import AuthError, ContentPolicyError, ModelUnavailable, ProviderError, RequestNotFound

if TYPE_CHECKING:
    from .jobrun.base import RunContext

T = TypeVar("T")


class _ForgetRequest(TypedDict):
    request_id: None
    status_url: None
    response_url: None
    cancel_url: None
    cancelled_at: None
    cancelled_while: None


# segment columns cleared when a provider request must not be re-attached to (ended in error, cancelled, expired)
FORGET_REQUEST: _ForgetRequest = {
    "request_id": None,
    "status_url": None,
    "response_url": None,
    "cancel_url": None,
    "cancelled_at": None,
    "cancelled_while": None,
}


async def with_retries(
    run: RunContext, call: Callable[[], Awaitable[T]], idx: int, what: str, segment: bool = True
) -> T:
    """Run a provider call, retrying transient errors with exponential backoff and jitter.

    ``idx`` is the segment the call is for; with ``segment=False`` (keyframes) no segment row changes.
    """
    attempt = 0
    while True:
        run.check_cancel()
        try:
            return await call()
        except ContentPolicyError as exc:
            if not segment:
                raise JobFailed(
                    f"{what} was refused by the image model's content policy: {exc}. Change its description "
                    "and regenerate it"
                ) from None
            prompt = run.store.segment(run.job.id, idx).prompt
            excerpt = prompt[:80] + ("…" if len(prompt) > 80 else "")
            run.set_segment(idx, SegmentStatus.FAILED, "content policy", error=str(exc), **FORGET_REQUEST)
            raise JobFailed(
                f"segment {idx} was refused by {run.spec.name}'s content policy: {exc}. "
                f'Prompt: "{excerpt}". Edit segment {idx} in {run.dir / "plan.json"} '
                f"and run `sora-tui redo {run.job.id} --from {idx}`"
            ) from None
        except AuthError as exc:
            if segment:
                run.set_segment(idx, SegmentStatus.FAILED, "key rejected", error=str(exc))
            raise JobFailed(
                f"the fal key was rejected ({exc}); set a valid key with `sora-tui keys set fal` or export FAL_KEY, "
                f"then `sora-tui resume {run.job.id}`"
            ) from None
        except ModelUnavailable as exc:
            current = [m.id for m in run.engine.catalog if m.provider == run.spec.provider and not m.retired]
            if segment:
                run.set_segment(idx, SegmentStatus.FAILED, "model unavailable", error=str(exc))
            raise JobFailed(
                f"{run.spec.id} is not available on {run.spec.provider} ({exc}); it may be retired. "
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
                    run.set_segment(idx, SegmentStatus.FAILED, str(exc), error=str(exc), **FORGET_REQUEST)
                code, context = code_of(exc)  # a coded provider error (local out of memory) keeps its facts
                raise JobFailed(
                    f"{label}: {exc}; `sora-tui resume {run.job.id}` submits it again", code=code, context=context
                ) from None
            attempt += 1
            if segment:
                run.store.increment_segment(run.job.id, idx, "attempts")
            if attempt > run.settings.max_retries:
                if segment:
                    run.set_segment(idx, SegmentStatus.FAILED, str(exc), error=str(exc))
                raise JobFailed(
                    f"{label}: {what} failed {attempt} times ({exc}); "
                    f"the job is saved, run `sora-tui resume {run.job.id}` to continue"
                ) from None
            delay = min(run.settings.retry_max_delay, run.settings.retry_base_delay * 2 ** (attempt - 1))
            delay *= 0.5 + random.random() / 2
            run.log(
                f"{what} failed ({exc}); retry {attempt}/{run.settings.max_retries} in {delay:.1f} s",
                "warning",
                idx if segment else None,
            )
            try:
                await asyncio.wait_for(run.control.cancel_event.wait(), timeout=delay)
            except TimeoutError:
                pass
