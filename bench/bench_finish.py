"""Finishing-stage benchmarks (rows for bench.py's table).

- mix: narration (15 spoken lines) and a music bed into a 60 s 720p video, picture stream-copied;
- web-720p export of a 60 s 1080p video: speed relative to real time;
- HLS export of the same video: every rendition decoded frame by frame.

Inputs are made with ffmpeg's test sources (a moving picture with sound), so the figures
depend only on the finishing code and this machine.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _make_video(path: Path, seconds: int, size: str) -> Path:
    from sora_tui.core.media import ffmpeg_exe

    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=24:duration={seconds}"]
        + ["-f", "lavfi", "-i", f"sine=frequency=220:duration={seconds}:sample_rate=48000"]
        + ["-c:v", "libx264", "-preset", "ultrafast", "-g", "48", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2"]
        + ["-shortest", str(path)],
        check=True,
    )
    return path


def _frames(path: Path) -> int:
    from sora_tui.core.media import ffmpeg_exe

    proc = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough"]
        + ["-s", "16x16", "-pix_fmt", "gray", "-f", "rawvideo", "-"],
        capture_output=True,
        check=False,
    )
    return len(proc.stdout) // 256 if proc.returncode == 0 and not proc.stderr.strip() else -1


def bench_finish(workdir: Path, row: Any) -> list[dict[str, Any]]:
    import asyncio

    from sora_tui.core.finish.export import export
    from sora_tui.core.finish.ffmpeg import measure_loudness
    from sora_tui.core.finish.mix import MixSettings, Placement, finish_audio
    from sora_tui.core.finish.tts import get_tts, prepare_clip
    from sora_tui.core.settings import Settings

    work = workdir / "finish"
    work.mkdir(parents=True, exist_ok=True)
    rows = []

    # --- mix: 15 narration lines (one per 4 s) and a music bed into 60 s of 720p --------------
    video = _make_video(work / "v720.mp4", 60, "1280x720")
    music = work / "music.wav"
    from sora_tui.core.media import ffmpeg_exe

    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=20", str(music)],
        check=True,
    )
    tts = get_tts("offline", Settings())
    clips = []
    t0 = time.perf_counter()
    for k in range(15):
        raw, dest = work / f"raw_{k}.wav", work / f"narr_{k}.wav"
        asyncio.run(tts.synthesize(f"Part {k + 1}: the paper boat drifts on.", raw))
        clip = prepare_clip(raw, dest)
        clips.append(Placement(dest, 4 * k + 0.25, clip.seconds))
    tts_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = finish_audio(
        video,
        work / "finished.mp4",
        duration=60.0,
        narration=clips,
        music=music,
        settings=MixSettings(),
        workdir=work / "mixwork",
    )
    mix_s = time.perf_counter() - t0
    loud = measure_loudness(result.path)
    rows.append(
        row(
            "finish: mix narration + music into 60 s 720p (video copied)",
            mix_s,
            "s",
            "≤ 3 s",
            mix_s <= 3.0,
            f"{loud.integrated:.1f} LUFS, true peak {loud.true_peak:.1f} dBTP ({result.method}); "
            f"15 lines spoken by {tts.voice} in {tts_s:.2f} s",
        )
    )

    # --- web-720p and HLS exports of 60 s of 1080p ------------------------------------------------
    v1080 = _make_video(work / "v1080.mp4", 60, "1920x1080")
    t0 = time.perf_counter()
    web = export(v1080, "web-720p", work / "web")
    web_s = time.perf_counter() - t0
    ok_frames = _frames(web.path) == 1440
    rows.append(
        row(
            "export web-720p of 60 s 1080p: speed",
            60.0 / web_s,
            "× real time",
            "reported",
            None,
            f"{web_s:.1f} s wall, {web.size_bytes / 1e6:.1f} MB, all 1440 frames decode: {'yes' if ok_frames else 'NO'}",
        )
    )
    t0 = time.perf_counter()
    hls = export(v1080, "hls", work / "hls")
    hls_s = time.perf_counter() - t0
    variants = sorted(hls.path.parent.glob("v*/index.m3u8"))
    decoded = [_frames(v) for v in variants]
    good = sum(1 for n in decoded if n == 1440)
    rows.append(
        row(
            "export hls of 60 s 1080p: renditions decoded",
            good,
            f"of {len(variants)}",
            "all (2)",
            good == len(variants) == 2,
            f"{hls_s:.1f} s wall ({60.0 / hls_s:.2f}× real time), frames per rendition {decoded}",
        )
    )
    return rows
