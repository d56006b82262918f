"""The GPU as a resource with a lease: one local render per device at a time, across processes.

The lease is an OS file lock (``fcntl.flock``) on ``<data>/gpu/<device>.lock``, like a job's
runner lease: the OS frees it when the holder dies, however it dies. The holder writes its job
id into ``<device>.holder``; each waiter leaves a file in ``<device>.queue/`` (named by the time
it began to wait and its process id), so a waiter can say where it stands: "2nd in line, behind
JOB". Queue files of dead processes are ignored and removed.

Nothing here imports torch: the device is a name ("cuda:0", "cpu").
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

POLL = 0.1  # seconds between tries while waiting

# (place in line counting the holder as 1st, the job that holds the GPU or "")
WaitCallback = Callable[[int, str], None]


class LeaseCancelled(Exception):
    """The wait for the GPU was cancelled."""


def ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def wait_message(place: int, holder: str) -> str:
    """What a job waiting for the GPU shows: ``waiting for the GPU (2nd in line, behind JOB)``."""
    behind = f", behind {holder}" if holder else ""
    return f"waiting for the GPU ({ordinal(place)} in line{behind})"


def device_key(device: str) -> str:
    """A file-name-safe key of a device name: "cuda:0" -> "cuda-0"; "cuda" means "cuda:0"."""
    name = device.strip().lower() or "cuda:0"
    if name == "cuda":
        name = "cuda:0"
    return re.sub(r"[^a-z0-9_.-]+", "-", name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class GpuLease:
    """The lease of one device; ``acquire`` blocks (in a thread) until this process holds it."""

    lock_dir: Path
    device: str
    job_id: str = ""

    def __post_init__(self) -> None:
        self.key = device_key(self.device)
        self._fd: int | None = None
        self._ticket: Path | None = None

    @property
    def lock_path(self) -> Path:
        return self.lock_dir / f"{self.key}.lock"

    @property
    def holder_path(self) -> Path:
        return self.lock_dir / f"{self.key}.holder"

    @property
    def queue_dir(self) -> Path:
        return self.lock_dir / f"{self.key}.queue"

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> str:
        """The job that holds the device now ("" when unknown)."""
        try:
            return self.holder_path.read_text("utf-8").strip()
        except OSError:
            return ""

    def place(self) -> int:
        """This waiter's place in line, counting the holder as 1st (so the first waiter is 2nd)."""
        if self._ticket is None:
            return 1
        tickets = []
        with contextlib.suppress(OSError):
            for p in self.queue_dir.iterdir():
                try:
                    pid = int(p.name.split("-")[1])
                except (IndexError, ValueError):
                    continue
                if p != self._ticket and not _alive(pid):
                    with contextlib.suppress(OSError):
                        p.unlink()
                    continue
                tickets.append(p.name)
        tickets.sort()
        return 2 + (tickets.index(self._ticket.name) if self._ticket.name in tickets else 0)

    def _try(self) -> bool:
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        tmp = self.holder_path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(self.job_id or f"process {os.getpid()}", "utf-8")
        os.replace(tmp, self.holder_path)
        return True

    def acquire(
        self, on_wait: WaitCallback | None = None, cancel: threading.Event | None = None, poll: float = POLL
    ) -> float:
        """Hold the device; returns the seconds waited. ``on_wait(place, holder)`` is called when
        the place or the holder changes; a set ``cancel`` ends the wait with LeaseCancelled."""
        if self.held:
            return 0.0
        started = time.monotonic()
        if self._try():
            return 0.0
        self.queue_dir.mkdir(parents=True, exist_ok=True)
        self._ticket = self.queue_dir / f"{time.time():020.6f}-{os.getpid()}-{threading.get_ident()}"
        self._ticket.write_text(self.job_id, "utf-8")
        seen: tuple[int, str] | None = None
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    raise LeaseCancelled(f"stopped waiting for {self.device}")
                place = self.place()
                if place == 2 and self._try():  # first in line: waiters are served in the order they came
                    return time.monotonic() - started
                now = (place, self.holder())
                if now != seen and on_wait is not None:
                    seen = now
                    on_wait(*now)
                if cancel is not None:
                    cancel.wait(poll)
                else:
                    time.sleep(poll)
        finally:
            with contextlib.suppress(OSError):
                self._ticket.unlink()
            self._ticket = None

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            if self.holder().startswith(self.job_id or f"process {os.getpid()}"):
                self.holder_path.unlink()
        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
