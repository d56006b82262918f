"""Helpers of the finishing tests: make preview jobs, and measure media by decoding it."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from sora_tui.core.engine import Engine
from sora_tui.core.finish.ffmpeg import decode_audio
from sora_tui.core.media import ffmpeg_exe
from sora_tui.core.models import JobStatus, Request
from sora_tui.core.settings import Settings

PROMPT = "a paper boat drifts down a rainy street at dusk"
TONE_HZ = 2500.0
SR = 48000


def make_engine(home: Path, **settings: Any) -> Engine:
    env = {"SORA_TUI_HOME": str(home)}
    return Engine(env=env, settings=Settings(**settings) if settings else None)


def make_job(engine: Engine, segments: int = 4, seconds: int = 3, audio: bool = False, narration: bool = True) -> str:
    async def go() -> str:
        req = engine.resolve(
            Request(
                prompt=PROMPT,
                segments=segments,
                seconds=seconds,
                model="preview",
                resolution="180p",
                audio=audio,
                narration=narration,
            )
        )
        plan = await engine.plan(req)
        job = engine.create_job(plan)
        final = await engine.run(job.id)
        assert final.status is JobStatus.COMPLETED, final.error
        await engine.aclose()
        return job.id

    return asyncio.run(go())


def tone_file(path: Path, seconds: float = 5.0, hz: float = TONE_HZ) -> Path:
    """A music bed for the tests: a steady tone (its level under speech is easy to measure)."""
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=frequency={hz}:duration={seconds}"]
        + ["-af", "volume=0.3", str(path)],
        check=True,
    )
    return path


def ffmpeg_err(*args: str) -> str:
    return subprocess.run([ffmpeg_exe(), "-hide_banner", *args], capture_output=True, text=True).stderr


def streams(path: Path) -> str:
    return "\n".join(ln for ln in ffmpeg_err("-i", str(path)).splitlines() if "Stream #" in ln)


def video_md5(path: Path) -> str:
    out = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "md5", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.strip()


def decode_frames(path: Path, w: int = 32, h: int = 18) -> int:
    """Decode every picture of a file (or playlist); the number of frames. Raises on a decode error."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough", "-s", f"{w}x{h}"]
        + ["-pix_fmt", "gray", "-f", "rawvideo", "-"],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-500:]
    assert not proc.stderr.strip(), proc.stderr.decode()[-500:]
    return len(proc.stdout) // (w * h)


def frame_rgb(path: Path, t: float) -> np.ndarray:
    size = re.search(r"Video: .*?, (\d+)x(\d+)", ffmpeg_err("-i", str(path)))
    assert size
    w, h = int(size.group(1)), int(size.group(2))
    out = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-ss", f"{t:.3f}", "-i", str(path), "-frames:v", "1"]
        + ["-pix_fmt", "rgb24", "-f", "rawvideo", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(out, dtype=np.uint8).reshape(h, w, 3)


def tone_level_db(samples: np.ndarray, t0: float, t1: float, hz: float = TONE_HZ) -> float:
    """Level (dBFS) of the ``hz`` sine between t0 and t1 (a windowed FFT peak)."""
    seg = samples[int(t0 * SR) : int(t1 * SR)].astype(np.float64)
    win = np.hanning(len(seg))
    spec = np.abs(np.fft.rfft(seg * win))
    freqs = np.fft.rfftfreq(len(seg), 1 / SR)
    k = int(np.argmin(np.abs(freqs - hz)))
    return float(20 * np.log10(spec[k - 3 : k + 4].max() * 2 / win.sum() + 1e-12))


def speech_onset(samples: np.ndarray, t0: float, t1: float, drop_db: float = 30.0) -> float:
    """When the voice (80-8000 Hz, leaving out the music tone's band) first rises within drop_db of its peak."""
    hop, size = SR // 400, SR // 100  # 2.5 ms hop, 10 ms window
    start = max(0, int(t0 * SR))
    seg = samples[start : int(t1 * SR)].astype(np.float64)
    n = (len(seg) - size) // hop
    frames = np.stack([seg[i * hop : i * hop + size] for i in range(n)]) * np.hanning(size)
    spec = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    freqs = np.fft.rfftfreq(size, 1 / SR)
    voice = (freqs >= 80) & (freqs <= 8000) & (np.abs(freqs - TONE_HZ) > 400)
    band = 10 * np.log10(spec[:, voice].sum(axis=1) + 1e-20)
    first = int(np.nonzero(band > band.max() - drop_db)[0][0])
    return (start + first * hop + size / 2) / SR


def audio_seconds(path: Path) -> float:
    """Exact length of a file's first sound stream, by decoding it."""
    return len(decode_audio(path, rate=48000)) / 48000.0


_TIME = re.compile(r"(\d+):(\d\d):(\d\d)[,.](\d\d\d)")


def parse_times(text: str) -> list[tuple[float, float]]:
    """(start, end) of every cue in an SRT or WebVTT document."""

    def seconds(g: tuple[str, ...]) -> float:
        return int(g[0]) * 3600 + int(g[1]) * 60 + int(g[2]) + int(g[3]) / 1000

    out = []
    for line in text.splitlines():
        if "-->" in line:
            a, b = (_TIME.search(part) for part in line.split("-->"))
            if a and b:
                out.append((seconds(a.groups()), seconds(b.groups())))
    return out
