"""The retry policy for provider calls: transient errors back off and retry; the rest end the run
with a message that says what to do."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TypedDict, TypeVar

from .catalog import Catalog, ModelSpec
from .errors import Code, JobFailed, code_of
from .keys import ENV_VARS
from .models import Job, SegmentStatus
from .providers.base import AuthError, ContentPolicyError, ModelUnavailable, ProviderError, RequestNotFound
from .settings import Settings
from .store import Store

T = TypeVar("T")


class _ForgetRequest(TypedDict):
    request_id: None
    status_url: None
    response_url: None
    cancel_url: None
    cancelled_at: None
    cancelled_while: None


class _Control(Protocol):
    @property
    def cancel_event(self) -> asyncio.Event: ...


class _HasCatalog(Protocol):
    @property
    def catalog(self) -> Catalog: ...


class RetriedRun(Protocol):
    """What the policy reads and changes of the run whose call it retries (a ``run.JobRun``)."""

    @property
    def store(self) -> Store: ...

    @property
    def job(self) -> Job: ...

    @property
    def spec(self) -> ModelSpec: ...

    @property
    def dir(self) -> Path: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def engine(self) -> _HasCatalog: ...

    @property
    def control(self) -> _Control: ...

    def check_cancel(self) -> None: ...

    def set_segment(
        self, index: int, status: SegmentStatus | None = None, message: str = "", **changes: Any
    ) -> None: ...

    def log(self, message: str, level: str = "info", index: int | None = None) -> None: ...


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
    run: RetriedRun,
    call: Callable[[], Awaitable[T]],
    idx: int,
    what: str,
    segment: bool = True,
    forget: Callable[[str], None] | None = None,
) -> T:
    """Run a provider call, retrying transient errors with exponential backoff and jitter.

    ``idx`` is the segment the call is for; with ``segment=False`` (keyframes) no segment row changes.
    A request that ended in an error is forgotten (a resume submits it again): the segment row's, or
    through ``forget`` (take 2..N of a shot) only that take's, never a sibling's paid request.
    """

    def forget_request(status: str, exc: Exception) -> None:
        if forget is not None:
            forget(str(exc))
        else:
            run.set_segment(idx, SegmentStatus.FAILED, status, error=str(exc), **FORGET_REQUEST)

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
            forget_request("content policy", exc)
            raise JobFailed(
                f'segment {idx} was refused by {run.spec.name}\'s content policy: {exc}. Prompt: "{excerpt}"',
                code=Code.CONTENT_POLICY,
                context={"job": run.job.id, "index": idx, "model": run.spec.id, "plan": str(run.dir / "plan.json")},
            ) from None
        except AuthError as exc:
            if segment:
                run.set_segment(idx, SegmentStatus.FAILED, "key rejected", error=str(exc))
            key = run.spec.provider
            raise JobFailed(
                f"the {key} key was rejected ({exc})",
                code=Code.KEY_REJECTED,
                context={"key": key, "env_var": ENV_VARS.get(key, ""), "use": "render", "job": run.job.id},
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
                    forget_request(str(exc), exc)
                code, context = code_of(exc)  # a coded provider error (local out of memory) keeps its facts
                if code is None:
                    code = Code.RESUMABLE
                    context = {"job": run.job.id, "index": idx if segment else None, "attempts": attempt + 1}
                raise JobFailed(f"{label}: {exc}; a resume submits it again", code=code, context=context) from None
            attempt += 1
            if segment:
                run.store.increment_segment(run.job.id, idx, "attempts")
            if attempt > run.settings.max_retries:
                if segment:
                    run.set_segment(idx, SegmentStatus.FAILED, str(exc), error=str(exc))
                raise JobFailed(
                    f"{label}: {what} failed {attempt} times ({exc}); the job is saved, a resume continues it",
                    code=Code.RESUMABLE,
                    context={"job": run.job.id, "index": idx if segment else None, "attempts": attempt},
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
