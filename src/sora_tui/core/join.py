"""The seamless join: segments in, one MP4 out, with every seam handled.

* **Video** is stream-copied wherever it is not touched. A segment that loses its
  repeated first frame has only its first GOP re-encoded (frames up to its next
  keyframe) and the rest copied ("smart cut"); a faded tail re-encodes only from its
  last keyframe; a colour-graded segment, or inputs that cannot be stream-copied
  together, are re-encoded whole. Re-encoded pieces use the copied stream's profile,
  level, size, pixel format, frame rate, time scale and colour tags; the concat
  demuxer writes every piece's own parameter sets in-band, so each part decodes
  with its own SPS/PPS.
* **Sound** is decoded per segment (encoder priming and padding removed by the
  decoder), laid on the video's own timeline sample-exactly (the sound of segment
  k+1 starts with its first shown picture; silence where a segment has none),
  joined with a short crossfade centred on each seam, and encoded once.

All of it runs as ffmpeg children (imageio-ffmpeg's binary); frames pass through
Python only when a colour grade is applied (three lookup tables per frame).
"""

from __future__ import annotations

import contextlib
import glob
import math
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import media, seams
from .errors import DiskFull
from .media import (
    JoinProgressCallback,
    JoinResult,
    MediaError,
    VideoInfo,
    atomic_path,
    drain_stderr,
    error_line,
    ffmpeg_failure,
    probe,
    probe_headers,
    progress_values,
    run_ffmpeg,
    spawn_ffmpeg,
    write_atomic,
)
from .seams import PartPlan, SeamOptions

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

# re-encoded pieces: visually lossless (PSNR >= 45 dB against the graded source on the bench's
# grainy 720p footage: 48 dB) and fast; their bitrate is about twice the source's
PIECE_PRESET = "ultrafast"
PIECE_CRF = 16
B_FRAMES = 3  # with x264's default pyramid: a reorder delay of 2, as hosted models' and the preview's files
AUDIO_BITRATE_PER_CHANNEL = 64_000  # 128 kb/s stereo AAC-LC


@dataclass
class JoinStats:
    """What the join did, for the seam report and the bench."""

    total_frames: int = 0
    reencoded_frames: list[int] = field(default_factory=list)  # per segment
    sound_steps: list[float | None] = field(default_factory=list)  # per seam
    audio: str = ""  # e.g. "48000 Hz, 2 ch" or "none"
    timings: dict[str, float] = field(default_factory=dict)


# --- small probes ---------------------------------------------------------------------


@dataclass
class Packets:
    """A video stream's packets, read by demuxing only: presentation timestamps and keyframes."""

    pts: list[int]  # per frame, in presentation order (stream time base ticks)
    keyframes: list[int]  # frame numbers (presentation order) of keyframes


def _fail(err: str, dest: Path, what: str) -> Exception:
    """A failed ffmpeg run of the join, in words (:func:`media.ffmpeg_failure`: the one parser)."""
    return ffmpeg_failure(err, dest, f"{what} into {dest.name}")


def packets_of(paths: Sequence[Path]) -> list[Packets]:
    """The video packets of several files, read by ONE ffmpeg process (demuxing only)."""
    args: list[str] = []
    for path in paths:
        args += ["-i", str(path.absolute())]
    for k in range(len(paths)):
        args += ["-map", f"{k}:v:0"]
    proc = run_ffmpeg([*args, "-c", "copy", "-f", "framecrc", "-"], timeout=600)
    rows: dict[int, list[tuple[int, bool]]] = {k: [] for k in range(len(paths))}
    for line in proc.stdout.decode("ascii", "replace").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        f = [x.strip() for x in line.split(",")]
        flags = int(f[6].split("=")[1], 16) if len(f) > 6 and f[6].startswith("F=") else 1
        rows[int(f[0])].append((int(f[2]), bool(flags & 1)))
    out = []
    for k, path in enumerate(paths):
        r = rows[k]
        if proc.returncode != 0 or not r:
            err = error_line(proc.stderr.decode("utf-8", "replace"), path)
            raise MediaError(f"cannot read the packets of {path.name} (ffmpeg: {err})")
        order = sorted(range(len(r)), key=lambda i: r[i][0])
        rank = {i: n for n, i in enumerate(order)}
        out.append(Packets([r[i][0] for i in order], sorted(rank[i] for i, (_, key) in enumerate(r) if key)))
    return out


def packets(path: Path) -> Packets:
    return packets_of([path])[0]


def keyframe_indices(path: Path) -> list[int]:
    """Frame numbers (presentation order) of the video's keyframes."""
    return packets(path).keyframes


_PROFILES = {66: "baseline", 77: "main", 88: "extended", 100: "high", 110: "high10", 122: "high422", 244: "high444"}


def avc_profile_level(path: Path) -> tuple[str, str] | None:
    """(x264 profile, level) from the file's avcC box; None when it has none (not H.264 in MP4/MOV)."""
    import mmap

    with open(path, "rb") as fh, contextlib.suppress(ValueError):
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            i = mm.find(b"avcC")
            if i < 0 or i + 8 > len(mm):
                return None
            profile, level = mm[i + 5], mm[i + 7]
            if profile not in _PROFILES or not level:
                return None
            return _PROFILES[profile], f"{level // 10}.{level % 10}"
    return None


def fps_arg(fps: float) -> str:
    """An exact rational for ffmpeg's -r (23.98 -> 24000/1001)."""
    for base in (24, 30, 48, 60, 120):
        if abs(fps - base * 1000 / 1001) < 0.01:
            return f"{base * 1000}/1001"
    if abs(fps - round(fps)) < 0.001:
        return str(round(fps))
    return f"{round(fps * 1000)}/1000"


def _colour_args(info: VideoInfo) -> list[str]:
    desc = info.colour_desc.lower()
    args = []
    if desc.startswith("tv") or ", tv" in desc:
        args += ["-color_range", "tv"]
    elif desc.startswith("pc") or ", pc" in desc:
        args += ["-color_range", "pc"]
    if "bt709" in desc:
        args += ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"]
    return args


def piece_encoder_args(ref: VideoInfo, avc: tuple[str, str] | None) -> list[str]:
    """libx264 settings that make a re-encoded piece fit the stream it is spliced into."""
    args = ["-c:v", "libx264", "-preset", PIECE_PRESET, "-crf", str(PIECE_CRF), "-pix_fmt", ref.pix_fmt or "yuv420p"]
    # B-frames as the copied stream has them: a decoder keeps the reorder delay of the first
    # parameter sets, and pieces without B-frames make frame-rate-converting readers drop or
    # repeat frames at every change (players that follow timestamps do not mind)
    args += ["-bf", str(B_FRAMES), "-b_strategy", "0"]
    if avc is not None:
        args += ["-profile:v", avc[0], "-level:v", avc[1]]
    args += _colour_args(ref)
    if ref.time_base and ref.time_base.isdigit():
        args += ["-video_track_timescale", ref.time_base]
    return args


# --- pieces ---------------------------------------------------------------------------


@dataclass
class Piece:
    path: Path
    frames: int
    reencoded: bool


class _Work:
    """Progress over the whole join: pieces weighted by frames, then the mux by time."""

    def __init__(self, progress: JoinProgressCallback | None, encode_frames: int, total_s: float) -> None:
        self.progress = progress
        # an encoded frame costs about as much as 1/40 s of copied output
        self.enc_weight = encode_frames / 40.0
        self.total = self.enc_weight + total_s / 40.0 + 0.05
        self.done_frames = 0
        self.encode_frames = max(1, encode_frames)
        self.last = -1.0

    def frames(self, n: int) -> None:
        self.done_frames += n
        self._send(self.enc_weight * min(1.0, self.done_frames / self.encode_frames))

    def mux(self, fraction: float) -> None:
        self._send(self.enc_weight + (self.total - self.enc_weight) * fraction)

    def _send(self, value: float) -> None:
        if self.progress is None:
            return
        frac = min(1.0, value / self.total)
        if frac - self.last >= 0.005 or frac >= 1.0:
            self.last = frac
            self.progress(frac)


def _copy_pieces(jobs: list[tuple[VideoInfo, Packets, int, int, Path]]) -> list[Piece]:
    """Stream-copy frames [start, end) of each job's video, all in ONE ffmpeg process; start and end
    are keyframes (or the end of the video).

    The packets are selected by their own timestamps (a closed GOP holds exactly the frames from
    its keyframe to the next), so no seek can shift or trim them, and rebased so that each piece's
    first picture is at 0 like every other piece.
    """
    if not jobs:
        return []
    args: list[str] = ["-loglevel", "error"]
    for src, *_ in jobs:
        args += ["-i", str(src.path.absolute())]
    for k, (_, pk, start, end, dest) in enumerate(jobs):
        drop = f"lt(pts\\,{pk.pts[start]})"
        if end < len(pk.pts):
            drop += f"+gte(pts\\,{pk.pts[end]})"
        args += ["-map", f"{k}:v:0", "-c", "copy"]
        args += ["-bsf:v", f"noise=drop='{drop}',setts=pts=PTS-STARTPTS:dts=DTS-STARTPTS", "-f", "mp4", "-y", str(dest)]
    proc = run_ffmpeg(args, timeout=900)
    if proc.returncode != 0:
        raise _fail(proc.stderr.decode("utf-8", "replace"), jobs[0][4], "copying segment spans")
    return [Piece(dest, end - start, reencoded=False) for _, _, start, end, dest in jobs]


def _encode_piece(
    part: PartPlan,
    src: VideoInfo,
    start: int,
    end: int,
    dest: Path,
    enc_args: list[str],
    work: _Work,
    scale: tuple[int, int, str] | None = None,
) -> Piece:
    """Re-encode frames [start, end) of ``part``'s video in one ffmpeg process, applying its colour
    grade as lookup tables (``lutyuv``, one per step of the ramp) and, for inputs of other sizes
    or rates, scaling and frame-rate conversion to ``scale``."""
    vf = f"trim=start_frame={start}:end_frame={end},setpts=PTS-STARTPTS"
    if part.graded:
        for a, b, grade in part.grade_steps():
            if b < start or a >= end:
                continue
            vf += f",lutyuv={grade.ffmpeg_lut()}:enable='between(n\\,{max(a, start) - start}\\,{min(b, end - 1) - start})'"
    out_fps = fps_arg(src.fps)
    if scale is not None:
        W, H, out_fps = scale
        vf += (
            f",fps={out_fps},scale={W}:{H}:force_original_aspect_ratio=decrease,"
            f"pad={W}:{H}:(ow-iw)/2:(oh-ih)/2,setsar=1"
        )
    # one decoding thread and x264's sliced threads: the same speed on two cores, a third less memory
    args = ["-threads", "1", "-i", str(src.path.absolute()), "-map", "0:v:0", "-vf", vf, *enc_args]
    args += ["-x264-params", "sliced-threads=1", "-r", out_fps, "-an"]
    rc, err, frames = _run_counting([*args, "-f", "mp4", "-y", str(dest)], work)
    if rc != 0 or frames == 0:
        raise _fail(err, dest, "re-encoding a segment span")
    return Piece(dest, frames, reencoded=True)


# short re-encodes share an ffmpeg (starting it costs more than their frames), two at a time: three
# took 191 MB at 720p, two stay well under the 200 MB the join may use
SPANS_PER_PROCESS = 2


def _encode_spans(jobs: list[tuple[VideoInfo, int, int, Path]], enc_args: list[str], work: _Work) -> list[Piece]:
    """Re-encode short ungraded spans (a continuation's first GOP, a faded tail's last one) of
    several segments, SPANS_PER_PROCESS per ffmpeg process."""
    pieces: list[Piece] = []
    for i in range(0, len(jobs), SPANS_PER_PROCESS):
        batch = jobs[i : i + SPANS_PER_PROCESS]
        args: list[str] = ["-loglevel", "error"]
        graph = []
        for k, (src, start, end, _) in enumerate(batch):
            args += ["-threads", "1", "-i", str(src.path.absolute())]
            graph.append(f"[{k}:v:0]trim=start_frame={start}:end_frame={end},setpts=PTS-STARTPTS[v{k}]")
        args += ["-filter_complex", ";".join(graph)]
        for k, (src, _, _, dest) in enumerate(batch):
            args += ["-map", f"[v{k}]", *enc_args, "-x264-params", "sliced-threads=1"]
            args += ["-r", fps_arg(src.fps), "-an", "-f", "mp4", "-y", str(dest)]
        proc = run_ffmpeg(args, timeout=1800)
        if proc.returncode != 0:
            raise _fail(proc.stderr.decode("utf-8", "replace"), batch[0][3], "re-encoding segment spans")
        work.frames(sum(end - start for _, start, end, _ in batch))
        pieces += [Piece(dest, end - start, reencoded=True) for _, start, end, dest in batch]
    return pieces


def _run_counting(args: list[str], work: _Work) -> tuple[int, str, int]:
    """Run an encode, reporting encoded frames as they go; returns (rc, stderr tail, frames)."""
    proc = spawn_ffmpeg(
        ["-nostdin", "-nostats", "-loglevel", "error", "-progress", "pipe:1", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    t, tail = drain_stderr(proc)
    assert proc.stdout is not None
    done = 0
    try:
        for n in progress_values(proc, "frame"):
            if n > done:
                work.frames(int(n) - done)
                done = int(n)
        rc = proc.returncode
    finally:
        t.join(timeout=5)
    return rc, "\n".join(tail), done


# --- sound ------------------------------------------------------------------------------


def decode_batch(infos: Sequence[VideoInfo], rate: int, channels: int, dests: Sequence[Path]) -> None:
    """Segments' sounds as raw float32 files (``rate``, ``channels``), sample 0 at each video's time 0, in ONE
    ffmpeg (starting one costs more than decoding a few seconds of AAC).

    The decoder drops each file's encoder priming and padding (edit list), and ``first_pts=0``
    puts silence before a sound that starts after its picture."""
    args = ["-loglevel", "error"]
    for info in infos:
        args += ["-vn", "-dn", "-sn", "-i", str(info.path.absolute())]
    for n, dest in enumerate(dests):
        args += ["-map", f"{n}:a:0", "-af", f"aresample={rate}:first_pts=0", "-ac", str(channels)]
        args += ["-f", "f32le", "-y", str(dest)]
    proc = run_ffmpeg(args, timeout=900)
    if proc.returncode != 0:
        names = ", ".join(i.path.name for i in infos)
        raise _fail(proc.stderr.decode("utf-8", "replace"), dests[0].parent, f"decoding the sound of {names}")


def sound_format(info: VideoInfo) -> tuple[int, int]:
    """The rate and channels a file's sound is decoded at when it is joined with files like it."""
    return info.audio_rate or 48000, min(8, info.audio_channels or 2)


def kept_sound(path: Path, rate: int, channels: int) -> Path:
    """Where :func:`keep_sound` keeps a segment's decoded sound: beside it, named by its rate, its channels
    and the file it came from (its size and time: a segment rendered again is another file)."""
    st = path.stat()
    return path.with_name(f".{path.stem}.sound-{rate}-{channels}-{st.st_size}-{st.st_mtime_ns}.f32")


def keep_sound(info: VideoInfo) -> Path | None:
    """Decode a segment's sound as it arrives (the pipeline calls this beside its seam analysis, while the
    next segments render), so that the join finds it decoded. Returns the file, None for a silent video.
    A failure keeps nothing (the join decodes the sound itself), except a full disk, which is raised."""
    if not info.has_audio:
        return None
    rate, channels = sound_format(info)
    dest = kept_sound(info.path, rate, channels)
    if dest.exists():
        return dest
    for old in info.path.parent.glob(f".{glob.escape(info.path.stem)}.sound-*.f32"):  # an older render's
        old.unlink(missing_ok=True)
    try:
        with atomic_path(dest) as tmp:
            decode_batch([info], rate, channels, [tmp])
    except DiskFull:
        raise
    except Exception:  # noqa: BLE001 - a cache: the join decodes the sound itself
        return None
    return dest


def decode_sounds(
    infos: Sequence[VideoInfo], rate: int, channels: int, folder: Path, pool: ThreadPoolExecutor
) -> list[Future[Path] | None]:
    """Every segment's sound at ``rate`` and ``channels``: the one :func:`keep_sound` kept as the segment
    arrived, else decoded (:func:`decode_batch`) in ``pool`` while the join goes on, in batches that double
    (1, 2, 4, … segments): the mux takes segment 1's sound at once, and the next batch is decoded while it
    encodes the ones before."""
    futures: list[Future[Path] | None] = [Future() if info.has_audio else None for info in infos]
    for info, fut in zip(infos, futures, strict=True):
        with contextlib.suppress(OSError):
            if fut is not None and (kept := kept_sound(info.path, rate, channels)).exists():
                fut.set_result(kept)
    todo = [k for k, f in enumerate(futures) if f is not None and not f.done()]
    size = 1
    while todo:
        batch, todo = todo[:size], todo[size:]
        size *= 2
        dests = [folder / f"a{k:03d}.f32" for k in batch]
        mine = [f for k in batch if (f := futures[k]) is not None]

        def tell(done: Future[None], mine: list[Future[Path]] = mine, dests: list[Path] = dests) -> None:
            exc = MediaError("the join stopped before the sound was decoded") if done.cancelled() else done.exception()
            for fut, dest in zip(mine, dests, strict=True):
                if exc is not None:
                    fut.set_exception(exc)
                else:
                    fut.set_result(dest)

        pool.submit(decode_batch, [infos[k] for k in batch], rate, channels, dests).add_done_callback(tell)
    return futures


def _load_sound(path: Path | None, channels: int) -> np.ndarray | None:
    import numpy as np

    if path is None:
        return None
    data = np.fromfile(path, dtype="<f4")
    return data[: len(data) // channels * channels].reshape(-1, channels)


MIRROR_S = 0.1  # a segment's sound that ends early is continued by its own mirror image for this long ...
FADE_S = 0.03  # ... fading out over its last 30 ms, then silence: no step, no click
END_GUARD = 64  # samples


def _padded(src: np.ndarray | None, start: int, length: int, half: int, rate: int, channels: int) -> np.ndarray:
    """Samples [start - half, start + length + half) of a segment's sound.

    Where the file has no sound there (before its first sample, after its last: files
    often carry a few ms less sound than picture), its sound is continued by its mirror
    image (no step), faded out when the gap is long; a segment without sound is silence.
    """
    import numpy as np

    lo, hi = start - half, start + length + half
    if src is None or len(src) < 2:
        return np.zeros((hi - lo, channels), np.float32)
    if hi > len(src) and len(src) > 4 * END_GUARD:
        # the last milliseconds an AAC decoder returns carry the encoder's end artefacts: continue before them
        src = src[:-END_GUARD]
    front, back = max(0, -lo), max(0, hi - len(src))
    mirror = round(MIRROR_S * rate)
    # cap the reflection (np.pad reflects as often as needed; anything past MIRROR_S is silenced below)
    x = np.pad(src, ((min(front, len(src) - 1), min(back, mirror)), (0, 0)), mode="reflect")
    pad_front = min(front, len(src) - 1)
    if back > mirror:
        fade = round(FADE_S * rate)
        x[len(x) - fade :] *= np.cos(np.linspace(0, np.pi / 2, fade, dtype=np.float32))[:, None]
        x = np.concatenate([x, np.zeros((back - mirror, channels), np.float32)])
    if front > pad_front:
        x = np.concatenate([np.zeros((front - pad_front, channels), np.float32), x])
    begin = max(lo, 0)  # x[0] is src[-front] (or src[0] when nothing was added in front)
    return x[begin : begin + (hi - lo)]


def _rms_db(x: np.ndarray) -> float | None:
    import numpy as np

    if x.size == 0:
        return None
    r = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return 20 * math.log10(r) if r > 1e-5 else None


@dataclass
class _SoundPart:
    sound: Future[Path] | None  # the decoded sound (raw float32) once decoded, None for a segment without
    start: int  # first sample of the segment's own sound that is shown
    length: int  # samples it fills on the joined timeline


def _sound_chunks(
    parts: list[_SoundPart], rate: int, channels: int, crossfade: int, steps: list[float | None], waited: list[float]
) -> Iterator[np.ndarray]:
    """The joined sound, segment by segment, each seam crossfaded (equal power for unrelated
    sound, equal gain where both sides carry the same sound), never moving the timeline.
    ``waited[0]`` adds up the time spent waiting for a segment's sound to be decoded."""

    half = crossfade // 2
    prev: np.ndarray | None = None  # the previous segment's span, with `half` samples beyond each end
    for part in parts:
        t = time.perf_counter()
        sound = _load_sound(part.sound.result() if part.sound else None, channels)
        waited[0] += time.perf_counter() - t
        cur = _padded(sound, part.start, part.length, half, rate, channels)
        if prev is not None:
            w = int(0.2 * rate)
            a_db = _rms_db(prev[len(prev) - half - w : len(prev) - half])
            b_db = _rms_db(cur[half : half + w])
            steps.append(None if a_db is None or b_db is None else b_db - a_db)
            if half > 0:
                _crossfade(prev[len(prev) - 2 * half :], cur[: 2 * half])
            yield prev[half : len(prev) - half]
        prev = cur
    if prev is not None:
        yield prev[half : len(prev) - half]


def _crossfade(a: np.ndarray, b: np.ndarray) -> None:
    """Mix the window around a seam in place: the outgoing span (``a``'s first half) takes the mix's
    first half, the incoming span (``b``'s second half) its second half.

    Equal power for unrelated sounds (the loudness holds), equal gain where both sides carry
    the same sound (its level holds)."""
    import numpy as np

    n = len(a)
    x = (np.arange(n, dtype=np.float32) + 0.5) / n
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    denom = float(np.sqrt(np.sum(a64**2) * np.sum(b64**2)))
    corr = float(np.sum(a64 * b64)) / denom if denom > 0 else 0.0
    if corr > 0.5:
        wa, wb = 1 - x, x
    else:
        wa, wb = np.cos(x * np.pi / 2), np.sin(x * np.pi / 2)
    mixed = a * wa[:, None] + b * wb[:, None]
    a[: n // 2] = mixed[: n // 2]
    b[n // 2 :] = mixed[n // 2 :]


# --- the join -------------------------------------------------------------------------


PIECE_VIDEO_ID = "0x1"  # a piece the join writes holds one stream, the video: the MP4 muxer numbers it track 1


def _concat_entry(path: Path, duration: float) -> str:
    """One file of the concat list: its picture starts at its slot (``inpoint 0``: whatever time its
    sound starts at) and lasts exactly ``duration`` (the next file starts there)."""
    quoted = "'" + str(path.absolute()).replace("'", "'\\''") + "'"
    return f"file {quoted}\ninpoint 0\nduration {duration:.6f}\n"


def _can_copy(infos: list[VideoInfo]) -> tuple[bool, str]:
    first = infos[0]
    names = ["video codec", "profile", "width", "height", "pixel format", "fps"]
    for info in infos[1:]:
        a, b = first.copy_key()[:6], info.copy_key()[:6]
        if a != b:
            diff = [n for n, x, y in zip(names, a, b, strict=True) if x != y]
            return False, f"{info.path.name} differs from {first.path.name} in {', '.join(diff)}"
    if any(("\n" in str(i.path) or "\r" in str(i.path)) for i in infos):
        return False, "a file name contains a line break"
    if first.vcodec != "h264":
        return False, f"{first.vcodec} video is re-encoded as H.264"
    return True, ""


def _audio_format(infos: list[VideoInfo]) -> tuple[int, int] | None:
    with_audio = [sound_format(i) for i in infos if i.has_audio]
    if not with_audio:
        return None
    rates = [rate for rate, _ in with_audio]
    rate = max(set(rates), key=lambda r: (rates.count(r), r))
    return rate, max(channels for _, channels in with_audio)


def join_parts(
    parts: Sequence[PartPlan],
    dest: str | os.PathLike[str],
    progress: JoinProgressCallback | None = None,
    *,
    crossfade_ms: float = 80.0,
    force_reencode: bool = False,
    infos: list[VideoInfo] | None = None,
) -> tuple[JoinResult, JoinStats]:
    """Join ``parts`` (each: a segment file, the frames kept, a colour grade) into ``dest``.

    Raises MediaError naming a bad input, or the folder when the disk is full. Inputs are
    never modified; ``dest`` is written atomically.
    """
    t0 = time.perf_counter()
    dest = Path(dest)
    parts = list(parts)
    if not parts:
        raise MediaError("nothing to join: no segment files")
    for p in parts:
        if p.path.absolute() == dest.absolute():
            raise MediaError(f"cannot join into {dest.name}: it is one of the inputs")
    stats = JoinStats()
    if infos is None:
        infos = probe_headers([p.path for p in parts])
    for info in infos:
        if info.frames is None:
            # exact frame counts decide every cut; a header's duration is not enough
            info.frames = probe(info.path).frames
    stats.timings["probe_s"] = time.perf_counter() - t0
    for p, info in zip(parts, infos, strict=True):
        n = int(info.frames or 0)
        if not (0 <= p.first <= p.last < n):
            raise MediaError(f"{info.path.name}: frames {p.first}..{p.last} are not inside its {n} frames")

    copy_ok, reason = (False, "re-encode requested") if force_reencode else _can_copy(infos)
    ref = infos[0]
    scale = None
    if not copy_ok:
        big = max(infos, key=lambda i: (i.width * i.height, -infos.index(i)))
        scale = (big.width // 2 * 2, big.height // 2 * 2, fps_arg(infos[0].fps or 24.0))

    dest.parent.mkdir(parents=True, exist_ok=True)
    work_dir = dest.with_name(f".{dest.stem}.join-{uuid.uuid4().hex[:8]}")
    work_dir.mkdir()
    # the sound is decoded while the pictures are cut and graded and the mux runs: it needs only the inputs
    fmt = _audio_format(infos)
    sound_pool = ThreadPoolExecutor(1, thread_name_prefix="join-sound") if fmt is not None else None
    sounds = decode_sounds(infos, fmt[0], fmt[1], work_dir, sound_pool) if sound_pool and fmt else []
    try:
        packet_lists: dict[int, Packets] = {}
        plan = _piece_plan(parts, infos, copy_ok, packet_lists)
        enc_frames = sum(e - s for k, pl in enumerate(plan) for kind, s, e in pl if kind == "encode")
        total_s = sum(p.kept / i.fps for p, i in zip(parts, infos, strict=True))
        work = _Work(progress, enc_frames, total_s)
        avc = avc_profile_level(ref.path) if copy_ok else None
        enc_args = piece_encoder_args(ref, avc) if copy_ok else [
            "-c:v", "libx264", "-preset", PIECE_PRESET, "-crf", str(PIECE_CRF), "-pix_fmt", "yuv420p",
        ]  # fmt: skip
        t1 = time.perf_counter()
        entries: list[str] = []
        ids: set[str | None] = set()  # the video stream ids of the files in the list
        durations: list[float] = []
        out_fps = (scale and _fps_value(scale[2])) or ref.fps
        copies = {
            (k, j): (info, packet_lists[k], s, e, work_dir / f"p{k:03d}_{j}.mp4")
            for k, (info, pl) in enumerate(zip(infos, plan, strict=True))
            for j, (kind, s, e) in enumerate(pl)
            if kind == "copy"
        }
        copied = dict(zip(copies, _copy_pieces(list(copies.values())), strict=True))
        spans = {
            (k, j): (info, s, e, work_dir / f"p{k:03d}_{j}.mp4")
            for k, (part, info, pl) in enumerate(zip(parts, infos, plan, strict=True))
            for j, (kind, s, e) in enumerate(pl)
            if kind == "encode" and copy_ok and not part.graded
        }
        copied |= dict(zip(spans, _encode_spans(list(spans.values()), enc_args, work), strict=True))
        for k, (part, info, pl) in enumerate(zip(parts, infos, plan, strict=True)):
            frames_out = 0
            reenc = 0
            for j, (kind, s, e) in enumerate(pl):
                if kind == "whole":
                    entries.append(_concat_entry(info.path, (e - s) / info.fps))
                    ids.add(info.video_id)
                    frames_out += e - s
                    continue
                piece_path = work_dir / f"p{k:03d}_{j}.mp4"
                if (k, j) in copied:
                    piece = copied[(k, j)]
                else:
                    piece = _encode_piece(part, info, s, e, piece_path, enc_args, work, scale)
                reenc += piece.frames if piece.reencoded else 0
                entries.append(_concat_entry(piece.path, piece.frames / out_fps))
                ids.add(PIECE_VIDEO_ID)
                frames_out += piece.frames
            stats.reencoded_frames.append(reenc)
            durations.append(frames_out / out_fps)
        stats.total_frames = sum(round(d * out_fps) for d in durations)
        stats.timings["pieces_s"] = time.perf_counter() - t1
        list_file = work_dir / "list.ffconcat"
        (video_id,) = ids if len(ids) == 1 else (None,)
        # one video stream in every file, named by its id: the list is read as that stream alone, and its
        # picture starts at 0 (see _mux). Else ffmpeg is asked where the list starts
        only_video = f"stream\nexact_stream_id {video_id}\n" if video_id else ""
        write_atomic(list_file, ("ffconcat version 1.0\n" + "".join(entries) + only_video).encode("utf-8"))

        # sound on the joined timeline: segment k fills [T_k, T_k+1) from its first shown picture on
        sound_parts: list[_SoundPart] = []
        t2 = time.perf_counter()
        if fmt is not None:
            rate, channels = fmt
            stats.audio = f"{rate} Hz, {channels} ch"
            t_out = 0.0
            for part, info, d, snd in zip(parts, infos, durations, sounds, strict=True):
                s0 = round(t_out * rate)
                t_out += d
                sound_parts.append(_SoundPart(snd, round(part.first / info.fps * rate), round(t_out * rate) - s0))
        else:
            stats.audio = "none"
        total = sum(durations)
        with atomic_path(dest) as tmp:
            rc, err, out_time = _mux(
                list_file,
                0.0 if video_id else _concat_start(list_file),
                tmp,
                fmt,
                sound_parts,
                crossfade_ms,
                total,
                work,
                stats,
            )
            if rc != 0:
                raise _fail(err, dest, "joining")
            # the muxer's last time is a decode time: B-frames put it up to ~3 frames before the end
            if abs(out_time - total) > max(0.1, 3.5 / out_fps):
                raise MediaError(f"the join gave {out_time:.2f} s instead of {total:.2f} s")
        stats.timings["mux_s"] = time.perf_counter() - t2
    finally:
        if sound_pool is not None:  # its ffmpeg writes into work_dir: done (or never started) before that goes
            sound_pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(work_dir, ignore_errors=True)
    if progress:
        progress(1.0)
    stats.timings["total_s"] = time.perf_counter() - t0
    touched = sum(stats.reencoded_frames)
    method = "copy" if touched == 0 else ("reencode" if touched >= stats.total_frames else "smart")
    return JoinResult(path=dest, method=method, duration=round(total, 6), reason=reason if not copy_ok else ""), stats


def _fps_value(text: str) -> float:
    if "/" in text:
        a, b = text.split("/")
        return int(a) / int(b)
    return float(text)


def _piece_plan(
    parts: list[PartPlan], infos: list[VideoInfo], copy_ok: bool, packet_lists: dict[int, Packets]
) -> list[list[tuple[str, int, int]]]:
    """Per segment: ("whole"|"copy"|"encode", first frame, end frame exclusive) spans, in order."""
    plans: list[list[tuple[str, int, int]]] = []
    cut = [
        k
        for k, (part, info) in enumerate(zip(parts, infos, strict=True))
        if copy_ok and not part.graded and not (part.first == 0 and part.last + 1 == int(info.frames or 0))
    ]
    packet_lists.update(zip(cut, packets_of([infos[k].path for k in cut]), strict=True) if cut else [])
    for k, (part, info) in enumerate(zip(parts, infos, strict=True)):
        n = int(info.frames or 0)
        s, e = part.first, part.last + 1
        if not copy_ok or part.graded:
            plans.append([("encode", s, e)])
            continue
        if s == 0 and e == n:
            plans.append([("whole", 0, n)])
            continue
        keys = packet_lists[k].keyframes
        spans: list[tuple[str, int, int]] = []
        k1 = next((k for k in keys if k >= s), None)  # the copy may start at the first keyframe >= s
        k2 = max((k for k in keys if k <= e), default=None) if e < n else n  # ... and end at a keyframe <= e
        if k1 is None or k2 is None or k1 >= k2:
            plans.append([("encode", s, e)])
            continue
        if k1 > s:
            spans.append(("encode", s, k1))
        spans.append(("copy", k1, k2))
        if k2 < e:
            spans.append(("encode", k2, e))
        plans.append(spans)
    return plans


def _concat_start(list_file: Path) -> float:
    """The start time ffmpeg gives the concat input (its first file's earliest stream, sound included)."""
    err = run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(list_file.absolute())], timeout=60).stderr.decode(
        "utf-8", "replace"
    )
    m = re.search(r"Duration: [^,]*, start: (-?\d+(?:\.\d+)?)", err)
    return float(m.group(1)) if m else 0.0


def _mux(
    list_file: Path,
    start_time: float,
    out: Path,
    fmt: tuple[int, int] | None,
    sound_parts: list[_SoundPart],
    crossfade_ms: float,
    total: float,
    work: _Work,
    stats: JoinStats,
) -> tuple[int, str, float]:
    """One ffmpeg: the concat list's video (copied) + the joined sound from a pipe (encoded once)."""
    # ffmpeg shifts an input so that its earliest stream starts at 0. A concat list read with all its streams
    # starts with its first file's sound (AAC priming starts 1024 samples early), not its picture:
    # ``start_time`` (negative) undoes that, so the picture starts at 0 like the new sound (else ~21 ms after
    # it). A list read as its video stream alone starts with its picture: ``start_time`` is 0
    args = ["-nostats", "-progress", "pipe:1", "-itsoffset", f"{start_time:.6f}"]
    args += ["-f", "concat", "-safe", "0", "-i", str(list_file.absolute())]
    if fmt is not None:
        rate, channels = fmt
        args += ["-f", "f32le", "-ar", str(rate), "-ac", str(channels), "-i", "pipe:0"]
    args += ["-map", "0:v:0"]
    if fmt is not None:
        rate, channels = fmt
        bitrate = min(
            512_000, AUDIO_BITRATE_PER_CHANNEL * max(1, channels) if channels > 1 else AUDIO_BITRATE_PER_CHANNEL
        )
        args += ["-map", "1:a:0", "-c:a", "aac", "-aac_coder", "fast", "-b:a", str(bitrate)]
    args += ["-c:v", "copy", "-movflags", "+faststart", "-f", "mp4", "-y", str(out)]
    proc = spawn_ffmpeg(
        args, stdin=subprocess.PIPE if fmt else subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    t_err, tail = drain_stderr(proc)
    writer_error: list[BaseException] = []
    writer = None
    if fmt is not None:
        rate, channels = fmt
        crossfade = int(round(crossfade_ms / 1000 * rate))

        waited = [0.0]

        def feed() -> None:
            assert proc.stdin is not None
            try:
                for chunk in _sound_chunks(sound_parts, rate, channels, crossfade, stats.sound_steps, waited):
                    proc.stdin.write(chunk.astype("<f4", copy=False).tobytes())
            except BrokenPipeError:
                pass
            except BaseException as exc:  # noqa: BLE001 - reported by the caller
                writer_error.append(exc)
            finally:
                with contextlib.suppress(OSError):
                    proc.stdin.close()

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
    out_time = 0.0
    assert proc.stdout is not None
    try:
        for us in progress_values(proc, "out_time_us"):
            out_time = max(out_time, us / 1e6)
            work.mux(min(1.0, out_time / total) if total > 0 else 0.0)
        rc = proc.returncode
    finally:
        if writer is not None:
            writer.join(timeout=30)
            stats.timings["sound_decode_s"] = waited[0]  # the mux's waits for a segment's sound
        t_err.join(timeout=5)
    if writer_error:
        err = writer_error[0]
        if isinstance(err, MediaError):
            raise err
        raise MediaError(f"assembling the sound failed: {err}")
    return rc, "\n".join(tail), out_time


def plain_parts(files: Sequence[str | Path], infos: list[VideoInfo]) -> list[PartPlan]:
    """Every frame of every file, no grade: the join as rendered."""
    return [
        PartPlan(index=k, path=Path(f), first=0, last=int(i.frames or 1) - 1)
        for k, (f, i) in enumerate(zip(files, infos, strict=True), 1)
    ]


@dataclass
class SeamInput:
    """One segment for :func:`join_segments`: its file and the picture it was conditioned on (if any)."""

    path: Path
    sent: Path | None = None


@dataclass
class JoinOutcome:
    result: JoinResult
    stats: JoinStats
    analyses: list[seams.SegmentAnalysis]
    parts: list[PartPlan]
    seams: list[seams.SeamReport]
    spans: list[list[float]]

    def report(self, opts: SeamOptions) -> dict[str, Any]:
        """The seam report as stored with the job (``seams.json``) and printed by ``--json``."""
        seam_dicts = [s.to_dict() for s in self.seams]
        w = seams.worst(seam_dicts)
        total = max(1, self.stats.total_frames)
        return {
            "version": 1,
            "options": opts.to_dict(),
            "thresholds": seams.THRESHOLDS,
            "method": self.result.method,
            "duration_s": self.result.duration,
            "frames": self.stats.total_frames,
            "reencoded_frames": sum(self.stats.reencoded_frames),
            "reencoded_share": round(sum(self.stats.reencoded_frames) / total, 4),
            "audio": self.stats.audio,
            "spans": self.spans,
            "segments": [
                {
                    "index": p.index,
                    "frames_in": a.frames,
                    "first": p.first,
                    "last": p.last,
                    "repeat_psnr_db": a.repeat_psnr,
                    "faded_frames": a.fade_frames,
                    "graded": p.graded,
                    "delta_e_to_anchor": [round(x, 2) for x in p.de_before],
                    "delta_e_to_anchor_after": [round(x, 2) for x in p.de_after],
                    "delta_e_to_target": [round(x, 2) for x in p.de_target],
                    "delta_e_to_target_after": [round(x, 2) for x in p.de_target_after],
                    "run": p.run,
                    "colour_notes": list(p.notes),
                    "reencoded_frames": r,
                }
                for p, a, r in zip(self.parts, self.analyses, self.stats.reencoded_frames, strict=True)
            ],
            "seams": seam_dicts,
            "worst": None if w is None else {"index": w["index"], "verdict": w["verdict"], "reasons": w["reasons"]},
            "timings": {k: round(v, 4) for k, v in self.stats.timings.items()},
        }


def join_segments(
    inputs: Sequence[SeamInput],
    dest: str | os.PathLike[str],
    opts: seams.SeamOptions | None = None,
    progress: JoinProgressCallback | None = None,
    cuts: Collection[int] = (),
) -> JoinOutcome:
    """Analyse (or reuse the cached analysis of) every segment, plan the seams, join, report.

    ``cuts`` are the 1-based segments that begin with a cut: a hard cut, where no repeated frame
    is searched for and colour is never pulled across (each run of continued shots is planned on
    its own, toward its own first picture); the sound keeps its short crossfade."""
    opts = opts or seams.SeamOptions()
    t0 = time.perf_counter()
    paths = [Path(i.path) for i in inputs]
    if not paths:
        raise MediaError("nothing to join: no segment files")
    with ThreadPoolExecutor(max_workers=2) as pool:
        analyses = list(pool.map(lambda i: seams.analyze_segment(i.path, i.sent), inputs))
    if all(a.header for a in analyses):  # measured on arrival: no need to open the files again
        known = set(VideoInfo.__dataclass_fields__)  # a cache written by another version may hold more or less
        headers = [{k: v for k, v in a.header.items() if k in known} for a in analyses]
        infos = [VideoInfo(**(h | {"path": Path(a.path)})) for h, a in zip(headers, analyses, strict=True)]
    else:
        infos = probe_headers(paths)
    for info, a in zip(infos, analyses, strict=True):
        info.frames = a.frames
    cut_set = {c for c in (*cuts, *opts.cuts) if 1 < c <= len(analyses)}
    if cut_set:
        parts = []
        starts = [0] + sorted(c - 1 for c in cut_set) + [len(analyses)]
        for r, (lo, hi) in enumerate(zip(starts, starts[1:], strict=False), 1):
            run = seams.plan_join(analyses[lo:hi], opts, cuts=())  # one run of continued shots: no cut inside
            for k, p in enumerate(run):
                p.index, p.run = lo + k + 1, r
            parts += run
    else:
        parts = seams.plan_join(analyses, opts)
    t_an = time.perf_counter() - t0
    with ThreadPoolExecutor(1, thread_name_prefix="join-report") as pool:
        # the seams' pictures are measured beside the join (they need only the analyses and the plan)
        pictures = pool.submit(seams.measure_seams, analyses, parts)
        result, stats = join_parts(
            parts, dest, progress, crossfade_ms=opts.crossfade_ms if opts.enabled else 0.0, infos=infos
        )
        stats.timings["analysis_s"] = t_an
        t1 = time.perf_counter()
        reports = seams.build_report(
            analyses, parts, opts, stats.sound_steps, stats.reencoded_frames, cut_set, pictures.result()
        )
    stats.timings["report_s"] = time.perf_counter() - t1
    return JoinOutcome(result, stats, analyses, parts, reports, seams.spans(parts, analyses))


def join_files(
    files: Sequence[str | os.PathLike[str]],
    dest: str | os.PathLike[str],
    progress: JoinProgressCallback | None = None,
    *,
    force_reencode: bool = False,
) -> JoinResult:
    """Join video files, in order, into one MP4 at ``dest``, every frame as it is.

    Video is stream-copied when all inputs share codec, profile, size, pixel format and
    fps, else re-encoded once (H.264 yuv420p) to the largest input's size; sound is
    decoded per file and encoded once on the video's timeline (silence for files
    without sound), so it stays in sync at every boundary. The seam work (repeated
    frames, colour, fades, crossfades) is :func:`join_segments`.
    Raises MediaError naming a bad input, or the folder when the disk is full.
    """
    paths = [Path(f) for f in files]
    if not paths:
        raise MediaError("nothing to join: no segment files")
    for p in paths:
        if p.absolute() == Path(dest).absolute():
            raise MediaError(f"cannot join into {Path(dest).name}: it is one of the inputs")
    infos = probe_headers(paths)
    for info, counted in zip(infos, media._probe_all(paths), strict=True):
        info.frames = counted.frames
    result, _ = join_parts(
        plain_parts(paths, infos), dest, progress, crossfade_ms=0.0, force_reencode=force_reencode, infos=infos
    )
    return result
