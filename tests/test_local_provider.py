"""The local provider on tiny random-weight diffusers pipelines, on CPU torch (no weights, no GPU).

The model folders are built once per session (tests/localkit.py), saved with save_pretrained and
loaded by the provider's real path (from_pretrained(..., local_files_only=True)). They may not skip
in CI (CI=true): .ci/run installs the `local` extra.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest


def _need(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"{name} is not installed: pip install 'sora-tui[local]'", allow_module_level=True)


torch = _need("torch")
diffusers = _need("diffusers")
_need("transformers")

import localkit  # noqa: E402
from sora_tui.cli.advice import cli_advice  # noqa: E402
from sora_tui.cli.advice import job_error as cli_job_error  # noqa: E402
from sora_tui.core import media  # noqa: E402
from sora_tui.core.engine import Engine  # noqa: E402
from sora_tui.core.errors import Code  # noqa: E402
from sora_tui.core.localmodels import LocalModelError, LocalSpec  # noqa: E402
from sora_tui.core.models import (  # noqa: E402
    InputError,
    JobStatus,
    LogLine,
    Mode,
    Request,
    SegmentProgress,
    SegmentStatus,
)
from sora_tui.core.providers import local as local_mod  # noqa: E402

PROMPT = "w1 w2 w3 a red kite over a grey sea"


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny-models")
    return {
        "tiny-ti2v": localkit.build_ti2v(root / "ti2v"),
        "tiny-flf2v": localkit.build_flf2v(root / "flf2v"),
        "tiny-ltx": localkit.build_ltx(root / "ltx"),
    }


@pytest.fixture
def local_home(home: Path, tiny_models: dict[str, Path]) -> Path:
    torch.set_num_threads(1)
    localkit.register(home, tiny_models)
    return home


def make_engine(home: Path, **env: str) -> Engine:
    base = {
        "SORA_TUI_HOME": str(home),
        "SORA_TUI_LOCAL_ALLOW_CPU": "1",
        "SORA_TUI_COLOUR_ANCHOR": "0",  # the hand-off is the last frame itself: what the test compares
    }
    return Engine(env=base | env)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What each pipeline call received (the real pipelines still run)."""
    seen: list[dict[str, Any]] = []
    for cls in (diffusers.WanPipeline, diffusers.WanImageToVideoPipeline, diffusers.LTXConditionPipeline):
        original = cls.__call__

        def spy(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            entry: dict[str, Any] = {"class": type(self).__name__, "kwargs": kwargs, "t0": time.monotonic()}
            seen.append(entry)
            try:
                return _original(self, *args, **kwargs)
            finally:
                entry["t1"] = time.monotonic()

        monkeypatch.setattr(cls, "__call__", spy)
    return seen


async def _job(engine: Engine, model: str, n: int, mode: Mode = Mode.CHAIN, seconds: int = 1) -> Any:
    req = engine.resolve(Request(prompt=PROMPT, segments=n, seconds=seconds, model=model, mode=mode))
    plan = await engine.plan(req)
    return engine.create_job(plan)


def _picture(img: Any, size: int) -> np.ndarray:
    return np.asarray(img.convert("RGB").resize((size, size)), dtype=np.uint8)


def _png(path: str | Path, size: int) -> np.ndarray:
    from PIL import Image

    return _picture(Image.open(path), size)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return media.psnr(a, b)


# --- chain, keyframes, frame rule ---------------------------------------------------------


async def test_chain_of_three_hands_each_last_frame_on(local_home: Path, calls: list[dict[str, Any]]) -> None:
    engine = make_engine(local_home)
    engine.catalog.get("tiny-ti2v").local["steps"] = 24  # steps long enough to be seen
    job = await _job(engine, "tiny-ti2v", 3)
    events: list[Any] = []
    final = await engine.run(job.id, on_event=events.append)
    assert final.status is JobStatus.COMPLETED, final.error
    provider = engine.existing_provider("local")
    assert isinstance(provider, local_mod.LocalProvider)
    assert provider.loads == 1  # loaded once, reused for every segment
    # segment 1 from text, then each segment from the one before
    assert [c["class"] for c in calls] == ["WanPipeline", "WanImageToVideoPipeline", "WanImageToVideoPipeline"]
    assert "image" not in calls[0]["kwargs"]
    segs = engine.store.segments(job.id)
    for k in (1, 2):
        got = _picture(calls[k]["kwargs"]["image"], 32)
        assert _psnr(got, _png(segs[k - 1].last_frame or "", 32)) >= 30, (
            f"segment {k + 1} was not handed segment {k}'s last frame"
        )
    # the seed of each segment reaches the pipeline; the frame rule (4k+1) and fps hold in every file
    for seg, call in zip(segs, calls, strict=True):
        assert call["kwargs"]["generator"].initial_seed() == (seg.seed if seg.seed is not None else seg.index)
        assert call["kwargs"]["num_frames"] == 9 and call["kwargs"]["num_inference_steps"] == 24
        info = media.probe(seg.file or "")
        assert (info.frames, round(info.fps), info.width, info.height, info.vcodec) == (9, 8, 32, 32, "h264")
        assert info.frames is not None and (info.frames - 1) % 4 == 0
    final_info = media.probe(final.output or "")
    assert final_info.frames and final_info.frames >= 3 * 9 - 6  # the seams may cut a repeated frame each
    # progress: denoising steps with an ETA; GPU seconds logged per segment at $0
    steps = [e.message for e in events if isinstance(e, SegmentProgress) and "denoising step" in e.message]
    assert any(m.startswith("denoising step ") and " of 24" in m for m in steps), steps
    assert any(m.startswith("denoising step") and ", ETA " in m for m in steps), steps
    logs = [e.message for e in events if isinstance(e, LogLine)]
    assert sum("GPU s on cpu ($0 billed" in m for m in logs) == 3
    assert final.cost_usd == 0.0
    # each segment's GPU time is kept in the history (shown in History's detail and on the board's cards)
    gpu = [s.gpu_seconds for s in engine.store.segments(job.id)]
    assert all(g is not None and g > 0 for g in gpu), gpu
    from sora_tui.tui.job_detail import job_detail

    stored = engine.store.get_job(job.id)
    assert stored is not None
    shown = str(job_detail(stored, engine.store))
    assert shown.count("· GPU ") == 3, shown
    await engine.aclose()


async def test_keyframe_run_gets_first_and_last_frames(local_home: Path, calls: list[dict[str, Any]]) -> None:
    engine = make_engine(local_home)
    job = await _job(engine, "tiny-flf2v", 2, Mode.KEYFRAMES, seconds=2)
    final = await engine.run(job.id)
    assert final.status is JobStatus.COMPLETED, final.error
    kfs = engine.store.keyframes(job.id)
    assert len(kfs) == 3 and len(calls) == 2
    for k, call in enumerate(calls, 1):
        args = call["kwargs"]
        assert _psnr(_picture(args["image"], 32), _png(kfs[k - 1].file or "", 32)) >= 30
        assert _psnr(_picture(args["last_image"], 32), _png(kfs[k].file or "", 32)) >= 30
        assert args["num_frames"] == 17  # 2 s at 8 fps -> 16 -> 4k+1 = 17
    for seg in engine.store.segments(job.id):
        info = media.probe(seg.file or "")
        assert (info.frames, round(info.fps)) == (17, 8)
    await engine.aclose()


async def test_ltx_conditions_at_frame_indices(local_home: Path, calls: list[dict[str, Any]]) -> None:
    """LTX: keyframes become conditions at frame 0 and the last frame; the frame rule is 8k+1."""
    engine = make_engine(local_home)
    job = await _job(engine, "tiny-ltx", 2, Mode.KEYFRAMES, seconds=2)
    final = await engine.run(job.id)
    assert final.status is JobStatus.COMPLETED, final.error
    kfs = engine.store.keyframes(job.id)
    assert [c["class"] for c in calls] == ["LTXConditionPipeline"] * 2
    for k, call in enumerate(calls, 1):
        args = call["kwargs"]
        assert args["num_frames"] == 17 and args["frame_rate"] == 8  # 2 s at 8 fps -> 16 -> 8k+1 = 17
        first, last = args["conditions"]
        assert (first.frame_index, last.frame_index) == (0, 16)
        assert _psnr(_picture(first.image, 32), _png(kfs[k - 1].file or "", 32)) >= 30
        assert _psnr(_picture(last.image, 32), _png(kfs[k].file or "", 32)) >= 30
    for seg in engine.store.segments(job.id):
        info = media.probe(seg.file or "")
        assert (info.frames, round(info.fps)) == (17, 8) and info.frames is not None and (info.frames - 1) % 8 == 0
    # chain: text first (no conditions), then the last frame as the condition at frame 0
    calls.clear()
    job = await _job(engine, "tiny-ltx", 2, Mode.CHAIN)
    final = await engine.run(job.id)
    assert final.status is JobStatus.COMPLETED, final.error
    assert "conditions" not in calls[0]["kwargs"] and [c.frame_index for c in calls[1]["kwargs"]["conditions"]] == [0]
    first_seg = engine.store.segments(job.id)[0]
    assert _psnr(_picture(calls[1]["kwargs"]["conditions"][0].image, 32), _png(first_seg.last_frame or "", 32)) >= 30
    await engine.aclose()


def test_frame_rule_and_sizes() -> None:
    from sora_tui.core.catalog import load_catalog
    from sora_tui.core.localmodels import LocalSpec, frame_count

    assert [frame_count(s, 24, 4, 121) for s in (1, 2, 5, 6)] == [25, 49, 121, 121]
    assert [frame_count(s, 25, 8, 161) for s in (1, 5)] == [25, 129]
    assert frame_count(1, 16, 4, 81) == 17
    catalog = load_catalog()
    ti2v = LocalSpec.of(catalog.get("wan2.2-ti2v-5b"))
    assert ti2v.frames(5, 24) == 121 and ti2v.size("720p", "16:9", 1280, 720) == (1280, 704)
    flf = LocalSpec.of(catalog.get("wan2.1-flf2v-14b"))
    assert flf.frames(5, 16) == 81 and flf.size("720p", "9:16", 720, 1280) == (720, 1280)
    ltx = LocalSpec.of(catalog.get("ltx-video-0.9.7-local"))
    assert (ltx.frames(3, 25) - 1) % 8 == 0 and all(v % 32 == 0 for v in ltx.size("480p", "16:9", 854, 480))


def test_a_mode_the_model_cannot_serve_is_refused_up_front(local_home: Path) -> None:
    engine = make_engine(local_home)
    with pytest.raises(InputError, match="first-last-frame"):
        engine.resolve(Request(prompt=PROMPT, segments=2, seconds=1, model="tiny-ti2v", mode=Mode.KEYFRAMES))
    with pytest.raises(InputError, match="t2v"):  # the FLF2V model cannot start from text
        engine.resolve(Request(prompt=PROMPT, segments=2, seconds=1, model="tiny-flf2v", mode=Mode.CHAIN))
    # the shipped TI2V-5B ignores last_image: it is never offered for keyframes
    with pytest.raises(InputError, match="first-last-frame"):
        engine.resolve(Request(prompt=PROMPT, segments=2, model="wan2.2-ti2v-5b", mode=Mode.KEYFRAMES))


# --- cancel, the GPU lease, out of memory ----------------------------------------------------------


async def test_cancel_stops_between_steps(local_home: Path) -> None:
    engine = make_engine(local_home)
    spec = engine.catalog.get("tiny-ti2v")
    spec.local["steps"] = 400
    provider = local_mod.LocalProvider(engine.paths, engine.settings)
    from sora_tui.core.providers.base import ProviderError, RenderRequest

    req = RenderRequest(spec, spec.kinds[0], PROMPT, 1, "180p", "1:1", False, 180, 180, 8, label="segment 1")
    sub = await provider.submit(req)
    deadline = time.monotonic() + 60
    while True:
        st = await provider.status(sub)
        if st.message.startswith("denoising step") and not st.message.startswith("denoising step 0"):
            break
        assert time.monotonic() < deadline and st.state != "completed"
        await asyncio.sleep(0.01)
    assert "ETA" in st.message and "of 400" in st.message
    job = provider._jobs[sub.request_id]
    await provider.cancel(sub)
    assert job.task is not None and job.task.done()
    assert 1 <= job.step < 400  # stopped between steps, long before the end
    assert not job.path.exists()
    with pytest.raises(ProviderError):
        await provider.status(sub)
    await provider.aclose()


async def test_two_jobs_share_one_device_one_at_a_time(
    local_home: Path, calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_mod, "IDLE_RELEASE", 1.0)
    first, second = make_engine(local_home), make_engine(local_home)
    job_a = await _job(first, "tiny-ti2v", 2)
    job_b = await _job(second, "tiny-ti2v", 2)
    events_b: list[Any] = []

    async def run_a() -> Any:
        return await first.run(job_a.id)

    async def run_b() -> Any:
        # starts once job A holds the GPU
        while not any(c["class"] == "WanPipeline" for c in calls):
            await asyncio.sleep(0.01)
        return await second.run(job_b.id, on_event=events_b.append)

    done_a, done_b = await asyncio.gather(run_a(), run_b())
    assert done_a.status is JobStatus.COMPLETED and done_b.status is JobStatus.COMPLETED, (done_a.error, done_b.error)
    waits = [e.message for e in events_b if isinstance(e, SegmentProgress) and e.stage == "queued"]
    assert f"waiting for the GPU (2nd in line, behind {job_a.id})" in waits
    logs_b = [r.message for r in second.store.logs(job_b.id)]
    assert any(m.startswith("waited ") and "for the GPU" in m for m in logs_b)
    # one model load per job, and the renders never overlapped: all of A's, then all of B's
    pa, pb = first.existing_provider("local"), second.existing_provider("local")
    assert isinstance(pa, local_mod.LocalProvider) and isinstance(pb, local_mod.LocalProvider)
    assert (pa.loads, pb.loads) == (1, 1)
    spans = sorted((c["t0"], c["t1"]) for c in calls)
    assert len(spans) == 4 and all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
    await first.aclose()
    await second.aclose()


class _OomPipeline:
    def __call__(self, **kwargs: Any) -> Any:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 23.65 GiB total)")


async def test_out_of_memory_is_explained_and_resumable(local_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(local_home)
    job = await _job(engine, "tiny-ti2v", 2)
    real_load = local_mod.LocalProvider._load

    def stub_load(self: local_mod.LocalProvider, spec: Any) -> Any:
        loaded = real_load(self, spec)
        loaded.pipe = _OomPipeline()
        loaded.placement = "model CPU offload + VAE tiling (7.1 GB free of 23.6 GB)"
        return loaded

    monkeypatch.setattr(local_mod.LocalProvider, "_load", stub_load)
    failed = await engine.run(job.id)
    assert failed.status is JobStatus.FAILED
    error = failed.error or ""
    for part in (
        "ran out of memory",
        "tried: model CPU offload + VAE tiling",
        "needs about 0.01 GB",
    ):
        assert part in error, error
    assert "Traceback" not in error
    # stored as data: each front end words what to do from the code and its facts
    assert failed.error_code == "local_out_of_memory" and (failed.error_context or {}).get("job") == job.id
    assert f"`sora-tui resume {job.id}` continues" in cli_job_error(error, failed.error_code, failed.error_context)
    assert all(s.status is not SegmentStatus.DONE for s in engine.store.segments(job.id))
    await engine.aclose()
    monkeypatch.setattr(local_mod.LocalProvider, "_load", real_load)
    engine = make_engine(local_home)
    resumed = await engine.run(job.id)
    assert resumed.status is JobStatus.COMPLETED, resumed.error
    await engine.aclose()


# --- refusals before anything starts ------------------------------------------------------------


def test_no_cuda_refuses_unless_allow_cpu(local_home: Path) -> None:
    engine = make_engine(local_home, SORA_TUI_LOCAL_ALLOW_CPU="0")
    if torch.cuda.is_available():  # pragma: no cover - on a GPU box
        pytest.skip("this machine has CUDA")
    engine.check_render_key("tiny-ti2v", quick=True)  # the folder is fine (the studio's form checks only this)
    with pytest.raises(LocalModelError, match="no CUDA GPU") as err:
        engine.check_render_key("tiny-ti2v")  # the CLI, before planning
    assert err.value.code is Code.LOCAL_CPU and "--allow-cpu" in cli_advice(err.value)
    with pytest.raises(LocalModelError, match="no CUDA GPU") as err:
        engine.provider(engine.catalog.get("tiny-ti2v"))  # the run's pre-flight: before the job starts
    assert "--allow-cpu" in cli_advice(err.value) and "--" not in str(err.value)
    allowed = make_engine(local_home)
    assert allowed.provider(allowed.catalog.get("tiny-ti2v")).name == "local"  # with --allow-cpu


def _copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("missing", r"does not exist; get it with `hf download example/tiny-ti2v --local-dir"),
        ("no_index", r"has no model_index.json: it is not a diffusers model folder; get it with `hf download"),
        ("wrong_class", r"holds a WanImageToVideoPipeline pipeline, not the WanPipeline that tiny-ti2v needs"),
        ("half", r"incomplete \(a download that stopped half-way\?\): missing transformer/.*; get it with"),
        ("shard", r"incomplete .*missing text_encoder/model-00002-of-00002.safetensors"),
        ("partial", r"incomplete .*vae/diffusion_pytorch_model.safetensors.incomplete \(download not finished\)"),
    ],
)
def test_bad_folders_are_refused_with_the_fix(
    local_home: Path, tiny_models: dict[str, Path], tmp_path: Path, damage: str, expected: str
) -> None:
    from sora_tui.core.localmodels import add_folder

    folder = tmp_path / "model"
    if damage == "wrong_class":
        folder = _copy(tiny_models["tiny-flf2v"], folder)
    elif damage != "missing":
        folder = _copy(tiny_models["tiny-ti2v"], folder)
    if damage == "no_index":
        (folder / "model_index.json").unlink()
    elif damage == "half":
        for f in (folder / "transformer").glob("*.safetensors"):
            f.unlink()
    elif damage == "shard":
        import json

        (folder / "text_encoder" / "model.safetensors.index.json").write_text(
            json.dumps(
                {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
            )
        )
        (folder / "text_encoder" / "model-00001-of-00002.safetensors").write_bytes(b"")
    elif damage == "partial":
        (folder / "vae" / "diffusion_pytorch_model.safetensors.incomplete").write_bytes(b"")
    engine = make_engine(local_home)
    with pytest.raises(LocalModelError, match=expected):
        add_folder(engine.paths, engine.catalog, "tiny-ti2v", folder)
    # the same folder recorded by hand is refused before a job starts
    localkit.register(local_home, {"tiny-ti2v": folder})
    with pytest.raises(LocalModelError, match=expected):
        make_engine(local_home).check_render_key("tiny-ti2v")


def test_models_local_add_list_rm_cli(
    local_home: Path, tiny_models: dict[str, Path], tmp_path: Path, capsys: Any
) -> None:
    from sora_tui.cli import main

    assert main(["models", "local", "add", "tiny-flf2v", str(tiny_models["tiny-flf2v"])]) == 0
    assert "tiny-flf2v" in capsys.readouterr().out
    assert main(["models", "local", "list"]) == 0
    out = capsys.readouterr().out
    assert "tiny-flf2v" in out and "ok" in out
    assert main(["models", "local", "add", "tiny-ti2v", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "hf download example/tiny-ti2v" in err
    assert main(["models", "local", "add", "veo3.1-fast", str(tiny_models["tiny-ti2v"])]) == 2
    assert "not a local model" in capsys.readouterr().err
    assert main(["models", "local", "rm", "tiny-flf2v"]) == 0
    capsys.readouterr()
    assert main(["models", "local", "list"]) == 0
    assert "tiny-flf2v\tnot recorded" in capsys.readouterr().out


def test_write_video_sound_and_silence(tmp_path: Path) -> None:
    frames = (np.random.default_rng(1).random((9, 32, 32, 3)) * 255).astype(np.uint8)
    local_mod.write_video(frames, tmp_path / "silent.mp4", 8)
    local_mod.write_video(frames, tmp_path / "quiet.mp4", 8, with_sound=True)
    tone = np.sin(np.linspace(0, 2000, 24000 * 9 // 8))[:, None].repeat(2, axis=1) * 0.3
    local_mod.write_video(frames, tmp_path / "tone.mp4", 8, audio=tone, sample_rate=24000)
    silent, quiet, voiced = (media.probe(tmp_path / n) for n in ("silent.mp4", "quiet.mp4", "tone.mp4"))
    assert not silent.has_audio and quiet.has_audio and voiced.has_audio
    assert (silent.frames, round(silent.fps)) == (9, 8)
    assert voiced.audio_rate == 48000


class _StubVae:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def enable_tiling(self) -> None:
        self.calls.append("tiling")

    def enable_slicing(self) -> None:
        self.calls.append("slicing")


class _StubPipe:
    def __init__(self) -> None:
        self.vae = _StubVae()
        self.placed: list[str] = []

    def to(self, device: str) -> _StubPipe:
        self.placed.append(f"to {device}")
        return self

    def enable_model_cpu_offload(self, device: str) -> None:
        self.placed.append(f"offload {device}")


@pytest.mark.parametrize(
    ("free_gb", "placed", "vae", "words"),
    [
        (80.0, ["to cuda:0"], [], "whole on cuda:0 (80.0 GB free of 80.0 GB)"),
        (30.0, ["to cuda:0"], ["tiling", "slicing"], "whole on cuda:0 + VAE tiling + VAE slicing"),
        (12.0, ["offload cuda:0"], ["tiling", "slicing"], "model CPU offload + VAE tiling + VAE slicing (12.0 GB free"),
    ],
)
def test_placement_follows_free_memory(
    local_home: Path, monkeypatch: pytest.MonkeyPatch, free_gb: float, placed: list[str], vae: list[str], words: str
) -> None:
    """Whole on the device when it fits, model CPU offload when it does not, VAE tiling when short."""
    engine = make_engine(local_home)
    provider = local_mod.LocalProvider(engine.paths, engine.settings)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (int(free_gb * 2**30), 80 * 2**30))
    spec = engine.catalog.get("wan2.2-ti2v-5b")  # needs about 24 GB
    pipe = _StubPipe()
    described = provider._place(pipe, LocalSpec.of(spec), "cuda:0")
    assert pipe.placed == placed and pipe.vae.calls == vae
    assert words in described
