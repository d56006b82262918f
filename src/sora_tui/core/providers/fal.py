"""fal.ai provider: the fal queue (submit → status → result → cancel), fal storage
uploads for start/end frames, streamed and resumable downloads.

How the hosts are chosen
------------------------
fal-client reads its hosts from module constants (``fal_client.client.QUEUE_URL_FORMAT``,
``REST_URL``, ``CDN_URL``, https only). Rewriting those process-wide globals would make
two providers with different settings (tests, a gateway next to fal) step on each
other, and fal-client's ``CDNTokenManager`` captures ``REST_URL`` once anyway. So this
module builds every URL itself from :class:`Settings` (``fal_queue_url``,
``fal_rest_url``, ``fal_cdn_url``; ``http://`` accepted for loopback fakes and
gateways) and sends the requests with the authenticated httpx client of
``fal_client.AsyncClient(key=...)`` (its ``Authorization: Key …`` header, user agent
and backup-domain transport). Every response goes through fal-client's own
``_raise_for_status``, so failures arrive as ``FalClientHTTPError`` exactly as
fal-client raises them, and are mapped here onto the provider errors of ``base``.
Those two are fal-client internals (it exports no public way to either): they are
reached only through :func:`fal_http_client` and :func:`raise_for_fal_status` below,
pyproject pins fal-client to the major version tested (``<2``), and
``tests/test_fal_client_contract.py`` fails loudly when a release changes them.

Status, result and cancel use the URLs fal returned at submit time (stored in SQLite
before the pipeline waits), so a resumed job talks to the queue that accepted it.

Retries live in one layer: the pipeline's (logged, bounded by ``max_retries``, with
backoff). fal-client's internal retry loop is not used, so a 429 storm shows in the
job log and a submit POST is never replayed behind the pipeline's back. Downloads are
the exception: a dropped connection is resumed here (HTTP Range) a few times before
``TransientError`` hands the decision to the pipeline.

Nothing here is specific to one model: field names, duration encodings and endpoints
come from the catalog (``ModelSpec``). The key never appears in any message.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import mimetypes
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import fal_client
import fal_client.client as fal_impl
import httpx

from ..catalog import KindSpec, ModelSpec
from ..errors import os_failure
from ..keys import redact
from ..models import InputError, Kind
from ..settings import Settings
from .base import (
    AuthError,
    BadResult,
    ContentPolicyError,
    DownloadProgress,
    ImageRequest,
    ModelUnavailable,
    Provider,
    ProviderError,
    ProviderStatus,
    RenderRequest,
    RenderResult,
    RequestNotFound,
    Submission,
    TransientError,
)

CONTENT_POLICY = "content_policy_violation"
TRANSIENT_CODES = {408, 409, 425, 429}
# resumed attempts of one download call before the pipeline's retry takes over
DOWNLOAD_ATTEMPTS = 4
# fal's image endpoints (nano-banana family) share these request fields
IMAGE_FIELDS = {"prompt": "prompt", "aspect": "aspect_ratio", "sources": "image_urls", "count": "num_images"}
IMAGE_FORMAT = {"output_format": "png"}


# --- the fal-client internals this module relies on (see the module docstring) -------------------


async def fal_http_client(fal: fal_client.AsyncClient) -> httpx.AsyncClient:
    """fal-client's authenticated httpx client (key header, user agent, backup-domain transport)."""
    client: httpx.AsyncClient = await fal._client
    return client


def raise_for_fal_status(response: httpx.Response) -> None:
    """``FalClientHTTPError`` (status, ``detail``, ``error_type``) for an error response, as fal-client raises it."""
    fal_impl._raise_for_status(response)


def _detail_text(detail: Any) -> str:
    """fal error bodies: ``detail`` is a string, or a list of ``{loc, msg, type}`` (FastAPI style)."""
    if detail is None:
        return ""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = [str(x) for x in item.get("loc") or [] if x != "body"]
                msg = str(item.get("msg") or item.get("message") or item.get("type") or "")
                parts.append(f"{'.'.join(loc)}: {msg}" if loc else msg)
            else:
                parts.append(str(item))
        return "; ".join(p for p in parts if p)
    if isinstance(detail, dict):
        for key in ("message", "msg", "detail", "error"):
            if key in detail:
                return _detail_text(detail[key])
    return json.dumps(detail)[:500]


def _is_content_policy(detail: Any, error_type: str | None) -> bool:
    if error_type == CONTENT_POLICY:
        return True
    if isinstance(detail, list):
        return any(isinstance(i, dict) and i.get("type") == CONTENT_POLICY for i in detail)
    if isinstance(detail, dict):
        return detail.get("type") == CONTENT_POLICY or detail.get("error_type") == CONTENT_POLICY
    return False


def _content_type(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def _app_base(queue_url: str, endpoint: str, request_id: str) -> str:
    """``{queue}/{owner}/{alias}/requests/{id}`` exactly as fal-client derives it (app id = first two parts)."""
    app = fal_impl.AppId.from_endpoint_id(endpoint)
    prefix = f"{app.namespace}/" if app.namespace else ""
    return f"{queue_url.rstrip('/')}/{prefix}{app.owner}/{app.alias}/requests/{request_id}"


def _log_messages(logs: Any) -> list[str]:
    out = []
    for entry in logs or []:
        if isinstance(entry, dict):
            msg = entry.get("message")
            if msg:
                out.append(str(msg))
        elif entry:
            out.append(str(entry))
    return out


STREAM_KEEPALIVE = 15.0  # fal sends a comment every 15 s on an open status stream


@dataclass
class _Watch:
    """A request's open status stream: ``changed`` is set on every event and when the stream ends."""

    changed: asyncio.Event
    task: asyncio.Task[None] | None = None
    ended: bool = False
    events: int = 0


class FalProvider(Provider):
    name = "fal"

    def __init__(self, key: str, settings: Settings) -> None:
        self._key = key
        self.settings = settings
        self.queue_url = settings.fal_queue_url.rstrip("/")
        self.rest_url = settings.fal_rest_url.rstrip("/")
        self.cdn_url = settings.fal_cdn_url.rstrip("/")
        timeout = max(1.0, float(settings.request_timeout))
        self._timeout = httpx.Timeout(timeout, connect=min(30.0, timeout))
        self._fal: fal_client.AsyncClient | None = None
        self._http: httpx.AsyncClient | None = None  # fal-client's authenticated client
        self._plain: httpx.AsyncClient | None = None  # no key: CDN uploads (token auth) and downloads
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cdn_token: tuple[str, float] | None = None  # (authorization header, expires at)
        self._uploads: dict[str, str] = {}  # sha256 of bytes -> access URL
        self._watches: dict[str, _Watch] = {}  # request id -> its status stream
        self._no_stream: set[str] = set()  # queue hosts that answered the stream URL without SSE

    # --- plumbing -----------------------------------------------------------------

    def _error(self, cls: type[ProviderError], message: str, status_code: int | None = None) -> ProviderError:
        return cls(redact(message, [self._key]), status_code=status_code)

    async def _clients(self) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # httpx clients are bound to one event loop
            self._fal = fal_client.AsyncClient(key=self._key, default_timeout=self._timeout.read or 120.0)
            self._http = await fal_http_client(self._fal)
            self._plain = httpx.AsyncClient(
                headers={"User-Agent": fal_impl.USER_AGENT}, timeout=self._timeout, follow_redirects=True
            )
            self._cdn_token = None
            self._watches = {}
            self._loop = loop
        assert self._http is not None and self._plain is not None
        return self._http, self._plain

    def _map_http_error(self, exc: Exception, what: str, not_found: type[ProviderError], subject: str) -> ProviderError:
        if isinstance(exc, fal_impl.FalClientHTTPError):
            code = exc.status_code
            detail = exc.message
            text = _detail_text(detail) or f"HTTP {code}"
            if code in (401, 403):
                return self._error(
                    AuthError,
                    f"fal rejected the API key while {what} (HTTP {code}: {text}); "
                    "set a valid key with `sora-tui keys set fal` or export FAL_KEY",
                    code,
                )
            if code == 404:
                if not_found is ModelUnavailable:
                    return self._error(ModelUnavailable, f"fal has no endpoint {subject} (HTTP 404: {text})", code)
                if not_found is RequestNotFound:
                    return self._error(RequestNotFound, f"fal does not know {subject} (HTTP 404: {text})", code)
                return self._error(ProviderError, f"{what} failed: {subject} not found (HTTP 404: {text})", code)
            if code == 422 and _is_content_policy(detail, exc.error_type):
                return self._error(ContentPolicyError, text, code)
            if code in TRANSIENT_CODES or code >= 500:
                return self._error(TransientError, f"fal answered HTTP {code} while {what}: {text}", code)
            return self._error(ProviderError, f"fal refused {what} (HTTP {code}): {text}", code)
        if isinstance(exc, httpx.TimeoutException):
            return self._error(TransientError, f"fal timed out while {what} ({type(exc).__name__})")
        if isinstance(exc, httpx.TransportError):
            return self._error(TransientError, f"connection problem while {what} ({type(exc).__name__}: {exc})")
        return self._error(ProviderError, f"{what} failed: {type(exc).__name__}: {exc}")

    async def _call(
        self,
        method: str,
        url: str,
        *,
        what: str,
        subject: str = "",
        not_found: type[ProviderError] = ProviderError,
        client: httpx.AsyncClient | None = None,
        **kwargs: Any,
    ) -> Any:
        """One HTTP call, errors mapped; returns the decoded JSON body."""
        http, _ = await self._clients()
        client = client or http
        try:
            response = await client.request(method, url, timeout=self._timeout, **kwargs)
            raise_for_fal_status(response)
        except (fal_impl.FalClientHTTPError, httpx.HTTPError) as exc:
            raise self._map_http_error(exc, what, not_found, subject) from None
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise self._error(
                TransientError, f"fal returned malformed JSON while {what} (HTTP {response.status_code})"
            ) from None

    # --- uploads ------------------------------------------------------------------

    async def _token_header(self) -> str:
        if self._cdn_token and self._cdn_token[1] > time.time() + 60:
            return self._cdn_token[0]
        data = await self._call(
            "POST",
            f"{self.rest_url}/storage/auth/token?storage_type=fal-cdn-v3",
            what="getting a fal storage token",
            subject="the storage token endpoint",
            json={},
            headers={"Accept": "application/json"},
        )
        try:
            header = f"{data['token_type']} {data['token']}"
            expires = data.get("expires_at")
            if isinstance(expires, str):
                expires_at = datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp()
            else:
                expires_at = time.time() + 600
        except (KeyError, TypeError, ValueError):
            raise self._error(TransientError, "fal returned an unreadable storage token") from None
        self._cdn_token = (header, expires_at)
        return header

    async def upload_bytes(self, data: bytes, content_type: str, file_name: str | None = None) -> str:
        """Upload to fal storage (CDN v3) and return the access URL; the same bytes upload once."""
        digest = hashlib.sha256(data).hexdigest()
        if digest in self._uploads:
            return self._uploads[digest]
        _, plain = await self._clients()
        headers = {"Content-Type": content_type, "Authorization": await self._token_header()}
        if file_name:
            headers["X-Fal-File-Name"] = file_name
        out = await self._call(
            "POST",
            f"{self.cdn_url}/files/upload",
            what=f"uploading {file_name or 'a file'} to fal storage",
            subject="the upload endpoint",
            content=data,
            headers=headers,
            client=plain,
        )
        url = out.get("access_url") if isinstance(out, dict) else None
        if not isinstance(url, str) or not url:
            raise self._error(TransientError, "fal storage accepted an upload but returned no access_url")
        self._uploads[digest] = url
        return url

    async def image_url(self, path: Path, spec: ModelSpec | None = None) -> str:
        """A URL the model can read ``path`` from: a fal storage upload, or a data URI where the catalog says so."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise self._error(ProviderError, f"cannot read image {path}: {exc.strerror}") from None
        ctype = _content_type(Path(path))
        if spec is not None and spec.data_uri:
            return f"data:{ctype};base64," + base64.b64encode(data).decode("ascii")
        return await self.upload_bytes(data, ctype, Path(path).name)

    # --- video --------------------------------------------------------------------

    async def build_arguments(self, req: RenderRequest) -> dict[str, Any]:
        """The JSON body for ``req``: exactly the fields its endpoint's input has (catalog, per kind).

        A request the endpoint would reject (a value outside its allowed set, an impossible
        combination, an extend source outside the input limits) is refused here, before any submit.
        """
        spec = req.model
        ks = spec.for_kind(req.kind)
        try:
            ks.check(req.seconds, req.resolution, req.aspect, why=req.label)
        except InputError as exc:
            raise self._error(ProviderError, f"{req.label or 'this request'} cannot be sent: {exc}") from None
        body: dict[str, Any] = {"prompt": req.prompt}
        if ks.duration_field:
            body[ks.duration_field] = ks.encode_duration(req.seconds)
        if ks.resolution_field and req.resolution:
            body[ks.resolution_field] = req.resolution
        if ks.aspect_field and req.aspect:
            body[ks.aspect_field] = req.aspect
        if ks.audio == "optional" and ks.audio_field:
            body[ks.audio_field] = bool(req.audio)
        if ks.fps_field:
            body[ks.fps_field] = ks.fps
        if req.send_seed and ks.seed_field:
            body[ks.seed_field] = int(req.seed)
        body.update(ks.extra)

        def field(role: str) -> str:
            name = ks.fields.get(role)
            if not name:
                raise self._error(
                    ProviderError, f"the catalog entry of {spec.id} names no '{role}' field for {req.kind} requests"
                )
            return name

        if req.kind is Kind.I2V:
            if req.start_image is None:
                raise self._error(ProviderError, f"{req.label or 'this request'}: image-to-video needs a start image")
            body[field("image")] = await self.image_url(req.start_image, spec)
        elif req.kind is Kind.FLF2V:
            if req.start_image is None or req.end_image is None:
                raise self._error(ProviderError, f"{req.label or 'this request'}: first-last-frame needs two images")
            first, last = field("first_frame"), field("last_frame")
            body[first] = await self.image_url(req.start_image, spec)
            body[last] = await self.image_url(req.end_image, spec)
        elif req.kind is Kind.EXTEND:
            if req.source_video is None:
                raise self._error(ProviderError, f"{req.label or 'this request'}: extending needs the video before it")
            await asyncio.to_thread(self._check_extend_source, ks, Path(req.source_video), req.label)
            body[field("video")] = await self.video_url(Path(req.source_video))
        elif req.kind is Kind.R2V:
            await self._reference_fields(req, ks, body)
        return body

    async def _reference_fields(self, req: RenderRequest, ks: KindSpec, body: dict[str, Any]) -> None:
        """Reference-to-video: the cast's pictures where the catalog says (a list of URLs, or one
        element per member), and the start / end picture where the endpoint takes them."""
        refs = ks.references
        label = req.label or "this request"
        if not req.references or not refs.get("field"):
            raise self._error(ProviderError, f"{label}: reference-to-video needs the cast's pictures")
        style = str(refs.get("style", "list"))
        units = len(req.references) if style == "elements" else sum(len(r) for r in req.references)
        if units > ks.max_references:
            what = "members" if style == "elements" else "pictures"
            raise self._error(
                ProviderError,
                f"{label}: {ks.label} takes at most {ks.max_references} {what}, not {units} (allowed: "
                f"1-{ks.max_references})",
            )
        if style == "elements":
            elements = []
            for pictures in req.references:
                urls = [await self.image_url(p, req.model) for p in pictures]
                elements.append({"frontal_image_url": urls[0], "reference_image_urls": urls[1:4] or urls[:1]})
            body[str(refs["field"])] = elements
        else:
            body[str(refs["field"])] = [await self.image_url(p, req.model) for r in req.references for p in r]
        if req.start_image is not None:
            if not refs.get("start_field"):
                raise self._error(ProviderError, f"{label}: {ks.label} takes no start picture with its references")
            body[str(refs["start_field"])] = await self.image_url(req.start_image, req.model)
        if req.end_image is not None and refs.get("end_field"):
            body[str(refs["end_field"])] = await self.image_url(req.end_image, req.model)

    def _check_extend_source(self, ks: KindSpec, path: Path, label: str) -> None:
        """The input limits of an extend endpoint, measured on the video that would be sent."""
        if ks.max_input_seconds is None and ks.min_input_seconds is None:
            return
        from .. import media

        try:
            length = media.probe(path).duration
        except media.MediaError as exc:
            raise self._error(ProviderError, f"{label}: the video to extend cannot be read ({exc})") from None
        hi, lo = ks.max_input_seconds, ks.min_input_seconds
        if (hi is not None and length > hi + 0.05) or (lo is not None and length < lo - 0.05):
            bounds = f"{lo or 0:g}-{hi:g} s" if hi is not None else f"at least {lo:g} s"
            raise self._error(
                ProviderError, f"{label}: {ks.label} takes a video of {bounds}; {path.name} is {length:.2f} s"
            )

    async def video_url(self, path: Path) -> str:
        """A URL the model can read the video at ``path`` from (a fal storage upload)."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise self._error(ProviderError, f"cannot read video {path}: {exc.strerror}") from None
        return await self.upload_bytes(data, "video/mp4", Path(path).name)

    async def _submit(self, endpoint: str, arguments: dict[str, Any]) -> Submission:
        data = await self._call(
            "POST",
            f"{self.queue_url}/{endpoint}",
            what=f"submitting to {endpoint}",
            subject=endpoint,
            not_found=ModelUnavailable,
            json=arguments,
        )
        request_id = data.get("request_id") if isinstance(data, dict) else None
        if not request_id:
            raise self._error(ProviderError, f"fal accepted a request to {endpoint} but returned no request id")
        base = _app_base(self.queue_url, endpoint, str(request_id))
        return Submission(
            request_id=str(request_id),
            endpoint=endpoint,
            status_url=data.get("status_url") or base + "/status",
            response_url=data.get("response_url") or base,
            cancel_url=data.get("cancel_url") or base + "/cancel",
        )

    async def submit(self, req: RenderRequest) -> Submission:
        endpoint = req.model.endpoint(req.kind)
        arguments = await self.build_arguments(req)
        return await self._submit(endpoint, arguments)

    def _urls(self, sub: Submission) -> tuple[str, str, str]:
        base = _app_base(self.queue_url, sub.endpoint, sub.request_id) if sub.endpoint else ""
        return (
            sub.status_url or base + "/status",
            sub.response_url or base,
            sub.cancel_url or base + "/cancel",
        )

    async def status(self, sub: Submission) -> ProviderStatus:
        status_url, _, _ = self._urls(sub)
        data = await self._call(
            "GET",
            status_url,
            what=f"checking request {sub.request_id}",
            subject=f"request {sub.request_id} on {sub.endpoint}",
            not_found=RequestNotFound,
            params={"logs": "1"},
        )
        if not isinstance(data, dict):
            raise self._error(TransientError, f"fal returned an unreadable status for request {sub.request_id}")
        state = data.get("status")
        logs = _log_messages(data.get("logs"))
        if state == "IN_QUEUE":
            pos = data.get("queue_position")
            return ProviderStatus("queued", queue_position=pos if isinstance(pos, int) else None, logs=logs)
        if state == "IN_PROGRESS":
            return ProviderStatus("running", logs=logs)
        if state == "COMPLETED":
            error = data.get("error")
            if error:
                text = _detail_text(error)
                if _is_content_policy(error, data.get("error_type")):
                    raise self._error(ContentPolicyError, text)
                raise self._error(ProviderError, f"fal reports that request {sub.request_id} failed: {text}")
            return ProviderStatus("completed", logs=logs)
        raise self._error(TransientError, f"fal returned an unknown status {state!r} for request {sub.request_id}")

    # --- status stream (server-sent events) -------------------------------------------

    async def wait_for_change(self, sub: Submission, timeout: float, cancel: asyncio.Event | None = None) -> None:
        """Wait for the next event of the request's status stream (``GET …/status/stream``), at most
        ``timeout`` seconds, so a completion is noticed at once instead of at the next poll. Servers
        that do not stream (gateways, some fakes) are remembered and simply polled."""
        status_url, _, _ = self._urls(sub)
        host = urlsplit(status_url).netloc
        watch = self._watches.get(sub.request_id)
        if watch is None and host not in self._no_stream:
            await self._clients()
            watch = _Watch(asyncio.Event())
            watch.task = asyncio.get_running_loop().create_task(self._stream(sub, status_url, host, watch))
            self._watches[sub.request_id] = watch
        if watch is None or watch.ended:
            await super().wait_for_change(sub, timeout, cancel)
            return
        waits = [asyncio.ensure_future(watch.changed.wait())]
        if cancel is not None:
            waits.append(asyncio.ensure_future(cancel.wait()))
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        watch.changed.clear()

    async def _stream(self, sub: Submission, status_url: str, host: str, watch: _Watch) -> None:
        """Read the request's status stream until COMPLETED (or until it fails: polling goes on)."""
        from httpx_sse import aconnect_sse

        http, _ = await self._clients()
        timeout = httpx.Timeout(self._timeout.connect, read=STREAM_KEEPALIVE * 4)
        try:
            async with aconnect_sse(
                http, "GET", status_url.rstrip("/") + "/stream", params={"logs": "0"}, timeout=timeout
            ) as source:
                ctype = source.response.headers.get("content-type", "")
                if source.response.status_code != 200 or "text/event-stream" not in ctype:
                    if source.response.status_code in (404, 405, 501) or "text/event-stream" not in ctype:
                        self._no_stream.add(host)
                    return
                async for event in source.aiter_sse():
                    if not event.data:
                        continue
                    watch.events += 1
                    watch.changed.set()
                    try:
                        state = json.loads(event.data).get("status")
                    except (ValueError, AttributeError):
                        state = None
                    if state == "COMPLETED":
                        return
        except (httpx.HTTPError, OSError, ValueError):
            pass  # the stream is a shortcut; polling still notices everything
        except asyncio.CancelledError:
            raise
        finally:
            watch.ended = True
            watch.changed.set()

    def _forget_watch(self, request_id: str) -> None:
        watch = self._watches.pop(request_id, None)
        if watch is not None and watch.task is not None and not watch.task.done():
            watch.task.cancel()

    async def _output(self, sub: Submission) -> dict[str, Any]:
        _, response_url, _ = self._urls(sub)
        data = await self._call(
            "GET",
            response_url,
            what=f"fetching the result of request {sub.request_id}",
            subject=f"request {sub.request_id} on {sub.endpoint}",
            not_found=RequestNotFound,
        )
        if not isinstance(data, dict):
            raise self._error(BadResult, f"the result of request {sub.request_id} is not a JSON object")
        return data

    async def result(self, sub: Submission) -> RenderResult:
        data = await self._output(sub)
        self._forget_watch(sub.request_id)
        video = data.get("video")
        url = video.get("url") if isinstance(video, dict) else (video if isinstance(video, str) else None)
        if not url:
            keys = ", ".join(sorted(data)) or "nothing"
            raise self._error(
                BadResult,
                f"no video URL in the result of request {sub.request_id} from {sub.endpoint} (it has: {keys})",
            )
        return RenderResult(video_url=str(url), raw=data)

    async def cancel(self, sub: Submission) -> None:
        self._forget_watch(sub.request_id)
        _, _, cancel_url = self._urls(sub)
        await self._call(
            "PUT",
            cancel_url,
            what=f"cancelling request {sub.request_id}",
            subject=f"request {sub.request_id} on {sub.endpoint}",
            not_found=RequestNotFound,
        )

    # --- downloads ----------------------------------------------------------------

    async def download(self, result: RenderResult, dest: Path, progress: DownloadProgress | None = None) -> None:
        await self._download(result.video_url, Path(dest), progress)

    async def _download(self, url: str, dest: Path, progress: DownloadProgress | None) -> None:
        """Stream ``url`` to a part file next to ``dest`` and rename it; resume with Range on a dropped connection."""
        _, plain = await self._clients()
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(f".{dest.name}.{hashlib.sha1(url.encode()).hexdigest()[:10]}.part")
        name = dest.name
        failures = 0
        while True:
            done = part.stat().st_size if part.exists() else 0
            total: int | None = None
            headers = {"Accept-Encoding": "identity"}
            if done:
                headers["Range"] = f"bytes={done}-"
            try:
                async with plain.stream("GET", url, headers=headers, timeout=self._timeout) as resp:
                    if resp.status_code == 416 and done:  # part file already complete (or stale): start over
                        part.unlink(missing_ok=True)
                        continue
                    if resp.status_code >= 400:
                        await resp.aread()
                        code = resp.status_code
                        if code in TRANSIENT_CODES or code >= 500:
                            raise self._error(TransientError, f"downloading {name} failed (HTTP {code})", code)
                        raise self._error(
                            BadResult,
                            f"the video of {name} cannot be downloaded (HTTP {code}); it may have expired",
                            code,
                        )
                    if resp.status_code == 206 and done:
                        mode = "ab"
                        crange = resp.headers.get("content-range", "")
                        if "/" in crange and crange.rsplit("/", 1)[1].isdigit():
                            total = int(crange.rsplit("/", 1)[1])
                    else:
                        mode, done = "wb", 0
                        length = resp.headers.get("content-length")
                        total = int(length) if length and length.isdigit() else None
                    with open(part, mode) as fh:
                        if progress:
                            progress(done, total)
                        async for chunk in resp.aiter_raw():
                            fh.write(chunk)
                            done += len(chunk)
                            if progress:
                                progress(done, total)
                if total is not None and done < total:
                    raise httpx.RemoteProtocolError(f"connection closed after {done} of {total} bytes")
                break
            except (httpx.TransportError, OSError) as exc:
                if isinstance(exc, OSError) and not isinstance(exc, ConnectionError):
                    # our disk, not the request: the job fails naming it and keeps the request (a resume
                    # downloads again, no second submit); what was written stays for a ranged resume
                    raise os_failure(exc, part) from None
                failures += 1
                if failures >= DOWNLOAD_ATTEMPTS:
                    raise self._error(
                        TransientError,
                        f"downloading {name} kept failing ({failures} tries, {type(exc).__name__}); "
                        f"{done} bytes kept to resume",
                    ) from None
                delay = min(self.settings.retry_max_delay, self.settings.retry_base_delay * 2 ** (failures - 1))
                await asyncio.sleep(delay)
        os.replace(part, dest)

    # --- images (keyframes) ---------------------------------------------------------

    async def generate_image(self, req: ImageRequest, dest: Path) -> None:
        """Submit to an image endpoint (text-to-image, or ``/edit`` with ``image_urls``), poll, download a PNG."""
        await self.fetch_image(await self.submit_image(req), req, dest)

    async def submit_image(self, req: ImageRequest) -> Submission:
        """Queue one image request (its pictures uploaded first); the handle re-attaches later."""
        args: dict[str, Any] = {IMAGE_FIELDS["prompt"]: req.prompt, IMAGE_FIELDS["count"]: 1, **IMAGE_FORMAT}
        if req.aspect:
            args[IMAGE_FIELDS["aspect"]] = req.aspect
        sources = ([req.source] if req.source is not None else []) + list(req.references)
        if sources:
            args[IMAGE_FIELDS["sources"]] = [await self.image_url(p) for p in sources]
        return await self._submit(req.endpoint, args)

    async def fetch_image(self, sub: Submission | None, req: ImageRequest, dest: Path) -> None:
        """Wait for the image request ``sub`` to finish and download its first picture to ``dest``."""
        if sub is None:
            sub = await self.submit_image(req)
        transient = 0
        deadline = time.monotonic() + max(60.0, self.settings.request_timeout * 5)
        while True:
            try:
                st = await self.status(sub)
            except TransientError:
                transient += 1
                if transient > self.settings.max_retries:
                    raise
                st = ProviderStatus("queued")
            if st.state == "completed":
                break
            if time.monotonic() > deadline:
                raise self._error(TransientError, f"image request {sub.request_id} on {sub.endpoint} did not finish")
            await self.wait_for_change(sub, self.settings.poll_interval)
        data = await self._output(sub)
        self._forget_watch(sub.request_id)
        images = data.get("images")
        first = images[0] if isinstance(images, list) and images else None
        url = first.get("url") if isinstance(first, dict) else None
        if not url:
            raise self._error(BadResult, f"no image URL in the result of request {sub.request_id} from {sub.endpoint}")
        await self._download(str(url), Path(dest), None)

    async def aclose(self) -> None:
        for request_id in list(self._watches):
            self._forget_watch(request_id)
        for client in (self._http, self._plain):
            if client is not None:
                try:
                    await client.aclose()
                except Exception:  # closing on another loop: nothing left to release
                    pass
        self._http = self._plain = None
        self._fal = None
        self._loop = None
