"""Test clips that carry the defects of hosted continuation models, and measurements on joined files.

``chain()`` cuts one continuous piece of "footage" (ffmpeg's testsrc2: every frame
differs, colours are stable) into segments the way an image-to-video chain returns
them: every continuation starts with a copy of the picture it was conditioned on
(the previous segment's last frame), then the footage goes on. Options add colour
drift that ramps along the chain, a fade to black, long GOPs, and sound of several
kinds (noise per segment for sync, tones for clicks, none) encoded with ffmpeg's
AAC encoder, whose priming and padding are what real files carry.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from sora_tui.core import media

W, H, FPS = 320, 180, 24
PRESET = "veryfast"  # B-frames, as hosted models' files have


def ff(*args: str, stdin: bytes | None = None) -> bytes:
    proc = subprocess.run(
        [media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], input=stdin, capture_output=True
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode())
    return proc.stdout


def footage(n: int, w: int = W, h: int = H) -> np.ndarray:
    raw = ff(
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=s={w}x{h}:r={FPS}",
        "-frames:v",
        str(n),
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    )
    frames = np.frombuffer(raw, np.uint8).reshape(n, h, w, 3).astype(np.float32)
    # testsrc2's colours are at the limits; real footage sits in the middle, where drift shows
    return (frames * 0.55 + 52).astype(np.uint8)


def pan(then: Callable[[int, np.ndarray], np.ndarray] | None = None) -> Callable[[int, np.ndarray], np.ndarray]:
    """A ``look`` for :func:`chain`: a slow camera pan across one picture, whose mean colour holds from
    frame to frame as most shots' does (testsrc2's own mean colour swings by ±3 ΔE within a second),
    then ``then`` (the scene's own light, say)."""
    still = footage(1)[0]

    def look(i: int, f: np.ndarray) -> np.ndarray:
        x = np.roll(still, i, axis=1)
        return then(i, x) if then else x

    return look


def drift(frame: np.ndarray, amount: float) -> np.ndarray:
    """What extension chains do to colour: warmer, more contrast, more saturation (amount ~ ΔE/5)."""
    x: np.ndarray = frame.astype(np.float32)
    grey: np.ndarray = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * (1 + 0.08 * amount)  # saturation
    x = 128 + (x - 128) * (1 + 0.05 * amount)  # contrast
    x += np.array([4.0, 1.0, -4.0], np.float32) * amount  # warmth
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def fade(frames: np.ndarray, n: int) -> np.ndarray:
    out = frames.copy()
    for i in range(n):
        k = (i + 1) / n
        out[len(out) - n + i] = (out[len(out) - n + i].astype(np.float32) * (1 - k) ** 2).astype(np.uint8)
    return out


def encode(
    frames: np.ndarray,
    dest: Path,
    audio: str | None,
    seconds: float,
    gop: int = FPS,
    rate: int = 48000,
    channels: int = 2,
) -> Path:
    """H.264 (yuv420p, CRF 16) + AAC from ffmpeg's encoder; ``audio`` is a lavfi source or None."""
    n, h, w, _ = frames.shape
    args = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(FPS), "-i", "pipe:0"]
    if audio:
        args += ["-f", "lavfi", "-i", f"{audio}:d={seconds + 0.02:.4f}"]
        args += ["-map", "0:v", "-map", "1:a", "-c:a", "aac", "-b:a", "128k", "-ar", str(rate), "-ac", str(channels)]
    args += ["-c:v", "libx264", "-preset", PRESET, "-crf", "16", "-pix_fmt", "yuv420p", "-g", str(gop)]
    args += ["-frames:v", str(n), "-shortest", "-movflags", "+faststart", str(dest)]
    ff(*args, stdin=frames.tobytes())
    return dest


@dataclass
class Chain:
    files: list[Path]
    sent: list[Path | None]  # the picture each segment was conditioned on
    footage: np.ndarray  # every footage frame, in order, as the joined video should show them
    drift: list[np.ndarray] = field(default_factory=list)  # the drift amount of every frame of each segment


def chain(
    folder: Path,
    n: int = 4,
    frames: int = FPS,
    *,
    repeat: bool = True,
    drift_per_segment: float = 0.0,
    sound: str = "noise",  # noise | tones | none | mixed
    gop: int = FPS,
    fade_last: int = 0,  # frames of fade to black at the end of segment 2
    rates: list[int] | None = None,
    channels: list[int] | None = None,
    look: Callable[[int, np.ndarray], np.ndarray] | None = None,  # (footage frame index, frame) -> the true picture
    cuts: Collection[int] = (),  # segment numbers (1-based) that begin after a cut: unconditioned, drift restarts
) -> Chain:
    folder.mkdir(parents=True, exist_ok=True)
    total = n * frames
    src = footage(total + 1)
    if look is not None:
        src = np.stack([look(i, f) for i, f in enumerate(src)])
    files: list[Path] = []
    sent: list[Path | None] = []
    drifts: list[np.ndarray] = []
    pos = 0
    prev_last: np.ndarray | None = None
    run_start = 0
    for k in range(n):
        if (k + 1) in cuts:
            run_start = k
        j = k - run_start  # position in its run of continued shots
        body_n = frames - (1 if (repeat and j) else 0)
        body = src[pos : pos + body_n]
        # the first segment is the anchor; every continuation drifts further (a ramp along the chain)
        amounts = [drift_per_segment * max(0.0, j - 1 + (i + 1) / frames) if j else 0.0 for i in range(body_n)]
        body = np.stack([drift(f, a) if a else f for f, a in zip(body, amounts, strict=True)])
        if k == 1 and fade_last:
            body = fade(body, fade_last)
        pos += body_n
        if repeat and j:
            assert prev_last is not None
            seg = np.concatenate([prev_last[None], body])
            amounts = [drifts[-1][-1], *amounts]
        else:
            seg = body
        if j:
            assert prev_last is not None
            png = folder / f"sent_{k + 1:02d}.png"
            cv2.imwrite(str(png), cv2.cvtColor(prev_last, cv2.COLOR_RGB2BGR))
            sent.append(png)
        else:
            sent.append(None)
        prev_last = seg[-1] if not (k == 1 and fade_last) else seg[-fade_last - 1]
        audio = None
        if sound == "noise" or (sound == "mixed" and k != 2):
            audio = f"anoisesrc=seed={k + 11}:color=pink:amplitude=0.3"
        elif sound == "tones":
            audio = f"sine=f={220 * (k + 2) / 2:.1f}:r=48000"
        rate = rates[k % len(rates)] if rates else 48000
        ch = channels[k % len(channels)] if channels else 2
        files.append(encode(seg, folder / f"seg_{k + 1:02d}.mp4", audio, len(seg) / FPS, gop, rate, ch))
        drifts.append(np.array(amounts))
    return Chain(files, sent, src[:pos], drifts)


# --- measuring a joined file -------------------------------------------------------------


def decode_video(path: Path, cfr: bool = False) -> np.ndarray:
    """Every frame; ``cfr``: as a frame-rate-converting reader gets them (it repeats or drops a frame
    wherever the timestamps are not regular)."""
    info = media.probe(path, count_frames=False)
    mode = [] if cfr else ["-fps_mode", "passthrough"]
    raw = ff("-i", str(path), "-map", "0:v:0", *mode, "-f", "rawvideo", "-pix_fmt", "rgb24", "-")
    return np.frombuffer(raw, np.uint8).reshape(-1, info.height, info.width, 3)


def decode_audio(path: Path, rate: int = 48000, channels: int = 1, start: float = 0.0) -> np.ndarray:
    raw = ff("-i", str(path), "-map", "0:a:0", "-ac", str(channels), "-ar", str(rate), "-f", "f32le", "-")
    return np.frombuffer(raw, np.float32).reshape(-1, channels)[:, 0].copy()


def stream_starts(path: Path) -> tuple[float, float]:
    """When the first picture and the first sound sample are presented (s), read by decoding."""
    import re

    def first(kind: str, flt: str) -> float:
        proc = subprocess.run(
            [
                media.ffmpeg_exe(),
                "-hide_banner",
                "-copyts",
                "-i",
                str(path),
                "-map",
                f"0:{kind}:0",
                "-vf" if kind == "v" else "-af",
                flt,
                "-frames:" + kind,
                "1",
                "-f",
                "null",
                "-",
            ],
            capture_output=True,
            text=True,
        )
        return float(re.findall(r"pts_time:\s*(-?[\d.]+)", proc.stderr)[0])

    return first("v", "showinfo"), first("a", "ashowinfo")


def lag_ms(own: np.ndarray, track: np.ndarray, expected: int, rate: int = 48000, search_ms: float = 150) -> float:
    """Where ``own`` sits in ``track`` relative to ``expected`` (samples), by cross-correlation, in ms."""
    r = int(search_ms / 1000 * rate)
    lo = max(0, expected - r)
    hi = min(len(track), expected + len(own) + r)
    seg = track[lo:hi]
    corr = np.correlate(seg, own, mode="valid")
    best = int(np.argmax(corr)) + lo
    return (best - expected) / rate * 1000


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def lab_mean(frame: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(frame.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    mean: np.ndarray = lab.reshape(-1, 3).mean(0)
    return mean
