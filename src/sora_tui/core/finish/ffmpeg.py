"""Running the bundled ffmpeg for the finishing stage: progress with an ETA, cancel, and measurements.

ffmpeg is imageio-ffmpeg's binary (:func:`sora_tui.core.media.ffmpeg_exe`); its build has
every filter and encoder used here (ebur128, alimiter, sidechaincompress, subtitles with
libass, libx264, libvpx-vp9, libopus, the hls and webm muxers); :func:`missing_features`
checks that at run time and names whatever a different binary lacks.
"""

from __future__ import annotations

import contextlib
import functools
import re
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..media import MediaError, drain_stderr, ffmpeg_failure, progress_values, run_ffmpeg, spawn_ffmpeg

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

# (fraction 0..1, seconds left or None)
ProgressCallback = Callable[[float, float | None], None]

NEEDED_FILTERS = ("ebur128", "alimiter", "sidechaincompress", "amix", "subtitles", "afade", "adelay", "palettegen")
NEEDED_ENCODERS = ("libx264", "aac", "mov_text", "libvpx-vp9", "libopus", "webvtt", "gif")
NEEDED_MUXERS = ("mp4", "webm", "hls", "srt", "webvtt", "gif")


class Cancelled(Exception):
    """The user stopped a finishing step; its partial output was removed."""


@functools.cache
def _listing(kind: str) -> frozenset[str]:
    out = run_ffmpeg([f"-{kind}"], timeout=60).stdout.decode("utf-8", "replace")
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith(" ="):
            names.add(parts[1])
    return frozenset(names)


def missing_features() -> list[str]:
    """What this ffmpeg lacks of what the finishing stage uses (empty with imageio-ffmpeg's build)."""
    out = [f"filter {f}" for f in NEEDED_FILTERS if f not in _listing("filters")]
    out += [f"encoder {e}" for e in NEEDED_ENCODERS if e not in _listing("encoders")]
    out += [f"muxer {m}" for m in NEEDED_MUXERS if m not in _listing("muxers")]
    return out


def _output(args: Sequence[str]) -> Path:
    """The file an ffmpeg command line writes (its last argument), for a DiskFull that names it."""
    return Path(args[-1]) if args and args[-1] not in ("-", "pipe:1") else Path(".")


@dataclass
class RunResult:
    stderr: str
    out_time: float  # seconds of output written
    wall_s: float


def run(
    args: Sequence[str],
    *,
    total: float = 0.0,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    what: str = "ffmpeg",
) -> RunResult:
    """Run ffmpeg (lower priority), report out_time/total with an ETA, stop on ``cancel``.

    Raises MediaError (with ffmpeg's telling line) on failure and Cancelled when cancelled.
    """
    cmd = ["-nostdin", "-nostats", "-y", "-progress", "pipe:1", *args]
    proc = spawn_ffmpeg(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader, tail = drain_stderr(proc, 80)
    start = time.monotonic()
    out_time = 0.0
    sent = -1.0
    stopped = False

    def watch() -> None:  # a cancel while ffmpeg is silent still stops it
        nonlocal stopped
        assert cancel is not None
        while proc.poll() is None:
            if cancel.wait(0.1):
                stopped = True
                with contextlib.suppress(OSError):
                    proc.kill()
                return

    if cancel is not None:
        threading.Thread(target=watch, daemon=True).start()
    try:
        for us in progress_values(proc, "out_time_us"):
            if total <= 0:
                continue
            out_time = max(out_time, us / 1e6)
            frac = min(1.0, out_time / total)
            if progress is not None and frac - sent >= 0.01:
                sent = frac
                elapsed = time.monotonic() - start
                eta = elapsed * (1 - frac) / frac if frac > 0.02 else None
                progress(frac, eta)
        rc = proc.returncode
    finally:
        reader.join(timeout=5)
    if stopped or (cancel is not None and cancel.is_set()):
        raise Cancelled(f"{what} cancelled")
    if rc != 0:
        raise ffmpeg_failure(list(tail), _output(args), what)
    if progress is not None:
        progress(1.0, 0.0)
    return RunResult("\n".join(tail), out_time, time.monotonic() - start)


def run_quick(args: Sequence[str], what: str = "ffmpeg") -> str:
    """A short ffmpeg run without progress; returns stderr (for filters that print measurements)."""
    proc = run_ffmpeg(["-y", *args], timeout=600)
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise ffmpeg_failure(err.splitlines()[-40:], _output(args), what)
    return err


# --- measurements -------------------------------------------------------------------------


@dataclass(frozen=True)
class Loudness:
    integrated: float  # LUFS
    true_peak: float  # dBTP
    lra: float  # LU


def measure_loudness(path: str | Path, stream: str = "a:0") -> Loudness:
    """EBU R128 integrated loudness and true peak of a file's sound (ffmpeg's ebur128 filter)."""
    err = run_quick(
        ["-i", str(path), "-map", f"0:{stream}", "-af", "ebur128=peak=true:framelog=quiet", "-f", "null", "-"],
        "loudness measurement",
    )
    summary = err[err.rfind("Summary:") :]
    i = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    lra = re.search(r"LRA:\s+(-?[\d.]+) LU", summary)
    peak = re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    if not i or not peak:
        raise MediaError(f"no loudness summary for {Path(path).name}")

    def num(m: re.Match[str] | None) -> float:
        return float("-inf") if m is None or m.group(1) == "-inf" else float(m.group(1))

    return Loudness(num(i), num(peak), num(lra))


def decode_audio(path: str | Path, rate: int = 48000, mono: bool = True, stream: str = "a:0") -> np.ndarray:
    """A file's sound as float32 samples (mono, or interleaved channels reshaped to (n, 2))."""
    import numpy as np

    proc = run_ffmpeg(
        ["-i", str(path), "-map", f"0:{stream}", "-ac", "1" if mono else "2", "-ar", str(rate), "-f", "f32le", "-"]
    )
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").splitlines()
        raise ffmpeg_failure(err[-20:], Path(path), f"decoding the sound of {Path(path).name}")
    data = np.frombuffer(proc.stdout, dtype=np.float32)
    return data if mono else data.reshape(-1, 2)


def has_audio_stream(path: str | Path) -> bool:
    proc = run_ffmpeg(["-i", str(path)], timeout=60)
    return re.search(rb"Stream #\d+:\d+(?:\[\w+\])?(?:\(\w+\))?: Audio:", proc.stderr) is not None
