"""Colour statistics and grades for holding a chain's colour to its first segment.

Frames are measured in CIE Lab (mean and spread of L, a, b) and corrected by a
*grade*: a gain and an offset per Y'CbCr plane. A grade acts on the planes the
video really stores, so one grade is exactly a set of three 256-entry lookup
tables on a decoded frame (cheap per frame, no colour-space round trip), and the
same grade applied to a PNG gives the same picture. Grades are fitted so that the
*Lab* statistics of the corrected frame match a target (a few Gauss-Newton steps
on a small frame), and two grades interpolate linearly, which is how a correction
ramps across a segment.

Everything here works on small frames (the seam analysis decodes at
:data:`ANALYSIS_WIDTH`); numpy and cv2 load lazily.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

# Y'CbCr -> R'G'B' matrices (Kr, Kb); the range is "tv" (16-235/240) or "pc" (0-255)
_KR_KB = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}
PIVOT = 128.0  # gains act around mid-grey and neutral chroma, so grades interpolate sensibly


@dataclass(frozen=True)
class Matrix:
    """How a video's Y'CbCr planes map to R'G'B' (what players use to show it)."""

    name: str = "bt601"
    full_range: bool = False

    @classmethod
    def from_pix_fmt(cls, text: str) -> Matrix:
        """From the colour description ffmpeg prints after the pixel format, e.g. ``yuv420p(tv, bt709)``."""
        t = text.lower()
        name = "bt709" if "bt709" in t else "bt601"
        return cls(name, "pc" in t.replace("pcm", "") or "yuvj" in t)


@dataclass
class ColorStats:
    """Lab mean and spread (standard deviation) of a frame, plus its Y'CbCr mean and spread."""

    lab_mean: list[float]
    lab_std: list[float]
    ycc_mean: list[float] = field(default_factory=list)
    ycc_std: list[float] = field(default_factory=list)
    l_spread: float = -1.0  # robust spread of L (interquartile range / 1.349): a small bright box leaves a field flat

    def delta_e(self, other: ColorStats) -> float:
        """CIE76 distance between the two mean colours (ΔE; about 2.3 is just noticeable)."""
        return math.dist(self.lab_mean, other.lab_mean)

    def to_dict(self) -> dict[str, Any]:
        def r(v: list[float]) -> list[float]:
            return [round(x, 3) for x in v]

        return {
            "lab_mean": r(self.lab_mean),
            "lab_std": r(self.lab_std),
            "ycc_mean": r(self.ycc_mean),
            "ycc_std": r(self.ycc_std),
            "l_spread": round(self.l_spread, 3),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColorStats:
        return cls(
            list(d["lab_mean"]),
            list(d["lab_std"]),
            list(d.get("ycc_mean", [])),
            list(d.get("ycc_std", [])),
            float(d.get("l_spread", -1.0)),
        )


def _coeffs(m: Matrix) -> tuple[float, float, float]:
    kr, kb = _KR_KB[m.name]
    return kr, 1.0 - kr - kb, kb


def ycc_to_rgb(ycc: np.ndarray, m: Matrix) -> np.ndarray:
    """Y'CbCr planes (h, w, 3) of 8-bit code values -> R'G'B' float32 in 0..1 (clipped)."""
    import numpy as np

    kr, kg, kb = _coeffs(m)
    x = ycc.astype(np.float32)
    if m.full_range:
        y, cb, cr = x[..., 0] / 255.0, (x[..., 1] - 128.0) / 255.0, (x[..., 2] - 128.0) / 255.0
    else:
        y, cb, cr = (x[..., 0] - 16.0) / 219.0, (x[..., 1] - 128.0) / 224.0, (x[..., 2] - 128.0) / 224.0
    r = y + 2 * (1 - kr) * cr
    b = y + 2 * (1 - kb) * cb
    g = (y - kr * r - kb * b) / kg
    rgb: np.ndarray = np.clip(np.stack([r, g, b], axis=-1), 0.0, 1.0)
    return rgb


def rgb_to_ycc(rgb: np.ndarray, m: Matrix) -> np.ndarray:
    """R'G'B' uint8 (h, w, 3) -> Y'CbCr code values as float32 (not rounded)."""
    import numpy as np

    kr, kg, kb = _coeffs(m)
    x = rgb.astype(np.float32) / 255.0
    y = kr * x[..., 0] + kg * x[..., 1] + kb * x[..., 2]
    cb = (x[..., 2] - y) / (2 * (1 - kb))
    cr = (x[..., 0] - y) / (2 * (1 - kr))
    if m.full_range:
        return np.stack([y * 255.0, cb * 255.0 + 128.0, cr * 255.0 + 128.0], axis=-1)
    return np.stack([y * 219.0 + 16.0, cb * 224.0 + 128.0, cr * 224.0 + 128.0], axis=-1)


def rgb_float_to_uint8(rgb: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _lab(rgb: np.ndarray) -> np.ndarray:
    import cv2
    import numpy as np

    return cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2Lab)


def stats_of_ycc(ycc: np.ndarray, m: Matrix) -> ColorStats:
    import numpy as np

    lab = _lab(ycc_to_rgb(ycc, m)).reshape(-1, 3)
    flat = ycc.reshape(-1, 3).astype(np.float32)
    q1, q3 = np.percentile(lab[:, 0], [25, 75])
    return ColorStats(
        [float(v) for v in lab.mean(0)],
        [float(v) for v in lab.std(0)],
        [float(v) for v in flat.mean(0)],
        [float(v) for v in flat.std(0)],
        float(q3 - q1) / 1.349,
    )


def stats_of_rgb(rgb: np.ndarray, m: Matrix) -> ColorStats:
    """Statistics of an RGB uint8 picture (a PNG), as if it were stored with matrix ``m``."""
    return stats_of_ycc(rgb_to_ycc(rgb, m), m)


def _lerp3(a: tuple[float, float, float], b: tuple[float, float, float], t: float) -> tuple[float, float, float]:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


@dataclass(frozen=True)
class Grade:
    """out = PIVOT + gain * (in - PIVOT) + offset, per Y', Cb, Cr plane (8-bit code values)."""

    gain: tuple[float, float, float] = (1.0, 1.0, 1.0)
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def identity(self) -> bool:
        return all(abs(g - 1) < 1e-4 for g in self.gain) and all(abs(o) < 1e-3 for o in self.offset)

    def lerp(self, other: Grade, t: float) -> Grade:
        return Grade(_lerp3(self.gain, other.gain, t), _lerp3(self.offset, other.offset, t))

    def apply_float(self, ycc: np.ndarray) -> np.ndarray:
        import numpy as np

        g = np.asarray(self.gain, np.float32)
        o = np.asarray(self.offset, np.float32)
        return np.clip(PIVOT + g * (ycc.astype(np.float32) - PIVOT) + o, 0.0, 255.0)

    def luts(self) -> list[np.ndarray]:
        """Three 256-entry uint8 tables (Y', Cb, Cr): a frame's planes through them is the grade."""
        import numpy as np

        x = np.arange(256, dtype=np.float32)
        return [
            np.clip(np.floor(PIVOT + g * (x - PIVOT) + o + 0.5), 0, 255).astype(np.uint8)
            for g, o in zip(self.gain, self.offset, strict=True)
        ]

    def ffmpeg_lut(self) -> str:
        """The grade as ffmpeg's ``lutyuv`` options (the same tables as :meth:`luts`)."""
        planes = []
        for name, g, o in zip("yuv", self.gain, self.offset, strict=True):
            planes.append(f"{name}='clip(floor({PIVOT:g}+{g:.6f}*(val-{PIVOT:g})+{o:.4f}+0.5)\\,0\\,255)'")
        return ":".join(planes)

    def apply_rgb(self, rgb: np.ndarray, m: Matrix) -> np.ndarray:
        """Grade an RGB uint8 picture (a hand-off PNG) through Y'CbCr; returns RGB uint8."""
        if self.identity:
            return rgb
        return rgb_float_to_uint8(ycc_to_rgb(self.apply_float(rgb_to_ycc(rgb, m)), m))

    def to_dict(self) -> dict[str, Any]:
        return {"gain": [round(g, 5) for g in self.gain], "offset": [round(o, 4) for o in self.offset]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Grade:
        return cls(tuple(d["gain"]), tuple(d["offset"]))


IDENTITY = Grade()


def _measure(ycc: np.ndarray, grade: Grade, m: Matrix) -> np.ndarray:
    import numpy as np

    lab = _lab(ycc_to_rgb(grade.apply_float(ycc), m)).reshape(-1, 3)
    return np.concatenate([lab.mean(0), lab.std(0)]).astype(np.float64)


def fit_grade(ycc: np.ndarray, target: ColorStats, m: Matrix, iterations: int = 5, *, spread: bool = True) -> Grade:
    """The grade that gives frame ``ycc`` (a small Y'CbCr frame) the Lab mean and spread of ``target``.

    Starts from a mean/spread transfer per Y'CbCr plane (when ``target`` carries Y'CbCr
    statistics) and refines gains and offsets with Gauss-Newton steps on the measured Lab
    statistics. Gains stay within 0.5-2 so that a wrong target cannot invert or flatten a
    picture. ``spread=False`` fits the mean colour only (gains stay 1): what a flat or dark
    frame or reference can tell. The result is a proposal: :func:`check_grade` decides
    whether it is used.
    """
    import numpy as np

    src = stats_of_ycc(ycc, m)
    gain = []
    offset = []
    for k in range(3):
        s_std, t_std = src.ycc_std[k], target.ycc_std[k] if target.ycc_std else src.ycc_std[k]
        g = float(np.clip(t_std / s_std, 0.5, 2.0)) if (spread and s_std > 1e-3) else 1.0
        t_mean = target.ycc_mean[k] if target.ycc_mean else src.ycc_mean[k]
        gain.append(g)
        offset.append(t_mean - PIVOT - g * (src.ycc_mean[k] - PIVOT))
    n_out = 6 if spread else 3
    want = np.array(target.lab_mean + target.lab_std, np.float64)[:n_out]
    weights = np.array([1, 1, 1, 0.5, 0.5, 0.5])[:n_out]  # the mean colour matters most
    params = np.array(gain + offset, np.float64)
    free = list(range(6)) if spread else [3, 4, 5]

    def grade_of(p: np.ndarray) -> Grade:
        return Grade((float(p[0]), float(p[1]), float(p[2])), (float(p[3]), float(p[4]), float(p[5])))

    for _ in range(iterations):
        base = _measure(ycc, grade_of(params), m)[:n_out]
        err = (want - base) * weights
        if np.abs(err[:3]).max() < 0.05 and (not spread or np.abs(err[3:]).max() < 0.1):
            break
        jac = np.zeros((n_out, len(free)))
        for col, j in enumerate(free):
            step = 0.01 if j < 3 else 0.5
            p = params.copy()
            p[j] += step
            jac[:, col] = (_measure(ycc, grade_of(p), m)[:n_out] - base) * weights / step
        delta, *_ = np.linalg.lstsq(jac, err, rcond=None)
        params[free] = params[free] + delta
        params[:3] = np.clip(params[:3], 0.5, 2.0)
        params[3:] = np.clip(params[3:], -80, 80)
    return grade_of(params)


# --- when a grade may be used ------------------------------------------------------------

FLAT_SPREAD_L = 4.0  # a picture whose lightness spreads less than this (Lab L std) is flat: fog, sky, a title
DARK_L = 15.0  # ... and one darker than this (Lab L mean) is dark: a night shot, black
GRADE_GAIN_DE = 0.5  # a grade must bring its frames at least this much closer to their reference ...
GRADE_GAIN_REL = 0.2  # ... and at least this share of their distance
GRADE_WORSE_DE = 0.25  # no frame it changes may end further than this beyond where it was
GRADE_MAX_LUMA = 16.0  # ... and no frame's mean luma may move by more than this (8-bit levels)


def flat_or_dark(s: ColorStats) -> str:
    """ "flat" / "dark" when a frame (or a reference) can only tell its mean colour, else ""."""
    if s.lab_mean[0] < DARK_L:
        return "dark"
    if (s.l_spread if s.l_spread >= 0 else s.lab_std[0]) < FLAT_SPREAD_L:
        return "flat"
    return ""


def mean_stats(stats: list[ColorStats]) -> ColorStats:
    """The mean of several frames' statistics (a reference that one odd frame cannot skew)."""
    n = len(stats)

    def avg(rows: list[list[float]]) -> list[float]:
        return [sum(r[k] for r in rows) / n for k in range(len(rows[0]))] if rows and rows[0] else []

    return ColorStats(
        avg([s.lab_mean for s in stats]),
        avg([s.lab_std for s in stats]),
        avg([s.ycc_mean for s in stats]) if all(s.ycc_mean for s in stats) else [],
        avg([s.ycc_std for s in stats]) if all(s.ycc_std for s in stats) else [],
        sum(s.l_spread for s in stats) / n if all(s.l_spread >= 0 for s in stats) else -1.0,
    )


@dataclass
class GradeCheck:
    """A grade measured on the frames it will change, against each frame's reference."""

    kept: bool
    de_before: list[float]
    de_after: list[float]
    luma_shift: float  # the largest change of a frame's mean luma (8-bit levels)
    reason: str = ""  # why it was not kept

    @property
    def before(self) -> float:
        return max(self.de_before) if self.de_before else 0.0

    @property
    def after(self) -> float:
        return max(self.de_after) if self.de_after else 0.0


def check_grade(frames: list[np.ndarray], targets: list[ColorStats], grades: list[Grade], m: Matrix) -> GradeCheck:
    """Keep a grade only if it helps: every frame (small Y'CbCr) graded by its grade ends closer
    to its target by a clear margin (GRADE_GAIN_DE and GRADE_GAIN_REL on the mean distance), none
    ends further than GRADE_WORSE_DE beyond where it was, and no frame's mean luma moves by more
    than GRADE_MAX_LUMA levels."""
    before, after, shift = [], [], 0.0
    for f, t, g in zip(frames, targets, grades, strict=True):
        before.append(stats_of_ycc(f, m).delta_e(t))
        graded = g.apply_float(f)
        after.append(stats_of_ycc(graded, m).delta_e(t))
        shift = max(shift, abs(float(graded[..., 0].mean()) - float(f[..., 0].mean())))
    mb, ma = sum(before) / len(before), sum(after) / len(after)
    c = GradeCheck(True, before, after, shift)
    if shift > GRADE_MAX_LUMA:
        c.kept, c.reason = False, f"would move luma {shift:.0f} levels"
    elif any(a > b + GRADE_WORSE_DE for a, b in zip(after, before, strict=True)) or mb - ma < max(
        GRADE_GAIN_DE, GRADE_GAIN_REL * mb
    ):
        c.kept, c.reason = False, f"would not help (ΔE {c.before:.1f} → {c.after:.1f})"
    return c


def graded_stats(ycc: np.ndarray, grade: Grade, m: Matrix) -> ColorStats:
    return stats_of_ycc(grade.apply_float(ycc), m)


def ssim_luma(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity of two luma planes (uint8 or float, same shape), 11x11 Gaussian window."""
    import cv2
    import numpy as np

    x = a.astype(np.float64)
    y = b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(z: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(z, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s.mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    import numpy as np

    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def normalised_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR after giving ``a`` the per-channel mean and spread of ``b``: the same picture under a colour shift scores high."""
    import numpy as np

    x = a.astype(np.float64)
    y = b.astype(np.float64)
    axes = tuple(range(x.ndim - 1))
    xs, ys = x.std(axis=axes), y.std(axis=axes)
    x = (x - x.mean(axis=axes)) / np.maximum(xs, 1e-6) * ys + y.mean(axis=axes)
    return psnr(np.clip(x, 0, 255), y)
