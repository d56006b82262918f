"""Delivery presets and the poster image.

| preset      | what                                                                 |
|-------------|----------------------------------------------------------------------|
| web-720p    | H.264 High + AAC in MP4, fitted to 1280×720 (720×1280 portrait), +faststart, soft subtitles |
| web-1080p   | the same at 1920×1080                                                |
| webm        | VP9 + Opus in WebM at the source size (at most 1080p), WebVTT subtitles |
| hls         | HLS VOD: two H.264/AAC renditions (720p, 360p), 4 s segments, a master playlist |
| gif-preview | an animated GIF, 320 px wide, 10 fps, the whole video in at most 8 s  |
| source      | the finished file itself, remuxed with +faststart (no re-encode)     |

Every export also writes ``poster.jpg``: the best-exposed of 24 sampled frames.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..media import MediaError, atomic_path, check_ffmpeg, probe, run_ffmpeg
from ..models import InputError
from .ffmpeg import ProgressCallback, has_audio_stream, run

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

GIF_SECONDS = 8.0
HLS_RENDITIONS = ((1280, 720, "2800k"), (640, 360, "800k"))
HLS_SEGMENT_S = 4


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    suffix: str
    box: tuple[int, int] | None = None  # fitted into this box (landscape; swapped for portrait)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("web-720p", "H.264 720p MP4 for the web (+faststart)", ".mp4", (1280, 720)),
        Preset("web-1080p", "H.264 1080p MP4 for the web (+faststart)", ".mp4", (1920, 1080)),
        Preset("webm", "VP9 + Opus WebM", ".webm", (1920, 1080)),
        Preset("hls", "HLS streaming: master playlist, 720p and 360p renditions", ".m3u8"),
        Preset("gif-preview", "small animated GIF preview", ".gif"),
        Preset("source", "the finished MP4 as it is (+faststart)", ".mp4"),
    )
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise InputError("preset", f"unknown preset {name!r}", list(PRESETS))
    return PRESETS[name]


def fit(width: int, height: int, box: tuple[int, int], upscale: bool = True) -> tuple[int, int]:
    """Even size of ``width×height`` fitted into ``box`` (turned to match a portrait source)."""
    bw, bh = box if width >= height else (box[1], box[0])
    scale = min(bw / width, bh / height)
    if not upscale:
        scale = min(scale, 1.0)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


@dataclass
class ExportResult:
    preset: str
    path: Path  # the main file (the master playlist for HLS)
    files: list[Path] = field(default_factory=list)
    size_bytes: int = 0
    duration: float = 0.0
    wall_s: float = 0.0


def _result(preset: str, path: Path, files: list[Path], duration: float) -> ExportResult:
    return ExportResult(preset, path, files, sum(p.stat().st_size for p in files if p.is_file()), duration)


def _h264(crf: int = 21, preset: str = "faster") -> list[str]:
    return ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-profile:v", "high", "-pix_fmt", "yuv420p"]


def export(
    src: Path,
    preset_name: str,
    out_dir: Path,
    basename: str = "video",
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> ExportResult:
    """Export ``src`` with a preset into ``out_dir`` (created); the main file is written atomically."""
    preset = get_preset(preset_name)
    info = probe(src)
    duration = info.duration
    out_dir.mkdir(parents=True, exist_ok=True)
    audio = has_audio_stream(src)
    maps = ["-map", "0:v:0"] + (["-map", "0:a:0"] if audio else [])
    what = f"export {preset.name}"
    if preset.name == "hls":
        return _hls(src, out_dir, duration, audio, progress, cancel)
    dest = out_dir / f"{basename}{preset.suffix}"
    with atomic_path(dest) as tmp:
        if preset.name == "source":
            args = ["-i", str(src), "-map", "0", "-c", "copy", "-movflags", "+faststart", str(tmp)]
        elif preset.name == "gif-preview":
            speed = max(1.0, duration / GIF_SECONDS)
            graph = (
                f"setpts=PTS/{speed:.4f},fps=10,scale=320:-2:flags=lanczos,split[a][b];"
                "[a]palettegen=stats_mode=diff[p];[b][p]paletteuse=dither=bayer:bayer_scale=4"
            )
            args = ["-i", str(src), "-filter_complex", f"[0:v]{graph}", "-an", "-loop", "0", str(tmp)]
            duration = duration / speed
        else:
            assert preset.box is not None
            upscale = preset.name != "webm"
            w, h = fit(info.width, info.height, preset.box, upscale=upscale)
            args = ["-i", str(src), *maps, "-map", "0:s?", "-vf", f"scale={w}:{h}:flags=lanczos,setsar=1"]
            args += ["-fps_mode", "passthrough"]  # every source frame once (no frame added for a start offset)
            if preset.suffix == ".webm":
                args += ["-c:v", "libvpx-vp9", "-b:v", "0", "-crf", "32", "-deadline", "good", "-cpu-used", "4"]
                args += ["-row-mt", "1", "-pix_fmt", "yuv420p", "-c:a", "libopus", "-b:a", "128k", "-c:s", "webvtt"]
            else:
                args += _h264() + ["-c:a", "aac", "-b:a", "160k", "-c:s", "mov_text", "-movflags", "+faststart"]
            args.append(str(tmp))
        run(args, total=duration, progress=progress, cancel=cancel, what=what)
    return _result(preset.name, dest, [dest], duration)


def _hls(
    src: Path,
    out_dir: Path,
    duration: float,
    audio: bool,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> ExportResult:
    """Two renditions in one ffmpeg run, written into a fresh folder that replaces the old one at the end."""
    info = probe(src)
    final = out_dir / "hls"
    work = out_dir / ".hls.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    sizes = [fit(info.width, info.height, (w, h)) for w, h, _ in HLS_RENDITIONS]
    n = len(sizes)
    graph = f"[0:v]split={n}" + "".join(f"[s{i}]" for i in range(n)) + ";"
    graph += ";".join(f"[s{i}]scale={w}:{h}:flags=lanczos,setsar=1[v{i}]" for i, (w, h) in enumerate(sizes))
    args = ["-i", str(src), "-filter_complex", graph]
    for i in range(n):
        args += ["-map", f"[v{i}]"] + (["-map", "0:a:0"] if audio else [])
    args += _h264(preset="veryfast")
    for i, (_, _, rate) in enumerate(HLS_RENDITIONS):
        args += [f"-b:v:{i}", rate, f"-maxrate:v:{i}", rate, f"-bufsize:v:{i}", rate]
    gop = max(1, round(info.fps * HLS_SEGMENT_S))
    args += ["-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-fps_mode", "passthrough"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "128k", "-ar", "48000"]
    stream_map = " ".join(f"v:{i},a:{i}" if audio else f"v:{i}" for i in range(n))
    args += [
        "-f",
        "hls",
        "-hls_time",
        str(HLS_SEGMENT_S),
        "-hls_playlist_type",
        "vod",
        "-hls_segment_filename",
        str(work / "v%v" / "seg_%03d.ts"),
        "-master_pl_name",
        "master.m3u8",
        "-var_stream_map",
        stream_map,
        str(work / "v%v" / "index.m3u8"),
    ]
    try:
        run(args, total=duration, progress=progress, cancel=cancel, what="export hls")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(final, ignore_errors=True)
    work.rename(final)
    files = sorted(p for p in final.rglob("*") if p.is_file())
    return _result("hls", final / "master.m3u8", files, duration)


# --- poster -----------------------------------------------------------------------------------


def exposure_score(gray: np.ndarray) -> float:
    """How good a (grey, 0..255) frame is as a poster: contrast, mid-tone exposure, little clipping."""
    import numpy as np

    g = np.asarray(gray, dtype=np.float32)
    mean = float(g.mean())
    contrast = float(g.std())
    clipped = float(((g < 8) | (g > 247)).mean())
    exposure = max(0.0, 1.0 - abs(mean - 118.0) / 118.0)
    return contrast * exposure * (1.0 - clipped)


def poster(src: Path, dest: Path, samples: int = 24) -> tuple[Path, float]:
    """Write the best-exposed of ``samples`` evenly spaced frames as a JPEG; returns (path, its time)."""
    import numpy as np

    info = probe(src)
    w = 160
    h = max(2, round(info.height * w / info.width / 2) * 2)
    rate = samples / max(info.duration, 1e-3)
    proc = run_ffmpeg(
        ["-i", str(src), "-map", "0:v:0", "-vf", f"fps={rate:.6f},scale={w}:{h}"]
        + ["-pix_fmt", "gray", "-f", "rawvideo", "-"]
    )
    check_ffmpeg(proc, dest, f"sampling frames of {src.name} for the poster")
    frames = np.frombuffer(proc.stdout, dtype=np.uint8)
    count = frames.size // (w * h)
    if count == 0:
        raise MediaError(f"{src.name} has no frames for a poster")
    frames = frames[: count * w * h].reshape(count, h, w)
    best = max(range(count), key=lambda i: exposure_score(frames[i]))
    t = min(info.duration - 0.5 / info.fps, (best + 0.5) / rate)
    with atomic_path(dest) as tmp:
        run(["-ss", f"{max(0.0, t):.3f}", "-i", str(src), "-frames:v", "1", "-q:v", "2", str(tmp)], what="poster")
    return dest, t
