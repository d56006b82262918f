"""Files in a job folder: their names, atomic JSON writes, the output path check and image fitting."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import Code, InputError

IMAGE_KINDS = "PNG, JPEG, WebP or BMP"


def seg_name(index: int, suffix: str = ".mp4") -> str:
    return f"seg_{index:02d}{suffix}"


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
    os.replace(tmp, path)


def check_output_path(output: str | Path) -> Path:
    """Where the final video will be copied; raises InputError for a missing or read-only folder."""
    out = Path(output).expanduser()
    if out.is_dir():
        raise InputError("output", f"{out} is a folder; give a file name such as {out / 'video.mp4'}")
    folder = out.parent.resolve()
    if not folder.is_dir():
        raise InputError("output", f"folder {folder} does not exist; create it or choose another path")
    if not os.access(folder, os.W_OK):
        raise InputError("output", f"folder {folder} is read-only; choose a writable folder")
    if out.suffix.lower() not in (".mp4", ".mov", ".m4v"):
        raise InputError("output", f"{out.name} must end in .mp4", [".mp4", ".mov", ".m4v"])
    return out.resolve()


def default_output(output_dir: str, job_id: str) -> Path | None:
    """Where a finished video is also copied when the user named no path: ``<output_dir>/<job id>.mp4``
    (the setting; "" = only the job folder). Every front end and the runner use this."""
    if not output_dir:
        return None
    return Path(output_dir).expanduser() / f"{job_id}.mp4"


def check_folder_writable(folder: str | Path, field: str = "output_dir") -> Path:
    """A folder finished videos can be written to; raises InputError naming what to change."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise InputError(field, f"{path} is not a folder; create it or leave this empty", code=Code.NOT_WRITABLE)
    probe = path / f".sora-tui-write-test-{os.getpid()}"
    try:  # a real write: permissions, read-only mounts and full quotas all show here (root included)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InputError(
            field,
            f"{path} is not writable ({exc.strerror}); choose a folder you can write to",
            code=Code.NOT_WRITABLE,
            context={"path": str(path)},
        ) from None
    return path


def _image_kind(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head.startswith(b"BM"):
        return "BMP"
    return None


def image_problem(path: str | Path, decode: bool = False) -> str | None:
    """Why ``path`` cannot be used as a picture (None when it can).

    Without ``decode`` only the file's signature is read (cheap enough for a form that checks
    as the user types); with it the whole picture is decoded, as rendering will.
    """
    p = Path(path).expanduser()
    if not p.exists():
        return f"{p} does not exist"
    if p.is_dir():
        return f"{p} is a folder; give an image file"
    try:
        with p.open("rb") as f:
            head = f.read(16)
    except OSError as exc:
        return f"{p} is not a readable file ({exc.strerror})"
    if _image_kind(head) is None:
        return f"{p.name} is not a {IMAGE_KINDS} image"
    if decode:
        from . import media

        try:
            media.read_image(p)
        except (media.MediaError, OSError) as exc:
            return f"{p.name} cannot be decoded as an image ({exc})"
    return None


def check_image_file(path: str | Path, field: str = "start_image", decode: bool = True) -> str:
    """``path`` as an absolute path to a readable picture; raises InputError (code bad_image)."""
    problem = image_problem(path, decode)
    if problem is not None:
        raise InputError(field, problem, code=Code.BAD_IMAGE, context={"path": str(path)})
    return str(Path(path).expanduser().resolve())


def fit_image(src: Path, dest: Path, width: int, height: int) -> Path:
    """Scale and centre-crop an image to exactly width×height, written as PNG (atomically)."""
    import cv2
    import numpy as np

    data = np.fromfile(str(src), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise InputError("image", f"{src} is not an image that can be read (PNG or JPEG)")
    h, w = img.shape[:2]
    if (w, h) != (width, height):
        scale = max(width / w, height / h)
        nw, nh = max(width, round(w * scale)), max(height, round(h * scale))
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        x, y = (nw - width) // 2, (nh - height) // 2
        img = img[y : y + height, x : x + width]
    elif src.suffix.lower() == ".png" and Path(src) == Path(dest):
        return dest
    ok, buf = cv2.imencode(".png", img)
    if not ok:  # pragma: no cover
        raise InputError("image", f"cannot encode {dest.name}")
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.write_bytes(buf.tobytes())
    os.replace(tmp, dest)
    return dest


def owned_job_folder(job_id: str, folder: str | None, jobs_dir: Path) -> Path | None:
    """The folder that deleting job ``job_id`` may remove: its own folder inside ``jobs_dir``, else None.

    A job row whose folder points elsewhere (``/``, the home folder, another job's folder, a link
    out of the jobs folder) keeps that folder: only what sora-tui made for this job is removed.
    """
    if not folder:
        return None
    path = Path(folder).resolve()
    root = jobs_dir.resolve()
    if path.name != job_id or path.parent != root or not path.is_dir():
        return None
    return path
