"""Native extend: keep only what an extend endpoint added to the video it was given.

Extend endpoints differ in what they return: some the extension alone, some the source
video followed by the extension (re-encoded, so never bit-identical). Nothing is assumed:
:func:`split_extension` decodes the start of the returned video and the source at a small
size and compares them frame by frame (PSNR of the luma, frames mapped by time so a
different frame rate still lines up). When the source is echoed, the returned video is cut
frame-exactly after the echo: the kept part is decoded and encoded again at high quality
(libx264 CRF 16, AAC 192k), because a frame-exact cut of long-GOP H.264 cannot be a stream
copy. When it is not echoed, the file is kept as returned. Either way the real duration
added is measured on the result.

A near-static shot could make an extension look like its source, so an echo also needs the
returned video to be longer than the source by more than half a second and, when the
requested extension length is known, to be closer to source + extension than to the
extension alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .media import MediaError, VideoInfo, atomic_path, check_ffmpeg, error_line, probe, run_ffmpeg

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

MATCH_SIZE = (64, 36)  # frames are compared at this size, grey
MATCH_PSNR = 30.0  # dB: a decoded frame and its re-encoded echo match above this
MATCH_FRACTION = 0.9  # share of the source's frames that must match for an echo
ENCODE = ["-c:v", "libx264", "-preset", "medium", "-crf", "16", "-pix_fmt", "yuv420p"]
ENCODE_AUDIO = ["-c:a", "aac", "-b:a", "192k"]


@dataclass
class ExtendResult:
    """What an extend call returned, measured."""

    echoed: bool  # the returned video started with the source
    echo_frames: int  # frames cut from the start (0 when not echoed)
    source_seconds: float
    returned_seconds: float
    added_seconds: float  # duration of the kept extension
    match_psnr: float | None  # mean PSNR of the echoed frames against the source (dB)

    def describe(self) -> str:
        if self.echoed:
            return (
                f"the endpoint returned the source and the extension ({self.returned_seconds:.2f} s); "
                f"{self.echo_frames} echoed frames ({self.source_seconds:.2f} s, {self.match_psnr:.1f} dB "
                f"against the source) cut, {self.added_seconds:.2f} s added"
            )
        return f"the endpoint returned the extension alone: {self.added_seconds:.2f} s added"


def _grey_frames(path: Path, count: int | None = None) -> np.ndarray:
    """Decoded frames of ``path`` as (n, h, w) uint8 luma at MATCH_SIZE."""
    import numpy as np

    w, h = MATCH_SIZE
    cmd = ["-loglevel", "error", "-i", str(path), "-map", "0:v:0"]
    if count is not None:
        cmd += ["-frames:v", str(count)]
    cmd += ["-vf", f"scale={w}:{h}:flags=area,format=gray", "-f", "rawvideo", "pipe:1"]
    proc = run_ffmpeg(cmd, timeout=300)
    n = len(proc.stdout) // (w * h)
    if n == 0:
        why = error_line(proc.stderr.decode("utf-8", "replace"), path)
        raise MediaError(f"cannot decode {path.name} to compare it with the source (ffmpeg: {why})")
    return np.frombuffer(proc.stdout, dtype=np.uint8, count=n * w * h).reshape(n, h, w)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    import numpy as np

    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return 99.0 if mse <= 1e-9 else 10.0 * float(np.log10(255.0**2 / mse))


def echo_length(
    returned: Path, source: Path, expected_seconds: float | None = None
) -> tuple[int, float | None, VideoInfo, VideoInfo]:
    """Frames at the start of ``returned`` that repeat ``source`` (0 when none), the mean PSNR of
    the match, and both files' probes."""
    ret_info, src_info = probe(returned), probe(source)
    if ret_info.duration < src_info.duration + 0.5:
        return 0, None, ret_info, src_info
    if expected_seconds is not None and abs(ret_info.duration - expected_seconds) < abs(
        ret_info.duration - (src_info.duration + expected_seconds)
    ):
        return 0, None, ret_info, src_info
    src = _grey_frames(source)
    cut = int(round(src_info.duration * ret_info.fps))  # the source's length in returned frames
    ret = _grey_frames(returned, cut)
    if len(ret) < cut:
        return 0, None, ret_info, src_info
    scores = []
    for i in range(cut):
        j = min(len(src) - 1, int(i * src_info.fps / ret_info.fps + 1e-6))
        scores.append(_psnr(ret[i], src[j]))
    matched = sum(1 for s in scores if s >= MATCH_PSNR)
    if matched < MATCH_FRACTION * cut:
        return 0, None, ret_info, src_info
    return cut, sum(scores) / len(scores), ret_info, src_info


def split_extension(
    returned: str | os.PathLike[str],
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    expected_seconds: float | None = None,
) -> ExtendResult:
    """Write the extension part of ``returned`` (the output of extending ``source``) to ``dest``.

    ``returned`` is consumed: renamed to ``dest`` when it holds the extension alone, else
    removed once ``dest`` (the frames after the echo, encoded again) is written and checked.
    """
    returned, source, dest = Path(returned), Path(source), Path(dest)
    cut, score, ret_info, src_info = echo_length(returned, source, expected_seconds)
    if cut == 0:
        os.replace(returned, dest)
        return ExtendResult(False, 0, src_info.duration, ret_info.duration, ret_info.duration, None)
    keep = (ret_info.frames or int(round(ret_info.duration * ret_info.fps))) - cut
    if keep <= 0:
        raise MediaError(f"{returned.name} holds only the source video; the endpoint added nothing")
    start = cut / ret_info.fps
    with atomic_path(dest) as tmp:
        cmd = ["-loglevel", "error", "-y", "-i", str(returned), "-map", "0:v:0"]
        cmd += ["-vf", f"trim=start_frame={cut},setpts=PTS-STARTPTS", *ENCODE]
        if ret_info.has_audio:
            cmd += ["-map", "0:a:0", "-af", f"atrim=start={start:.6f},asetpts=PTS-STARTPTS", *ENCODE_AUDIO]
        cmd += ["-movflags", "+faststart", str(tmp)]
        check_ffmpeg(run_ffmpeg(cmd, timeout=600), dest, f"cutting the echoed source out of {returned.name}")
    info = probe(dest)
    if info.frames is not None and info.frames != keep:
        raise MediaError(f"the cut extension has {info.frames} frames, expected {keep}")
    returned.unlink(missing_ok=True)
    return ExtendResult(True, cut, src_info.duration, ret_info.duration, info.duration, score)
