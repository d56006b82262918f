"""How a finished file reaches the person using the studio, wherever they sit.

The studio runs in a local terminal, in a terminal over SSH on a remote box, or in a
browser tab through ``sora-tui serve``. These are the rules for each case, as pure
functions over an environment dict (the screens only show their answers):

- :func:`locate`: where the user is relative to the files (browser, SSH, local), and
  what can show a video (a system player with a display);
- :func:`fetch_commands`: the exact ``scp`` / ``rsync`` lines that copy a file to the
  user's own computer from an SSH session;
- :func:`open_problem`: why ``o`` (open in the system player) cannot work here, or None;
- :func:`picture_mode`: how the preview draws frames (Kitty graphics, Sixel or half-blocks);
- :func:`job_files`: the files of a job a user can take (final video, segments, seam report),
  with the names they get in a Downloads folder, and :func:`save_copy`.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SSH_HOST_ENV = "SORA_TUI_SSH_HOST"  # the name the user gives ssh for this box (overrides the guess)
GRAPHICS_ENV = "SORA_TUI_GRAPHICS"  # auto (default) | kitty | sixel | halfblock
PICTURE_MODES = ("kitty", "sixel", "halfblock")
MAX_PICTURE_PX = (1280, 720)  # larger frames only cost decoding time in a terminal


@dataclass(frozen=True)
class Place:
    """Where the user sits, as far as the environment tells."""

    web: bool  # the app is drawn in a browser tab (sora-tui serve)
    ssh: bool  # the app's process belongs to an SSH session
    host: str  # the address or name to reach this machine by (ssh / scp)
    host_guessed: bool  # host came from this machine's view of itself, not from the user
    user: str | None
    port: int | None  # the SSH port when it is not 22
    display: bool  # a display a system player could show a window on
    opener: str | None  # xdg-open / open, when installed


def _ssh_server(env: Mapping[str, str]) -> tuple[str | None, int | None]:
    """The address and port the SSH client connected to, from SSH_CONNECTION (or SSH_CLIENT's port)."""
    parts = env.get("SSH_CONNECTION", "").split()
    if len(parts) == 4:
        port = int(parts[3]) if parts[3].isdigit() else None
        return parts[2], port
    parts = env.get("SSH_CLIENT", "").split()
    if len(parts) == 3 and parts[2].isdigit():
        return None, int(parts[2])
    return None, None


def _reachable_address(address: str | None) -> bool:
    """A server address a client elsewhere can connect to (not loopback, not a private range behind NAT)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_unspecified)


def locate(env: Mapping[str, str], *, web: bool, hostname: str, opener: str | None, platform: str = "linux") -> Place:
    """Where the user is: ``web`` says the app runs under textual-serve; ``opener`` is xdg-open/open if found."""
    ssh = any(env.get(k) for k in ("SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY"))
    address, port = _ssh_server(env) if ssh else (None, None)
    named = env.get(SSH_HOST_ENV, "").strip()
    if named:
        host, guessed = named, False
    elif _reachable_address(address):
        host, guessed = str(address), False
    else:
        host, guessed = hostname or "localhost", True
    if platform == "darwin":
        display = not ssh  # a Mac's own session has a screen; over SSH `open` shows nothing to the user
    elif platform.startswith("win"):
        display = not ssh
    else:
        display = bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))  # X forwarding counts
    return Place(
        web=web,
        ssh=ssh,
        host=host,
        host_guessed=guessed,
        user=env.get("USER") or env.get("LOGNAME") or None,
        port=port if port not in (None, 22) else None,
        display=display and not web,
        opener=opener,
    )


def _remote_spec(place: Place, path: str | os.PathLike[str]) -> str:
    host = place.host
    if ":" in host and not host.startswith("["):  # an IPv6 address
        host = f"[{host}]"
    target = f"{place.user}@{host}" if place.user else host
    return f"{target}:{Path(path).absolute()}"


def fetch_commands(place: Place, path: str | os.PathLike[str]) -> list[str]:
    """Shell lines to run on the user's own computer to copy ``path`` there (none when not over SSH)."""
    if not place.ssh:
        return []
    remote = shlex.quote(_remote_spec(place, path))
    scp = ["scp"] + (["-P", str(place.port)] if place.port else []) + [remote, "."]
    rsync = ["rsync", "-P"] + (["-e", shlex.quote(f"ssh -p {place.port}")] if place.port else []) + [remote, "."]
    return [" ".join(scp), " ".join(rsync)]


def open_problem(place: Place) -> str | None:
    """Why a system player cannot show a video to this user; None when ``open`` can work."""
    where = f"on {place.host}" if place.host_guessed or place.ssh else "on the server"
    if place.web:
        return (
            f"The studio runs {where} and only draws in your browser: no player can be started for you from here. "
            "Press d to download the file to your browser instead."
        )
    if place.ssh and not place.display:
        return (
            f"This is an SSH session {where} with no display: no player here can show you the video. "
            "Press d for the scp / rsync command that copies it to your computer, or p to preview it here."
        )
    if not place.display:
        return "No display here (DISPLAY / WAYLAND_DISPLAY are unset): no player can show the video. Press p to preview it here."
    if place.opener is None:
        return "No system player here (neither xdg-open nor open is installed). Press p to preview it here."
    return None


def picture_mode(env: Mapping[str, str], reported: str | None) -> str:
    """How the preview draws frames: "kitty", "sixel" or "halfblock".

    ``reported`` is what the terminal answered when asked before the app started ("kitty"
    for the Kitty graphics protocol, "sixel", or None). ``SORA_TUI_GRAPHICS`` overrides it;
    the browser (textual-serve), the Linux console, tmux and screen get half-blocks (and the
    terminal is not even asked: asking costs up to 0.2 s at start-up).
    """
    wanted = env.get(GRAPHICS_ENV, "auto").strip().lower() or "auto"
    if wanted in PICTURE_MODES:
        return wanted
    if env.get("TEXTUAL_DRIVER", "").endswith("WebDriver") or env.get("TERM_PROGRAM") == "textual":
        return "halfblock"  # the browser's terminal is a canvas: no graphics protocol
    if env.get("TERM", "") in ("dumb", "linux"):
        return "halfblock"
    if env.get("TMUX") or env.get("TERM", "").startswith(("screen", "tmux")):
        return "halfblock"  # tmux and screen keep graphics to themselves unless told to pass them through
    if reported in ("kitty", "sixel"):
        return reported
    return "halfblock"


def picture_box(mode: str, cols: int, rows: int, cell_px: tuple[int, int] = (10, 20)) -> tuple[int, int]:
    """The pixel size to decode a frame at, for a picture area of ``cols`` × ``rows`` cells."""
    cols, rows = max(1, cols), max(1, rows)
    if mode == "halfblock":
        return cols, rows * 2  # one pixel per cell across, two down
    w, h = cols * max(1, cell_px[0]), rows * max(1, cell_px[1])
    return min(w, MAX_PICTURE_PX[0]), min(h, MAX_PICTURE_PX[1])


# --- the files of a job ----------------------------------------------------------------------


@dataclass(frozen=True)
class JobFile:
    kind: str  # "final" | "segment" | "seams"
    label: str
    path: Path
    size: int
    download_name: str  # its name in a Downloads folder: the job id keeps files of different jobs apart
    index: int | None = None  # segment number

    @property
    def is_video(self) -> bool:
        return self.kind in ("final", "segment")


def job_files(
    job_id: str, output: str | None, folder: str | None, segment_files: Sequence[tuple[int, Any]]
) -> list[JobFile]:
    """The files of a job a user can take, in order: final video, each segment, the seam report (those that exist)."""
    found: list[JobFile] = []

    def add(kind: str, label: str, path: str | os.PathLike[str] | None, name: str, index: int | None = None) -> None:
        if not path:
            return
        p = Path(path)
        try:
            size = p.stat().st_size
        except OSError:
            return
        if p.is_file():
            found.append(JobFile(kind, label, p, size, name, index))

    add("final", "final video", output, f"sora-{job_id}.mp4")
    for index, file in segment_files:
        suffix = Path(file).suffix if file else ".mp4"
        add("segment", f"segment {index}", file, f"sora-{job_id}-seg{index:02d}{suffix}", index)
    if folder:
        add("seams", "seam report", Path(folder) / "seams.json", f"sora-{job_id}-seams.json")
    return found


def save_copy(src: str | os.PathLike[str], folder: str | os.PathLike[str], name: str) -> Path:
    """Copy ``src`` into ``folder`` as ``name`` (``name (2).ext`` … when taken); streamed, written atomically."""
    src, folder = Path(src), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem, suffix = Path(name).stem, Path(name).suffix
    dest = folder / name
    n = 2
    while dest.exists():
        dest = folder / f"{stem} ({n}){suffix}"
        n += 1
    tmp = folder / f".{dest.name}.part"
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def human_size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"  # pragma: no cover
