"""The provider interface: submit a render, poll it, fetch the result, download, cancel.

A provider is a remote (or local) queue. The pipeline owns the loop: it submits,
stores the returned ``Submission`` in SQLite *before* waiting, then polls
``status`` until completion, reads ``result`` and ``download``s the video. A
restarted process re-attaches with the stored ``Submission``.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog import ModelSpec
from ..models import Kind


@dataclass
class RenderRequest:
    """One provider call, in model-independent terms (the provider maps the fields)."""

    model: ModelSpec
    kind: Kind
    prompt: str
    seconds: int
    resolution: str
    aspect: str
    audio: bool
    width: int
    height: int
    fps: int
    start_image: Path | None = None  # i2v: first frame; flf2v: first frame
    end_image: Path | None = None  # flf2v: last frame
    source_video: Path | None = None  # extend: the video to extend
    seed: int = 0
    label: str = ""  # e.g. "segment 2", for messages
    job_id: str = ""  # the job it renders for (the local provider's GPU lease names it to waiters)
    references: list[list[Path]] = field(default_factory=list)  # r2v: each member's pictures
    send_seed: bool = False  # a take: send ``seed`` where the endpoint takes one


@dataclass
class ImageRequest:
    """A keyframe image: text-to-image when ``source`` is None, else an edit of ``source``."""

    endpoint: str
    prompt: str
    width: int
    height: int
    aspect: str
    source: Path | None = None
    seed: int = 0
    label: str = ""
    references: list[Path] = field(default_factory=list)  # cast pictures the edit combines (after source)


@dataclass
class Submission:
    request_id: str
    endpoint: str
    status_url: str | None = None
    response_url: str | None = None
    cancel_url: str | None = None


@dataclass
class ProviderStatus:
    state: str  # "queued" | "running" | "completed"
    queue_position: int | None = None
    logs: list[str] = field(default_factory=list)
    progress: float | None = None  # 0..1 when the provider knows it
    message: str = ""  # what it is doing, in words ("waiting for the GPU (2nd in line, behind JOB)")


@dataclass
class RenderResult:
    video_url: str
    raw: dict[str, Any] = field(default_factory=dict)


# (bytes done, bytes total or None)
DownloadProgress = Callable[[int, int | None], None]


class ProviderError(Exception):
    """Base of provider failures. ``retryable`` errors are retried with backoff."""

    retryable = False

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class TransientError(ProviderError):
    """429, 5xx, timeouts, dropped connections: retried with backoff up to a cap."""

    retryable = True


class AuthError(ProviderError):
    """The provider rejected the API key (401/403)."""


class ModelUnavailable(ProviderError):
    """The endpoint does not exist at the provider (404 on submit)."""


class ContentPolicyError(ProviderError):
    """The provider refused the prompt or image (422 content_policy_violation)."""


class RequestNotFound(ProviderError):
    """The provider no longer knows a stored request id (expired or never arrived)."""


class BadResult(ProviderError):
    """The result had no video, or the downloaded file is not a playable video."""


class Provider(abc.ABC):
    name: str = "provider"

    @abc.abstractmethod
    async def submit(self, req: RenderRequest) -> Submission:
        """Start a render; return as soon as the provider has accepted it."""

    @abc.abstractmethod
    async def status(self, sub: Submission) -> ProviderStatus:
        """Current state; raises RequestNotFound when the provider forgot the request."""

    @abc.abstractmethod
    async def result(self, sub: Submission) -> RenderResult:
        """The output of a completed request; raises BadResult when it has no video."""

    @abc.abstractmethod
    async def download(self, result: RenderResult, dest: Path, progress: DownloadProgress | None = None) -> None:
        """Write the video to ``dest`` (atomically)."""

    @abc.abstractmethod
    async def cancel(self, sub: Submission) -> None:
        """Ask the provider to stop a request (best effort)."""

    async def wait_for_change(self, sub: Submission, timeout: float, cancel: asyncio.Event | None = None) -> None:
        """Return after ``timeout`` seconds, sooner when ``cancel`` is set or the provider knows the
        request's status may have changed (the caller then asks ``status``). Polling by default."""
        if cancel is None:
            await asyncio.sleep(timeout)
            return
        try:
            await asyncio.wait_for(cancel.wait(), timeout=timeout)
        except TimeoutError:
            pass

    async def generate_image(self, req: ImageRequest, dest: Path) -> None:
        """Make a keyframe image at ``dest`` (PNG). Providers without image models raise."""
        raise ProviderError(f"{self.name} cannot generate images")

    async def submit_image(self, req: ImageRequest) -> Submission | None:
        """Queue an image request and return its handle, which the caller stores before waiting so
        a retry re-attaches instead of paying again; None where the image is made at once (in
        ``fetch_image``)."""
        return None

    async def fetch_image(self, sub: Submission | None, req: ImageRequest, dest: Path) -> None:
        """Wait for ``sub`` and download its picture to ``dest`` (PNG); with None, make it now."""
        await self.generate_image(req, dest)

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
