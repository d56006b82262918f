"""Hosted requests in flight per provider, shared by every job on this box: a slot semaphore across
processes.

A provider with a limit ``n`` has ``n`` lock files ``DATA/slots/<provider>.<i>.lock``; a request in
flight holds one of them with ``fcntl.flock`` (non-blocking tries, polled), from before its submit
until its result is fetched. The kernel frees a slot when its holder dies, so a killed runner
never leaks one. ``in_use`` counts the held slots (a shared-lock probe, as ``runner.holder`` does).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from .runner.lease import lock_held

SLOTS_DIR = "slots"


def _path(data_dir: Path, provider: str, i: int) -> Path:
    return Path(data_dir) / SLOTS_DIR / f"{provider}.{i}.lock"


class Slot:
    """One held slot; ``release`` (or the end of the process) frees it."""

    def __init__(self, fd: int, index: int) -> None:
        self.fd: int | None = fd
        self.index = index

    def release(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            with contextlib.suppress(OSError):
                os.close(fd)


def try_take(data_dir: Path, provider: str, limit: int) -> Slot | None:
    """A free slot of ``provider`` (of ``limit``), or None when all are held."""
    folder = Path(data_dir) / SLOTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(limit):
        fd = os.open(_path(data_dir, provider, i), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return Slot(fd, i)
    return None


def in_use(data_dir: Path, provider: str, limit: int) -> int:
    """How many of ``provider``'s slots are held now (by any process)."""
    return sum(lock_held(_path(data_dir, provider, i)) for i in range(limit))
