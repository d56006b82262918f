"""Native extend mode: segment k+1 is made by extending segment k's video.

On the fal wire fake, through the real FalProvider and Engine: one extend endpoint echoes
its source before the extension (the echo is found by comparing decoded frames with the
source and cut frame-exactly), another returns only the extension. Either way the joined
video is continuous and every extension adds what was asked.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fakes.fal_server import FalFake, _concat
from sora_tui.core import media
from sora_tui.core.catalog import load_catalog
from sora_tui.core.engine import Engine
from sora_tui.core.extend import _grey_frames, _psnr, split_extension
from sora_tui.core.models import InputError, JobStatus, Kind, Mode, Request
from sora_tui.core.providers.base import RenderRequest
from sora_tui.core.providers.preview import render_image, render_video

PROMPT = "A paper boat drifts down a rainy street at dusk"
CATALOG = load_catalog()


def render(dest: Path, seconds: int, start: Path | None = None, seed: int = 1, audio: bool = True) -> Path:
    req = RenderRequest(
        model=CATALOG.get("preview"), kind=Kind.I2V if start else Kind.T2V, prompt=f"clip {seed}", seconds=seconds,
        resolution="180p", aspect="16:9", audio=audio, width=128, height=72, fps=12, start_image=start, seed=seed,
    )  # fmt: skip
    render_video(req, dest)
    return dest


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    d = tmp_path_factory.mktemp("extend")
    source = render(d / "source.mp4", 3, seed=1)
    last = media.last_frame(source, d / "last.png")
    extension = render(d / "ext.mp4", 2, start=last, seed=2)
    echoed = _concat(source, extension, d / "echoed.mp4", audio=True)
    return source, extension, echoed


def test_echo_is_cut_frame_exactly(clips: tuple[Path, Path, Path], tmp_path: Path) -> None:
    source, extension, echoed = clips
    returned = tmp_path / "returned.mp4"
    shutil.copy(echoed, returned)
    result = split_extension(returned, source, tmp_path / "seg.mp4", expected_seconds=2)
    assert result.echoed and result.echo_frames == media.probe(source).frames == 36
    assert result.match_psnr is not None and result.match_psnr > 35
    info = media.probe(tmp_path / "seg.mp4")
    assert info.frames == media.probe(extension).frames == 24
    assert info.has_audio and abs(result.added_seconds - 2.0) < 1e-6
    # every kept frame is the extension's, in order (not shifted by one)
    kept, ext = _grey_frames(tmp_path / "seg.mp4"), _grey_frames(extension)
    assert min(_psnr(a, b) for a, b in zip(kept, ext, strict=True)) > 30
    assert _psnr(kept[0], ext[1]) < _psnr(kept[0], ext[0])
    assert not returned.exists()


def test_extension_alone_is_kept_as_returned(clips: tuple[Path, Path, Path], tmp_path: Path) -> None:
    source, extension, _ = clips
    returned = tmp_path / "returned.mp4"
    shutil.copy(extension, returned)
    data = returned.read_bytes()
    result = split_extension(returned, source, tmp_path / "seg.mp4", expected_seconds=2)
    assert not result.echoed and result.echo_frames == 0
    assert (tmp_path / "seg.mp4").read_bytes() == data
    assert "extension alone" in result.describe()


def test_a_long_unrelated_video_is_not_taken_for_an_echo(clips: tuple[Path, Path, Path], tmp_path: Path) -> None:
    source, _, _ = clips
    other = render(tmp_path / "other.mp4", 5, seed=9)
    result = split_extension(other, source, tmp_path / "seg.mp4")
    assert not result.echoed


def engine_for(fake: FalFake, home: Path) -> Engine:
    return Engine(
        env={
            "SORA_TUI_HOME": str(home),
            **fake.env(),
            "SORA_TUI_RETRY_BASE_DELAY": "0.01",
            "SORA_TUI_POLL_INTERVAL": "0.05",
        }
    )


@pytest.mark.parametrize("echo", [True, False], ids=["echoes-source", "extension-only"])
async def test_extend_mode_end_to_end(fal_fake: FalFake, home: Path, echo: bool) -> None:
    if not echo:
        fal_fake.extend_echo = set()
    engine = engine_for(fal_fake, home)
    req = engine.resolve(Request(prompt=PROMPT, segments=3, seconds=4, model="veo3.1-fast", mode=Mode.EXTEND))
    plan = await engine.plan(req)
    assert [s.seconds for s in plan.segments] == [4, 7, 7]  # Veo's extension adds 7 s
    job = engine.create_job(plan)
    assert job.estimated_cost_usd == pytest.approx(18 * 0.15)
    done = await engine.run(job.id)
    await engine.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    subs = fal_fake.submits
    assert [s.path for s in subs] == [
        "/fal-ai/veo3.1/fast",
        "/fal-ai/veo3.1/fast/extend-video",
        "/fal-ai/veo3.1/fast/extend-video",
    ]
    assert subs[1].json["duration"] == "7s" and subs[1].json["resolution"] == "720p"
    assert "image_url" not in subs[1].json
    folder = done.job_dir
    # the video sent to extend is the previous segment's file (its extension only)
    assert fal_fake.uploads == [(folder / "seg_01.mp4").read_bytes(), (folder / "seg_02.mp4").read_bytes()]
    durations = [media.probe(folder / f"seg_0{i}.mp4").duration for i in (1, 2, 3)]
    assert durations == pytest.approx([4, 7, 7], abs=0.01)
    # an extension that begins on its source's last picture shows it twice: the join cuts that one frame
    finished = engine.store.get_job(job.id)
    assert finished is not None and finished.seams is not None
    report = finished.seams
    assert [s["repeat_cut"] for s in report["seams"]] == [not echo, not echo]
    fps = media.probe(folder / "seg_01.mp4").fps
    assert media.probe(folder / "final.mp4").duration == pytest.approx(18 - (0 if echo else 2 / fps), abs=1e-3)
    # continuous: each extension starts where the video before it ended
    for k in (1, 2):
        assert media.psnr(folder / f"seg_0{k}_last.png", folder / f"seg_0{k + 1}_first.png") > 30
    log = "\n".join(r.message for r in engine.store.logs(job.id))
    assert ("echoed frames" in log) is echo and ("extension alone" in log) is not echo
    assert done.cost_usd == pytest.approx(18 * 0.15)
    assert not list(folder.glob("*.returned.mp4"))


async def test_extend_mode_on_a_model_with_video_continuation(fal_fake: FalFake, home: Path) -> None:
    engine = engine_for(fal_fake, home)
    req = engine.resolve(Request(prompt=PROMPT, segments=2, seconds=3, model="wan-2.7", mode=Mode.EXTEND))
    job = engine.create_job(await engine.plan(req))
    done = await engine.run(job.id)
    await engine.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    body = fal_fake.submits[1].json
    assert fal_fake.submits[1].path == "/fal-ai/wan/v2.7/image-to-video"
    assert "video_url" in body and "image_url" not in body and "aspect_ratio" not in body


def test_extend_only_constraints_are_checked_up_front(home: Path) -> None:
    engine = Engine(env={"SORA_TUI_HOME": str(home), "FAL_KEY": "k"})
    with pytest.raises(InputError) as info:
        engine.resolve(
            Request(prompt=PROMPT, segments=2, seconds=4, model="veo3.1-fast", mode=Mode.EXTEND, resolution="1080p")
        )
    assert info.value.field == "resolution" and "720p" in str(info.value)
    with pytest.raises(InputError) as info:
        engine.resolve(Request(prompt=PROMPT, segments=2, seconds=12, model="wan-2.7", mode=Mode.EXTEND))
    assert "2-10 s" in str(info.value)
    with pytest.raises(InputError) as info:
        engine.resolve(Request(prompt=PROMPT, segments=2, model="kling-3-pro", mode=Mode.EXTEND))
    assert info.value.field == "mode" and "veo3.1-fast" in str(info.value)


async def test_fake_refuses_fields_the_endpoint_does_not_take(fal_fake: FalFake, tmp_path: Path) -> None:
    from sora_tui.core.providers.base import ProviderError
    from sora_tui.core.providers.fal import FalProvider
    from sora_tui.core.settings import Settings

    p = FalProvider(
        fal_fake.key, Settings(fal_queue_url=fal_fake.url, fal_rest_url=fal_fake.url, fal_cdn_url=fal_fake.url)
    )
    img = render_image("start", 128, 72, tmp_path / "a.png")
    url = await p.image_url(img)
    with pytest.raises(ProviderError) as info:
        await p._submit("fal-ai/wan/v2.7/image-to-video", {"prompt": "x", "image_url": url, "aspect_ratio": "16:9"})
    assert info.value.status_code == 422 and "aspect_ratio" in str(info.value) and "Extra inputs" in str(info.value)
    await p.aclose()
    rec = fal_fake.of("submit")[-1]
    assert rec.status == 422


async def test_extend_job_resumes_by_reattaching_to_the_paid_extension(fal_fake: FalFake, home: Path) -> None:
    engine = engine_for(fal_fake, home)
    req = engine.resolve(Request(prompt=PROMPT, segments=3, seconds=4, model="veo3.1-fast", mode=Mode.EXTEND))
    job = engine.create_job(await engine.plan(req))
    fal_fake.fail_next("result", 500, 10, submit_no=2)  # the extension of segment 2 cannot be fetched for now
    failed = await engine.run(job.id)
    await engine.aclose()
    assert failed.status is JobStatus.FAILED
    seg2 = engine.store.segment(job.id, 2)
    assert seg2.request_id and len(fal_fake.submits) == 2
    with fal_fake._lock:
        fal_fake._faults.clear()
    again = engine_for(fal_fake, home)
    done = await again.run(job.id)
    await again.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    assert len(fal_fake.submits) == 3  # segment 2 re-attached (not paid again), segment 3 extends it
    assert [s.submits for s in again.store.segments(job.id)] == [1, 1, 1]
    folder = done.job_dir
    assert fal_fake.uploads[-1] == (folder / "seg_02.mp4").read_bytes()
    assert media.probe(folder / "final.mp4").duration == pytest.approx(18, abs=0.1)
