"""The ``local`` provider: open-weights video models run with Hugging Face diffusers on this machine.

A local model is a catalog entry with ``provider = "local"`` and a ``[models.ID.local]`` table
(the pipeline class, the call family, frame rule, sizes, steps, guidance, memory need; see
``core/localmodels.py``). Its weights come from a folder recorded with ``sora-tui models local
add`` and are loaded offline (``local_files_only``, ``HF_HUB_OFFLINE=1``): never a download at
run time.

It honours the same contract as a hosted queue, so the run, seams, colour anchoring and the join
work unchanged:

* ``submit`` queues the render and returns at once; ``status`` reports "waiting for the GPU
  (2nd in line, behind JOB)" while another job holds the device, then "denoising step k of n"
  with an ETA from the measured step time; ``result``/``download`` hand over an H.264 MP4 at the
  model's fps (sound when the model makes it, else silence where sound was asked for).
* The GPU is leased (``core/gpu.py``: an flock per device, freed on any death). A runner holds it
  from its first render until it has been idle for ``IDLE_RELEASE`` seconds or closes, so the
  segments of one job run back to back with the model loaded once.
* ``cancel`` stops between denoising steps (``callback_on_step_end``).
* An out-of-memory error is explained (what was tried, what the model needs) and ends the run
  resumable. Cost is $0; GPU seconds per segment are logged, priced by ``local_cost_per_gpu_hour``.

torch and diffusers are imported only here, and only when a local model is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from ..errors import Code
from ..gpu import GpuLease, LeaseCancelled, device_key, wait_message
from ..localmodels import LocalModelError, LocalSpec, check_folder, folder_for
from ..media import MediaError, atomic_path, check_ffmpeg, run_ffmpeg
from ..models import InputError, Kind
from .base import (
    BadResult,
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
)

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from ..catalog import ModelSpec
    from ..settings import Paths, Settings

logger = logging.getLogger(__name__)

# seconds a process keeps the GPU (and the model on it) after its last render, so that the segments of
# one job run back to back; a runner gives it back at once when its job ends (aclose)
IDLE_RELEASE = 30.0
EXTRA_HINT = "pip install 'sora-tui[local]'"
UPGRADE_HINT = "pip install --upgrade 'sora-tui[local]'"


class LocalOutOfMemory(ProviderError):
    """The device ran out of memory: not retried; the job stays resumable. ``code`` is
    ``LOCAL_OUT_OF_MEMORY`` with ``context`` (job, device, model) for the front ends' advice."""

    def __init__(self, message: str, *, context: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = Code.LOCAL_OUT_OF_MEMORY
        self.context: dict[str, Any] = dict(context or {})


class _Stopped(Exception):
    """Raised from the step callback when the render was cancelled."""


# --- checks before anything starts ------------------------------------------------------


def extra_missing() -> list[str]:
    """The packages of the ``local`` extra that are not installed (looked up, not imported)."""
    return [name for name in ("torch", "diffusers", "transformers") if importlib.util.find_spec(name) is None]


def resolve_device(settings: Settings) -> str:
    """The device a local model runs on, or LocalModelError saying why it cannot run here.

    ``local_device`` ("cuda", "cuda:N" or "cpu"); without CUDA a local model is refused unless
    ``local_allow_cpu`` (``--allow-cpu``): then it runs on the CPU (small models and tests).
    """
    import torch

    wanted = (settings.local_device or "cuda").strip().lower()
    if wanted == "cuda":
        wanted = "cuda:0"
    allow_cpu = bool(settings.local_allow_cpu)
    if wanted == "cpu":
        if not allow_cpu:
            raise LocalModelError(
                "device",
                "local_device is cpu: local video models are far too slow on a CPU for real work",
                code=Code.LOCAL_CPU,
                context={"reason": "cpu_device"},
            )
        return "cpu"
    if not wanted.startswith("cuda"):
        raise LocalModelError("device", f"unknown device {wanted!r}", ["cuda", "cuda:N", "cpu"])
    if not torch.cuda.is_available():
        if allow_cpu:
            return "cpu"
        build = torch.__version__
        raise LocalModelError(
            "device",
            f"no CUDA GPU is visible to torch {build} here, so local models are refused",
            code=Code.LOCAL_CPU,
            context={"reason": "no_cuda", "torch": build},
        )
    try:
        index = int(wanted.partition(":")[2] or 0)
    except ValueError:
        raise LocalModelError("device", f"unknown device {wanted!r}", ["cuda", "cuda:N", "cpu"]) from None
    count = torch.cuda.device_count()
    if index >= count:
        raise LocalModelError(
            "device", f"{wanted} does not exist: this machine has {count} GPU(s)", [f"cuda:{i}" for i in range(count)]
        )
    return f"cuda:{index}"


def check_local_model(spec: ModelSpec, paths: Paths, settings: Settings, device: bool = True) -> tuple[Path, str]:
    """Everything a local model needs before a job starts: the extra, a whole folder, a device.

    Returns (folder, device); raises LocalModelError naming the fix. ``device=False`` skips the
    device (the only check that imports torch): the studio's form checks as the user types."""
    LocalSpec.of(spec)
    if spec.supports(Kind.EXTEND):
        raise LocalModelError(
            "model",
            f"{spec.id} lists an extend endpoint, which the local provider cannot serve yet: remove it from its "
            "catalog entry and use chain mode (each segment from the last frame before)",
        )
    missing = extra_missing()
    if missing:
        raise LocalModelError(
            "model",
            f"{spec.id} runs locally and needs {', '.join(missing)}: install the extra with {EXTRA_HINT} "
            "(on a GPU box install the CUDA build of torch first)",
        )
    folder = folder_for(spec, paths, settings)
    check_folder(spec, folder)
    return folder, (resolve_device(settings) if device else "")


# --- writing frames ----------------------------------------------------------------------


def to_uint8(frames: Any) -> np.ndarray:
    """Pipeline output (F,H,W,3 floats in 0..1, or uint8, or a list of PIL images) as uint8 RGB frames."""
    import numpy as np

    if isinstance(frames, list) and frames and hasattr(frames[0], "convert"):
        return np.stack([np.asarray(f.convert("RGB"), dtype=np.uint8) for f in frames])
    arr = np.asarray(frames)
    if arr.ndim == 5:
        arr = arr[0]
    if arr.dtype != np.uint8:
        arr = np.clip(arr.astype(np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise BadResult(f"the pipeline returned frames of shape {arr.shape}, not (frames, height, width, 3)")
    return np.ascontiguousarray(arr)


def write_video(
    frames: np.ndarray,
    dest: Path,
    fps: int,
    audio: np.ndarray | None = None,
    sample_rate: int = 48000,
    with_sound: bool = False,
) -> None:
    """Encode RGB frames as an H.264 MP4 at ``fps`` (atomically), with the preview's conventions
    (yuv420p, near-lossless first and last frames, a keyframe near the end) so seams and the
    join treat it as any downloaded segment. Sound: ``audio`` (samples × channels, -1..1) when
    given, silence when ``with_sound`` and the model made none, no track otherwise."""
    import numpy as np

    from .preview import _encoder_args

    n, h, w = int(frames.shape[0]), int(frames.shape[1]), int(frames.shape[2])
    if w % 2 or h % 2:  # yuv420p needs even sides: drop the odd row/column
        frames = frames[:, : h - h % 2, : w - w % 2]
        h, w = h - h % 2, w - w % 2
    with atomic_path(dest) as tmp:
        cmd = ["-loglevel", "error", "-y"]
        cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "pipe:0"]
        wav: Path | None = None
        if audio is not None:
            wav = tmp.with_suffix(".wav")
            _write_wav(np.asarray(audio, dtype=np.float32), sample_rate, wav)
            cmd += ["-i", str(wav)]
        elif with_sound:
            cmd += ["-f", "lavfi", "-i", f"anullsrc=r=48000:cl=stereo:d={n / fps:.6f}"]
        if audio is not None or with_sound:
            cmd += ["-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-shortest"]
        else:
            cmd += ["-map", "0:v:0", "-an"]
        cmd += _encoder_args(w, h, fps, n)
        cmd += ["-map_metadata", "-1", "-movflags", "+faststart", "-f", "mp4", str(tmp)]
        try:
            proc = run_ffmpeg(cmd, input=frames.tobytes())
        finally:
            if wav is not None:
                wav.unlink(missing_ok=True)
        check_ffmpeg(proc, dest, f"writing {dest.name}")


def _write_wav(samples: np.ndarray, rate: int, dest: Path) -> None:
    import wave

    import numpy as np

    data = samples.reshape(samples.shape[0], -1) if samples.ndim > 1 else samples[:, None]
    if data.shape[0] < data.shape[1]:  # channels first (as diffusers returns it)
        data = data.T
    pcm = (np.clip(data, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(dest), "wb") as out:
        out.setnchannels(int(pcm.shape[1]))
        out.setsampwidth(2)
        out.setframerate(int(rate))
        out.writeframes(pcm.tobytes())


# --- the provider --------------------------------------------------------------------------


@dataclass
class _Loaded:
    spec: ModelSpec
    local: LocalSpec
    pipe: Any
    placement: str  # what was done to fit it: "on cuda:0", "model CPU offload + VAE tiling", "on the CPU"
    by_kind: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Job:
    rid: str
    req: RenderRequest
    path: Path
    cancel: threading.Event = field(default_factory=threading.Event)
    task: asyncio.Task[None] | None = None
    state: str = "queued"  # queued | waiting | loading | running | encoding | done
    message: str = ""
    place: int | None = None
    step: int = 0
    steps: int = 0
    step_started: float = 0.0
    gpu_seconds: float = 0.0
    frames: int = 0
    logs: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # a step or a state passed
    loop: asyncio.AbstractEventLoop | None = None

    def poke(self) -> None:
        """Wake whoever waits for a change (from the render thread)."""
        if self.loop is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.changed.set)


class LocalProvider(Provider):
    """Renders local models in worker threads, one render at a time per device."""

    name = "local"

    def __init__(self, paths: Paths, settings: Settings, idle_release: float | None = None) -> None:
        self.paths = paths
        self.settings = settings
        self.cache_dir = paths.cache_dir / "local"
        self.idle_release = IDLE_RELEASE if idle_release is None else idle_release
        self.loads = 0  # model loads by this provider (one per runner and model)
        self._loaded: dict[str, _Loaded] = {}
        self._jobs: dict[str, _Job] = {}
        self._turn = asyncio.Lock()  # one render of this process on the device at a time
        self._queue: list[str] = []  # request ids waiting for the turn
        self._lease: GpuLease | None = None
        self._device: str | None = None
        self._release_handle: asyncio.TimerHandle | None = None

    # --- the device ----------------------------------------------------------------

    @property
    def device(self) -> str:
        if self._device is None:
            self._device = resolve_device(self.settings)
        return self._device

    def _lease_for(self, job_id: str) -> GpuLease:
        if self._lease is None:
            self._lease = GpuLease(self.paths.data_dir / "gpu", self.device, job_id)
        return self._lease

    def _release_if_idle(self) -> None:
        self._release_handle = None
        if any(j.state not in ("done",) for j in self._jobs.values()) or self._turn.locked():
            return
        self._unload()

    def _unload(self) -> None:
        """Give the device back: free the models this process put on it, then release the lease."""
        if self._loaded:
            self._loaded.clear()
            if self._device and self._device.startswith("cuda"):
                with contextlib.suppress(Exception):
                    import torch

                    torch.cuda.empty_cache()
        if self._lease is not None:
            self._lease.release()

    # --- loading --------------------------------------------------------------------

    def _load(self, spec: ModelSpec) -> _Loaded:
        """Load ``spec``'s pipeline from its folder, offline, and place it on the device (in a thread)."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        local = LocalSpec.of(spec)
        folder = folder_for(spec, self.paths, self.settings)
        check_folder(spec, folder)
        import diffusers
        import torch

        cls = getattr(diffusers, local.pipeline, None)
        if cls is None:
            raise LocalModelError(
                "model",
                f"diffusers {diffusers.__version__} has no {local.pipeline}: upgrade it ({UPGRADE_HINT})",
            )
        device = self.device
        dtype_name = str(spec.local.get("dtype", "bfloat16")) if device != "cpu" else "float32"
        dtype = getattr(torch, dtype_name, torch.float32)
        try:
            pipe = cls.from_pretrained(str(folder), local_files_only=True, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise LocalModelError(
                "folder", f"{spec.id} ({folder}) does not load: {exc}; {local.download_hint(folder)}"
            ) from None
        placement = self._place(pipe, local, device)
        self.loads += 1
        return _Loaded(spec=spec, local=local, pipe=pipe, placement=placement)

    def _place(self, pipe: Any, local: LocalSpec, device: str) -> str:
        """Put the pipeline on the device as memory allows: whole, or with model CPU offload; and VAE
        tiling/slicing where it is short of memory. Returns what was done (for messages)."""
        if device == "cpu":
            return "on the CPU"
        import torch

        free, total = torch.cuda.mem_get_info(torch.device(device))
        free_gb, total_gb = free / 2**30, total / 2**30
        need = local.memory_gb
        done: list[str] = []
        if need and free_gb < need * 1.1:
            pipe.enable_model_cpu_offload(device=device)
            done.append("model CPU offload")
        else:
            pipe.to(device)
            done.append(f"whole on {device}")
        if need and free_gb < need * 1.5:
            vae = getattr(pipe, "vae", None)
            for name in ("enable_tiling", "enable_slicing"):
                if vae is not None and hasattr(vae, name):
                    getattr(vae, name)()
                    done.append("VAE " + name.removeprefix("enable_"))
        return f"{' + '.join(done)} ({free_gb:.1f} GB free of {total_gb:.1f} GB)"

    def _pipeline_for(self, loaded: _Loaded, kind: Kind) -> Any:
        name = loaded.local.pipeline_for(kind)
        if name == loaded.local.pipeline:
            return loaded.pipe
        if name not in loaded.by_kind:
            import diffusers

            cls = getattr(diffusers, name, None)
            if cls is None:
                raise LocalModelError("model", f"diffusers {diffusers.__version__} has no {name}; upgrade it")
            loaded.by_kind[name] = cls.from_pipe(loaded.pipe)  # the same components: no second load
        return loaded.by_kind[name]

    # --- rendering (in a worker thread) ---------------------------------------------------

    def _call_args(self, loaded: _Loaded, job: _Job, width: int, height: int, frames: int) -> dict[str, Any]:
        from PIL import Image

        req, local = job.req, loaded.local
        args: dict[str, Any] = {
            "prompt": req.prompt,
            "height": height,
            "width": width,
            "num_frames": frames,
            "num_inference_steps": int(req.model.local.get("steps", local.steps)),
            "guidance_scale": local.guidance,
            "output_type": "np",
            "max_sequence_length": local.max_sequence_length,
        }
        if local.negative_prompt:
            args["negative_prompt"] = local.negative_prompt
        start = Image.open(req.start_image).convert("RGB") if req.start_image else None
        end = Image.open(req.end_image).convert("RGB") if req.end_image else None
        if local.family == "ltx":
            from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

            conditions = []
            if start is not None:
                conditions.append(LTXVideoCondition(image=start, frame_index=0))
            if end is not None:
                conditions.append(LTXVideoCondition(image=end, frame_index=frames - 1))
            if conditions:
                args["conditions"] = conditions
            args["frame_rate"] = req.fps
        else:  # wan
            if start is not None:
                args["image"] = start
            if end is not None:
                args["last_image"] = end
        return args

    def _render(self, loaded: _Loaded, job: _Job) -> tuple[np.ndarray, Any, int]:
        import torch

        req, local = job.req, loaded.local
        width, height = local.size(req.resolution, req.aspect, req.width, req.height)
        n = local.frames(req.seconds, req.fps)
        pipe = self._pipeline_for(loaded, req.kind)
        args = self._call_args(loaded, job, width, height, n)
        job.steps = int(args["num_inference_steps"])
        job.step = 0
        began = time.monotonic()

        def on_step(_pipe: Any, i: int, _t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            if job.cancel.is_set():
                raise _Stopped()
            job.step = i + 1
            job.poke()
            return kwargs

        args["callback_on_step_end"] = on_step
        args["generator"] = torch.Generator("cpu").manual_seed(int(req.seed))
        job.step_started = time.monotonic()
        job.state = "running"
        job.poke()
        try:
            with torch.inference_mode():
                out = pipe(**args)
        except _Stopped:
            raise
        except Exception as exc:
            if _is_oom(exc):
                raise self._oom(loaded, job, width, height, n, exc) from None
            raise ProviderError(f"{req.model.id}: the pipeline failed on {req.label or 'a render'}: {exc}") from exc
        finally:
            job.gpu_seconds = time.monotonic() - began
        frames = to_uint8(getattr(out, "frames", out))
        audio = getattr(out, "audio", None)
        rate = int(getattr(out, "audio_sample_rate", 0) or req.model.local.get("audio_sample_rate", 24000))
        if audio is not None:
            import numpy as np

            audio = np.asarray(audio.float().cpu() if hasattr(audio, "cpu") else audio, dtype=np.float32)
            audio = audio[0] if audio.ndim == 3 else audio
        return frames, audio, rate

    def _oom(
        self, loaded: _Loaded, job: _Job, width: int, height: int, frames: int, exc: Exception
    ) -> LocalOutOfMemory:
        local = loaded.local
        need = f"about {local.memory_gb:g} GB" if local.memory_gb else "more memory than is free"
        job_ref = job.req.job_id or "JOB"
        return LocalOutOfMemory(
            f"{job.req.label or 'a segment'}: {self.device} ran out of memory rendering {loaded.spec.name} at "
            f"{width}×{height}, {frames} frames (tried: {loaded.placement}); the model needs {need}. "
            "Free the GPU (other processes), choose a lower resolution or shorter segments, or another device; "
            f"finished segments are kept ({str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__})",
            context={"job": job_ref, "device": self.device, "model": loaded.spec.id},
        )

    # --- the queue interface ------------------------------------------------------------

    async def submit(self, req: RenderRequest) -> Submission:
        if req.model.provider != "local":
            raise ModelUnavailable(f"{req.model.id} is not a local model")
        try:
            endpoint = req.model.endpoint(req.kind)
        except InputError as exc:
            raise ModelUnavailable(str(exc)) from None
        for p in (req.start_image, req.end_image):
            if p is not None and not Path(p).is_file():
                raise ProviderError(f"local: image {p} does not exist")
        if req.kind is Kind.EXTEND:
            raise ModelUnavailable(f"{req.model.id}: the local provider does not extend videos; use chain mode")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        rid = "local-" + uuid.uuid4().hex[:16]
        job = _Job(rid=rid, req=req, path=self.cache_dir / f"{rid}.mp4", loop=asyncio.get_running_loop())
        self._jobs[rid] = job
        if self._release_handle is not None:
            self._release_handle.cancel()
            self._release_handle = None
        self._queue.append(rid)
        job.task = asyncio.create_task(self._run(job), name=f"local-{rid}")
        return Submission(request_id=rid, endpoint=endpoint)

    async def _run(self, job: _Job) -> None:
        try:
            async with self._turn:
                with contextlib.suppress(ValueError):
                    self._queue.remove(job.rid)
                await self._render_job(job)
        finally:
            with contextlib.suppress(ValueError):
                self._queue.remove(job.rid)
            job.state = "done"
            loop = asyncio.get_running_loop()
            if self._release_handle is None and not self._queue:
                self._release_handle = loop.call_later(self.idle_release, self._release_if_idle)

    async def _render_job(self, job: _Job) -> None:
        req = job.req
        lease = self._lease_for(req.job_id)
        if not lease.held:
            lease.job_id = req.job_id  # the job named to those who wait behind this one
            job.state = "waiting"

            def on_wait(place: int, holder: str) -> None:
                job.place = place
                job.message = wait_message(place, holder)
                job.poke()

            try:
                waited = await asyncio.to_thread(lease.acquire, on_wait, job.cancel)
            except LeaseCancelled:
                raise ProviderError("local request was cancelled while waiting for the GPU") from None
            if waited > 0:
                job.logs.append(f"waited {waited:.1f} s for the GPU ({lease.device})")
        job.place = None
        loaded = self._loaded.get(req.model.id)
        if loaded is None:
            job.state = "loading"
            job.message = f"loading {req.model.name}"
            job.changed.set()
            t0 = time.monotonic()
            try:
                loaded = await asyncio.to_thread(self._load, req.model)
            except Exception as exc:
                if not _is_oom(exc):
                    raise
                need = req.model.local.get("memory_gb")
                raise LocalOutOfMemory(
                    f"loading {req.model.name} onto {self.device} ran out of memory (the model needs about "
                    f"{need or '?'} GB; it is put on the device whole when that much is free, else with model CPU "
                    "offload): free the GPU (other processes) or choose another device",
                    context={"job": req.job_id or "JOB", "device": self.device, "model": req.model.id},
                ) from None
            self._loaded[req.model.id] = loaded
            job.logs.append(f"loaded {req.model.name} in {time.monotonic() - t0:.1f} s ({loaded.placement})")
        job.message = ""
        frames, audio, rate = await asyncio.to_thread(self._render, loaded, job)
        job.state = "encoding"
        job.message = "writing the video"
        job.changed.set()
        job.frames = int(frames.shape[0])
        await asyncio.to_thread(write_video, frames, job.path, req.fps, audio, rate, req.audio)
        job.logs.append(self.gpu_time_line(job))

    def gpu_time_line(self, job: _Job) -> str:
        per_hour = float(self.settings.local_cost_per_gpu_hour or 0.0)
        cost = ""
        if per_hour > 0:
            cost = f", about ${job.gpu_seconds / 3600 * per_hour:.4f} at ${per_hour:g}/GPU-hour"
        return (
            f"{job.req.label or 'render'}: {job.frames} frames at {job.req.fps} fps in {job.gpu_seconds:.1f} "
            f"GPU s on {self.device} ($0 billed{cost})"
        )

    def _job(self, sub: Submission) -> _Job:
        job = self._jobs.get(sub.request_id)
        if job is None:  # a local render does not outlive its process: the run submits again ($0)
            raise RequestNotFound(f"local request {sub.request_id} ended with the process that ran it")
        return job

    def _raise_failure(self, job: _Job) -> None:
        assert job.task is not None
        if job.task.cancelled():
            raise ProviderError("local request was cancelled")
        exc = job.task.exception()
        if exc is None:
            return
        if isinstance(exc, ProviderError | InputError):
            raise exc
        if isinstance(exc, _Stopped):
            raise ProviderError("local request was cancelled between denoising steps")
        if isinstance(exc, MediaError):
            raise ProviderError(str(exc))
        raise ProviderError(f"local render failed: {exc}") from exc

    async def status(self, sub: Submission) -> ProviderStatus:
        job = self._job(sub)
        assert job.task is not None
        if job.task.done():
            self._raise_failure(job)
            return ProviderStatus("completed", logs=list(job.logs), progress=1.0)
        if job.state in ("queued", "waiting"):
            place = job.place
            msg = job.message
            if job.state == "queued":
                ahead = self._queue.index(job.rid) + 1 if job.rid in self._queue else 1
                place = ahead + 1
                msg = f"waiting for the GPU ({place - 1} render{'s' if place > 2 else ''} of this job ahead)"
            return ProviderStatus("queued", queue_position=place, logs=list(job.logs), progress=0.0, message=msg)
        if job.state == "running" and job.steps:
            done = job.step
            elapsed = time.monotonic() - job.step_started
            eta = ""
            if done:
                eta = f", ETA {_duration(elapsed / done * (job.steps - done))}"
            msg = f"denoising step {done} of {job.steps}{eta}"
            return ProviderStatus(
                "running", logs=list(job.logs), progress=round(0.95 * done / job.steps, 4), message=msg
            )
        progress = 0.97 if job.state == "encoding" else 0.0
        return ProviderStatus("running", logs=list(job.logs), progress=progress, message=job.message)

    async def wait_for_change(self, sub: Submission, timeout: float, cancel: asyncio.Event | None = None) -> None:
        """Return at the next denoising step or state change (or after ``timeout``, or on cancel)."""
        job = self._jobs.get(sub.request_id)
        if job is None or job.task is None:
            await super().wait_for_change(sub, timeout, cancel)
            return
        mine: list[asyncio.Future[Any]] = [asyncio.ensure_future(job.changed.wait())]
        if cancel is not None:
            mine.append(asyncio.ensure_future(cancel.wait()))
        try:  # asyncio.wait never cancels what it waits on: the render goes on
            await asyncio.wait([*mine, job.task], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in mine:
                fut.cancel()
        job.changed.clear()

    async def result(self, sub: Submission) -> RenderResult:
        job = self._job(sub)
        assert job.task is not None
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.shield(job.task)
        self._raise_failure(job)
        if not job.path.is_file():
            raise BadResult(f"local output {job.path.name} is missing")
        video = {
            "url": job.path.as_uri(),
            "content_type": "video/mp4",
            "file_name": job.path.name,
            "fps": job.req.fps,
            "num_frames": job.frames,
        }
        return RenderResult(
            video_url=job.path.as_uri(), raw={"video": video, "seed": job.req.seed, "gpu_seconds": job.gpu_seconds}
        )

    async def download(self, result: RenderResult, dest: Path, progress: DownloadProgress | None = None) -> None:
        url = urlparse(result.video_url)
        if url.scheme != "file":
            raise BadResult(f"local cannot download {result.video_url!r} (not a file:// URL)")
        src = Path(url2pathname(url.path))
        if not src.is_file():
            raise BadResult(f"local output {src.name} is missing")
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        size = src.stat().st_size
        try:
            os.replace(src, dest)
        except OSError:
            import shutil

            with atomic_path(Path(dest)) as tmp:
                await asyncio.to_thread(shutil.copyfile, src, tmp)
            src.unlink(missing_ok=True)
        if progress:
            progress(size, size)
        self._jobs.pop(src.stem, None)

    async def cancel(self, sub: Submission) -> None:
        job = self._jobs.get(sub.request_id)
        if job is None:
            return
        job.cancel.set()  # the step callback stops the pipeline between steps
        if job.task is not None and not job.task.done():
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(job.task), timeout=120)
        job.path.unlink(missing_ok=True)
        self._jobs.pop(sub.request_id, None)

    async def generate_image(self, req: ImageRequest, dest: Path) -> None:
        """Keyframes for keyframe mode: drawn by the offline renderer (a local video model makes no
        stills); review them before rendering and replace any with `sora-tui keyframes JOB --replace K IMAGE`."""
        from .preview import render_image

        if req.source is not None and not Path(req.source).is_file():
            raise ProviderError(f"local: source image {req.source} does not exist")
        await asyncio.to_thread(
            render_image, req.prompt, req.width, req.height, Path(dest), req.source, req.seed, req.label
        )

    async def aclose(self) -> None:
        if self._release_handle is not None:
            self._release_handle.cancel()
            self._release_handle = None
        for job in list(self._jobs.values()):
            job.cancel.set()
        tasks = [j.task for j in self._jobs.values() if j.task is not None and not j.task.done()]
        for task in tasks:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        self._unload()


def _is_oom(exc: BaseException) -> bool:
    try:
        import torch

        if isinstance(exc, torch.OutOfMemoryError):
            return True
    except (ImportError, AttributeError):
        pass
    return "out of memory" in str(exc).lower()


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min {seconds % 60:02d} s"


__all__ = [
    "LocalOutOfMemory",
    "LocalProvider",
    "check_local_model",
    "device_key",
    "resolve_device",
    "write_video",
]
