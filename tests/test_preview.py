"""The offline preview model: exact MP4s, continuity at boundaries, determinism, the provider contract."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from sora_tui.core import media
from sora_tui.core.catalog import ModelSpec, frame_size, load_catalog
from sora_tui.core.models import Kind
from sora_tui.core.providers.base import (
    ImageRequest,
    ProviderError,
    ProviderStatus,
    RenderRequest,
    RequestNotFound,
    Submission,
)
from sora_tui.core.providers.preview import PreviewProvider, render_image, render_video

PROMPT = "A lighthouse on a cliff at dusk, waves below, the beam sweeping through light fog"


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_catalog().get("preview")


def _req(
    spec: ModelSpec,
    kind: Kind = Kind.T2V,
    seconds: int = 1,
    res: str = "180p",
    audio: bool = True,
    start: Path | None = None,
    end: Path | None = None,
    prompt: str = PROMPT,
    label: str = "segment 1",
) -> RenderRequest:
    w, h = frame_size(res, "16:9")
    return RenderRequest(
        model=spec, kind=kind, prompt=prompt, seconds=seconds, resolution=res, aspect="16:9", audio=audio,
        width=w, height=h, fps=24, start_image=start, end_image=end, label=label,
    )  # fmt: skip


def _photo(path: Path, w: int, h: int, seed: int = 1) -> Path:
    """A photo-like image: smooth colour fields (chroma is smooth in real photos), luma texture, edges."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(30, 225, (h // 48 + 2, w // 48 + 2, 3), dtype=np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    noise = rng.normal(0, 6, (h, w, 1))  # luminance texture, like real photos
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    cv2.rectangle(img, (w // 5, h // 5), (w // 2, h // 2), (240, 240, 240), 2)
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path


def test_t2v_exact_length_and_audio(spec: ModelSpec, tmp_path: Path) -> None:
    seen: list[float] = []
    out = tmp_path / "seg_01.mp4"
    render_video(_req(spec, seconds=2), out, progress=seen.append)
    info = media.probe(out)
    assert info.frames == 48 and info.duration == pytest.approx(2.0)
    assert (info.width, info.height) == (320, 180) and info.fps == 24
    assert info.vcodec == "h264" and info.pix_fmt == "yuv420p"
    assert info.acodec == "aac" and info.audio_rate == 48000
    assert info.container_duration == pytest.approx(2.0, abs=0.03)  # audio as long as the video
    assert seen[-1] == 1.0 and seen == sorted(seen)
    # visible motion: first and last frames differ
    assert media.psnr(media.read_first_frame(out), media.read_last_frame(out)) < 30
    assert [p.name for p in tmp_path.iterdir()] == ["seg_01.mp4"]


def test_no_audio_when_not_asked(spec: ModelSpec, tmp_path: Path) -> None:
    out = tmp_path / "silent.mp4"
    render_video(_req(spec, seconds=1, audio=False), out)
    info = media.probe(out)
    assert not info.has_audio and info.frames == 24


def test_deterministic(spec: ModelSpec, tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.mp4", tmp_path / "b.mp4", tmp_path / "c.mp4"
    render_video(_req(spec), a)
    render_video(_req(spec), b)
    render_video(_req(spec, prompt=PROMPT + " at night"), c)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_i2v_starts_exactly_on_the_image(spec: ModelSpec, tmp_path: Path) -> None:
    start = _photo(tmp_path / "start.png", 640, 360)
    out = tmp_path / "i2v.mp4"
    render_video(_req(spec, Kind.I2V, seconds=1, res="360p", start=start), out)
    assert media.psnr(media.read_first_frame(out), media.read_image(start)) >= 35
    assert media.probe(out).frames == 24
    # a start image of another size is fitted (cover + centre crop), not rejected
    other = _photo(tmp_path / "big.png", 800, 600)
    render_video(_req(spec, Kind.I2V, seconds=1, start=other), tmp_path / "fit.mp4")
    assert media.probe(tmp_path / "fit.mp4").size == (320, 180)


def test_flf2v_ends_exactly_on_the_end_image(spec: ModelSpec, tmp_path: Path) -> None:
    start = _photo(tmp_path / "k0.png", 640, 360, seed=1)
    end = _photo(tmp_path / "k1.png", 640, 360, seed=2)
    out = tmp_path / "flf.mp4"
    render_video(_req(spec, Kind.FLF2V, seconds=1, res="360p", start=start, end=end), out)
    assert media.psnr(media.read_first_frame(out), media.read_image(start)) >= 35
    assert media.psnr(media.read_last_frame(out), media.read_image(end)) >= 35
    assert media.probe(out).frames == 24


def test_chain_of_i2v_stays_sharp(spec: ModelSpec, tmp_path: Path) -> None:
    """seg1 t2v, then three i2v from each last frame: every boundary matches and nothing blurs."""
    seg = tmp_path / "seg_01.mp4"
    render_video(_req(spec, seconds=1, res="360p"), seg)
    origin = media.read_last_frame(seg)
    prev_last = tmp_path / "seg_01_last.png"
    media.last_frame(seg, prev_last)
    shift = np.zeros(2, int)
    for k in range(2, 5):
        seg = tmp_path / f"seg_{k:02d}.mp4"
        req = _req(
            spec, Kind.I2V, seconds=1, res="360p", start=prev_last, prompt=f"{PROMPT}, part {k}", label=f"segment {k}"
        )
        render_video(req, seg)
        assert media.psnr(media.read_first_frame(seg), media.read_image(prev_last)) >= 35, k
        prev_last = tmp_path / f"seg_{k:02d}_last.png"
        media.last_frame(seg, prev_last)
        from sora_tui.core.providers.preview import _hash, _Motion

        m = _Motion(640, 360, _hash("motion", req.seed, req.prompt, req.label))
        shift += (m.pan_py, m.pan_px)
    # after three generations the picture is the original, panned by whole pixels, still sharp
    ideal = np.roll(origin, tuple(shift), axis=(0, 1))
    assert media.psnr(media.read_image(prev_last), ideal) >= 40


def test_render_image_t2i_and_edit(tmp_path: Path) -> None:
    t2i = render_image(PROMPT, 320, 180, tmp_path / "k0.png")
    img = media.read_image(t2i)
    assert img.shape == (180, 320, 3)
    edit = render_image("the same lighthouse in a storm", 320, 180, tmp_path / "k1.png", source=t2i)
    out = media.read_image(edit)
    assert out.shape == (180, 320, 3)
    assert 12 < media.psnr(out, img) < 35  # related to the source, but changed
    again = render_image(PROMPT, 320, 180, tmp_path / "k0b.png")
    assert again.read_bytes() == t2i.read_bytes()


def test_bad_inputs(spec: ModelSpec, tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="needs a start image"):
        render_video(_req(spec, Kind.I2V), tmp_path / "x.mp4")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    with pytest.raises(ProviderError, match="bad.png"):
        render_video(_req(spec, Kind.I2V, start=bad), tmp_path / "x.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.png"]


# --- the provider ---------------------------------------------------------------------


async def _wait(provider: PreviewProvider, sub: Submission, timeout: float = 20.0) -> list[ProviderStatus]:
    states = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        st = await provider.status(sub)
        states.append(st)
        if st.state == "completed":
            return states
        await asyncio.sleep(0.02)
    raise AssertionError("preview render did not complete")


async def test_provider_submit_status_result_download(spec: ModelSpec, tmp_path: Path) -> None:
    provider = PreviewProvider(tmp_path / "cache", latency=0.4)
    sub = await provider.submit(_req(spec, seconds=1))
    assert len(sub.request_id) == 32 and sub.endpoint == "preview/text-to-video"
    states = await _wait(provider, sub)
    assert {s.state for s in states[:-1]} <= {"queued", "running"} and states[-1].progress == 1.0
    assert all(0.0 <= (s.progress or 0) <= 1.0 for s in states)
    assert len(states) > 3  # the simulated latency is honoured
    res = await provider.result(sub)
    assert res.video_url.startswith("file://") and res.raw["video"]["num_frames"] == 24
    seen: list[tuple[int, int | None]] = []
    dest = tmp_path / "job" / "seg_01.mp4"
    await provider.download(res, dest, progress=lambda d, t: seen.append((d, t)))
    assert media.probe(dest).frames == 24
    assert seen[-1][0] == seen[-1][1] == dest.stat().st_size
    await provider.aclose()


async def test_provider_unknown_request_and_cancel(spec: ModelSpec, tmp_path: Path) -> None:
    provider = PreviewProvider(tmp_path / "cache", latency=5.0)
    with pytest.raises(RequestNotFound):
        await provider.status(Submission(request_id="f" * 32, endpoint="preview/text-to-video"))
    sub = await provider.submit(_req(spec, seconds=1))
    await asyncio.sleep(0.05)
    await provider.cancel(sub)
    with pytest.raises(ProviderError, match="cancelled"):
        await provider.status(sub)
    # the render thread notices and cleans up
    deadline = asyncio.get_running_loop().time() + 30
    while list((tmp_path / "cache").glob("*.mp4")) or list((tmp_path / "cache").glob(".*")):
        assert asyncio.get_running_loop().time() < deadline, "the cancelled render left its files"
        await asyncio.sleep(0.02)
    await provider.aclose()


async def test_provider_requests_survive_a_restart(spec: ModelSpec, tmp_path: Path) -> None:
    """Like a hosted queue, a submitted request outlives the process that submitted it."""
    cache = tmp_path / "cache"
    first = PreviewProvider(cache, latency=0.2)
    running = await first.submit(_req(spec, seconds=1, label="segment 1"))
    finished = await first.submit(_req(spec, seconds=1, label="segment 2"))
    await _wait(first, finished)
    await first.aclose()  # the process dies: the unfinished render is cut off

    second = PreviewProvider(cache, latency=0.0)
    for sub in (finished, running):
        states = await _wait(second, sub)
        assert any("re-attached" in line for line in states[-1].logs)
        res = await second.result(sub)
        dest = tmp_path / f"{sub.request_id}.mp4"
        await second.download(res, dest)
        assert media.probe(dest).frames == 24
    # delivered requests are forgotten, like a queue's retention ending
    with pytest.raises(RequestNotFound):
        await second.status(finished)
    await second.aclose()


async def test_provider_render_error_surfaces_and_images(spec: ModelSpec, tmp_path: Path) -> None:
    provider = PreviewProvider(tmp_path / "cache")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    sub = await provider.submit(_req(spec, Kind.I2V, start=bad))
    with pytest.raises(ProviderError, match="bad.png"):
        await _wait(provider, sub)
    with pytest.raises(ProviderError):
        await provider.result(sub)
    img = ImageRequest(endpoint="preview/image", prompt=PROMPT, width=320, height=180, aspect="16:9")
    await provider.generate_image(img, tmp_path / "k0.png")
    assert media.read_image(tmp_path / "k0.png").shape == (180, 320, 3)
    await provider.aclose()


async def test_provider_queues_renders_beyond_its_slots(spec: ModelSpec, tmp_path: Path) -> None:
    """At most ``slots`` renders run at once; the others wait with a queue position."""
    provider = PreviewProvider(tmp_path / "cache", latency=1.0, slots=1)  # the first still runs when asked
    subs = [await provider.submit(_req(spec, seconds=1, prompt=f"{PROMPT} {i}")) for i in range(3)]
    await asyncio.sleep(0.05)
    positions = [(await provider.status(s)).queue_position for s in subs[1:]]
    assert positions == [1, 2]
    for sub in subs:
        states = await _wait(provider, sub)
        assert states[-1].state == "completed"
    await provider.aclose()


def test_a_continued_reference_shot_draws_each_member_once(spec: ModelSpec, tmp_path: Path) -> None:
    """A reference-to-video shot that starts on an earlier shot's last frame (its members' boxes in
    it) shows each of its members once: the old boxes are not carried along beside the new ones."""
    import cv2

    from sora_tui.core.providers.preview import compose_title, draw_references, erase_references, reference_box

    def flat(colour: tuple[int, int, int]) -> np.ndarray:
        img = np.zeros((120, 90, 3), np.uint8)
        img[:] = colour
        cv2.circle(img, (45, 60), 18, (255, 255, 255), -1)
        return img

    red, blue = flat((220, 30, 30)), flat((20, 40, 230))
    w, h = frame_size("360p", "16:9")
    plain = compose_title("the last shot", w, h)
    # the previous shot's last frame: Mara (red) in box 0, the lamp (blue) in box 1
    (tmp_path / "blue.png").write_bytes(cv2.imencode(".png", cv2.cvtColor(blue, cv2.COLOR_RGB2BGR))[1].tobytes())
    media.write_png(draw_references(plain, [red, blue]), tmp_path / "last.png")
    media.write_png(plain, tmp_path / "plain.png")
    assert np.array_equal(erase_references(plain), plain)  # no box: nothing erased

    def shot(start: str) -> Path:
        req = _req(spec, kind=Kind.R2V, res="360p", audio=False, start=tmp_path / start, label="")
        req.references = [[tmp_path / "blue.png"]]  # the next shot: the lamp alone
        render_video(req, tmp_path / f"{start}.mp4")
        return tmp_path / f"{start}.mp4"

    got, clean = shot("last.png"), shot("plain.png")
    for index in (0, 12, 23):
        a = media.read_image(media.frame_png(got, index, tmp_path / f"a{index}.png"))
        b = media.read_image(media.frame_png(clean, index, tmp_path / f"b{index}.png"))
        x, y, tw, th = reference_box(0, w, h)
        assert np.abs(a[y + 2 : y + th // 4, x + 2 : x + tw - 2].mean(axis=(0, 1)) - (20, 40, 230)).max() < 30
        # box 1 (and the whole picture) as if no box had been in the start: no red, no second lamp
        x1, y1, tw1, th1 = reference_box(1, w, h)
        band = (slice(0, y1 + th1 + 8), slice(max(0, x1 - 8 - tw1 // 2), w))
        assert media.psnr(a[band], b[band]) > 30, f"frame {index}: {media.psnr(a[band], b[band]):.1f} dB"
