"""Seams: measure each segment where it meets its neighbours, decide what the join
changes, and report every boundary as numbers.

A segment is analysed once, when it arrives (:func:`analyze_segment`, cached next
to it): a small decode of its head, middle and tail gives

* whether frame 0 repeats the picture the segment was conditioned on (hosted
  image-to-video and extend models return it as their first frame);
* whether its end fades to black or washes out (the fade guard: hand off the
  last good frame, trim the faded tail at the join);
* the Lab colour statistics of its first and last shown frames (colour anchoring).

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
HANDOFF_DRIFT_DE = 1.0  # a hand-off frame further than this from the anchor is corrected first
JOIN_DRIFT_DE = 2.0  # a segment with an end further than this from the anchor is graded at the join
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
    "handoff_drift_de": HANDOFF_DRIFT_DE,
    "join_drift_de": JOIN_DRIFT_DE,
    "warn_de": WARN_DE,
    "warn_motion": WARN_MOTION,
    "warn_sound_db": WARN_SOUND_DB,
}

ANALYSIS_VERSION = 1
GRADE_STEPS = 8  # a colour ramp across a segment changes its grade at most this many times ...
GRADE_STEP = 12  # ... and at most every this many frames


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
        d = {
            k: v for k, v in asdict(self).items() if k not in ("first_small", "last_small", "first_stats", "last_stats")
        }
        d["first_stats"] = self.first_stats.to_dict() if self.first_stats else None
        d["last_stats"] = self.last_stats.to_dict() if self.last_stats else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SegmentAnalysis:
        d = dict(d)
        first, last = d.pop("first_stats", None), d.pop("last_stats", None)
        known = {f for f in cls.__dataclass_fields__}
        a = cls(**{k: v for k, v in d.items() if k in known})
        a.first_stats = ColorStats.from_dict(first) if first else None
        a.last_stats = ColorStats.from_dict(last) if last else None
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

    from .media import MediaError, _run

    w, h = _small_size(info.width, info.height)
    n = int(info.frames or round(info.duration * info.fps))
    src = str(path.absolute())
    scale = f"scale={w}:{h}:flags=area,format=yuv444p"
    frame_bytes = w * h * 3
    if n <= 3 * HEAD_FRAMES + int(TAIL_SECONDS * info.fps) + MID_FRAMES:
        proc = _run(["-loglevel", "error", "-i", src, "-map", "0:v:0", "-vf", scale, "-f", "rawvideo", "pipe:1"])
        count = len(proc.stdout) // frame_bytes
        if count == 0:
            raise MediaError(f"cannot decode {path.name} for the seam analysis")
        allf = _planar(proc.stdout, count, w, h)
        return allf[:HEAD_FRAMES], 0, allf[:0], allf, count
    mid_t = info.duration / 2
    graph = (
        f"[0:v]trim=end_frame={HEAD_FRAMES},{scale},setpts=PTS-STARTPTS[h];"
        f"[1:v]trim=end_frame={MID_FRAMES},{scale},setpts=PTS-STARTPTS[m];"
        f"[2:v]{scale},setpts=PTS-STARTPTS[t];[h][m][t]concat=n=3:v=1:a=0[out]"
    )
    proc = _run(
        ["-loglevel", "error", "-i", src, "-ss", f"{mid_t:.3f}", "-i", src, "-sseof", f"-{TAIL_SECONDS}", "-i", src]
        + ["-filter_complex", graph, "-map", "[out]", "-fps_mode", "passthrough", "-f", "rawvideo", "pipe:1"]
    )
    count = len(proc.stdout) // frame_bytes
    if count < HEAD_FRAMES + MID_FRAMES + 1:
        raise MediaError(f"cannot decode {path.name} for the seam analysis")
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


# --- the hand-off ---------------------------------------------------------------------


def handoff_grade(a: SegmentAnalysis, anchor: ColorStats | None) -> tuple[Grade, float]:
    """The colour correction for the hand-off frame (identity when within HANDOFF_DRIFT_DE); and its ΔE."""
    if anchor is None or a.last_stats is None or a.last_small is None:
        return IDENTITY, 0.0
    de = a.last_stats.delta_e(anchor)
    if de <= HANDOFF_DRIFT_DE:
        return IDENTITY, de
    return colour.fit_grade(a.last_small, anchor, a.matrix_obj), de


# --- planning the join ----------------------------------------------------------------


@dataclass
class SeamOptions:
    enabled: bool = True  # "--seams auto"; False: join as rendered (sound still in sync)
    crossfade_ms: float = 80.0
    colour: bool = True  # colour anchoring (hand-off and join)
    reference_image: str | None = None  # hold colour to this picture instead of segment 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "seams": "auto" if self.enabled else "off",
            "crossfade_ms": self.crossfade_ms,
            "colour_anchor": self.colour,
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
    de_before: tuple[float, float] = (0.0, 0.0)  # first/last shown frame vs the anchor
    de_after: tuple[float, float] = (0.0, 0.0)

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


def anchor_stats(analyses: list[SegmentAnalysis], opts: SeamOptions) -> ColorStats | None:
    if not analyses:
        return None
    if opts.reference_image:
        return reference_stats(Path(opts.reference_image), analyses[0])
    return analyses[0].first_stats


def plan_join(analyses: list[SegmentAnalysis], opts: SeamOptions) -> list[PartPlan]:
    parts = []
    anchor = anchor_stats(analyses, opts) if opts.colour else None
    for k, a in enumerate(analyses, 1):
        p = PartPlan(index=k, path=Path(a.path), first=0, last=a.frames - 1)
        if opts.enabled:
            # a repeat is only cut where it doubles a picture the previous segment shows
            if a.repeat and k > 1:
                p.first = a.head_cut
            p.last = a.last_good
        if (
            anchor is not None
            and a.first_stats
            and a.last_stats
            and a.first_small is not None
            and a.last_small is not None
        ):
            de0, de1 = a.first_stats.delta_e(anchor), a.last_stats.delta_e(anchor)
            p.de_before = p.de_after = (de0, de1)
            if opts.enabled and max(de0, de1) > JOIN_DRIFT_DE:
                m = a.matrix_obj
                p.grade_start = colour.fit_grade(a.first_small, anchor, m) if de0 > JOIN_DRIFT_DE / 2 else IDENTITY
                p.grade_end = colour.fit_grade(a.last_small, anchor, m) if de1 > JOIN_DRIFT_DE / 2 else IDENTITY
                p.de_after = (
                    colour.graded_stats(a.first_small, p.grade_start, m).delta_e(anchor),
                    colour.graded_stats(a.last_small, p.grade_end, m).delta_e(anchor),
                )
        parts.append(p)
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


def build_report(
    analyses: list[SegmentAnalysis],
    parts: list[PartPlan],
    opts: SeamOptions,
    sound_steps: list[float | None] | None = None,
    reencoded: list[int] | None = None,
    cuts: Collection[int] = (),
) -> list[SeamReport]:
    """Describe every boundary of the joined video; ``cuts`` are the 1-based segments that begin
    with a cut (kind ``cut``: no repeated-frame search, judged as a cut)."""
    """Describe every seam of the joined video from the analyses and what the join did."""
    reports = []
    t = 0.0
    for k in range(len(parts) - 1):
        a, b = analyses[k], analyses[k + 1]
        pa, pb = parts[k], parts[k + 1]
        t += pa.kept / a.fps
        m = a.matrix_obj
        la = pa.grade_end.apply_float(a.last_small) if a.last_small is not None else None
        fb = pb.grade_start.apply_float(b.first_small) if b.first_small is not None else None
        # the picture shown after the seam: frame 0 when nothing was cut
        psnr = ssim = 0.0
        de_before = de_after = luma_step = motion = 0.0
        if la is not None and fb is not None and la.shape == fb.shape:
            ra = colour.rgb_float_to_uint8(colour.ycc_to_rgb(la, m))
            rb = colour.rgb_float_to_uint8(colour.ycc_to_rgb(fb, m))
            psnr = min(99.0, colour.psnr(ra, rb))
            ssim = colour.ssim_luma(la[..., 0], fb[..., 0])
            if a.last_stats and b.first_stats:
                de_before = a.last_stats.delta_e(b.first_stats)
            # ungraded ends keep the statistics measured on arrival
            sa = a.last_stats if pa.grade_end.identity and a.last_stats else colour.stats_of_ycc(la, m)
            sb = b.first_stats if pb.grade_start.identity and b.first_stats else colour.stats_of_ycc(fb, m)
            de_after = sa.delta_e(sb)
            typical = max(0.5, statistics.median([a.tail_motion, b.head_motion]))
            jump = float(abs(la[..., 0] - fb[..., 0]).mean())
            motion = jump / typical
            luma_step = float(fb[..., 0].mean() - la[..., 0].mean())
            if abs(luma_step) <= 2 * typical:
                luma_step = 0.0 if abs(luma_step) < 0.05 else luma_step
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
            if graded.graded:
                changes.append(
                    f"colour of segment {graded.index} graded toward the anchor: start ΔE {graded.de_before[0]:.1f} → "
                    f"{graded.de_after[0]:.1f}, end ΔE {graded.de_before[1]:.1f} → {graded.de_after[1]:.1f}"
                )
        r = SeamReport(
            index=k + 1,
            time_s=round(t, 4),
            psnr_db=round(psnr, 2),
            ssim=round(ssim, 4),
            repeat_cut=pb.first > 0,
            repeat_psnr_db=b.repeat_psnr,
            delta_e_before=round(de_before, 2),
            delta_e_after=round(de_after, 2),
            luma_step=round(luma_step, 2),
            motion_ratio=round(motion, 2),
            sound_step_db=None if sound_step is None else round(sound_step, 2),
            faded_tail_cut=(a.frames - 1 - pa.last),
            reencoded_frames=(reencoded[k + 1] if reencoded else 0),
            verdict="clean",
            changes=changes,
        )
        if k + 2 in cuts:
            r.kind = "cut"
            r.changes = [c for c in changes if not c.startswith("cut the repeated")] + ["hard cut: a new shot"]
            y_out = float(la[..., 0].mean()) if la is not None else None
            y_in = float(fb[..., 0].mean()) if fb is not None else None
            _cut_verdict(r, y_out, y_in)
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
