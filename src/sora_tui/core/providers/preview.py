"""The offline ``preview`` video model: real MP4s with motion and a tone track, no key, no network.

It is how people without API keys try the studio and how the tests run the whole
pipeline, so it honours the same contract as the hosted models:

* text-to-video draws a gradient (seeded by the prompt) with the caption and the
  segment label, then moves (gentle zoom "breathing", a pan and a light orb);
* image-to-video starts on exactly ``start_image`` and drifts away from it; the last
  frame is an integer-pixel pan of the start image (the zoom returns to 1 and every
  overlay has faded out), so chained segments never blur however long the chain;
* first-last-frame starts on ``start_image`` and ends on ``end_image`` (crossfade + zoom).

Frames are made with numpy/cv2 and piped as raw RGB into one ffmpeg process (H.264
yuv420p, CRF 17, ``+faststart``), with an AAC chord from ``aevalsrc`` when audio is
asked for. Output is deterministic: the same request gives a byte-identical file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import math
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from ..errors import DiskFull
from ..media import (
    SWS_FLAGS,
    MediaError,
    atomic_path,
    drain_stderr,
    ffmpeg_failure,
    lower_priority,
    read_image,
    spawn_ffmpeg,
    write_atomic,
)
from ..models import InputError, Kind
from .base import (
    BadResult,
    DownloadProgress,
    ImageRequest,
    ModelUnavailable,
    Provider,
    ProviderError,
    ProviderStatus,
    RenderRequest,
    RenderResult,
    RequestNotFound,
    Submission,
)

logger = logging.getLogger(__name__)

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

ProgressCallback = Callable[[float], None]

CRF = 17
BOUNDARY_QP = 12  # quantizer of the first and last frames (the ones other segments continue from)
PRESET = "veryfast"
THREADS = 2  # fixed so that output bytes do not depend on the machine's core count
PAN = 0.04  # fraction of the width panned per segment (integer pixels)
ZOOM = 0.035  # peak extra zoom in the middle of a segment (returns to 1 at the ends)
BOX_EDGE = 10.0  # mean step (levels) across a reference box's edges that tells a drawn box from the picture


# --- drawing ------------------------------------------------------------------------


def _hash(*parts: Any) -> int:
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    import colorsys

    return colorsys.hsv_to_rgb(h % 1.0, s, v)


def _background(width: int, height: int, key: int) -> np.ndarray:
    """A soft gradient, periodic along x (so integer pans wrap without a seam)."""
    import numpy as np

    hue = (key % 3600) / 3600
    spread = 0.12 + ((key >> 12) % 100) / 400
    c1 = np.array(_hsv(hue, 0.55, 0.85), np.float32)
    c2 = np.array(_hsv(hue + spread, 0.65, 0.55), np.float32)
    c3 = np.array(_hsv(hue - spread, 0.70, 0.30), np.float32)
    phase = ((key >> 24) % 1000) / 1000
    x = np.arange(width, dtype=np.float32) / width
    y = np.arange(height, dtype=np.float32)[:, None] / height
    wx = 0.5 - 0.5 * np.cos(2 * np.pi * (x + phase))  # (w,)
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * (2 * x + phase) + 3 * y)  # (h, w)
    top = c1[None, :] * (1 - wx[:, None]) + c2[None, :] * wx[:, None]  # (w, 3)
    img = top[None, :, :] * (1 - 0.75 * y[..., None]) + c3 * (0.75 * y[..., None])
    img = img * (0.85 + 0.15 * wave[..., None])
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


def _font_scale(height: int, width: int) -> tuple[float, int]:
    short = min(width, height)
    scale = max(0.35, short / 720 * 1.3)
    return scale, max(1, round(short / 360))


def _wrap(text: str, max_width: int, scale: float, thick: int, max_lines: int) -> list[str]:
    import cv2

    font = cv2.FONT_HERSHEY_SIMPLEX
    words = " ".join(text.split()).split(" ")
    lines: list[str] = []
    cur = ""
    for word in words:
        trial = f"{cur} {word}".strip()
        if cv2.getTextSize(trial, font, scale, thick)[0][0] <= max_width or not cur:
            cur = trial
        else:
            lines.append(cur)
            cur = word
    if cur:
        lines.append(cur)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and cv2.getTextSize(last + "...", font, scale, thick)[0][0] > max_width:
            last = last[:-1]
        lines[-1] = last.rstrip() + "..."
    # a single word longer than the width: cut it
    out = []
    for ln in lines:
        while len(ln) > 1 and cv2.getTextSize(ln, font, scale, thick)[0][0] > max_width:
            ln = ln[:-1]
        out.append(ln)
    return out


def _draw_text_block(img: np.ndarray, lines: list[str], scale: float, thick: int, center_y: float) -> None:
    """Centred white text with a dark outline, drawn in place (RGB)."""
    import cv2

    font = cv2.FONT_HERSHEY_SIMPLEX
    h, w = img.shape[:2]
    line_h = int(cv2.getTextSize("Ag", font, scale, thick)[0][1] * 1.9) + 2
    y0 = int(center_y - line_h * len(lines) / 2 + line_h * 0.75)
    for i, ln in enumerate(lines):
        tw = cv2.getTextSize(ln, font, scale, thick)[0][0]
        org = ((w - tw) // 2, y0 + i * line_h)
        r = max(1, thick)  # outline by offset copies (a thicker stroke changes glyph widths in OpenCV 5)
        for dx, dy in ((-r, 0), (r, 0), (0, -r), (0, r), (-r, -r), (r, r), (-r, r), (r, -r)):
            cv2.putText(img, ln, (org[0] + dx, org[1] + dy), font, scale, (20, 20, 28), thick, cv2.LINE_AA)
        cv2.putText(img, ln, org, font, scale, (250, 250, 245), thick, cv2.LINE_AA)


def _draw_label(img: np.ndarray, label: str) -> None:
    import cv2

    if not label:
        return
    h, w = img.shape[:2]
    scale, thick = _font_scale(h, w)
    scale *= 0.7
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(label, font, scale, thick)
    pad = max(3, th // 2)
    x0, y0 = pad * 2, pad * 2
    sub = img[y0 : y0 + th + base + 2 * pad, x0 : x0 + tw + 2 * pad]
    sub[:] = (sub.astype("uint16") * 2 // 5).astype("uint8")  # darkened box
    cv2.putText(img, label, (x0 + pad, y0 + pad + th), font, scale, (255, 230, 140), thick, cv2.LINE_AA)


def compose_title(prompt: str, width: int, height: int, label: str = "", seed: int = 0) -> np.ndarray:
    """The text-to-video first frame / text-to-image keyframe: gradient + caption + label (RGB)."""
    img = _background(width, height, _hash("bg", seed, prompt))
    scale, thick = _font_scale(height, width)
    lines = _wrap(prompt, int(width * 0.86), scale, thick, max_lines=max(2, min(6, height // 90)))
    _draw_text_block(img, lines, scale, thick, center_y=height * 0.52)
    _draw_label(img, label)
    return img


def _fit_cover(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize to cover width x height and centre-crop; unchanged (same object) when the size matches."""
    import cv2

    h, w = img.shape[:2]
    if (w, h) == (width, height):
        return img
    scale = max(width / w, height / h)
    nw, nh = max(width, round(w * scale)), max(height, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    big = cv2.resize(img, (nw, nh), interpolation=interp)
    x0, y0 = (nw - width) // 2, (nh - height) // 2
    return big[y0 : y0 + height, x0 : x0 + width].copy()


def _load_image(path: Path, width: int, height: int) -> np.ndarray:
    try:
        img = read_image(path)
    except MediaError as exc:
        raise ProviderError(f"preview: {exc}") from exc
    return _fit_cover(img, width, height)


@dataclass
class _Motion:
    """Gentle camera motion: zoom 1 -> 1+ZOOM -> 1 and an integer pan over the segment."""

    width: int
    height: int
    key: int
    pan_px: int = 0
    pan_py: int = 0

    def __post_init__(self) -> None:
        # Whole macroblocks (16 px): the last frame is then the start image moved on H.264's own
        # block grid, so re-encoding it generation after generation does not compound the loss.
        sign = 1 if self.key & 1 else -1
        self.pan_px = sign * 16 * max(1, round(self.width * PAN / 16))
        self.pan_py = 0

    def apply(self, img: np.ndarray, t: float) -> np.ndarray:
        import cv2
        import numpy as np

        if t <= 0.0:
            return img
        if t >= 1.0:  # exact integer shift: no resampling, nothing to blur
            return np.roll(img, (self.pan_py, self.pan_px), axis=(0, 1))
        ease = t * t * (3 - 2 * t)
        z = 1.0 + ZOOM * math.sin(math.pi * t)
        cx, cy = self.width / 2, self.height / 2
        m = np.array(
            [[z, 0, cx - z * cx + self.pan_px * ease], [0, z, cy - z * cy + self.pan_py * ease]], dtype=np.float64
        )
        return cv2.warpAffine(img, m, (self.width, self.height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


def _envelope(t: float, a: float, b: float, c: float, d: float) -> float:
    """0 before a, ramps to 1 at b, 1 until c, back to 0 at d (smooth)."""
    if t <= a or t >= d:
        return 0.0
    if t < b:
        x = (t - a) / (b - a)
    elif t <= c:
        return 1.0
    else:
        x = (d - t) / (d - c)
    return x * x * (3 - 2 * x)


class _Orb:
    """A soft light moving across the picture, fully transparent at both ends of the segment."""

    def __init__(self, width: int, height: int, key: int) -> None:
        import numpy as np

        self.w, self.h = width, height
        self.r = max(6, int(min(width, height) * 0.09))
        size = 2 * self.r + 1
        yy, xx = np.mgrid[-self.r : self.r + 1, -self.r : self.r + 1].astype(np.float32)
        d2 = (xx * xx + yy * yy) / (self.r * self.r)
        self.mask = (np.exp(-d2 * 3.0) * (d2 < 1)).astype(np.float32)[..., None]
        self.color = np.array([c * 255 for c in _hsv(((key >> 5) % 360) / 360 + 0.5, 0.25, 1.0)], np.float32)
        self.y0 = 0.25 + ((key >> 9) % 50) / 100
        self.dir = 1 if key & 4 else -1
        assert self.mask.shape[0] == size

    def draw(self, img: np.ndarray, t: float, strength: float) -> None:
        import numpy as np

        if strength <= 0:
            return
        x_frac = 0.12 + 0.76 * (t if self.dir > 0 else 1 - t)
        cx = int(x_frac * self.w)
        cy = int((self.y0 + 0.12 * math.sin(2 * math.pi * t)) * self.h)
        r = self.r
        x0, x1 = max(0, cx - r), min(self.w, cx + r + 1)
        y0, y1 = max(0, cy - r), min(self.h, cy + r + 1)
        if x0 >= x1 or y0 >= y1:
            return
        m = self.mask[y0 - (cy - r) : y1 - (cy - r), x0 - (cx - r) : x1 - (cx - r)] * (0.7 * strength)
        roi = img[y0:y1, x0:x1].astype(np.float32)
        img[y0:y1, x0:x1] = (roi + (self.color - roi) * m + 0.5).astype(np.uint8)


class _Caption:
    """A small lower-third caption, pre-rendered once and alpha-blended per frame."""

    def __init__(self, text: str, width: int, height: int) -> None:
        import cv2
        import numpy as np

        scale, thick = _font_scale(height, width)
        scale *= 0.6
        thick = max(1, thick - 1) if thick > 1 else 1
        lines = _wrap(text, int(width * 0.8), scale, thick, max_lines=2)
        font = cv2.FONT_HERSHEY_SIMPLEX
        th = cv2.getTextSize("Ag", font, scale, thick)[0][1]
        line_h = int(th * 1.9) + 2
        box_h = line_h * len(lines) + th
        self.y0 = max(0, height - box_h - max(4, height // 20))
        self.y1 = min(height, self.y0 + box_h)
        layer = np.zeros((self.y1 - self.y0, width, 3), np.uint8)
        alpha = np.zeros((self.y1 - self.y0, width), np.uint8)
        for i, ln in enumerate(lines):
            tw = cv2.getTextSize(ln, font, scale, thick)[0][0]
            org = ((width - tw) // 2, int(th * 1.4) + i * line_h)
            cv2.putText(layer, ln, org, font, scale, (255, 255, 255), thick, cv2.LINE_AA)
            cv2.putText(alpha, ln, org, font, scale, 255, thick, cv2.LINE_AA)
        self.layer = layer.astype(np.float32)
        # a translucent dark band behind the text plus the text itself
        self.alpha = np.maximum(alpha.astype(np.float32) / 255.0, 0.35)[..., None]

    def draw(self, img: np.ndarray, strength: float) -> None:
        import numpy as np

        if strength <= 0:
            return
        roi = img[self.y0 : self.y1].astype(np.float32)
        a = self.alpha * strength
        img[self.y0 : self.y1] = (roi + (self.layer - roi) * a + 0.5).astype(np.uint8)


# --- audio --------------------------------------------------------------------------


_SCALE = [0, 2, 4, 5, 7, 9, 11]


def _audio_expr(prompt: str, seed: int) -> str:
    """A soft major/minor chord whose root depends on the prompt, with fades at both ends."""
    key = _hash("audio", seed, prompt)
    root = 196.0 * 2 ** (_SCALE[key % 7] / 12 + ((key >> 3) % 2))  # G3.. up an octave
    third = 4 if (key >> 5) & 1 else 3
    freqs = [root, root * 2 ** (third / 12), root * 2 ** (7 / 12), root * 2]
    amps = [0.16, 0.11, 0.10, 0.05]
    tone = "+".join(f"{a}*sin(2*PI*{f:.4f}*t)" for a, f in zip(amps, freqs, strict=True))
    return f"({tone})*(0.8+0.2*sin(2*PI*0.5*t))"


# --- the renderer -------------------------------------------------------------------


def _tail_gop(fps: int) -> int:
    """Frames between the extra keyframe and the last one: more than a quarter second."""
    return math.ceil(0.25 * fps) + 1


def _encoder_args(width: int, height: int, fps: int, n_frames: int) -> list[str]:
    return [
        "-c:v", "libx264", "-preset", PRESET, "-crf", str(CRF), "-pix_fmt", "yuv420p",
        "-g", str(max(1, fps * 2)), "-threads", str(THREADS),
        # the last frame is an IDR at full quality: it is the next segment's start image; and a
        # keyframe a third of a second before it keeps the last GOP short, so reading the true
        # last frame (media.read_last_frame: -sseof -0.25) decodes 8 frames, not up to 2 s of them
        "-force_key_frames", f"expr:eq(n,{n_frames - 1})+eq(n,{n_frames - 1 - _tail_gop(fps)})",
        # ... and both boundary frames are coded near-losslessly (QP 12): they carry continuity
        "-x264-params",
        f"zones=0,0,q={BOUNDARY_QP}" + (f"/{n_frames - 1},{n_frames - 1},q={BOUNDARY_QP}" if n_frames > 1 else ""),
        "-frames:v", str(n_frames),
    ]  # fmt: skip


def _drift_lut(amount: float) -> np.ndarray:
    """Colour drift as hosted continuations show it: warmer and more contrast; ``amount`` is about ΔE (Lab)."""
    import numpy as np

    a = amount / 4.0
    x = np.arange(256, dtype=np.float32)
    chans = [128 + (x - 128) * (1 + 0.05 * a) + w * a for w in (4.0, 1.0, -4.0)]
    return np.clip(np.stack(chans, axis=-1) + 0.5, 0, 255).astype(np.uint8).reshape(256, 1, 3)


def reference_box(k: int, width: int, height: int) -> tuple[int, int, int, int]:
    """Where the preview draws the k-th (0-based) reference picture: (x, y, w, h), along the top
    edge from the right. Tests measure the decoded frames there."""
    tw, th = max(8, width // 6) // 2 * 2, max(8, height // 4) // 2 * 2
    margin = max(2, width // 64)
    x = width - (k + 1) * (tw + margin)
    return max(0, x), margin, tw, th


def draw_references(img: np.ndarray, references: list[np.ndarray]) -> np.ndarray:
    """``img`` with each reference picture drawn into its box: as a reference-conditioned model
    keeps a member's identity, the preview keeps the member's picture on screen."""
    h, w = img.shape[:2]
    out = img.copy()
    for k, ref in enumerate(references):
        x, y, tw, th = reference_box(k, w, h)
        if x + tw > w or y + th > h:
            break
        out[y : y + th, x : x + tw] = _fit_cover(ref, tw, th)
    return out


def erase_references(img: np.ndarray) -> np.ndarray:
    """``img`` without the reference boxes an earlier shot drew into it (a continued shot starts on
    that shot's last frame): each box slot whose edges step sharply off the background is filled
    from the rows above and below it, so the shot then draws each of its members once."""
    import numpy as np

    h, w = img.shape[:2]
    out = img
    k = 0
    while True:
        x, y, tw, th = reference_box(k, w, h)
        if x <= 2 or x + tw > w or y + th + 3 > h:
            break
        k += 1
        x0, x1 = x - 2, min(w, x + tw + 2)
        y0, y1 = max(0, y - 2), y + th + 2

        def step(a: np.ndarray, b: np.ndarray) -> float:
            return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())

        edge = min(step(img[y + th - 2, x : x + tw], img[y + th + 1, x : x + tw]),
                   step(img[y : y + th, x + 1], img[y : y + th, x - 2]))  # fmt: skip
        # the picture's own texture just outside the box, over the same 3 px
        texture = step(img[y + th + 1, x : x + tw], img[min(h - 1, y + th + 4), x : x + tw])
        if edge < max(BOX_EDGE, 3 * texture):
            continue  # no box drawn here: the picture stays as it is
        if out is img:
            out = img.copy()
        top = img[y0 - 1, x0:x1] if y0 > 0 else img[y1, x0:x1]
        bottom = img[y1, x0:x1]
        a = np.linspace(0.0, 1.0, y1 - y0, dtype=np.float32)[:, None, None]
        out[y0:y1, x0:x1] = (top[None].astype(np.float32) * (1 - a) + bottom[None].astype(np.float32) * a + 0.5).astype(
            np.uint8
        )
    return out


def _reference_pictures(req: RenderRequest) -> list[np.ndarray]:
    """The first picture of each member (what the preview draws)."""
    out = []
    for pictures in req.references:
        if pictures:
            out.append(_load_image(Path(pictures[0]), req.width, req.height))
    return out


def _frames(req: RenderRequest, n: int, drift: float = 0.0) -> Iterator[np.ndarray]:
    """Yield the n RGB frames of a request (continuations drift in colour by ``drift`` ΔE over the
    clip); a reference-to-video request draws its members' pictures into every frame."""
    refs = _reference_pictures(req) if req.kind == Kind.R2V else []
    # a start picture drawn by an earlier shot has its members' boxes in it: drawn once, not twice
    for frame in _base_frames(req, n, drift, clean=bool(refs)):
        yield draw_references(frame, refs) if refs else frame


def _base_frames(req: RenderRequest, n: int, drift: float = 0.0, clean: bool = False) -> Iterator[np.ndarray]:
    w, h = req.width, req.height
    key = _hash("motion", req.seed, req.prompt, req.label)
    motion = _Motion(w, h, key)
    orb = _Orb(w, h, key)
    last = max(1, n - 1)
    if req.kind == Kind.T2V or req.start_image is None:
        base = compose_title(req.prompt, w, h, req.label, req.seed)
        for i in range(n):
            t = i / last
            frame = motion.apply(base, t)
            if 0 < t < 1:
                frame = frame.copy() if frame is base else frame
                orb.draw(frame, t, _envelope(t, 0.0, 0.2, 0.8, 1.0))
            yield frame
        return
    start = _load_image(req.start_image, w, h)
    if clean:
        start = erase_references(start)
    if req.kind == Kind.FLF2V:
        if req.end_image is None:
            raise ProviderError("preview: first-last-frame needs an end image")
        import numpy as np

        end = _load_image(req.end_image, w, h)
        for i in range(n):
            t = i / last
            if t <= 0:
                yield start
                continue
            if t >= 1:
                yield end
                continue
            z = 1.0 + ZOOM * math.sin(math.pi * t)
            a = t * t * (3 - 2 * t)
            import cv2

            m = np.array([[z, 0, (1 - z) * w / 2], [0, z, (1 - z) * h / 2]])
            s = cv2.warpAffine(start, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            e = cv2.warpAffine(end, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            frame = cv2.addWeighted(s, 1 - a, e, a, 0.0)
            orb.draw(frame, t, _envelope(t, 0.0, 0.25, 0.75, 1.0))
            yield frame
        return
    # image-to-video (and anything else with a start image): frame 0 is the start image itself,
    # as hosted models return it; the colour then drifts away from it, as theirs does
    import cv2

    caption = _Caption(req.prompt, w, h)
    for i in range(n):
        t = i / last
        frame = motion.apply(start, t)
        if 0 < t < 1:
            frame = frame.copy() if frame is start else frame
            orb.draw(frame, t, _envelope(t, 0.0, 0.2, 0.8, 1.0))
            caption.draw(frame, _envelope(t, 0.08, 0.25, 0.7, 0.92))
        if drift > 0 and t > 0:
            frame = cv2.LUT(frame, _drift_lut(drift * t))
        yield frame


def render_video(req: RenderRequest, dest: Path, progress: ProgressCallback | None = None, drift: float = 0.0) -> None:
    """Render ``req`` to an MP4 at ``dest`` (atomically): exactly ``seconds * fps`` frames.

    ``progress`` gets the fraction of frames encoded; an exception it raises stops the render (no half video).
    Raises ProviderError for bad inputs (missing start image) and MediaError when ffmpeg fails.
    """
    import numpy as np

    dest = Path(dest)
    w, h, fps = int(req.width), int(req.height), int(req.fps)
    if w < 16 or h < 16 or w % 2 or h % 2:
        raise ProviderError(f"preview: frame size {w}x{h} must be even and at least 16 px")
    if fps < 1 or req.seconds <= 0:
        raise ProviderError("preview: seconds and fps must be positive")
    if req.kind in (Kind.I2V, Kind.FLF2V) and req.start_image is None:
        raise ProviderError(f"preview: {req.kind} needs a start image")
    n = int(round(req.seconds * fps))
    frames = _frames(req, n, drift)
    first = next(frames)  # fail early (bad image) before starting ffmpeg
    with atomic_path(dest) as tmp:
        cmd = [
            "-loglevel", "error", "-y",
            "-sws_flags", SWS_FLAGS,
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "pipe:0",
        ]  # fmt: skip
        if req.audio:
            expr = _audio_expr(req.prompt, req.seed)
            cmd += ["-f", "lavfi", "-i", f"aevalsrc='{expr}':s=48000:c=stereo:d={n / fps:.6f}"]
            # no fades: like a hosted model's sound, it starts and stops at the cut (the join crossfades)
            cmd += ["-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", "128k", "-ar", "48000"]
        else:
            cmd += ["-map", "0:v:0", "-an"]
        cmd += _encoder_args(w, h, fps, n)
        cmd += [
            "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
            "-movflags", "+faststart", "-f", "mp4", str(tmp),
        ]  # fmt: skip
        proc = spawn_ffmpeg(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        reader, tail = drain_stderr(proc, 40)
        assert proc.stdin is not None
        stdin = proc.stdin

        def feed(frame: np.ndarray) -> bool:
            """Send one frame; False when ffmpeg stopped reading (its exit code and stderr say why)."""
            try:
                stdin.write(np.ascontiguousarray(frame).tobytes())
            except BrokenPipeError:
                return False
            return True

        try:
            done = 0
            for frame in itertools.chain([first], frames):
                if not feed(frame):
                    break
                done += 1
                if progress and (done == 1 or done % 4 == 0 or done == n):
                    progress(done / n * 0.98)
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            rc = proc.wait()
        except BaseException:  # cancelled, or a progress callback failed: no half video
            proc.kill()
            proc.wait()
            raise
        finally:
            reader.join(timeout=5)
        if rc == 0 and done < n:
            rc = -1  # ffmpeg stopped reading before the last frame
        if rc != 0:
            raise ffmpeg_failure(list(tail), dest, f"preview render of {dest.name}")
    if progress:
        progress(1.0)


def render_image(
    prompt: str,
    width: int,
    height: int,
    dest: Path,
    source: Path | None = None,
    seed: int = 0,
    label: str = "",
    references: list[Path] | None = None,
) -> Path:
    """A keyframe PNG at ``dest`` (atomic): text-to-image when ``source`` is None, else an
    "edit" of ``source``: gently shifted, zoomed and tinted (from the prompt hash) with the
    new caption, so the identity of the source carries over. ``references`` (cast pictures an
    edit combines) are drawn into their boxes, as the edit model puts the members in the picture."""
    import cv2
    import numpy as np

    dest = Path(dest)
    if references:
        if source is None:
            img = compose_title(prompt, width, height, label, seed)
        else:
            img = _load_image(Path(source), width, height)
        img = draw_references(img, [_load_image(Path(r), width, height) for r in references])
        ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3])
        if not ok:  # pragma: no cover
            raise MediaError(f"cannot encode {dest.name}")
        write_atomic(dest, buf.tobytes())
        return dest
    if source is None:
        img = compose_title(prompt, width, height, label, seed)
    else:
        img = _load_image(Path(source), width, height)
        key = _hash("edit", seed, prompt)
        z = 1.0 + 0.02 + (key % 30) / 1000
        dx = ((key >> 8) % 41 - 20) / 1000 * width
        dy = ((key >> 16) % 21 - 10) / 1000 * height
        m = np.array([[z, 0, (1 - z) * width / 2 + dx], [0, z, (1 - z) * height / 2 + dy]])
        img = cv2.warpAffine(img, m, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        tint = np.array(_hsv(((key >> 24) % 360) / 360, 1.0, 1.0), np.float32) * 255
        img = (img.astype(np.float32) * 0.9 + tint * 0.1 + 0.5).clip(0, 255).astype(np.uint8)
        caption = _Caption(prompt, width, height)
        # the source's own caption (zoomed by the edit) would show through: dim the lower band first
        y0 = max(0, caption.y0 - height // 12)
        img[y0:] = (img[y0:].astype(np.float32) * 0.2 + 0.5).astype(np.uint8)
        caption.draw(img, 1.0)
        _draw_label(img, label)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:  # pragma: no cover
        raise MediaError(f"cannot encode {dest.name}")
    write_atomic(dest, buf.tobytes())
    return dest


# --- the provider -------------------------------------------------------------------


@dataclass
class _Job:
    req: RenderRequest
    path: Path
    started: float
    task: asyncio.Task[None] | None = None
    render_fraction: float = 0.0
    rendering: bool = False
    logs: list[str] = field(default_factory=list)
    proc: asyncio.subprocess.Process | None = None
    disk_full_said: bool = False  # its DiskFull was raised once: asked again (a resume), it renders again


class PreviewProvider(Provider):
    """Local provider that renders with :func:`render_video` in a worker thread.

    ``latency`` simulates a hosted queue: a request completes after
    ``max(latency, render time)`` seconds (``image_latency`` likewise for keyframe images).
    Like a hosted queue, requests outlive the process: each is recorded in ``cache_dir``
    (``<id>.json``), so after a restart :meth:`status` re-attaches to it (finished output
    is kept, an unfinished render continues) instead of the pipeline submitting again.
    Only an id with no record raises RequestNotFound.
    """

    name = "preview"

    def __init__(
        self,
        cache_dir: Path,
        latency: float = 0.0,
        image_latency: float | None = None,
        slots: int | None = None,
        drift: float = 0.0,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.drift = max(0.0, float(drift))
        self.latency = max(0.0, float(latency))
        self.image_latency = self.latency if image_latency is None else max(0.0, float(image_latency))
        self._jobs: dict[str, _Job] = {}
        self._slots = asyncio.Semaphore(max(1, slots or os.cpu_count() or 1))  # renders at once
        self._waiting: list[str] = []

    def _record(self, rid: str) -> Path:
        return self.cache_dir / f"{rid}.json"

    def _save_record(self, rid: str, req: RenderRequest) -> None:
        write_atomic(self._record(rid), json.dumps(request_to_record(req) | {"drift": self.drift}).encode())

    def _reattach(self, rid: str) -> _Job | None:
        """Rebuild a request from its record after a restart; None when there is none."""
        try:
            req = request_from_record(json.loads(self._record(rid).read_text("utf-8")))
        except (OSError, ValueError, TypeError, KeyError, InputError):
            return None
        job = _Job(req=req, path=self.cache_dir / f"{rid}.mp4", started=time.monotonic())
        if job.path.is_file():
            job.logs.append(f"re-attached to finished request {rid}")
            job.task = asyncio.create_task(asyncio.sleep(0), name=f"preview-{rid}")
        else:
            job.logs.append(f"re-attached to request {rid}; rendering continues")
            job.task = asyncio.create_task(self._run(job), name=f"preview-{rid}")
        self._jobs[rid] = job
        return job

    def _job(self, sub: Submission) -> _Job:
        job = self._jobs.get(sub.request_id)
        if job is not None and job.disk_full_said:  # asked again after a full disk (a resume): render again
            del self._jobs[sub.request_id]
            job = None
        job = job or self._reattach(sub.request_id)
        if job is None:
            raise RequestNotFound(f"preview request {sub.request_id} is unknown")
        return job

    async def submit(self, req: RenderRequest) -> Submission:
        try:
            endpoint = req.model.endpoint(req.kind)
        except InputError as exc:
            raise ModelUnavailable(str(exc)) from None
        for p in (req.start_image, req.end_image, *(q for r in req.references for q in r)):
            if p is not None and not Path(p).is_file():
                raise ProviderError(f"preview: image {p} does not exist")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        rid = uuid.uuid4().hex
        job = _Job(req=req, path=self.cache_dir / f"{rid}.mp4", started=time.monotonic())
        job.logs.append(f"queued {req.kind} {req.width}x{req.height} {req.seconds}s")
        await asyncio.to_thread(self._save_record, rid, req)
        job.task = asyncio.create_task(self._run(job), name=f"preview-{rid}")
        self._jobs[rid] = job
        return Submission(request_id=rid, endpoint=endpoint)

    async def _run(self, job: _Job) -> None:
        """Render in a child process (like a remote worker: it never competes with the app's
        event loop for the GIL, and it can be killed), while the simulated latency runs."""

        async def render() -> None:
            # at most one render per core, like a real queue; the rest wait with a queue position
            self._waiting.append(job.path.stem)
            try:
                await self._slots.acquire()
            finally:
                self._waiting.remove(job.path.stem)
            try:
                await run_child()
            finally:
                self._slots.release()

        async def run_child() -> None:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", __name__, str(self._record(job.path.stem)), str(job.path),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            lower_priority(proc.pid)  # a background renderer (with its ffmpeg): the studio's keys come first
            job.proc = proc
            assert proc.stdout is not None and proc.stderr is not None
            async for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").split()
                if len(line) == 2 and line[0] == "progress":
                    job.rendering = True
                    job.render_fraction = float(line[1])
            err = (await proc.stderr.read()).decode("utf-8", "replace").strip()
            if await proc.wait() != 0:
                if "No space left" in err:  # our disk, not the request: the job fails naming it, the request stays
                    raise DiskFull(job.path.parent, detail="the preview renderer could not write its video")
                raise ProviderError(err.splitlines()[-1] if err else f"preview render exited with {proc.returncode}")
            job.logs.append(f"rendered {job.path.name}")

        try:
            await asyncio.gather(render(), asyncio.sleep(self.latency))
        except BaseException:
            if job.proc is not None and job.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    job.proc.kill()
                await job.proc.wait()
            raise

    def _progress(self, job: _Job) -> float:
        elapsed = time.monotonic() - job.started
        lat = min(1.0, elapsed / self.latency) if self.latency > 0 else 1.0
        return round(min(lat, job.render_fraction), 4)

    def _raise_failure(self, job: _Job) -> None:
        assert job.task is not None
        if job.task.cancelled():
            raise ProviderError("preview request was cancelled")
        exc = job.task.exception()
        if exc is None:
            return
        if isinstance(exc, DiskFull):
            job.disk_full_said = True
            raise exc
        if isinstance(exc, ProviderError):
            raise exc
        raise ProviderError(f"preview render failed: {exc}") from exc

    async def status(self, sub: Submission) -> ProviderStatus:
        job = self._job(sub)
        assert job.task is not None
        if job.task.done():
            self._raise_failure(job)
            return ProviderStatus("completed", logs=list(job.logs), progress=1.0)
        prog = self._progress(job)
        if not job.rendering and prog == 0.0:
            rid = job.path.stem
            position = self._waiting.index(rid) + 1 if rid in self._waiting else 0
            return ProviderStatus("queued", queue_position=position, logs=list(job.logs), progress=0.0)
        return ProviderStatus("running", logs=list(job.logs), progress=prog)

    async def result(self, sub: Submission) -> RenderResult:
        job = self._job(sub)
        assert job.task is not None
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.shield(job.task)
        self._raise_failure(job)
        if not job.path.is_file():
            raise BadResult(f"preview output {job.path.name} is missing")
        req = job.req
        video = {
            "url": job.path.as_uri(),
            "content_type": "video/mp4",
            "file_name": job.path.name,
            "file_size": job.path.stat().st_size,
            "width": req.width,
            "height": req.height,
            "fps": req.fps,
            "duration": float(req.seconds),
            "num_frames": int(round(req.seconds * req.fps)),
        }
        return RenderResult(video_url=job.path.as_uri(), raw={"video": video, "seed": req.seed})

    async def download(self, result: RenderResult, dest: Path, progress: DownloadProgress | None = None) -> None:
        url = urlparse(result.video_url)
        if url.scheme != "file":
            raise BadResult(f"preview cannot download {result.video_url!r} (not a file:// URL)")
        src = Path(url2pathname(url.path))
        if not src.is_file():
            raise BadResult(f"preview output {src.name} is missing")
        # delivered: the provider forgets the request (like a hosted queue's retention ending),
        # so its file can simply move into the job folder when both are on one file system
        rid = src.stem
        try:
            Path(dest).parent.mkdir(parents=True, exist_ok=True)
            size = src.stat().st_size
            os.replace(src, dest)
            if progress:
                progress(size, size)
        except OSError:
            await asyncio.to_thread(_copy_atomic, src, Path(dest), progress)
        self._jobs.pop(rid, None)
        for path in (src, self._record(rid)):
            with contextlib.suppress(OSError):
                path.unlink()

    async def cancel(self, sub: Submission) -> None:
        job = self._jobs.get(sub.request_id)
        if job is None:
            return
        if job.task is not None and not job.task.done():
            job.task.cancel()
            await _reap(job.task)
        for path in (job.path, self._record(sub.request_id)):
            with contextlib.suppress(OSError):
                path.unlink()
        for tmp in self.cache_dir.glob(f".{job.path.stem}.tmp-*"):
            with contextlib.suppress(OSError):
                tmp.unlink()

    async def generate_image(self, req: ImageRequest, dest: Path) -> None:
        if req.source is not None and not Path(req.source).is_file():
            raise ProviderError(f"preview: source image {req.source} does not exist")
        await asyncio.gather(
            asyncio.to_thread(
                render_image,
                req.prompt,
                req.width,
                req.height,
                Path(dest),
                req.source,
                req.seed,
                req.label,
                list(req.references),
            ),
            asyncio.sleep(self.image_latency),
        )

    async def aclose(self) -> None:
        tasks = [j.task for j in self._jobs.values() if j.task is not None and not j.task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            await _reap(task)


async def _reap(task: asyncio.Task[Any]) -> None:
    """Wait for a task we cancelled. Its own CancelledError is expected; ours (the caller being
    cancelled) and KeyboardInterrupt go on up; any other failure is logged with its traceback."""
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
    except Exception:
        logger.exception("preview render task failed while being cancelled")


def _copy_atomic(src: Path, dest: Path, progress: DownloadProgress | None) -> None:
    total = src.stat().st_size
    done = 0
    with atomic_path(dest) as tmp:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            while chunk := fin.read(1 << 20):
                fout.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
            fout.flush()
            os.fsync(fout.fileno())
    if progress and total == 0:
        progress(0, 0)


def request_to_record(req: RenderRequest) -> dict[str, Any]:
    """A render request as JSON data (the model by id), to outlive the process."""
    return {
        "model": req.model.id,
        "kind": str(req.kind),
        "prompt": req.prompt,
        "seconds": req.seconds,
        "resolution": req.resolution,
        "aspect": req.aspect,
        "audio": req.audio,
        "width": req.width,
        "height": req.height,
        "fps": req.fps,
        "start_image": str(req.start_image) if req.start_image else None,
        "end_image": str(req.end_image) if req.end_image else None,
        "seed": req.seed,
        "label": req.label,
        "references": [[str(p) for p in r] for r in req.references],
        "send_seed": req.send_seed,
    }


def request_from_record(data: dict[str, Any]) -> RenderRequest:
    from ..catalog import load_catalog

    data = dict(data)
    data.pop("drift", None)  # the renderer's own setting, not part of the request
    model = load_catalog().get(data.pop("model"))
    kind = Kind(data.pop("kind"))
    start, end = data.pop("start_image"), data.pop("end_image")
    refs = data.pop("references", None) or []
    return RenderRequest(
        model=model,
        kind=kind,
        start_image=Path(start) if start else None,
        end_image=Path(end) if end else None,
        references=[[Path(p) for p in r] for r in refs],
        **data,
    )


def _worker(argv: list[str]) -> int:
    """``python -m sora_tui.core.providers.preview RECORD.json OUT.mp4``: render one request,
    printing ``progress F`` lines; on failure one message line on stderr and exit 1."""
    if len(argv) != 2:
        print("usage: python -m sora_tui.core.providers.preview RECORD.json OUT.mp4", file=sys.stderr)
        return 2
    last = [-1.0]

    def progress(frac: float) -> None:
        if frac - last[0] >= 0.02 or frac >= 1.0:
            last[0] = frac
            try:
                print(f"progress {frac:.4f}", flush=True)
            except BrokenPipeError:
                # the process that asked is gone (killed): finish the video anyway, so that a
                # resume re-attaches to it instead of rendering again; report to nobody
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                last[0] = 2.0

    try:
        record = json.loads(Path(argv[0]).read_text("utf-8"))
        render_video(request_from_record(record), Path(argv[1]), progress, drift=float(record.get("drift", 0.0)))
    except Exception as exc:  # reported to the parent as one line
        print(f"preview render failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1:]))

__all__ = [
    "PreviewProvider",
    "compose_title",
    "render_image",
    "render_video",
]
