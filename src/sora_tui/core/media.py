"""Media helpers on top of imageio-ffmpeg's bundled ffmpeg: probe, exact first/last
frames, thumbnails, PSNR, atomic writes and joining segments into one MP4.

There is no ffprobe in imageio-ffmpeg, so :func:`probe` parses ``ffmpeg -i`` and counts
video packets with a stream copy to the null muxer (about 20-40 ms for an 8 s clip).

Frames are handled as RGB ``uint8`` numpy arrays of shape ``(h, w, 3)``. numpy and cv2
load lazily so that importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import subprocess
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SPACE_ERRNOS, DiskFull, FileProblem

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

JoinProgressCallback = Callable[[float], None]

BACKGROUND_NICE = 10  # added to the niceness of ffmpeg and render children (Unix): the user's keys come first

# swscale flags for RGB <-> YUV conversions: exact rounding, full chroma interpolation
SWS_FLAGS = "bicubic+accurate_rnd+full_chroma_int"

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


class MediaError(Exception):
    """A media file is missing, unreadable or could not be written; the message is for users."""


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary that imageio-ffmpeg ships (cached)."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - declared dependency
        raise MediaError("imageio-ffmpeg is not installed; it provides the ffmpeg binary") from exc
    exe: str = imageio_ffmpeg.get_ffmpeg_exe()
    return exe


# --- atomic writes ------------------------------------------------------------------


def _temp_sibling(dest: Path) -> Path:
    """A hidden temporary name in dest's folder that keeps dest's suffix (ffmpeg and cv2 look at it)."""
    return dest.with_name(f".{dest.stem}.tmp-{uuid.uuid4().hex[:10]}{dest.suffix}")


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; on success it replaces ``dest``, on failure it is removed.

    The temporary name keeps ``dest``'s suffix. The folder of ``dest`` is created if needed.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(dest)
    try:
        yield tmp
        if not tmp.exists():
            raise MediaError(f"{dest.name} was not written")
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise _os_error(exc, path) from exc
    return path


def _os_error(exc: OSError, dest: Path) -> MediaError | DiskFull:
    if exc.errno in SPACE_ERRNOS:
        return _disk_full(dest)
    return MediaError(f"cannot write {dest.name} in {dest.parent}: {exc.strerror or exc}")


def _disk_full(dest: Path) -> DiskFull:
    """A write that ran out of space: not a MediaError (the file it was made from is fine; a
    ``except MediaError`` that treats the input as bad must not catch it). Names the file and what is free."""
    return DiskFull(dest, detail="No space left on device; free some space there and retry")


# --- running ffmpeg -----------------------------------------------------------------


_NOISE = ("non monotonically increasing dts", "Press [q] to stop", "misdetection possible")
# what ffmpeg's lines say, most telling first (the first key found wins)
_KEYS = (
    "No space left",
    "Disk quota exceeded",
    "File too large",
    "Permission denied",
    "Read-only file system",
    "moov atom not found",
    "Invalid data",
    "No such file",
    "Error",
    "error",
)
_SPACE_WORDS = ("No space left on device", "ENOSPC", "Disk quota exceeded", "File too large")
_FILE_WORDS = {"Permission denied": "permission denied", "Read-only file system": "read-only file system"}
_OPENING = re.compile(r"^Error opening (?:input|output) file (.+?)\.?$")


def _lines(stderr: str | Sequence[str]) -> list[str]:
    text = stderr if isinstance(stderr, str) else "\n".join(stderr)
    lines = [ln.strip() for ln in text.replace("\r", "\n").splitlines() if ln.strip()]
    return [ln for ln in lines if not any(n in ln for n in _NOISE) and not ln.startswith("frame=")]


def _bare(line: str) -> str:
    return re.sub(r"^\[[^\]]*\]\s*", "", line)


def failed_file(stderr: str | Sequence[str]) -> str | None:
    """The file ffmpeg says it could not open (``Error opening input file X.``), if it names one."""
    for ln in _lines(stderr):
        m = _OPENING.match(_bare(ln))
        if m:
            return m.group(1)
    return None


def error_line(stderr: str | Sequence[str], about: Path | None = None) -> str:
    """The one parser of ffmpeg's stderr: its most telling line, as one line for a user.

    The ``[demuxer @ 0x…]`` prefixes go; when ffmpeg names a file it could not open and the line
    does not, the file's name leads (``seg_02.mp4: moov atom not found``), unless it is ``about``
    (the file the caller's message already names).
    """
    lines = _lines(stderr)
    line = ""
    for key in _KEYS:
        line = next((_bare(ln) for ln in lines if key in ln), "")
        if line:
            break
    if not line:
        line = _bare(lines[-1]) if lines else "unknown error"
    line = re.sub(r"^Error opening (?:input|output)(?: files?)?: ", "", line)
    name = failed_file(lines)
    if name is not None and Path(name).name not in line and (about is None or Path(name).name != about.name):
        line = f"{Path(name).name}: {line}"
    return line


def ffmpeg_failure(stderr: str | Sequence[str], dest: Path, what: str) -> MediaError | DiskFull | FileProblem:
    """What a failed ffmpeg run means for a user, from its stderr: a DiskFull when space ran out
    (naming ``dest``), a FileProblem when the OS refused a file (permissions, a read-only disk),
    else a MediaError ``"<what> failed (ffmpeg: <error_line>)"``."""
    text = stderr if isinstance(stderr, str) else "\n".join(stderr)
    if any(w in text for w in _SPACE_WORDS):
        return _disk_full(dest)
    line = error_line(text)
    name = failed_file(text)
    if name is not None and Path(name).name in what:  # the caller already names that file
        line = line.removeprefix(f"{Path(name).name}: ")
    for words, reason in _FILE_WORDS.items():
        if words in line:
            where = Path(name) if name is not None and ".tmp-" not in name else dest  # not a temp name
            return FileProblem(where, reason)
    return MediaError(f"{what} failed (ffmpeg: {line})")


def check_ffmpeg(proc: subprocess.CompletedProcess[bytes], dest: Path, what: str) -> None:
    """Raise :func:`ffmpeg_failure` when ``proc`` (from :func:`run_ffmpeg`) failed."""
    if proc.returncode != 0:
        raise ffmpeg_failure(proc.stderr.decode("utf-8", "replace"), dest, what)


BACKGROUND_NICE_VAR = "SORA_TUI_BACKGROUND_NICE"


def background_nice(env: Mapping[str, str] | None = None) -> int:
    """How many steps nicer background work runs: ``$SORA_TUI_BACKGROUND_NICE`` (0-19; 0 runs it at the
    priority of what starts it, for a box that only renders), else BACKGROUND_NICE."""
    text = (os.environ if env is None else env).get(BACKGROUND_NICE_VAR, "").strip()
    return min(19, int(text)) if text.isdigit() else BACKGROUND_NICE


def lower_priority(pid: int, steps: int | None = None) -> None:
    """Run child ``pid`` ``steps`` (default :func:`background_nice`) nicer than this process (best effort;
    not on Windows).

    Media work and renders run beside a studio whose keys must stay quick; on an idle machine
    the priority changes nothing.
    """
    steps = background_nice() if steps is None else steps
    if steps <= 0:
        return
    with contextlib.suppress(OSError, AttributeError):  # no such call, or the child already ended
        os.setpriority(os.PRIO_PROCESS, pid, min(19, os.getpriority(os.PRIO_PROCESS, 0) + steps))


def spawn_ffmpeg(args: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start ffmpeg (``-hide_banner`` + ``args``), at a lower CPU priority: every ffmpeg the
    project runs starts here (media, join, seams, extend, the finishing stage, the renderers)."""
    try:
        proc = subprocess.Popen([ffmpeg_exe(), "-hide_banner", *args], **kwargs)
    except OSError as exc:  # pragma: no cover - broken install
        raise MediaError(f"cannot run ffmpeg ({ffmpeg_exe()}): {exc}") from exc
    lower_priority(proc.pid)
    return proc


def run_ffmpeg(
    args: Sequence[str], *, timeout: float | None = None, input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run ffmpeg to the end (stdout and stderr captured; ``input`` fed to its stdin, else
    ``-nostdin``); on a timeout or an interrupt the child is killed. Check the result with
    :func:`check_ffmpeg`."""
    head = [] if input is not None else ["-nostdin"]
    stdin = subprocess.PIPE if input is not None else subprocess.DEVNULL
    with spawn_ffmpeg([*head, *args], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            out, err = proc.communicate(input=input, timeout=timeout)
        except BaseException:  # a timeout, or the caller is interrupted: the child goes too
            proc.kill()
            proc.wait()
            raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


# the old private names (same functions)
_spawn = spawn_ffmpeg
_run = run_ffmpeg
_error_line = error_line


# --- probe --------------------------------------------------------------------------


@dataclass
class VideoInfo:
    """What :func:`probe` learned about a video file.

    ``duration`` is the exact video duration (frames / fps) when the frames could be
    counted, else the container's duration; ``container_duration`` is what the file header says.
    """

    path: Path
    duration: float
    width: int
    height: int
    fps: float
    frames: int | None
    vcodec: str
    pix_fmt: str
    acodec: str | None = None
    audio_rate: int | None = None
    audio_channels: int | None = None
    vprofile: str | None = None
    aprofile: str | None = None
    time_base: str | None = None  # the video stream's "tbn", e.g. "12288"
    container: str = ""
    container_duration: float | None = None
    bitrate_kbps: int | None = None
    colour_desc: str = ""  # what ffmpeg prints after the pixel format, e.g. "tv, bt709, progressive"
    video_id: str | None = None  # the video stream's id in its container ("0x1": an MP4 track id), if shown

    @property
    def has_audio(self) -> bool:
        return self.acodec is not None

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def copy_key(self) -> tuple[Any, ...]:
        """Parameters that must be equal for two files to be joined by stream copy."""
        return (
            self.vcodec,
            self.vprofile,
            self.width,
            self.height,
            self.pix_fmt,
            round(self.fps, 3),
            self.acodec,
            self.aprofile,
            self.audio_rate,
            self.audio_channels,
        )


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses or brackets."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if cur:
        parts.append("".join(cur).strip())
    return parts


def _num(text: str) -> float:
    text = text.strip()
    mult = 1.0
    if text.endswith("k"):
        mult, text = 1000.0, text[:-1]
    return float(text) * mult


_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "4.0": 4, "5.0": 5, "5.1": 6, "6.1": 7, "7.1": 8}


def _parse_header(stderr: str, path: Path) -> VideoInfo:
    video = audio = video_id = None
    for line in stderr.splitlines():
        m = re.match(r"\s*Stream #0:\d+(?:\[(0x[0-9a-fA-F]+)\])?.*?: (Video|Audio): (.*)$", line)
        if not m:
            continue
        if m.group(2) == "Video" and video is None and "attached pic" not in m.group(3):
            video, video_id = m.group(3), m.group(1)
        elif m.group(2) == "Audio" and audio is None:
            audio = m.group(3)
    if video is None:
        raise MediaError(f"{path.name} has no video stream")
    fields = _split_top(video)
    codec_desc = fields[0]
    vcodec = codec_desc.split()[0]
    pm = re.match(r"\S+ \(([^)]*)\)", codec_desc)
    vprofile = pm.group(1) if pm and " / " not in pm.group(1) else None
    pix_fmt = fields[1].split("(")[0].strip() if len(fields) > 1 else ""
    cd = re.search(r"\(([^)]*)\)", fields[1]) if len(fields) > 1 else None
    width = height = 0
    fps = 0.0
    tbr = 0.0
    tbn = None
    bitrate = None
    for f in fields[1:]:
        if not width and (sm := re.match(r"(\d+)x(\d+)", f)):
            width, height = int(sm.group(1)), int(sm.group(2))
        elif f.endswith(" fps"):
            fps = _num(f[:-4])
        elif f.endswith(" tbr"):
            tbr = _num(f[:-4])
        elif f.split(" (")[0].endswith(" tbn"):
            tbn = f.split(" (")[0][:-4].strip()
        elif f.endswith(" kb/s") and bitrate is None:
            with contextlib.suppress(ValueError):
                bitrate = int(float(f[:-5]))
    fps = fps or tbr
    if not width or not height:
        raise MediaError(f"{path.name} has a video stream without a frame size")
    acodec = aprofile = None
    rate = channels = None
    if audio is not None:
        afields = _split_top(audio)
        acodec = afields[0].split()[0]
        am = re.match(r"\S+ \(([^)]*)\)", afields[0])
        aprofile = am.group(1) if am and " / " not in am.group(1) else None
        for f in afields[1:]:
            if f.endswith(" Hz"):
                rate = int(_num(f[:-3]))
            elif f in _CHANNELS:
                channels = _CHANNELS[f]
            elif cm := re.match(r"(\d+) channels", f):
                channels = int(cm.group(1))
            elif channels is None and re.match(r"\d+\.\d+(\(\w+\))?$", f):
                a, b = f.split("(")[0].split(".")
                channels = int(a) + int(b)
    duration = None
    dm = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", stderr)
    if dm:
        duration = int(dm.group(1)) * 3600 + int(dm.group(2)) * 60 + float(dm.group(3))
    cm = re.search(r"Input #0, ([^ ]+), from", stderr)
    return VideoInfo(
        path=path,
        duration=duration or 0.0,
        width=width,
        height=height,
        fps=fps,
        frames=None,
        vcodec=vcodec,
        pix_fmt=pix_fmt,
        acodec=acodec,
        audio_rate=rate,
        audio_channels=channels,
        vprofile=vprofile,
        aprofile=aprofile,
        time_base=tbn,
        container=cm.group(1).rstrip(",") if cm else "",
        container_duration=duration,
        bitrate_kbps=bitrate,
        colour_desc=cd.group(1) if cd else "",
        video_id=video_id,
    )


def _check_input(path: Path) -> None:
    if not path.exists():
        raise MediaError(f"{path} does not exist")
    if not path.is_file():
        raise MediaError(f"{path} is not a file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path.name} is empty (0 bytes)")


def probe(path: str | os.PathLike[str], count_frames: bool = True) -> VideoInfo:
    """Read a video's streams and exact length.

    One ffmpeg call: the header gives codecs, size, fps and audio; a stream copy of the
    video to the null muxer counts the frames (no decoding), so ``duration`` is exact.
    Raises MediaError for missing, empty, corrupt or video-less files.
    """
    path = Path(path)
    _check_input(path)
    args = ["-i", str(path.absolute())]
    if count_frames:
        args += ["-map", "0:v:0?", "-c", "copy", "-f", "null", "-"]
    proc = run_ffmpeg(args, timeout=120)
    err = proc.stderr.decode("utf-8", "replace")
    if "Input #0" not in err:
        raise MediaError(f"{path.name} is not a playable video (ffmpeg: {error_line(err, path)})")
    info = _parse_header(err, path)
    if count_frames:
        if proc.returncode != 0:
            raise MediaError(f"{path.name} is not a playable video (ffmpeg: {error_line(err, path)})")
        frames = re.findall(r"frame=\s*(\d+)", err)
        if frames:
            info.frames = int(frames[-1])
            if info.frames == 0:
                raise MediaError(f"{path.name} is not a playable video (it has no video frames)")
            if info.fps > 0:
                info.duration = info.frames / info.fps
    if info.duration <= 0:
        raise MediaError(f"{path.name} is not a playable video (no duration)")
    return info


# --- frames -------------------------------------------------------------------------


def _decode_rgb(args: Sequence[str], width: int, height: int, path: Path) -> np.ndarray:
    """Run ffmpeg writing rgb24 raw frames to stdout; return all frames as (n, h, w, 3)."""
    import numpy as np

    # accurate_rnd: the default fast yuv->rgb path darkens by about one level, which would
    # compound over a chain of segments (each starts from the previous one's last frame)
    proc = run_ffmpeg([*args, "-sws_flags", SWS_FLAGS, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"], timeout=300)
    size = width * height * 3
    n = len(proc.stdout) // size
    if proc.returncode != 0 and n == 0:
        raise MediaError(
            f"cannot decode {path.name} (ffmpeg: {error_line(proc.stderr.decode('utf-8', 'replace'), path)})"
        )
    return np.frombuffer(proc.stdout, dtype=np.uint8, count=n * size).reshape(n, height, width, 3)


def _write_png(rgb: np.ndarray, dest: Path) -> Path:
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover
        raise MediaError(f"cannot encode {dest.name} as PNG")
    write_atomic(dest, buf.tobytes())
    return dest


def write_png(rgb: np.ndarray, dest: str | os.PathLike[str]) -> Path:
    """Write an RGB uint8 picture as a PNG (atomically)."""
    return _write_png(rgb, Path(dest))


def frame_png(video: str | os.PathLike[str], index: int, dest: str | os.PathLike[str]) -> Path:
    """Write frame ``index`` (0-based, in presentation order) of ``video`` as a PNG."""
    path = Path(video)
    info = probe(path, count_frames=False)
    frames = _decode_rgb(
        ["-loglevel", "error", "-i", str(path.absolute()), "-map", "0:v:0", "-vf", f"select=eq(n\\,{int(index)})"]
        + ["-fps_mode", "passthrough", "-frames:v", "1"],
        info.width,
        info.height,
        path,
    )
    if not len(frames):
        raise MediaError(f"{path.name} has no frame {index}")
    return _write_png(frames[0].copy(), Path(dest))


def read_last_frame(video: str | os.PathLike[str], info: VideoInfo | None = None) -> np.ndarray:
    """The true last decoded frame of ``video`` as RGB.

    Seeks to a keyframe before the last quarter second (``-sseof``) and decodes only
    from there, keeping the last frame that really decodes; the frame count in the
    container is never trusted. Widens the window if nothing decodes (e.g. an audio
    track that runs longer than the video).
    """
    path = Path(video)
    info = info or probe(path, count_frames=False)
    src = str(path.absolute())
    for back in (0.25, 3.0, None):
        args = ["-loglevel", "error"]
        if back is not None:
            if info.duration <= back:
                continue
            args += ["-sseof", f"-{back}"]
        args += ["-i", src, "-map", "0:v:0", "-fps_mode", "passthrough"]
        frames = _decode_rgb(args, info.width, info.height, path)
        if len(frames):
            last: np.ndarray = frames[-1].copy()
            return last
    raise MediaError(f"{path.name} is not a playable video (no frame decodes)")


def read_first_frame(video: str | os.PathLike[str], info: VideoInfo | None = None) -> np.ndarray:
    """The first decoded frame of ``video`` as RGB."""
    path = Path(video)
    info = info or probe(path, count_frames=False)
    frames = _decode_rgb(
        ["-loglevel", "error", "-i", str(path.absolute()), "-map", "0:v:0", "-frames:v", "1"],
        info.width,
        info.height,
        path,
    )
    if not len(frames):
        raise MediaError(f"{path.name} is not a playable video (no frame decodes)")
    first: np.ndarray = frames[0].copy()
    return first


def last_frame(video: str | os.PathLike[str], dest_png: str | os.PathLike[str]) -> Path:
    """Write the true last decoded frame of ``video`` to ``dest_png`` (lossless PNG, atomic)."""
    return _write_png(read_last_frame(video), Path(dest_png))


def first_frame(video: str | os.PathLike[str], dest_png: str | os.PathLike[str]) -> Path:
    """Write the first decoded frame of ``video`` to ``dest_png`` (lossless PNG, atomic)."""
    return _write_png(read_first_frame(video), Path(dest_png))


def boundary_frames(
    video: str | os.PathLike[str], first_png: str | os.PathLike[str], last_png: str | os.PathLike[str]
) -> VideoInfo:
    """Probe a finished segment and write its first and true last decoded frames as PNGs.

    The same results as :func:`probe`, :func:`first_frame` and :func:`last_frame`, from
    ONE ffmpeg run (the file is opened twice: once to count packets and take the first
    frame, once ``-sseof`` to decode the end). This sits between a chained segment's
    download and the next one's submission, so it is kept to a single process. Whenever
    the fast run cannot give an answer it falls back to the three separate calls, which
    also raise the MediaError that names what is wrong with the file.
    """
    import numpy as np

    path, first_png, last_png = Path(video), Path(first_png), Path(last_png)
    _check_input(path)
    src = str(path.absolute())
    try:
        with atomic_path(first_png) as tmp_first:
            proc = run_ffmpeg(
                ["-i", src, "-sseof", "-0.25", "-i", src]
                + ["-map", "0:v:0", "-c", "copy", "-f", "null", "-"]  # count packets (the "frame=" report)
                + ["-map", "0:v:0", "-frames:v", "1", "-sws_flags", SWS_FLAGS, "-pix_fmt", "rgb24"]
                + ["-c:v", "png", "-compression_level", "1", "-f", "image2", "-update", "1", "-y", str(tmp_first)]
                + ["-map", "1:v:0", "-fps_mode", "passthrough", "-sws_flags", SWS_FLAGS]
                + ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
                timeout=300,
            )
            err = proc.stderr.decode("utf-8", "replace")
            counted = re.findall(r"frame=\s*(\d+)", err)
            if proc.returncode != 0 or "Input #1" not in err or not counted:
                raise MediaError("fast path failed")
            info = _parse_header(err.split("Input #1", 1)[0], path)
            size = info.width * info.height * 3
            n = len(proc.stdout) // size
            if not n or int(counted[-1]) == 0 or info.fps <= 0:
                raise MediaError("fast path failed")
            info.frames = int(counted[-1])
            info.duration = info.frames / info.fps
            last = np.frombuffer(proc.stdout, dtype=np.uint8, count=size, offset=(n - 1) * size)
            _write_png(last.reshape(info.height, info.width, 3), last_png)
    except MediaError:
        info = probe(path)
        _write_png(read_first_frame(path, info), first_png)
        _write_png(read_last_frame(path, info), last_png)
    return info


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file (PNG, JPEG, ...) as RGB uint8; MediaError when it cannot be read."""
    import cv2
    import numpy as np

    path = Path(path)
    _check_input(path)
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        raise MediaError(f"{path.name} is not a readable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _fit(w: int, h: int, box_w: int, box_h: int) -> tuple[int, int]:
    scale = min(box_w / w, box_h / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def thumbnail(path: str | os.PathLike[str], width: int, height: int) -> np.ndarray:
    """An RGB uint8 ``(h, w, 3)`` thumbnail of an image or of a video's first frame.

    The picture is scaled to fit inside ``width`` x ``height`` keeping its aspect ratio,
    so one of the returned dimensions may be smaller than asked (no padding, no crop).
    """
    import cv2

    path = Path(path)
    if width < 1 or height < 1:
        raise ValueError("thumbnail size must be positive")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        img = read_image(path)
    else:
        img = read_first_frame(path)
    h, w = img.shape[:2]
    tw, th = _fit(w, h, width, height)
    if (tw, th) == (w, h):
        return img
    interp = cv2.INTER_AREA if tw < w else cv2.INTER_LINEAR
    return cv2.resize(img, (tw, th), interpolation=interp)


def frame_at(
    video: str | os.PathLike[str], t: float, width: int, height: int, info: VideoInfo | None = None
) -> np.ndarray:
    """The frame shown at ``t`` seconds, as RGB scaled to fit inside ``width`` × ``height`` (aspect kept).

    One ffmpeg run: an accurate input seek (decodes from the keyframe before ``t`` and
    drops what comes before), one frame out, scaled by ffmpeg. Past the last frame it
    gives the true last frame. Pass ``info`` (from :func:`probe`) to skip probing again.
    """
    path = Path(video)
    if width < 1 or height < 1:
        raise ValueError("frame size must be positive")
    info = info or probe(path, count_frames=False)
    tw, th = _fit(info.width, info.height, width, height)
    frames = _decode_rgb(
        ["-loglevel", "error", "-ss", f"{max(0.0, t):.6f}", "-i", str(path.absolute()), "-map", "0:v:0"]
        + ["-frames:v", "1", "-vf", f"scale={tw}:{th}:flags=area"],
        tw,
        th,
        path,
    )
    if len(frames):
        frame: np.ndarray = frames[0].copy()
        return frame
    import cv2

    last = read_last_frame(path, info)
    return cv2.resize(last, (tw, th), interpolation=cv2.INTER_AREA)


def _as_array(x: Any) -> np.ndarray:
    import numpy as np

    if isinstance(x, (str, os.PathLike)):
        p = Path(x)
        return read_image(p) if p.suffix.lower() in IMAGE_SUFFIXES else read_first_frame(p)
    return np.asarray(x)


def psnr(a: Any, b: Any) -> float:
    """Peak signal-to-noise ratio in dB between two 8-bit images (paths or arrays); inf if identical."""
    import numpy as np

    x, y = _as_array(a), _as_array(b)
    if x.shape != y.shape:
        raise ValueError(f"psnr: shapes differ {x.shape} vs {y.shape}")
    mse = float(np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2))
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(255.0**2 / mse))


# --- join ---------------------------------------------------------------------------


@dataclass
class JoinResult:
    path: Path
    method: str  # "copy" | "reencode"
    duration: float
    reason: str = ""  # why a re-encode was needed


def progress_values(proc: subprocess.Popen[bytes], key: str) -> Iterator[float]:
    """Each value of ``key`` (``frame``, ``out_time_us``, …) that ffmpeg's ``-progress pipe:1`` writes,
    as it comes; then waits for the child (``proc.returncode``). If the reader stops early (an
    error, a cancel), the child is killed."""
    assert proc.stdout is not None
    finished = False
    try:
        for raw in proc.stdout:
            name, _, value = raw.decode("ascii", "replace").strip().partition("=")
            if name == key:
                with contextlib.suppress(ValueError):
                    yield float(value)
        proc.wait()
        finished = True
    finally:
        if not finished:
            proc.kill()
            proc.wait()


def drain_stderr(proc: subprocess.Popen[bytes], lines: int = 60) -> tuple[threading.Thread, deque[str]]:
    """Read a child's stderr in a thread (so it never blocks on a full pipe), keeping the last lines."""
    tail: deque[str] = deque(maxlen=lines)

    def drain() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            tail.append(raw.decode("utf-8", "replace").rstrip())

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    return thread, tail


def probe_headers(paths: Sequence[Path]) -> list[VideoInfo]:
    """Header probes of many files in ONE ffmpeg call (``-i a -i b …``; no frame counts).

    A file ffmpeg cannot open stops the listing there; the files are then probed one by
    one so that the MediaError names the bad one.
    """
    for path in paths:
        _check_input(path)
    args: list[str] = []
    for path in paths:
        args += ["-i", str(path.absolute())]
    err = run_ffmpeg(args, timeout=120).stderr.decode("utf-8", "replace")
    sections = re.split(r"(?m)^(?=Input #\d+, )", err)[1:]
    if len(sections) != len(paths):
        return _probe_all(list(paths), count_frames=False)
    infos = []
    for k, (path, text) in enumerate(zip(paths, sections, strict=True)):
        text = text.replace(f"Input #{k},", "Input #0,").replace(f"Stream #{k}:", "Stream #0:")
        info = _parse_header(text, path)
        if info.duration <= 0:
            raise MediaError(f"{path.name} is not a playable video (no duration)")
        infos.append(info)
    return infos


def _probe_all(paths: list[Path], count_frames: bool = True) -> list[VideoInfo]:
    """Probe files concurrently (each probe is one short ffmpeg process); results in order."""
    if len(paths) == 1:
        return [probe(paths[0], count_frames)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(4, len(paths))) as pool:
        futures = [pool.submit(probe, p, count_frames) for p in paths]
    return [f.result() for f in futures]  # re-raises the first failure, in input order
