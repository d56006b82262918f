"""Shots of different models conformed in the join: a plan whose shots come back at different
frame rates, sizes and sound layouts (on the fal fake: Veo at 24 fps 160x90 with sound, Wan at
30 fps 128x72, its image-to-video silent) joins into one video with one frame rate, one size and
one sound layout, as long as the shots together, with each shot's picture in it (decoded and
measured)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from fakes import fal_schemas
from fakes.fal_server import FalFake
from sora_tui.core import media
from sora_tui.core.colour import psnr
from sora_tui.core.engine import Engine
from sora_tui.core.models import JobStatus, Plan
from test_hosted_e2e import engine_env


def mixed_plan() -> Plan:
    return Plan.from_dict(
        {
            "version": 2,
            "prompt": "a lighthouse keeper's night",
            "model": "veo3.1-fast",
            "resolution": "720p",
            "aspect": "16:9",
            "audio": True,
            "segments": [
                {"title": "Coast", "seconds": 4, "prompt": "waves break below a lighthouse at dusk"},
                {
                    "title": "Stairs",
                    "seconds": 4,
                    "prompt": "a keeper climbs spiral stairs",
                    "transition": "cut",
                    "model": "wan-2.7",
                },
                {"title": "Lamp", "seconds": 4, "prompt": "the keeper lights the great lamp", "model": "wan-2.7"},
            ],
        }
    )


def frame_at(path: Path, index: int, tmp: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    out = tmp / f"{path.stem}_{index}.png"
    media.frame_png(path, index, out)
    img = media.read_image(out)
    if size is not None and (img.shape[1], img.shape[0]) != size:
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    return img


async def test_mixed_models_join_into_one_rate_size_and_sound_layout(
    fal_fake: FalFake, home: Path, tmp_path: Path
) -> None:
    fal_fake.render_modes = {"fal-ai/veo3.1": ((160, 90), 24), "fal-ai/wan": ((128, 72), 30)}
    engine = Engine(env=engine_env(fal_fake, home))
    try:
        job = engine.create_job(mixed_plan())
        done = await engine.run(job.id)
    finally:
        await engine.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    for s in fal_fake.submits:
        assert fal_schemas.errors(s.path.strip("/"), s.json) == []
    assert sorted(s.path.strip("/") for s in fal_fake.submits) == [  # the two runs render at once
        "fal-ai/veo3.1/fast",
        "fal-ai/wan/v2.7/image-to-video",
        "fal-ai/wan/v2.7/text-to-video",
    ]

    segs = engine.store.segments(job.id)
    infos = [media.probe(s.file or "") for s in segs]
    # what the models delivered really differs: frame rate, size and sound
    assert [(i.width, i.height, round(i.fps)) for i in infos] == [(160, 90, 24), (128, 72, 30), (128, 72, 30)]
    assert [i.has_audio for i in infos] == [True, True, False]

    final = Path(done.output or "")
    out = media.probe(final)
    assert (out.width, out.height, round(out.fps)) == (160, 90, 24)  # one size, one frame rate
    assert out.acodec and out.audio_channels  # one sound layout for the whole video
    # duration: the shots' durations together, within a frame
    total = sum(i.duration for i in infos)
    assert abs(out.duration - total) <= 1 / out.fps + 1e-6, (out.duration, total)
    assert abs(out.duration - out.frames / out.fps) < 1e-3 if out.frames else True
    pcm = _sound(final)
    sound = len(pcm) / RATE
    assert abs(sound - out.duration) < 0.05, (sound, out.duration)
    # the shots with sound keep it in their spans; the silent shot is silence (past the crossfade)
    d1, d2 = infos[0].duration, infos[1].duration
    assert _db(pcm[int(0.2 * RATE) : int((d1 - 0.2) * RATE)]) > -40
    assert _db(pcm[int((d1 + 0.2) * RATE) : int((d1 + d2 - 0.2) * RATE)]) > -40
    assert _db(pcm[int((d1 + d2 + 0.2) * RATE) :]) < -60

    # each shot's picture is in the joined video at its time (mid frame, PSNR > 25 dB)
    # (shot 3 continues shot 2: its first frame, the hand-off picture, is not shown twice)
    start = 0.0
    mids = []
    for k, info in enumerate(infos):
        skip = 1 / info.fps if k == 2 else 0.0
        mid_t = info.duration / 2
        src = frame_at(info.path, int(mid_t * info.fps), tmp_path, (out.width, out.height))
        got = frame_at(final, int(round((start + mid_t - skip) * out.fps)), tmp_path)
        value = psnr(src, got)
        print(f"shot {k + 1}: {info.width}x{info.height} {info.fps:g} fps, mid frame {value:.1f} dB")
        assert value > 25, f"shot {k + 1}: {value:.1f} dB"
        mids.append(src)
        start += info.duration - skip
    assert psnr(mids[0], mids[1]) < 20  # the shots differ: the measure can tell them apart
    print(f"joined {out.duration:.3f} s of {total:.3f} s; sound {sound:.3f} s")


RATE = 8000


def _sound(path: Path) -> np.ndarray:
    """The whole sound stream decoded by ffmpeg: mono float samples at RATE."""
    import subprocess

    args = ["-hide_banner", "-i", str(path), "-map", "0:a:0", "-f", "s16le", "-ac", "1", "-ar", str(RATE), "-"]
    proc = subprocess.run([media.ffmpeg_exe(), *args], capture_output=True, check=True)
    return np.frombuffer(proc.stdout, np.int16).astype(np.float64) / 32768


def _db(x: np.ndarray) -> float:
    return float(20 * np.log10(max(1e-9, np.sqrt(np.mean(x * x)))))
