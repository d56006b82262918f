"""Sound of the finished video: the models' own sound, narration and a music bed, one loudness.

The music bed (any audio file the user gives) is looped or trimmed to the video, faded in and
out, set to ``music_lufs`` and ducked under the narration with ffmpeg's ``sidechaincompress``
(the narration is the key). Everything is mixed into one float WAV, measured (EBU R128), and
brought to the target loudness (measured with ffmpeg's ``ebur128``): a plain gain when the true
peak then stays under the ceiling, else the gain and a look-ahead limiter (``alimiter``). The picture is stream-copied
unless subtitles are burned in; a soft ``mov_text`` subtitle track is added from the SRT.
"""

from __future__ import annotations

import math
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..media import MediaError, atomic_path
from .ffmpeg import ProgressCallback, has_audio_stream, measure_loudness, run
from .subtitles import BURN_STYLE

TP_MARGIN = 0.5  # dB kept below the true-peak ceiling for the AAC encoder's overshoot
FADE_IN = 1.5
FADE_OUT = 3.0
# ducking: the narration (≈ -18 dBFS RMS) is ~12 dB over the threshold → ≈ 10 dB less music under speech
DUCK = "threshold=0.03:ratio=6:attack=20:release=400:knee=2:detection=rms"


@dataclass(frozen=True)
class Placement:
    """A narration clip and where it starts in the joined video."""

    path: Path
    start: float
    seconds: float
    text: str = ""


@dataclass(frozen=True)
class MixSettings:
    loudness: float = -16.0  # LUFS
    true_peak: float = -1.0  # dBTP ceiling
    music_lufs: float = -30.0


@dataclass
class MixResult:
    path: Path
    gain_db: float
    method: str  # "gain", "gain+limiter" or "silent" (nothing to hear: no sound track)


def _normalise(mix_wav: Path, workdir: Path, target: float, ceiling: float) -> tuple[str, float, Path]:
    """Bring the mix to ``target`` LUFS with its true peak under ``ceiling`` dBTP.

    A plain gain when the peak allows it; otherwise the gain and a look-ahead limiter set
    0.5 dB under the ceiling (it holds sample peaks; the margin covers the peaks between
    samples), measured again and corrected (the limiter takes away a little loudness).
    """
    first = measure_loudness(mix_wav)
    if not math.isfinite(first.integrated) or first.integrated < -70:
        return "silent", 0.0, mix_wav
    gain = target - first.integrated
    if first.true_peak + gain <= ceiling:
        out = workdir / "level.wav"
        run(["-i", str(mix_wav), "-af", f"volume={gain:.3f}dB", "-c:a", "pcm_f32le", str(out)], what="loudness")
        return "gain", gain, out
    limit = 10 ** ((ceiling - 0.5) / 20)
    out = workdir / "level.wav"
    for _ in range(3):
        run(
            ["-i", str(mix_wav), "-af", f"volume={gain:.3f}dB,alimiter=limit={limit:.5f}:level=false:latency=true"]
            + ["-c:a", "pcm_f32le", str(out)],
            what="loudness",
        )
        got = measure_loudness(out)
        if abs(got.integrated - target) <= 0.3 and got.true_peak <= ceiling:
            break
        gain += target - got.integrated
    return "gain+limiter", gain, out


def _fmt(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".") or "0"


def _esc(path: Path) -> str:
    """A path inside a filter argument (libass' subtitles filter)."""
    return str(path).replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'").replace(",", "\\,")


def mix_graph(
    duration: float, model_audio: bool, narration: Sequence[Placement], music: bool, music_gain_db: float
) -> tuple[str, int]:
    """The filter graph; inputs: 0 video, 1..N narration clips, N+1 music. Returns (graph, input count)."""
    d = _fmt(duration)
    stereo = "aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo"
    parts: list[str] = []
    mix_inputs = []
    if model_audio:
        parts.append(f"[0:a]{stereo},apad,atrim=0:{d}[model]")
    else:
        parts.append(f"aevalsrc=0|0:s=48000:d={d},aformat=sample_fmts=fltp:channel_layouts=stereo[model]")
    mix_inputs.append("[model]")
    n = len(narration)
    if n:
        for k, clip in enumerate(narration, 1):
            ms = max(0, round(clip.start * 1000))
            parts.append(f"[{k}:a]{stereo},adelay=delays={ms}:all=1[n{k}]")
        labels = "".join(f"[n{k}]" for k in range(1, n + 1))
        joined = f"{labels}amix=inputs={n}:normalize=0:duration=longest," if n > 1 else labels
        splitter = "asplit=2[narr][key]" if music else "anull[narr]"
        parts.append(f"{joined}apad,atrim=0:{d},{splitter}")
    if music:
        m = n + 1
        fade_out = min(FADE_OUT, duration / 3)
        fade_in = min(FADE_IN, duration / 3)
        chain = (
            f"[{m}:a]{stereo},volume={music_gain_db:.2f}dB,atrim=0:{d},asetpts=PTS-STARTPTS,"
            f"afade=t=in:st=0:d={_fmt(fade_in)},afade=t=out:st={_fmt(duration - fade_out)}:d={_fmt(fade_out)}"
        )
        if n:
            parts.append(chain + "[bed]")
            parts.append(f"[bed][key]sidechaincompress={DUCK}[music]")
        else:
            parts.append(chain + "[music]")
        mix_inputs.append("[music]")
    if n:
        mix_inputs.append("[narr]")
    parts.append(f"{''.join(mix_inputs)}amix=inputs={len(mix_inputs)}:normalize=0:duration=first[mix]")
    return ";".join(parts), n + (1 if music else 0) + 1


def music_gain(music: Path, target_lufs: float) -> float:
    """Gain (dB) that sets the music file to ``target_lufs``."""
    measured = measure_loudness(music).integrated
    if not math.isfinite(measured):
        raise MediaError(f"the music file {music.name} is silent")
    return target_lufs - measured


def finish_audio(
    video: Path,
    dest: Path,
    *,
    duration: float,
    narration: Sequence[Placement] = (),
    music: Path | None = None,
    settings: MixSettings = MixSettings(),
    subtitles: Path | None = None,
    burn: Path | None = None,
    metadata: dict[str, str] | None = None,
    workdir: Path,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> MixResult:
    """Write ``dest``: the video's picture (copied, or re-encoded to burn ``burn`` in) with the mixed sound."""
    workdir.mkdir(parents=True, exist_ok=True)

    def stage(lo: float, hi: float) -> ProgressCallback | None:
        if progress is None:
            return None
        return lambda f, eta: progress(lo + (hi - lo) * f, None if hi < 1 else eta)

    gain = music_gain(music, settings.music_lufs) if music is not None else 0.0
    graph, _count = mix_graph(duration, has_audio_stream(video), narration, music is not None, gain)
    args: list[str] = ["-i", str(video)]
    for clip in narration:
        args += ["-i", str(clip.path)]
    if music is not None:
        args += ["-stream_loop", "-1", "-i", str(music)]
    mix_wav = workdir / "mix.wav"
    run(
        [*args, "-filter_complex", graph, "-map", "[mix]", "-c:a", "pcm_f32le", "-t", _fmt(duration), str(mix_wav)],
        total=duration,
        progress=stage(0.0, 0.3),
        cancel=cancel,
        what="mixing the sound",
    )
    ceiling = settings.true_peak - TP_MARGIN
    method, gain_db, level_wav = _normalise(mix_wav, workdir, settings.loudness, ceiling)
    silent = method == "silent"  # no model sound, narration or music: no sound track
    out_args = ["-i", str(video), "-i", str(level_wav)]
    if subtitles is not None:
        out_args += ["-i", str(subtitles)]
    out_args += ["-map", "0:v:0"] + ([] if silent else ["-map", "1:a:0"])
    if burn is not None:
        out_args += [
            "-vf",
            f"subtitles=filename={_esc(burn)}:force_style='{BURN_STYLE}'",
            "-c:v",
            "libx264",
            "-preset",
            "medium",
            "-crf",
            "18",
            "-pix_fmt",
            "yuv420p",
        ]
    else:
        out_args += ["-c:v", "copy"]
    if not silent:
        out_args += ["-c:a", "aac", "-b:a", "192k", "-ar", "48000"]
    if subtitles is not None:
        out_args += ["-map", "2:s:0", "-c:s", "mov_text", "-metadata:s:s:0", "language=eng"]
    for key, value in (metadata or {}).items():
        if value:
            out_args += ["-metadata", f"{key}={value}"]
    out_args += ["-t", _fmt(duration), "-movflags", "+faststart"]
    with atomic_path(dest) as tmp:
        run([*out_args, str(tmp)], total=duration, progress=stage(0.35, 1.0), cancel=cancel, what="writing the video")
    shutil.rmtree(workdir, ignore_errors=True)
    return MixResult(dest, gain_db, method)
