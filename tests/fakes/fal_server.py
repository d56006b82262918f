"""A wire-level fake of fal.ai on 127.0.0.1: queue, storage (token + CDN upload) and file serving.

It speaks the protocol fal-client speaks, at the same paths:

* ``POST /{endpoint_id}`` (``Authorization: Key <key>``, JSON body) →
  ``{request_id, status_url, response_url, cancel_url, queue_position}``; the app id in
  the request URLs is the first two parts of the endpoint id (as ``fal_client.AppId``).
* ``GET /{owner}/{alias}/requests/{id}/status?logs=1`` → IN_QUEUE (+queue_position) /
  IN_PROGRESS (+logs) / COMPLETED (+logs).
* ``GET /{owner}/{alias}/requests/{id}`` → the model output; ``PUT …/cancel``.
* ``POST /storage/auth/token?storage_type=fal-cdn-v3`` → ``{token, token_type, base_url, expires_at}``;
  ``POST /files/upload`` (raw bytes, ``Authorization: Bearer <token>``) → ``{access_url}``;
  ``GET /files/...`` serves uploads and outputs (with HTTP Range).

Every submit body is validated against fal's recorded input type of the endpoint it is
addressed at (``tests/fal_schemas``, see :mod:`fakes.fal_schemas`): a field the endpoint
does not take, a value outside its allowed set or a missing required field answers 422 in
fal's shape (``detail: [{loc, msg, type}]``), before anything is queued.

Video endpoints return REAL MP4s made by the offline preview renderer at a small size
(``render_size``, whatever resolution was asked, so tests stay fast) for the requested
duration; image-to-video starts on the uploaded image, first-last-frame uses both
uploads. Extend endpoints download the uploaded video and continue it from its last
frame: endpoints in ``extend_echo`` return the source followed by the extension
(re-encoded as one file, as a real service would), the others the extension alone. Image endpoints (nano-banana-2, ``/edit``) return PNGs from ``render_image``.

Use one base URL for queue, REST and CDN (``fake.url``). Faults are switches on the
instance (see :class:`FalFake`); every request is recorded in ``fake.records``.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from tempfile import mkdtemp
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from . import fal_schemas

if TYPE_CHECKING:
    from sora_tui.core.catalog import ModelSpec

# Extend endpoints whose output is the source video followed by the extension (the rest
# return the extension alone); ``FalFake.extend_echo`` changes it per instance.
ECHO_EXTEND = {"fal-ai/veo3.1/extend-video", "fal-ai/veo3.1/fast/extend-video", "fal-ai/ltx-2.3/extend-video"}
IMAGE_ENDPOINTS = {"fal-ai/nano-banana-2", "fal-ai/nano-banana-2/edit"}
NAMESPACES = {"workflows", "comfy"}


def app_id(endpoint: str) -> str:
    parts = endpoint.strip("/").split("/")
    if parts[0] in NAMESPACES:
        return "/".join(parts[:3])
    return "/".join(parts[:2])


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    route: str
    json: Any = None
    status: int = 0
    time: float = field(default_factory=time.time)


@dataclass
class FakeRequest:
    id: str
    endpoint: str
    body: dict[str, Any]
    number: int  # 1-based submit count
    submitted_at: float  # monotonic
    queue_time: float
    run_time: float
    held: bool = False
    cancelled: bool = False
    polls: int = 0
    output: dict[str, Any] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    submitted_wall: float = field(default_factory=time.time)  # time.time() of the submit (or release)

    @property
    def completed_wall(self) -> float:
        """When the request became COMPLETED, on the clock of ``Recorded.time``."""
        return self.submitted_wall + self.queue_time + self.run_time

    @property
    def prompt(self) -> str:
        return str(self.body.get("prompt", ""))


def _matches(rule: str | int | Callable[[FakeRequest], bool] | None, req: FakeRequest) -> bool:
    if rule is None or rule is False:
        return False
    if rule is True:
        return True
    if callable(rule):
        return bool(rule(req))
    if isinstance(rule, int):
        return req.number == rule
    return str(rule) in req.prompt


class FalFake:
    """The fake fal. Switches (all thread-safe to flip while a test runs):

    * ``reject_key``: every authenticated call answers 401.
    * ``unknown_endpoints``: endpoint ids that answer 404 on submit (``missing_all``: all).
    * ``content_policy``: prompt marker (str), submit number (int, 1-based) or predicate whose result
      is a 422 ``content_policy_violation``; ``policy_on_submit=True`` refuses at submit.
    * ``no_video``: marker / submit number whose result has no video URL.
    * ``completed_error``: marker / submit number whose status is COMPLETED with an ``error``.
    * ``hold``: True (all new requests) / submit number / marker: stays IN_QUEUE until ``release()``.
    * ``fail_next(route, status, count, submit_no=None)``: the next ``count`` calls of a route
      (submit, status, result, cancel, token, upload, file, any) answer ``status``.
    * ``malformed_next(route, count)``: the next calls answer 200 with broken JSON.
    * ``drop_downloads``: the next N video downloads close the connection half-way.
    * ``download_delay``: seconds slept between chunks of a file download (slow network).
    * ``forget()``: drop every request (provider expiry: 404 on status/result).
    * ``running_ignores_cancel``: a cancel of an IN_PROGRESS request is accepted (202
      CANCELLATION_REQUESTED) but the app does not stop: it completes and delivers, as a fal app
      that does not handle cancellation does (a queued request is still dropped).
    * ``sse``: offer the status stream (server-sent events, closed after COMPLETED); False answers 404.
    * latencies: ``queue_time``, ``run_time`` (per request, fixed at submit), ``submit_delay``.
    * ``render_modes``: ``{endpoint or prefix: ((width, height), fps)}``: videos of those endpoints come
      back at that size and frame rate (shots of different models differ, as real ones do).
    * ``hold_reply``: marker / submit number / predicate on the :class:`FakeRequest`: that submit is
      accepted (stored, counted, billed as fal would) but its answer waits ``hold_reply_s`` seconds,
      the window in which a client may give up on a request that is already paid for.
    """

    def __init__(
        self,
        key: str = "fal-test-key-7f3a9c2e1b",
        *,
        queue_time: float = 0.0,
        run_time: float = 0.05,
        render_size: tuple[int, int] = (128, 72),
        render_fps: int = 12,
    ) -> None:
        self.key = key
        self.queue_time = queue_time
        self.run_time = run_time
        self.submit_delay = 0.0
        self.hold_reply: Any = None  # str | int | Callable[[FakeRequest], bool] | None
        self.hold_reply_s = 0.0
        self.render_size = render_size
        self.render_fps = render_fps
        # per endpoint (an id or a prefix of one): ((width, height), fps) instead of the defaults, so
        # one job can get shots of different sizes and frame rates, as different models deliver
        self.render_modes: dict[str, tuple[tuple[int, int], int]] = {}
        # switches
        self.reject_key = False
        self.unknown_endpoints: set[str] = set()
        self.missing_all = False
        self.content_policy: str | int | Callable[[FakeRequest], bool] | None = None
        self.policy_on_submit = False
        self.no_video: str | int | None = None
        self.completed_error: str | int | None = None
        self.hold: bool | str | int | None = None
        # like a fal account: at most this many requests in flight (submitted, result not yet
        # fetched, not cancelled); a submit beyond it answers 429. ``in_flight`` / ``max_in_flight``
        # count them whether or not a limit is set.
        self.concurrency_limit: int | None = None
        self.in_flight: set[str] = set()
        self.max_in_flight = 0
        self.drop_downloads = 0
        self.download_delay = 0.0
        self.running_ignores_cancel = False
        self.extend_echo: set[str] = set(ECHO_EXTEND)
        self.sse = True  # offer GET …/requests/{id}/status/stream (False: 404 there, like a gateway)
        self.sse_keepalive = 15.0  # seconds between ": ping" comments on an open stream
        self.chunk_size = 16 * 1024
        # state
        self.records: list[Recorded] = []
        self.requests: dict[str, FakeRequest] = {}
        self.files: dict[str, tuple[bytes, str]] = {}  # name -> (bytes, content type)
        self.tokens: set[str] = set()
        self._faults: dict[str, deque[tuple[int, int | None, Any]]] = {}
        self._malformed: dict[str, int] = {}
        self._lock = threading.RLock()
        self._submits = 0
        self._workdir = Path(mkdtemp(prefix="fal-fake-"))
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> FalFake:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fal-fake", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FalFake:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)
        return f"http://{host}:{port}"

    def env(self) -> dict[str, str]:
        """Environment variables that point sora-tui (and its FalProvider) at this fake."""
        return {
            "FAL_KEY": self.key,
            "SORA_TUI_FAL_QUEUE_URL": self.url,
            "SORA_TUI_FAL_REST_URL": self.url,
            "SORA_TUI_FAL_CDN_URL": self.url,
        }

    # --- switches -----------------------------------------------------------------

    def fail_next(
        self, route: str, status: int, count: int = 1, *, submit_no: int | None = None, body: Any = None
    ) -> None:
        with self._lock:
            q = self._faults.setdefault(route, deque())
            for _ in range(count):
                q.append((status, submit_no, body))

    def malformed_next(self, route: str, count: int = 1) -> None:
        with self._lock:
            self._malformed[route] = self._malformed.get(route, 0) + count

    def release(self) -> None:
        """Let held requests proceed (their queue time counts from now)."""
        with self._lock:
            self.hold = None
            for req in self.requests.values():
                if req.held:
                    req.held = False
                    req.submitted_at = time.monotonic()
                    req.submitted_wall = time.time()

    def release_only(self, rule: str | int) -> None:
        """Let the held requests matching ``rule`` (prompt marker or submit number) proceed; others stay held."""
        with self._lock:
            for req in self.requests.values():
                if req.held and _matches(rule, req):
                    req.held = False
                    req.submitted_at = time.monotonic()
                    req.submitted_wall = time.time()

    def forget(self) -> None:
        with self._lock:
            self.requests.clear()

    # --- records ------------------------------------------------------------------

    def of(self, route: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.records if r.route == route]

    @property
    def submits(self) -> list[Recorded]:
        """Accepted submissions (2xx) — what a user would pay for."""
        return [r for r in self.of("submit") if 200 <= r.status < 300]

    @property
    def uploads(self) -> list[bytes]:
        return [r.body for r in self.of("upload") if 200 <= r.status < 300]

    def wait_for(self, predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.02) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(interval)
        return False

    # --- internals used by the handler ----------------------------------------------

    def _take_fault(self, route: str, req: FakeRequest | None) -> tuple[int, Any] | None:
        with self._lock:
            for name in (route, "any"):
                q = self._faults.get(name)
                if not q:
                    continue
                for i, (status, submit_no, body) in enumerate(q):
                    if submit_no is None or (req is not None and req.number == submit_no):
                        del q[i]
                        return status, body
        return None

    def _take_malformed(self, route: str) -> bool:
        with self._lock:
            for name in (route, "any"):
                if self._malformed.get(name, 0) > 0:
                    self._malformed[name] -= 1
                    return True
        return False

    def _state(self, req: FakeRequest) -> str:
        if req.held or req.cancelled:
            return "IN_QUEUE" if not req.cancelled else "COMPLETED"
        elapsed = time.monotonic() - req.submitted_at
        if elapsed < req.queue_time:
            return "IN_QUEUE"
        if elapsed < req.queue_time + req.run_time:
            return "IN_PROGRESS"
        return "COMPLETED"

    def _queue_position(self, req: FakeRequest) -> int:
        with self._lock:
            ahead = [r for r in self.requests.values() if r.number < req.number and self._state(r) == "IN_QUEUE"]
        return len(ahead)

    def _spec_for(self, endpoint: str) -> tuple[ModelSpec, str] | tuple[None, None]:
        from sora_tui.core.catalog import load_catalog

        for spec in load_catalog():
            if spec.provider != "fal":
                continue
            for kind, ep in spec.endpoints.items():
                if ep == endpoint:
                    return spec, kind
        return None, None

    def _kind_for(self, spec: ModelSpec, endpoint: str, body: dict[str, Any]) -> str:
        """Which of the model's kinds a body addresses (one endpoint can serve i2v, flf2v and extend)."""
        kinds = [k for k, ep in spec.endpoints.items() if ep == endpoint]
        video = spec.fields.get("video")
        last = spec.fields.get("last_frame")
        if "extend" in kinds and video and video in body:
            return "extend"
        if "flf2v" in kinds and last and last in body:
            return "flf2v"
        rest = [k for k in kinds if k not in ("extend", "flf2v")]
        return rest[0] if rest else kinds[0]

    def known(self, endpoint: str) -> bool:
        if self.missing_all or endpoint in self.unknown_endpoints:
            return False
        if endpoint in IMAGE_ENDPOINTS:
            return True
        return self._spec_for(endpoint)[0] is not None

    def _image_bytes(self, url: Any) -> bytes | None:
        if not isinstance(url, str):
            return None
        if url.startswith("data:"):
            try:
                return base64.b64decode(url.split(",", 1)[1])
            except Exception:
                return None
        prefix = self.url + "/files/"
        if url.startswith(prefix):
            item = self.files.get(url[len(prefix) :])
            return item[0] if item else None
        return None

    def validate(self, endpoint: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """FastAPI-style validation errors for a submit body ([] when fine): fal's input type of
        the endpoint (recorded schema), then the files it names must be downloadable."""
        errors = fal_schemas.errors(endpoint, body)
        if isinstance(body.get("prompt"), str) and not body["prompt"].strip():
            errors.append({"loc": ["body", "prompt"], "msg": "Prompt must not be empty", "type": "value_error"})
        if errors:
            return errors
        spec, _ = self._spec_for(endpoint)
        needed: list[str] = []
        if spec is not None:
            kind = self._kind_for(spec, endpoint, body)
            roles = {"i2v": ["image"], "flf2v": ["first_frame", "last_frame"], "extend": ["video"]}.get(kind, [])
            needed = [spec.fields[r] for r in roles if spec.fields.get(r)]
            if kind == "r2v":
                errors += self._reference_errors(spec.for_kind("r2v").references, body)
        elif endpoint.endswith("/edit"):
            urls = body.get("image_urls")
            if not isinstance(urls, list) or not urls or any(self._image_bytes(u) is None for u in urls):
                errors.append(
                    {"loc": ["body", "image_urls"], "msg": "could not load the images", "type": "value_error"}
                )
        for name in needed:
            if name not in body:
                errors.append({"loc": ["body", name], "msg": "Field required", "type": "missing"})
            elif self._image_bytes(body[name]) is None:
                errors.append(
                    {"loc": ["body", name], "msg": "Failed to download the file", "type": "file_download_error"}
                )
        return errors

    def _reference_errors(self, refs: dict[str, Any], body: dict[str, Any]) -> list[dict[str, Any]]:
        """A reference-to-video body: its pictures present, downloadable and within the limit."""
        name = str(refs.get("field"))
        value = body.get(name)
        if not isinstance(value, list) or not value:
            return [{"loc": ["body", name], "msg": "at least one reference is required", "type": "missing"}]
        if refs.get("style") == "elements":
            urls = []
            for e in value:
                more = e.get("reference_image_urls") or []
                if not more or len(more) > 3:
                    return [
                        {"loc": ["body", name], "msg": "1-3 reference_image_urls per element", "type": "value_error"}
                    ]
                urls += [e.get("frontal_image_url"), *more]
        else:
            urls = list(value)
        if len(value) > int(refs.get("max", 0)):
            return [{"loc": ["body", name], "msg": f"at most {refs.get('max')} references", "type": "value_error"}]
        if any(self._image_bytes(u) is None for u in urls):
            return [{"loc": ["body", name], "msg": "Failed to download the file", "type": "file_download_error"}]
        return []

    def _render(self, req: FakeRequest) -> dict[str, Any]:
        """The output of a completed request (rendered once, on first read)."""
        with req.lock:
            if req.output is not None:
                return req.output
            if req.endpoint in IMAGE_ENDPOINTS:
                req.output = self._render_image(req)
            else:
                req.output = self._render_video(req)
            return req.output

    def _mode(self, endpoint: str) -> tuple[tuple[int, int], int]:
        for prefix, mode in sorted(self.render_modes.items(), key=lambda kv: -len(kv[0])):
            if endpoint.startswith(prefix):
                return mode
        return self.render_size, self.render_fps

    def _size(self, aspect: Any, endpoint: str = "") -> tuple[int, int]:
        w, h = self._mode(endpoint)[0]
        if aspect == "9:16":
            return h, w
        if aspect == "1:1":
            return h, h
        return w, h

    def _render_video(self, req: FakeRequest) -> dict[str, Any]:
        from sora_tui.core import media
        from sora_tui.core.models import Kind
        from sora_tui.core.providers.base import RenderRequest
        from sora_tui.core.providers.preview import render_video

        spec, _ = self._spec_for(req.endpoint)
        assert spec is not None
        body = req.body
        kind = self._kind_for(spec, req.endpoint, body)
        ks = spec.for_kind(kind)
        raw = body.get(ks.duration_field or "duration", ks.default_duration or ks.durations[0])
        seconds = int(str(raw).rstrip("s"))
        w, h = self._size(body.get(ks.aspect_field or "aspect_ratio"), req.endpoint)
        fps = self._mode(req.endpoint)[1]
        work = self._workdir / req.id
        work.mkdir(parents=True, exist_ok=True)

        def upload(role: str, suffix: str = ".png") -> Path | None:
            name = ks.fields.get(role)
            data = self._image_bytes(body.get(name)) if name else None
            if data is None:
                return None
            path = work / f"{role}{suffix}"
            path.write_bytes(data)
            return path

        start = end = source = None
        references: list[list[Path]] = []
        if kind == "r2v":  # draw each reference picture in, as a reference-conditioned model keeps identity
            refs = ks.references
            value = body.get(str(refs.get("field")), [])
            urls = [e.get("frontal_image_url") for e in value] if refs.get("style") == "elements" else list(value)
            for k, url in enumerate(urls):
                data = self._image_bytes(url)
                if data is not None:
                    path = work / f"ref_{k}.png"
                    path.write_bytes(data)
                    references.append([path])
            data = self._image_bytes(body.get(str(refs.get("start_field") or "")))
            if data is not None:
                start = work / "start.png"
                start.write_bytes(data)
        elif kind == "i2v":
            start = upload("image")
        elif kind == "flf2v":
            start, end = upload("first_frame"), upload("last_frame")
        elif kind == "extend":
            source = upload("video", ".mp4")
            assert source is not None
            info = media.probe(source)
            w, h = info.width, info.height
            start = media.last_frame(source, work / "source_last.png")
        if ks.audio == "optional" and ks.audio_field:
            audio = bool(body.get(ks.audio_field, True))
        else:
            audio = ks.audio == "always" or (kind == "extend" and source is not None and media.probe(source).has_audio)
        rr = RenderRequest(
            model=spec,
            kind=Kind.I2V if kind == "extend" else Kind(kind),
            prompt=req.prompt,
            seconds=seconds,
            resolution=str(body.get(ks.resolution_field or "resolution", "")),
            aspect=str(body.get(ks.aspect_field or "aspect_ratio", "16:9")),
            audio=audio,
            width=w,
            height=h,
            fps=fps,
            start_image=start,
            end_image=end,
            seed=req.number,
            label=f"fal fake {req.number}",  # the same picture every run: a test never rests on luck
            references=references,
        )
        out = work / "out.mp4"
        render_video(rr, out)
        if source is not None and req.endpoint in self.extend_echo:
            out = _concat(source, out, work / "echo.mp4", audio)
        data = out.read_bytes()
        info = media.probe(out)
        name = f"v/{req.id}/output.mp4"
        with self._lock:
            self.files[name] = (data, "video/mp4")
        return {
            "video": {
                "url": f"{self.url}/files/{name}",
                "content_type": "video/mp4",
                "file_name": "output.mp4",
                "file_size": len(data),
                "width": info.width,
                "height": info.height,
                "fps": fps,
                "duration": round(info.duration, 3),
                "num_frames": info.frames,
            }
        }

    def _render_image(self, req: FakeRequest) -> dict[str, Any]:
        from sora_tui.core.providers.preview import render_image

        w, h = self._size(req.body.get("aspect_ratio"))
        work = self._workdir / req.id
        work.mkdir(parents=True, exist_ok=True)
        source = None
        references: list[Path] = []
        urls = req.body.get("image_urls") or []
        for k, url in enumerate(urls):  # the first is edited; the others (cast pictures) are put in it
            data = self._image_bytes(url)
            if data is not None:
                path = work / ("source.png" if k == 0 else f"ref_{k}.png")
                path.write_bytes(data)
                if k == 0:
                    source = path
                else:
                    references.append(path)
        out = work / "out.png"
        render_image(req.prompt, w, h, out, source=source, seed=req.number, references=references)
        data = out.read_bytes()
        name = f"i/{req.id}/output.png"
        with self._lock:
            self.files[name] = (data, "image/png")
        return {
            "images": [
                {
                    "url": f"{self.url}/files/{name}",
                    "content_type": "image/png",
                    "file_name": "output.png",
                    "width": w,
                    "height": h,
                }
            ],
            "description": "",
        }


def _concat(source: Path, extension: Path, dest: Path, audio: bool) -> Path:
    """Source followed by extension, decoded and encoded again as one file (what an echoing service returns)."""
    import subprocess

    from sora_tui.core import media

    both_audio = audio and media.probe(source).has_audio and media.probe(extension).has_audio
    graph = "[0:v][0:a][1:v][1:a]concat=n=2:v=1:a=1[v][a]" if both_audio else "[0:v][1:v]concat=n=2:v=1:a=0[v]"
    cmd = [media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(source), "-i", str(extension),
           "-filter_complex", graph, "-map", "[v]"]  # fmt: skip
    if both_audio:
        cmd += ["-map", "[a]", "-c:a", "aac", "-b:a", "128k"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p", str(dest)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return dest


_REQ_PATH = re.compile(r"^/(?P<app>.+?)/requests/(?P<id>[^/]+)(?P<tail>/status/stream|/status|/cancel)?/?$")


class _Handler(BaseHTTPRequestHandler):
    owner: FalFake
    protocol_version = "HTTP/1.1"
    server_version = "fal-fake/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # --- helpers ------------------------------------------------------------------

    def _send(self, status: int, payload: Any = None, *, raw: bytes | None = None, ctype: str = "application/json",
              headers: dict[str, str] | None = None) -> None:  # fmt: skip
        data = raw if raw is not None else (json.dumps(payload).encode() if payload is not None else b"")
        self._rec.status = status  # before the client can see the answer
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-fal-request-id", uuid.uuid4().hex)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _route(self, method: str, path: str) -> str:
        if method == "POST" and path.rstrip("/") == "/storage/auth/token":
            return "token"
        if method == "POST" and path.rstrip("/") == "/files/upload":
            return "upload"
        if method in ("GET", "HEAD") and path.startswith("/files/"):
            return "file"
        m = _REQ_PATH.match(path)
        if m:
            tail = m.group("tail")
            if tail == "/cancel" and method == "PUT":
                return "cancel"
            if tail == "/status" and method == "GET":
                return "status"
            if tail == "/status/stream" and method == "GET":
                return "stream"
            if tail is None and method == "GET":
                return "result"
        if method == "POST":
            return "submit"
        return "unknown"

    def _handle(self) -> None:
        fake = self.owner
        parts = urlsplit(self.path)
        path = parts.path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        route = self._route(self.command, path)
        parsed = None
        if body and "json" in (self.headers.get("Content-Type") or ""):
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        self._rec = Recorded(
            method=self.command,
            path=path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            route=route,
            json=parsed,
        )
        with fake._lock:
            fake.records.append(self._rec)
        getattr(self, f"_r_{route}")(path, parsed, body)

    do_GET = do_POST = do_PUT = do_HEAD = _handle  # noqa: N815

    def _authorized(self) -> bool:
        fake = self.owner
        if fake.reject_key or self.headers.get("Authorization") != f"Key {fake.key}":
            self._send(401, {"detail": "Authentication is required to perform this action."})
            return False
        return True

    def _fault(self, route: str, req: FakeRequest | None = None) -> bool:
        fault = self.owner._take_fault(route, req)
        if fault is not None:
            status, body = fault
            if body is None:
                body = {
                    "detail": {429: "Too many requests", 500: "Internal server error"}.get(status, f"Error {status}")
                }
            self._send(status, body)
            return True
        if self.owner._take_malformed(route):
            self._send(200, raw=b'{"status": "IN_QUE', ctype="application/json")
            return True
        return False

    def _lookup(self, path: str) -> FakeRequest | None:
        m = _REQ_PATH.match(path)
        req = self.owner.requests.get(m.group("id")) if m else None
        if m is None or req is None or app_id(req.endpoint) != m.group("app"):
            self._send(404, {"detail": "Request not found"})
            return None
        return req

    # --- routes -------------------------------------------------------------------

    def _r_unknown(self, path: str, parsed: Any, body: bytes) -> None:
        self._send(405, {"detail": "Method not allowed"})

    def _r_token(self, path: str, parsed: Any, body: bytes) -> None:
        if not self._authorized() or self._fault("token"):
            return
        token = uuid.uuid4().hex
        with self.owner._lock:
            self.owner.tokens.add(token)
        expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        self._send(200, {"token": token, "token_type": "Bearer", "base_url": self.owner.url, "expires_at": expires})

    def _r_upload(self, path: str, parsed: Any, body: bytes) -> None:
        fake = self.owner
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Bearer ") or auth[7:] not in fake.tokens:
            self._send(401, {"detail": "Invalid token"})
            return
        if self._fault("upload"):
            return
        ctype = self.headers.get("Content-Type") or "application/octet-stream"
        ext = {"image/png": ".png", "image/jpeg": ".jpg", "video/mp4": ".mp4"}.get(ctype, ".bin")
        name = f"u/{uuid.uuid4().hex}{ext}"
        with fake._lock:
            fake.files[name] = (body, ctype)
        self._send(200, {"access_url": f"{fake.url}/files/{name}"})

    def _r_file(self, path: str, parsed: Any, body: bytes) -> None:
        fake = self.owner
        if self._fault("file"):
            return
        item = fake.files.get(path[len("/files/") :])
        if item is None:
            self._send(404, {"detail": "File not found"})
            return
        data, ctype = item
        start = 0
        rng = self.headers.get("Range")
        status = 200
        extra = {"Accept-Ranges": "bytes"}
        if rng:
            m = re.match(r"bytes=(\d+)-$", rng.strip())
            if m:
                start = int(m.group(1))
                if start >= len(data):
                    self._send(
                        416, {"detail": "Range not satisfiable"}, headers={"Content-Range": f"bytes */{len(data)}"}
                    )
                    return
                status = 206
                extra["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        chunk = data[start:]
        drop = False
        if ctype.startswith("video/"):
            with fake._lock:
                if fake.drop_downloads > 0:
                    fake.drop_downloads -= 1
                    drop = True
        self._rec.status = status
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(chunk)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            return
        limit = len(chunk) // 2 if drop else len(chunk)
        sent = 0
        try:
            while sent < limit:
                piece = chunk[sent : min(limit, sent + fake.chunk_size)]
                self.wfile.write(piece)
                self.wfile.flush()
                sent += len(piece)
                if fake.download_delay:
                    time.sleep(fake.download_delay)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        if drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _r_submit(self, path: str, parsed: Any, body: bytes) -> None:
        fake = self.owner
        endpoint = path.strip("/")
        if not self._authorized():
            return
        if fake.submit_delay:
            time.sleep(fake.submit_delay)
        if self._fault("submit"):
            return
        if not fake.known(endpoint):
            self._send(404, {"detail": f"Application '{app_id(endpoint)}' not found"})
            return
        if not isinstance(parsed, dict):
            self._send(
                422, {"detail": [{"loc": ["body"], "msg": "Input should be a valid dictionary", "type": "dict_type"}]}
            )
            return
        errors = fake.validate(endpoint, parsed)
        if errors:
            self._send(422, {"detail": errors})
            return
        with fake._lock:
            fake._submits += 1
            req = FakeRequest(
                id=str(uuid.uuid4()),
                endpoint=endpoint,
                body=parsed,
                number=fake._submits,
                submitted_at=time.monotonic(),
                queue_time=fake.queue_time,
                run_time=fake.run_time,
            )
            if fake.policy_on_submit and _matches(fake.content_policy, req):
                self._send(422, {"detail": [_policy_detail()]})
                return
            if fake.concurrency_limit is not None and len(fake.in_flight) >= fake.concurrency_limit:
                self._send(429, {"detail": f"too many requests in flight (limit {fake.concurrency_limit})"})
                return
            req.held = _matches(fake.hold, req)
            fake.requests[req.id] = req
            fake.in_flight.add(req.id)
            fake.max_in_flight = max(fake.max_in_flight, len(fake.in_flight))
        rule = fake.hold_reply
        if rule is not None and (rule(req) if callable(rule) else _matches(rule, req)):
            time.sleep(fake.hold_reply_s)  # accepted above: the client may stop waiting meanwhile
        base = f"{fake.url}/{app_id(endpoint)}/requests/{req.id}"
        self._send(
            200,
            {
                "status": "IN_QUEUE",
                "request_id": req.id,
                "response_url": base,
                "status_url": base + "/status",
                "cancel_url": base + "/cancel",
                "queue_position": fake._queue_position(req),
            },
        )

    def _r_status(self, path: str, parsed: Any, body: bytes) -> None:
        fake = self.owner
        if not self._authorized():
            return
        m = _REQ_PATH.match(path)
        if self._fault("status", fake.requests.get(m.group("id")) if m else None):
            return
        req = self._lookup(path)
        if req is None:
            return
        req.polls += 1
        self._send(200, self._status_body(req))

    def _status_body(self, req: FakeRequest) -> dict[str, Any]:
        fake = self.owner
        state = fake._state(req)
        logs_on = self._rec.query.get("logs", ["0"])[0] in ("1", "true", "True")
        ts = datetime.now(UTC).isoformat()
        logs = [{"message": "Starting generation", "level": "INFO", "source": "user", "timestamp": ts}]
        out: dict[str, Any] = {
            "status": state,
            "request_id": req.id,
            "response_url": f"{fake.url}/{app_id(req.endpoint)}/requests/{req.id}",
        }
        if state == "IN_QUEUE":
            out["queue_position"] = fake._queue_position(req)
        elif state == "IN_PROGRESS":
            out["logs"] = logs if logs_on else None
        else:
            logs.append({"message": "Generation finished", "level": "INFO", "source": "user", "timestamp": ts})
            out["logs"] = logs if logs_on else None
            out["metrics"] = {"inference_time": req.run_time}
            if _matches(fake.completed_error, req):
                out["error"] = "Internal error while generating the video"
                out["error_type"] = "internal_error"
        return out

    def _r_stream(self, path: str, parsed: Any, body: bytes) -> None:
        """fal's status stream: an event per status change, ``: ping`` comments, closed after COMPLETED."""
        fake = self.owner
        if not self._authorized():
            return
        if not fake.sse:
            self._send(404, {"detail": "Not Found"})
            return
        req = self._lookup(path)
        if req is None:
            return
        self._rec.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        last = None
        ping = time.monotonic()
        try:
            while True:
                if fake.requests.get(req.id) is not req:  # forgotten (expired)
                    return
                out = self._status_body(req)
                what = (out["status"], out.get("queue_position"))
                if what != last:
                    last = what
                    self.wfile.write(f"data: {json.dumps(out)}\n\n".encode())
                    self.wfile.flush()
                    if out["status"] == "COMPLETED":
                        return
                elif time.monotonic() - ping >= fake.sse_keepalive:
                    ping = time.monotonic()
                    self.wfile.write(b": ping\n\n")
                    self.wfile.flush()
                time.sleep(0.005)
        except (BrokenPipeError, ConnectionResetError):
            return

    def _r_result(self, path: str, parsed: Any, body: bytes) -> None:
        fake = self.owner
        if not self._authorized():
            return
        m = _REQ_PATH.match(path)
        if self._fault("result", fake.requests.get(m.group("id")) if m else None):
            return
        req = self._lookup(path)
        if req is None:
            return
        if fake._state(req) != "COMPLETED":
            self._send(400, {"detail": "Request is still in progress"})
            return
        if req.cancelled:
            self._send(400, {"detail": "Request was cancelled"})
            return
        if _matches(fake.content_policy, req):
            self._send(422, {"detail": [_policy_detail()]}, headers={"x-fal-error-type": "content_policy_violation"})
            return
        if _matches(fake.no_video, req):
            self._send(200, {"seed": 42, "video": None})
            return
        try:
            output = fake._render(req)
        except Exception as exc:  # a broken render is a 500, as on fal
            self._send(500, {"detail": f"render failed: {exc}"})
            return
        with fake._lock:
            fake.in_flight.discard(req.id)
        self._send(200, output)

    def _r_cancel(self, path: str, parsed: Any, body: bytes) -> None:
        fake = self.owner
        if not self._authorized() or self._fault("cancel"):
            return
        req = self._lookup(path)
        if req is None:
            return
        if fake._state(req) == "COMPLETED":
            self._send(400, {"detail": "Request already completed"})
            return
        if fake.running_ignores_cancel and fake._state(req) == "IN_PROGRESS":
            self._send(202, {"status": "CANCELLATION_REQUESTED"})
            return
        req.cancelled = True
        with fake._lock:
            fake.in_flight.discard(req.id)
        self._send(202, {"status": "CANCELLATION_REQUESTED"})


def _policy_detail() -> dict[str, Any]:
    return {
        "loc": ["body", "prompt"],
        "msg": "The content could not be processed because it contained material flagged by a content checker.",
        "type": "content_policy_violation",
        "ctx": {"extra_info": "prompt"},
    }
