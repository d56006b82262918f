"""Seams: measure each segment where it meets its neighbours, decide what the join
changes, and report every boundary as numbers.

A segment is analysed once, when it arrives (:func:`analyze_segment`, cached next
to it): a small decode of its head, middle and tail gives

* whether frame 0 repeats the picture the segment was conditioned on (hosted
  image-to-video and extend models return it as their first frame);
* whether its end fades to black or washes out (the fade guard: hand off the
  last good frame, trim the faded tail at the join);
* the Lab colour statistics of its first and last shown frames, and a reference: the mean of
  several frames after any fade-in from black (colour anchoring).

:func:`plan_join` turns the analyses into one :class:`PartPlan` per segment (frames
kept, colour grade at both ends) and :func:`build_report` describes every seam of
the joined video (:class:`SeamReport`). The media work itself is in ``join.py``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import statistics
import threading
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import colour
from .colour import IDENTITY, ColorStats, Grade, Matrix
from .errors import DiskFull

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

ANALYSIS_WIDTH = 256  # frames are measured at this width (height follows the aspect, even)
HEAD_FRAMES = 12
MID_FRAMES = 8
TAIL_SECONDS = 2.0

# --- thresholds (recorded in every report) ---
REPEAT_PSNR_DB = 30.0  # frame 0 vs the picture sent, colour-normalised: at least this to be a repeat ...
REPEAT_MARGIN_DB = 1.5  # ... and this much closer to it than frame 1 is (a still scene is not a repeat)
FADE_LUMA = 0.6  # a last frame darker than 60 % of the segment's median luma has faded to black
FADE_CONTRAST = 0.5  # ... or with less than half its median contrast has faded / washed out
FADE_START = 0.92  # the fade starts where luma or contrast first dips below 92 % of the median
MAX_FADE_S = 3.0  # never trim more than this
GRADE_MIN_DE = 0.6  # an end of a segment further than this from its target gets a grade proposed
DRIFT_CAP_DE = 3.0  # the pull toward the run's reference removes at most this much drift per segment
LIGHT_STEADY, LIGHT_CHANGE = 0.03, 0.06  # continuations whose brightness (Lab L) keeps moving one way by more
# than this share per segment show the scene's own light changing: its colour is not the model's drift
DRIFT_L = 1.5  # a brightness change (Lab L) up to this within a continuation may be the model's drift
DRIFT_NOISE = 1.0  # ΔE: how far content alone may move one segment's mean colour (a single continuation's
# change counts as drift only beyond twice this)
SPREAD_CAP = 0.15  # contrast / saturation growth removed per segment at most (a ratio)
REF_FRAMES = 8  # the reference is the mean of this many frames of the first shot after any fade-in
WARN_DE, BAD_DE = 3.0, 6.0  # colour step across a seam (after correction)
WARN_MOTION, BAD_MOTION = 3.0, 8.0  # frame change across a seam / typical change inside
WARN_SOUND_DB, BAD_SOUND_DB = 6.0, 12.0  # level step across a seam
WARN_LUMA, BAD_LUMA = 12.0, 30.0  # mean luma step (8-bit levels) beyond the typical change
BLACK_LUMA, FLASH_LUMA = 20.0, 235.0  # a cut's frame this dark / bright (mean Y) is a black / flash frame

THRESHOLDS = {
    "repeat_psnr_db": REPEAT_PSNR_DB,
    "repeat_margin_db": REPEAT_MARGIN_DB,
    "fade_luma": FADE_LUMA,
    "fade_contrast": FADE_CONTRAST,
    "grade_min_de": GRADE_MIN_DE,
    "grade_gain_de": colour.GRADE_GAIN_DE,
    "grade_gain_rel": colour.GRADE_GAIN_REL,
    "grade_max_luma": colour.GRADE_MAX_LUMA,
    "drift_cap_de": DRIFT_CAP_DE,
    "light_change": LIGHT_CHANGE,
    "warn_de": WARN_DE,
    "warn_motion": WARN_MOTION,
    "warn_sound_db": WARN_SOUND_DB,
}

ANALYSIS_VERSION = 2
GRADE_STEPS = 24  # a colour ramp across a segment changes its grade at most this many times ...
GRADE_STEP = 4  # ... and at most every this many frames


@dataclass
class SegmentAnalysis:
    """What one segment looks like at its ends (see the module docstring)."""

    path: str
    frames: int
    fps: float
    matrix: str = "bt601"
    full_range: bool = False
    conditioned: bool = False  # it was made from a picture (hand-off frame, keyframe, start image)
    repeat: bool = False
    repeat_psnr: float | None = None  # frame 0 vs the picture sent (colour-normalised, dB)
    repeat_psnr_next: float | None = None  # frame 1 vs the picture sent
    fade_frames: int = 0  # faded frames at the end
    fade_kind: str = ""  # "black" | "washed out" | ""
    median_luma: float = 0.0
    median_contrast: float = 0.0
    first_stats: ColorStats | None = None  # first shown frame (after a repeat)
    last_stats: ColorStats | None = None  # last shown frame (before a fade)
    ref_stats: ColorStats | None = None  # mean of several frames at the start, after any fade-in
    head_stats: ColorStats | None = None  # mean of several frames from the first shown one on ...
    tail_stats: ColorStats | None = None  # ... and up to the last shown one: how the segment changes by itself
    change_scale: float = 1.0  # their change times this is the change from the first to the last shown frame
    fade_in_frames: int = 0  # frames of fade-in from black at the start (at least; the head window is short)
    head_motion: float = 0.0  # typical mean |ΔY| between frames at the start
    tail_motion: float = 0.0  # ... and at the end
    first_luma: float = 0.0
    last_luma: float = 0.0
    seconds: float = 0.0  # analysis time
    header: dict[str, Any] = field(default_factory=dict)  # the file's media.VideoInfo, so the join need not probe
    # small Y'CbCr frames (not in the JSON; kept in the .npz cache): first and last shown
    first_small: np.ndarray | None = field(default=None, repr=False)
    last_small: np.ndarray | None = field(default=None, repr=False)

    @property
    def matrix_obj(self) -> Matrix:
        return Matrix(self.matrix, self.full_range)

    @property
    def head_cut(self) -> int:
        return 1 if self.repeat else 0

    @property
    def last_good(self) -> int:
        """Index of the last frame worth showing (and handing off)."""
        return self.frames - 1 - self.fade_frames

    def to_dict(self) -> dict[str, Any]:
        stats = ("first_stats", "last_stats", "ref_stats", "head_stats", "tail_stats")
        d = {k: v for k, v in asdict(self).items() if k not in ("first_small", "last_small", *stats)}
        for k in stats:
            v = getattr(self, k)
            d[k] = v.to_dict() if v else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SegmentAnalysis:
        d = dict(d)
        stats = {k: d.pop(k, None) for k in ("first_stats", "last_stats", "ref_stats", "head_stats", "tail_stats")}
        known = {f for f in cls.__dataclass_fields__}
        a = cls(**{k: v for k, v in d.items() if k in known})
        for k, v in stats.items():
            setattr(a, k, ColorStats.from_dict(v) if v else None)
        return a


# --- decoding the windows -------------------------------------------------------------


def _small_size(width: int, height: int) -> tuple[int, int]:
    w = min(ANALYSIS_WIDTH, width) // 2 * 2
    h = max(2, round(height * w / width / 2) * 2)
    return w, h


def _decode_windows(path: Path, info: Any) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, int]:
    """Small Y'CbCr 4:4:4 frames: (head, head_start=0), mid, (tail, index of the tail's first frame).

    One ffmpeg process opens the file three times (start, middle, end) and concatenates
    the scaled windows; the tail window is everything after a keyframe at least
    TAIL_SECONDS before the end, so its first index follows from the frame count.
    """

    from .media import MediaError, error_line, run_ffmpeg

    w, h = _small_size(info.width, info.height)
    n = int(info.frames or round(info.duration * info.fps))
    src = str(path.absolute())
    scale = f"scale={w}:{h}:flags=area,format=yuv444p"
    frame_bytes = w * h * 3
    if n <= 3 * HEAD_FRAMES + int(TAIL_SECONDS * info.fps) + MID_FRAMES:
        proc = run_ffmpeg(["-loglevel", "error", "-i", src, "-map", "0:v:0", "-vf", scale, "-f", "rawvideo", "pipe:1"])
        count = len(proc.stdout) // frame_bytes
        if count == 0:
            raise MediaError(
                f"cannot decode {path.name} for the seam analysis (ffmpeg: {error_line(proc.stderr.decode('utf-8', 'replace'), path)})"
            )
        allf = _planar(proc.stdout, count, w, h)
        return allf[:HEAD_FRAMES], 0, allf[:0], allf, count
    mid_t = info.duration / 2
    graph = (
        f"[0:v]trim=end_frame={HEAD_FRAMES},{scale},setpts=PTS-STARTPTS[h];"
        f"[1:v]trim=end_frame={MID_FRAMES},{scale},setpts=PTS-STARTPTS[m];"
        f"[2:v]{scale},setpts=PTS-STARTPTS[t];[h][m][t]concat=n=3:v=1:a=0[out]"
    )
    proc = run_ffmpeg(
        ["-loglevel", "error", "-i", src, "-ss", f"{mid_t:.3f}", "-i", src, "-sseof", f"-{TAIL_SECONDS}", "-i", src]
        + ["-filter_complex", graph, "-map", "[out]", "-fps_mode", "passthrough", "-f", "rawvideo", "pipe:1"]
    )
    count = len(proc.stdout) // frame_bytes
    if count < HEAD_FRAMES + MID_FRAMES + 1:
        raise MediaError(
            f"cannot decode {path.name} for the seam analysis (ffmpeg: {error_line(proc.stderr.decode('utf-8', 'replace'), path)})"
        )
    frames = _planar(proc.stdout, count, w, h)
    tail = frames[HEAD_FRAMES + MID_FRAMES :]
    return frames[:HEAD_FRAMES], 0, frames[HEAD_FRAMES : HEAD_FRAMES + MID_FRAMES], tail, n


def _planar(data: bytes, count: int, w: int, h: int) -> np.ndarray:
    import numpy as np

    planes = np.frombuffer(data, np.uint8, count * w * h * 3).reshape(count, 3, h, w)
    return np.ascontiguousarray(planes.transpose(0, 2, 3, 1))


def _cache_key(path: Path, sent: Path | None) -> str:
    st = path.stat()
    parts = [str(ANALYSIS_VERSION), path.name, str(st.st_size), str(int(st.st_mtime_ns))]
    if sent is not None and sent.exists():
        s2 = sent.stat()
        parts += [sent.name, str(s2.st_size), str(int(s2.st_mtime_ns))]
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


# numpy reads an .npy header with ast.literal_eval, and CPython 3.11 before 3.11.8 can fail with
# "SystemError: AST constructor recursion depth mismatch" when two threads build ASTs at once
# (gh-106905): the join analyses two segments in parallel, so cache reads take turns.
_NPZ_LOCK = threading.Lock()


def cache_path(video: Path) -> Path:
    return video.with_name(f".{video.stem}.seam.npz")


def load_cached(video: Path, sent: Path | None) -> SegmentAnalysis | None:
    import numpy as np

    p = cache_path(video)
    if not p.exists():
        return None
    try:
        with _NPZ_LOCK, np.load(p, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("key") != _cache_key(video, sent):
                return None
            a = SegmentAnalysis.from_dict(meta["analysis"])
            a.first_small, a.last_small = z["first"].copy(), z["last"].copy()
        a.path = str(video)
        return a
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_cache(video: Path, sent: Path | None, a: SegmentAnalysis) -> None:
    import io

    import numpy as np

    from .media import write_atomic

    if a.first_small is None or a.last_small is None:
        return  # nothing measured to keep
    buf = io.BytesIO()
    meta = json.dumps({"key": _cache_key(video, sent), "analysis": a.to_dict()})
    np.savez(buf, meta=np.array(meta), first=a.first_small, last=a.last_small)
    try:
        write_atomic(cache_path(video), buf.getvalue())
    except DiskFull:  # the disk is full: the run ends naming it (the next write would fail anyway)
        raise
    except Exception:  # noqa: BLE001 - a cache; the analysis itself stands
        pass


def analyze_segment(
    video: str | os.PathLike[str], sent: str | os.PathLike[str] | None = None, info: Any = None, cache: bool = True
) -> SegmentAnalysis:
    """Measure one segment (see the module docstring). ``sent``: the picture it was conditioned on."""
    import time

    import numpy as np

    from .media import probe, read_image

    t0 = time.perf_counter()
    path = Path(video)
    sent_path = Path(sent) if sent else None
    if cache:
        hit = load_cached(path, sent_path)
        if hit is not None:
            return hit
    if info is None or not info.frames:
        info = probe(path)
    m = Matrix.from_pix_fmt(f"{info.pix_fmt}({info.colour_desc})")
    head, _, mid, tail, n = _decode_windows(path, info)
    tail_start = n - len(tail)
    a = SegmentAnalysis(path=str(path), frames=n, fps=float(info.fps), matrix=m.name, full_range=m.full_range)
    a.header = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(info).items()}
    a.header["frames"] = n

    # 1. the repeated conditioning frame
    if sent_path is not None:
        import cv2

        a.conditioned = True
        w, h = head.shape[2], head.shape[1]
        ref = cv2.resize(read_image(sent_path), (w, h), interpolation=cv2.INTER_AREA)
        f0 = colour.rgb_float_to_uint8(colour.ycc_to_rgb(head[0], m))
        a.repeat_psnr = round(min(99.0, colour.normalised_psnr(f0, ref)), 2)
        if len(head) > 1:
            f1 = colour.rgb_float_to_uint8(colour.ycc_to_rgb(head[1], m))
            a.repeat_psnr_next = round(min(99.0, colour.normalised_psnr(f1, ref)), 2)
        a.repeat = (
            a.repeat_psnr >= REPEAT_PSNR_DB
            and len(head) > 1
            and a.repeat_psnr - (a.repeat_psnr_next or 0.0) >= REPEAT_MARGIN_DB
        )

    # 2. the fade guard
    luma = [float(f[..., 0].mean()) for f in (*head, *mid, *tail)]
    contrast = [float(f[..., 0].std()) for f in (*head, *mid, *tail)]
    a.median_luma = statistics.median(luma)
    a.median_contrast = statistics.median(contrast)
    t_luma = [float(f[..., 0].mean()) for f in tail]
    t_con = [float(f[..., 0].std()) for f in tail]
    faded_black = t_luma[-1] < FADE_LUMA * a.median_luma
    faded_flat = t_con[-1] < FADE_CONTRAST * a.median_contrast
    if (faded_black or faded_flat) and a.median_contrast > 1.0:
        j = len(tail) - 1
        while j > 0 and (t_luma[j - 1] < FADE_START * a.median_luma or t_con[j - 1] < FADE_START * a.median_contrast):
            j -= 1
        fade = len(tail) - j
        max_fade = int(MAX_FADE_S * a.fps)
        if 0 < fade <= max_fade and j > 0:
            a.fade_frames = fade
            a.fade_kind = "black" if faded_black else "washed out"
    first_i = a.head_cut
    last_i = a.last_good - tail_start
    first = head[min(first_i, len(head) - 1)]
    last = tail[max(0, last_i)]
    a.first_small, a.last_small = first, last
    a.first_stats = colour.stats_of_ycc(first, m)
    a.last_stats = colour.stats_of_ycc(last, m)

    # 3. a fade-in from black at the start (the reference of a run skips it), and the reference
    h_luma = [float(f[..., 0].mean()) for f in head]
    h_con = [float(f[..., 0].std()) for f in head]
    j = first_i
    if a.median_contrast > 1.0 and (
        h_luma[j] < FADE_LUMA * a.median_luma or h_con[j] < FADE_CONTRAST * a.median_contrast
    ):
        while j < len(head) and (h_luma[j] < FADE_START * a.median_luma or h_con[j] < FADE_START * a.median_contrast):
            j += 1
        a.fade_in_frames = j - first_i
    ref_frames = list(head[j:])[:REF_FRAMES]
    if len(ref_frames) < 2:  # the fade-in outlasts the head window: the middle of the shot stands in
        ref_frames = list(mid) or list(tail[max(0, j - tail_start) :])[:REF_FRAMES] or [first]
    a.ref_stats = colour.mean_stats([colour.stats_of_ycc(f, m) for f in ref_frames])
    # how the segment changes by itself: the mean of a window at each end (up to a quarter of it each, the
    # whole tail window at most), scaled from the windows' centres to its first and last shown frames
    shown = max(1, a.last_good - first_i)
    tail_end = max(0, last_i) + 1
    head_n = max(1, min(len(head) - first_i, shown // 4 + 1))
    tail_n = max(1, min(tail_end, shown // 4 + 1))
    a.head_stats = colour.mean_stats([colour.stats_of_ycc(f, m) for f in head[first_i : first_i + head_n]])
    a.tail_stats = colour.mean_stats([colour.stats_of_ycc(f, m) for f in tail[tail_end - tail_n : tail_end]])
    between = (tail_start + tail_end - 1 - (tail_n - 1) / 2) - (first_i + (head_n - 1) / 2)
    a.change_scale = shown / between if between >= shown / 4 else 1.0
    a.first_luma = float(first[..., 0].mean())
    a.last_luma = float(last[..., 0].mean())
    a.head_motion = _typical_motion(head[first_i:])
    a.tail_motion = _typical_motion(tail[: max(1, last_i + 1)][-HEAD_FRAMES:])
    a.seconds = round(time.perf_counter() - t0, 4)
    del np
    if cache:
        _save_cache(path, sent_path, a)
    return a


def _typical_motion(frames: Any) -> float:
    if len(frames) < 2:
        return 0.0
    diffs = [
        float(abs(frames[i + 1][..., 0].astype("int16") - frames[i][..., 0]).mean()) for i in range(len(frames) - 1)
    ]
    return statistics.median(diffs)


# --- planning the join ----------------------------------------------------------------


@dataclass
class SeamOptions:
    enabled: bool = True  # "--seams auto"; False: join as rendered (sound still in sync)
    crossfade_ms: float = 80.0
    colour: bool = True  # colour anchoring (hand-off and join)
    reference_image: str | None = None  # hold colour to this picture instead of segment 1
    cuts: frozenset[int] = frozenset()  # segment numbers (1-based) that begin after a cut: each starts a new run

    def to_dict(self) -> dict[str, Any]:
        return {
            "seams": "auto" if self.enabled else "off",
            "crossfade_ms": self.crossfade_ms,
            "colour_anchor": self.colour,
            "cuts": sorted(self.cuts),
        }


@dataclass
class PartPlan:
    """What the join does with one segment: frames [first, last] kept, graded from grade_start to grade_end."""

    index: int  # 1-based segment number
    path: Path
    first: int
    last: int
    grade_start: Grade = IDENTITY
    grade_end: Grade = IDENTITY
    de_before: tuple[float, float] = (0.0, 0.0)  # first/last shown frame vs the run's reference
    de_after: tuple[float, float] = (0.0, 0.0)
    de_target: tuple[float, float] = (0.0, 0.0)  # first/last shown frame vs what its grade aims at
    de_target_after: tuple[float, float] = (0.0, 0.0)
    run: int = 1  # which run of continued shots (a cut starts the next)
    notes: list[str] = field(default_factory=list)  # grades proposed and not used, and why

    @property
    def graded(self) -> bool:
        return not (self.grade_start.identity and self.grade_end.identity)

    @property
    def kept(self) -> int:
        return self.last - self.first + 1

    def grade_steps(self) -> list[tuple[int, int, Grade]]:
        """The ramp from ``grade_start`` to ``grade_end`` in at most GRADE_STEPS steps: (first, last, grade).

        Each step takes the grade of its middle frame; a drift of a few ΔE over a segment moves by
        half a ΔE or less from step to step, below what shows (about 2.3 ΔE is just noticeable).
        """
        if not self.graded:
            return [(self.first, self.last, IDENTITY)]
        span = max(1, self.last - self.first)
        size = max(GRADE_STEP, -(-(span + 1) // GRADE_STEPS))  # each step is a lookup filter in ffmpeg
        steps = []
        for a in range(self.first, self.last + 1, size):
            b = min(self.last, a + size - 1)
            t = min(1.0, max(0.0, ((a + b) / 2 - self.first) / span))
            steps.append((a, b, self.grade_start.lerp(self.grade_end, t)))
        return steps

    def grade_at(self, frame: int) -> Grade:
        return next(g for a, b, g in self.grade_steps() if a <= frame <= b) if self.graded else IDENTITY


def reference_stats(image: Path, like: SegmentAnalysis) -> ColorStats:
    """Statistics of a user-given reference picture, measured like the frames of ``like``."""
    import cv2

    from .media import read_image

    rgb = read_image(image)
    if like.first_small is not None:
        h, w = like.first_small.shape[:2]
        rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    return colour.stats_of_rgb(rgb, like.matrix_obj)


def runs_of(count: int, cuts: Collection[int] = ()) -> list[list[int]]:
    """The runs of continued shots among ``count`` segments, as lists of 0-based indices.

    ``cuts``: the 1-based numbers of the segments that begin after a cut (segment 3 in ``{3}``:
    the boundary 2|3 is a cut). Segment 1 always begins the first run.
    """
    runs: list[list[int]] = []
    for k in range(count):
        if not runs or (k + 1) in cuts:
            runs.append([])
        runs[-1].append(k)
    return runs


def run_reference(
    analyses: list[SegmentAnalysis], run: list[int], opts: SeamOptions, first_run: bool
) -> ColorStats | None:
    """What a run is held to: the reference picture (first run only), else the mean of several frames of
    its first shot after any fade-in."""
    a = analyses[run[0]]
    if opts.reference_image and first_run:
        return reference_stats(Path(opts.reference_image), a)
    return a.ref_stats or a.first_stats


def anchor_stats(analyses: list[SegmentAnalysis], opts: SeamOptions) -> ColorStats | None:
    """The reference of the first run (the colour the chain is held to)."""
    if not analyses:
        return None
    return run_reference(analyses, runs_of(len(analyses), opts.cuts)[0], opts, True)


def _moved(s: ColorStats, dmean: list[float], ratio: list[float]) -> ColorStats:
    return ColorStats(
        [m + d for m, d in zip(s.lab_mean, dmean, strict=True)],
        [v * r for v, r in zip(s.lab_std, ratio, strict=True)],
        l_spread=s.l_spread * ratio[0] if s.l_spread >= 0 else -1.0,
    )


def _cap(by: list[float], cap: float) -> list[float]:
    norm = math.sqrt(sum(x * x for x in by))
    return [x * cap / norm for x in by] if norm > cap else list(by)


def _pull(at: list[float], by: list[float], toward: list[float], cap: float) -> list[float]:
    """The move ``by`` (Lab) from ``at``, capped at ``cap`` ΔE and scaled so that it only brings
    ``at`` closer to ``toward`` (never past it, never away)."""
    nn = sum(x * x for x in by)
    if nn < 1e-12:
        return [0.0] * len(by)
    scale = min(1.0, cap / math.sqrt(nn))
    by = [x * scale for x in by]
    to = [t - x for t, x in zip(toward, at, strict=True)]
    t = max(0.0, min(1.0, sum(u * v for u, v in zip(to, by, strict=True)) / (nn * scale * scale)))
    return [x * t for x in by]


def model_drift(
    continuations: list[SegmentAnalysis], first: SegmentAnalysis | None = None
) -> tuple[list[float], list[float]]:
    """The drift a model adds per continuation: (Lab mean change, spread ratios).

    It is the mean, over the run's continuations, of how each changes by itself from its first frames
    to its last (several frames at each end): content and passing changes of light differ from segment
    to segment and average out, a model's drift is the same every time. Where the brightness keeps
    moving the same way from continuation to continuation (more than LIGHT_CHANGE of it per segment, a
    sunset), the light is changing and its colour is the scene's: nothing is taken for drift then
    (weighted from LIGHT_STEADY on), and brightness itself counts only within DRIFT_L.

    The run's first shot (``first``, made from text or a picture, not continued) shows how much the
    content alone moves the mean colour: a drift must stand out of that too. And a model's drift is
    warm (more yellow than anything else: b > 0 within 60° of it); a change that is not is content.
    """
    moves, ratios, lum = [], [], []
    for a in continuations:
        h0, h1 = a.head_stats or a.first_stats, a.tail_stats or a.last_stats
        if h0 is None or h1 is None:
            continue
        k = a.change_scale
        moves.append([(h1.lab_mean[i] - h0.lab_mean[i]) * k for i in range(3)])
        ratios.append([(h1.lab_std[i] / h0.lab_std[i]) ** k if h0.lab_std[i] > 1e-3 else 1.0 for i in range(3)])
        lum.append(h0.lab_mean[0])
    if not moves:
        return [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    n = len(moves)
    mean = [sum(m[i] for m in moves) / n for i in range(3)]
    # a drift is the same every time: its colour must stand out of how much the continuations differ
    # (after what goes with their own changes of brightness: shade is cooler, sun warmer) and of
    # DRIFT_NOISE, what one segment's content alone moves its mean colour by
    x = [m[0] - mean[0] for m in moves]
    sxx = sum(v * v for v in x)
    resid = 0.0
    for i in (1, 2):
        beta = sum(v * m[i] for v, m in zip(x, moves, strict=True)) / sxx if (n >= 3 and sxx > 1.0) else 0.0
        resid += sum((m[i] - mean[i] - beta * v) ** 2 for v, m in zip(x, moves, strict=True))
    var = resid / max(1, n - (2 if (n >= 3 and sxx > 1.0) else 1))
    noise = DRIFT_NOISE
    if first is not None and first.ref_stats is not None and first.tail_stats is not None:
        own = [(first.tail_stats.lab_mean[i] - first.ref_stats.lab_mean[i]) * first.change_scale for i in (1, 2)]
        noise = max(noise, math.hypot(*own))
    chroma = math.hypot(mean[1], mean[2])
    if chroma < 2.0 * math.sqrt((noise**2 + var) / n) or mean[2] < 0.5 * chroma:
        return [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    rel = abs(mean[0]) / max(10.0, sum(lum) / len(lum))
    conf = max(0.0, min(1.0, (LIGHT_CHANGE - rel) / (LIGHT_CHANGE - LIGHT_STEADY)))
    drift = [conf * mean[0] if abs(mean[0]) <= DRIFT_L else 0.0, conf * mean[1], conf * mean[2]]
    growth = [math.exp(conf * sum(math.log(max(1e-3, r[i])) for r in ratios) / len(ratios)) for i in range(3)]
    # only contrast and saturation creeping up is drift; bounded per segment
    return drift, [min(max(1.0, g), 1.0 + SPREAD_CAP) for g in growth]


@dataclass
class ColourPlan:
    """The colour decision for one segment: grades at both ends, what they aim at and what was refused."""

    index: int
    run: int
    grade_start: Grade = IDENTITY
    grade_end: Grade = IDENTITY
    target_start: ColorStats | None = None
    target_end: ColorStats | None = None
    de_target: tuple[float, float] = (0.0, 0.0)  # ends vs their targets, before
    de_target_after: tuple[float, float] = (0.0, 0.0)
    de_ref: tuple[float, float] = (0.0, 0.0)  # ends vs the run's reference, before and after
    de_ref_after: tuple[float, float] = (0.0, 0.0)
    shown_end: ColorStats | None = None  # the last shown frame as the join shows it
    notes: list[str] = field(default_factory=list)


def _propose(
    a: SegmentAnalysis, small: Any, s: ColorStats, target: ColorStats, limited: str, m: Matrix
) -> tuple[Grade, colour.GradeCheck | None]:
    if s.delta_e(target) <= GRADE_MIN_DE:
        return IDENTITY, None
    spread = not (limited or colour.flat_or_dark(s) or colour.flat_or_dark(target))
    g = colour.fit_grade(small, target, m, spread=spread)
    chk = colour.check_grade([small], [target], [g], m)
    return (g if chk.kept else IDENTITY), chk


def plan_colour(
    analyses: list[SegmentAnalysis], opts: SeamOptions, cuts: Collection[int] | None = None
) -> list[ColourPlan]:
    """Colour anchoring, per run of continued shots (``cuts``: see :func:`runs_of`; default ``opts.cuts``).

    * A run's reference is the mean of several frames of its first shot after any fade-in (or the
      reference picture, for the first run). A flat or dark reference or frame is graded in its mean
      colour only.
    * Continuity first: each continuation's start is matched to the last frame of the segment before
      it as the join shows it (the hand-off it continues from).
    * Its end follows its own change from there, less the drift a model adds (:func:`model_drift`:
      the same for every continuation of the run), at most DRIFT_CAP_DE per segment and only as
      far as it brings the end closer to the reference.
    * Every grade is measured on the frame it changes before it is used and kept only if it helps
      (:func:`colour.check_grade`); otherwise the note says why.
    """
    cuts = opts.cuts if cuts is None else cuts
    plans = [ColourPlan(index=k + 1, run=1) for k in range(len(analyses))]
    for r, run in enumerate(runs_of(len(analyses), cuts), 1):
        ref = run_reference(analyses, run, opts, r == 1) if opts.colour else None
        limited = colour.flat_or_dark(ref) if ref else ""
        shown_prev: ColorStats | None = None
        drift = model_drift([analyses[k] for k in run[1:]], analyses[run[0]])
        for k in run:
            a, p = analyses[k], plans[k]
            p.run = r
            s0, s1 = a.first_stats, a.last_stats
            if ref is None or s0 is None or s1 is None or a.first_small is None or a.last_small is None:
                shown_prev = None
                continue
            m = a.matrix_obj
            if k == run[0]:
                if opts.reference_image and r == 1:  # held to a given picture: its chroma, bounded
                    t0, t1 = (
                        _moved(
                            x,
                            _pull(
                                x.lab_mean,
                                [0.0, *(ref.lab_mean[i] - x.lab_mean[i] for i in (1, 2))],
                                ref.lab_mean,
                                DRIFT_CAP_DE,
                            ),
                            [1.0] * 3,
                        )
                        for x in (s0, s1)
                    )
                else:
                    t0, t1 = s0, s1
            else:
                t0 = shown_prev or s0
                ratio = [s1.lab_std[i] / s0.lab_std[i] if s0.lab_std[i] > 1e-3 else 1.0 for i in range(3)]
                own = [s1.lab_mean[i] - s0.lab_mean[i] for i in range(3)]
                natural = _moved(t0, own, ratio)  # the shown start, changed as the segment changes itself
                pull = _cap([-x for x in drift[0]], DRIFT_CAP_DE)
                undo = [1.0] * 3 if limited else [1.0 / r_ for r_ in drift[1]]
                t1 = _moved(natural, pull, undo)
            p.target_start, p.target_end = t0, t1
            g0, c0 = _propose(a, a.first_small, s0, t0, limited, m)
            g1, c1 = _propose(a, a.last_small, s1, t1, limited, m)
            for end, c in (("start", c0), ("end", c1)):
                if c is not None and not c.kept:
                    p.notes.append(f"segment {k + 1}: {end} grade skipped: {c.reason}")
            p.grade_start, p.grade_end = g0, g1
            shown0 = colour.graded_stats(a.first_small, g0, m) if not g0.identity else s0
            shown1 = colour.graded_stats(a.last_small, g1, m) if not g1.identity else s1
            p.shown_end = shown1
            p.de_target = (s0.delta_e(t0), s1.delta_e(t1))
            p.de_target_after = (shown0.delta_e(t0), shown1.delta_e(t1))
            p.de_ref = (s0.delta_e(ref), s1.delta_e(ref))
            p.de_ref_after = (shown0.delta_e(ref), shown1.delta_e(ref))
            shown_prev = shown1
    return plans


# --- the hand-off ---------------------------------------------------------------------


@dataclass
class HandoffDecision:
    """The colour correction of the picture that conditions the next chained segment."""

    grade: Grade
    de_before: float  # the last shown frame vs its target (how the join will show it)
    de_after: float
    note: str = ""  # why no correction, when one was proposed and refused


def handoff_decision(
    analyses: list[SegmentAnalysis], opts: SeamOptions, cuts: Collection[int] | None = None
) -> HandoffDecision:
    """The hand-off is the last segment's last frame as the join will show it: its end grade from
    :func:`plan_colour` over the segments so far (identity when none is needed or none helps)."""
    plan = plan_colour(analyses, opts, cuts)[-1]
    note = next((n for n in plan.notes if " end grade skipped" in n), "")
    return HandoffDecision(plan.grade_end, plan.de_target[1], plan.de_target_after[1], note)


def _worse(g: SeamReport, u: SeamReport) -> bool:
    return (
        VERDICT_ORDER[g.verdict] > VERDICT_ORDER[u.verdict]
        or g.delta_e_after > u.delta_e_after + colour.GRADE_GAIN_DE
        or abs(g.luma_step) > abs(u.luma_step) + 2.0
    )


def plan_join(
    analyses: list[SegmentAnalysis], opts: SeamOptions, cuts: Collection[int] | None = None
) -> list[PartPlan]:
    parts = []
    plans = plan_colour(analyses, opts, cuts) if (opts.colour and opts.enabled) else None
    for k, a in enumerate(analyses, 1):
        p = PartPlan(index=k, path=Path(a.path), first=0, last=a.frames - 1)
        if opts.enabled:
            # a repeat is only cut where it doubles a picture the previous segment shows
            if a.repeat and k > 1:
                p.first = a.head_cut
            p.last = a.last_good
        if plans is not None:
            c = plans[k - 1]
            p.grade_start, p.grade_end, p.run, p.notes = c.grade_start, c.grade_end, c.run, list(c.notes)
            p.de_before, p.de_after = c.de_ref, c.de_ref_after
            p.de_target, p.de_target_after = c.de_target, c.de_target_after
        parts.append(p)
    # no grade may leave a seam reading worse than it does ungraded: drop grades until none does
    if plans is not None and any(p.graded for p in parts):
        plain = [PartPlan(p.index, p.path, p.first, p.last, run=p.run) for p in parts]
        ungraded = build_report(analyses, plain, opts)
        for _ in range(2 * len(parts)):
            graded = build_report(analyses, parts, opts)
            bad = next((i for i, (g, u) in enumerate(zip(graded, ungraded, strict=True)) if _worse(g, u)), None)
            if bad is None:
                break
            g, u = graded[bad], ungraded[bad]
            victim = parts[bad + 1] if parts[bad + 1].graded else parts[bad]
            victim.grade_start = victim.grade_end = IDENTITY
            victim.de_after, victim.de_target_after = victim.de_before, victim.de_target
            victim.notes.append(
                f"segment {victim.index}: grade dropped: seam {bad + 1}|{bad + 2} would read worse than ungraded "
                f"(ΔE {g.delta_e_after:.1f} vs {u.delta_e_after:.1f}, {g.verdict} vs {u.verdict})"
            )
    return parts


# --- the report -----------------------------------------------------------------------


@dataclass
class SeamReport:
    """One boundary of the joined video: between segment ``index`` and ``index + 1``."""

    index: int
    time_s: float  # where the seam is in the joined video
    psnr_db: float
    ssim: float
    repeat_cut: bool
    repeat_psnr_db: float | None
    delta_e_before: float
    delta_e_after: float
    luma_step: float
    motion_ratio: float
    sound_step_db: float | None
    faded_tail_cut: int  # frames trimmed from the end of segment ``index``
    reencoded_frames: int  # frames of segment ``index + 1`` the join re-encoded
    verdict: str  # clean | warn | bad
    reasons: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    kind: str = "seam"  # seam (a continuation) | cut (a new shot: judged by black/flash frames and sound)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in list(d.items()):
            if isinstance(v, float):
                d[k] = None if math.isinf(v) or math.isnan(v) else round(v, 3)
        return d


VERDICT_ORDER = {"clean": 0, "warn": 1, "bad": 2}


def worst(seams: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The seam with the worst verdict (then the largest colour step); None for a single segment."""
    if not seams:
        return None
    return max(seams, key=lambda s: (VERDICT_ORDER.get(s.get("verdict", "clean"), 0), s.get("delta_e_after") or 0))


def worst_flagged(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """The seam a user should look at first in a seam report: the worst flagged one, in the order
    of ``worst`` (None when every seam is clean)."""
    return worst([s for s in (report or {}).get("seams") or [] if s.get("verdict", "clean") != "clean"])


def _verdict(r: SeamReport, repeat_left: bool) -> None:
    bad, warn = [], []
    if repeat_left:
        bad.append("the conditioning frame is shown twice")
    if r.delta_e_after > BAD_DE:
        bad.append(f"colour jumps {r.delta_e_after:.1f} ΔE")
    elif r.delta_e_after > WARN_DE:
        warn.append(f"colour steps {r.delta_e_after:.1f} ΔE")
    if r.motion_ratio > BAD_MOTION:
        bad.append(f"picture jumps ({r.motion_ratio:.1f}× the usual frame change)")
    elif r.motion_ratio > WARN_MOTION:
        warn.append(f"motion breaks ({r.motion_ratio:.1f}× the usual frame change)")
    if abs(r.luma_step) > BAD_LUMA:
        bad.append(f"brightness jumps {r.luma_step:+.0f} levels")
    elif abs(r.luma_step) > WARN_LUMA:
        warn.append(f"brightness steps {r.luma_step:+.0f} levels")
    if r.sound_step_db is not None:
        if abs(r.sound_step_db) > BAD_SOUND_DB:
            bad.append(f"sound level jumps {r.sound_step_db:+.1f} dB")
        elif abs(r.sound_step_db) > WARN_SOUND_DB:
            warn.append(f"sound level steps {r.sound_step_db:+.1f} dB")
    r.reasons = bad + warn
    r.verdict = "bad" if bad else "warn" if warn else "clean"


def _cut_verdict(r: SeamReport, luma_out: float | None, luma_in: float | None) -> None:
    """A cut changes the picture on purpose: what matters there is a black or flash frame on either
    side and a jump in the sound level."""
    bad, warn = [], []
    for side, y in (("last frame before", luma_out), ("first frame after", luma_in)):
        if y is not None and y < BLACK_LUMA:
            bad.append(f"the {side} the cut is black (mean level {y:.0f})")
        elif y is not None and y > FLASH_LUMA:
            bad.append(f"the {side} the cut is a flash (mean level {y:.0f})")
    if r.sound_step_db is not None:
        if abs(r.sound_step_db) > BAD_SOUND_DB:
            bad.append(f"sound level jumps {r.sound_step_db:+.1f} dB")
        elif abs(r.sound_step_db) > WARN_SOUND_DB:
            warn.append(f"sound level steps {r.sound_step_db:+.1f} dB")
    r.reasons = bad + warn
    r.verdict = "bad" if bad else "warn" if warn else "clean"


@dataclass
class SeamPicture:
    """What the pictures on either side of one seam measure, as the join will show them (graded)."""

    psnr: float = 0.0
    ssim: float = 0.0
    de_before: float = 0.0
    de_after: float = 0.0
    luma_step: float = 0.0
    motion: float = 0.0
    luma_out: float | None = None  # the mean level of the last picture before the seam
    luma_in: float | None = None  # ... and of the first one after it


def measure_seams(analyses: list[SegmentAnalysis], parts: list[PartPlan]) -> list[SeamPicture]:
    """The pictures of every seam (from the analyses and the planned grades; nothing is decoded): the join
    runs this beside its mux, and :func:`build_report` adds what the join measured."""
    out = []
    for k in range(len(parts) - 1):
        a, b = analyses[k], analyses[k + 1]
        pa, pb = parts[k], parts[k + 1]
        m = a.matrix_obj
        la = pa.grade_end.apply_float(a.last_small) if a.last_small is not None else None
        fb = pb.grade_start.apply_float(b.first_small) if b.first_small is not None else None
        # the picture shown after the seam: frame 0 when nothing was cut
        r = SeamPicture(
            luma_out=float(la[..., 0].mean()) if la is not None else None,
            luma_in=float(fb[..., 0].mean()) if fb is not None else None,
        )
        if la is not None and fb is not None and la.shape == fb.shape:
            ra = colour.rgb_float_to_uint8(colour.ycc_to_rgb(la, m))
            rb = colour.rgb_float_to_uint8(colour.ycc_to_rgb(fb, m))
            r.psnr = min(99.0, colour.psnr(ra, rb))
            r.ssim = colour.ssim_luma(la[..., 0], fb[..., 0])
            if a.last_stats and b.first_stats:
                r.de_before = a.last_stats.delta_e(b.first_stats)
            # ungraded ends keep the statistics measured on arrival
            sa = a.last_stats if pa.grade_end.identity and a.last_stats else colour.stats_of_ycc(la, m)
            sb = b.first_stats if pb.grade_start.identity and b.first_stats else colour.stats_of_ycc(fb, m)
            r.de_after = sa.delta_e(sb)
            typical = max(0.5, statistics.median([a.tail_motion, b.head_motion]))
            jump = float(abs(la[..., 0] - fb[..., 0]).mean())
            r.motion = jump / typical
            luma_step = float(fb[..., 0].mean() - la[..., 0].mean())
            if abs(luma_step) <= 2 * typical:
                luma_step = 0.0 if abs(luma_step) < 0.05 else luma_step
            r.luma_step = luma_step
        out.append(r)
    return out


def build_report(
    analyses: list[SegmentAnalysis],
    parts: list[PartPlan],
    opts: SeamOptions,
    sound_steps: list[float | None] | None = None,
    reencoded: list[int] | None = None,
    cuts: Collection[int] = (),
    pictures: list[SeamPicture] | None = None,
) -> list[SeamReport]:
    """Describe every seam of the joined video from the analyses and what the join did; ``cuts`` are the
    1-based segments that begin with a cut (kind ``cut``: no repeated-frame search, judged as a cut);
    ``pictures``: :func:`measure_seams` of the same analyses and parts, when it was run already."""
    if pictures is None:
        pictures = measure_seams(analyses, parts)
    reports = []
    t = 0.0
    for k in range(len(parts) - 1):
        a, b = analyses[k], analyses[k + 1]
        pa, pb = parts[k], parts[k + 1]
        t += pa.kept / a.fps
        pic = pictures[k]
        repeat_left = b.repeat and pb.first == 0
        sound_step = sound_steps[k] if sound_steps else None
        changes = []
        if pb.first > 0:
            changes.append(
                f"cut the repeated first frame of segment {k + 2} (PSNR {b.repeat_psnr:.1f} dB to the picture sent)"
            )
        if a.fade_frames and pa.last < a.frames - 1:
            changes.append(f"trimmed {a.fade_frames} faded frames ({a.fade_kind}) from the end of segment {k + 1}")
        # each graded segment is told once: at the seam before it (segment 1: at the first seam)
        for graded in ([pa] if k == 0 else []) + [pb]:
            parts_told = []
            if not graded.grade_start.identity:
                what = "the reference" if graded.index == 1 else "the frame before the seam"
                parts_told.append(f"start ΔE {graded.de_target[0]:.1f} → {graded.de_target_after[0]:.1f} to {what}")
            if not graded.grade_end.identity:
                what = "the reference" if graded.index == 1 else "its colour without the model's drift"
                parts_told.append(f"end ΔE {graded.de_target[1]:.1f} → {graded.de_target_after[1]:.1f} to {what}")
            if parts_told:
                changes.append(f"colour of segment {graded.index} graded: " + ", ".join(parts_told))
            changes.extend(graded.notes)
        r = SeamReport(
            index=k + 1,
            time_s=round(t, 4),
            psnr_db=round(pic.psnr, 2),
            ssim=round(pic.ssim, 4),
            repeat_cut=pb.first > 0,
            repeat_psnr_db=b.repeat_psnr,
            delta_e_before=round(pic.de_before, 2),
            delta_e_after=round(pic.de_after, 2),
            luma_step=round(pic.luma_step, 2),
            motion_ratio=round(pic.motion, 2),
            sound_step_db=None if sound_step is None else round(sound_step, 2),
            faded_tail_cut=(a.frames - 1 - pa.last),
            reencoded_frames=(reencoded[k + 1] if reencoded else 0),
            verdict="clean",
            changes=changes,
        )
        if k + 2 in cuts:
            r.kind = "cut"
            r.changes = [c for c in changes if not c.startswith("cut the repeated")] + ["hard cut: a new shot"]
            _cut_verdict(r, pic.luma_out, pic.luma_in)
        else:
            _verdict(r, repeat_left)
        reports.append(r)
    return reports


def spans(parts: list[PartPlan], analyses: list[SegmentAnalysis]) -> list[list[float]]:
    """[start_s, end_s] of every segment in the joined video."""
    out, t = [], 0.0
    for p, a in zip(parts, analyses, strict=True):
        d = p.kept / a.fps
        out.append([round(t, 6), round(t + d, 6)])
        t += d
    return out
