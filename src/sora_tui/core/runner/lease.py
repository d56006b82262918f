"""The lease: one process runs a job, under an OS file lock (``fcntl.flock``) on ``JOB_DIR/runner.lock``.

The lock is held for the life of the process that runs the job. The kernel frees it when that
process ends in any way (SIGKILL included), so a lease never outlives its holder and needs no
heartbeat. ``JOB_DIR/runner.json`` names the holder (pid, host, start time) for messages.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Code, InputError
from .files import INFO_FILE, LOCK_FILE, RENDER, STOP_FILE

LOCK_TRIES = 5  # a holder() probe holds a shared lock for microseconds: retry before refusing

_task = RENDER  # what this process's leases are for (a runner of a task sets it)


def set_task(task: str) -> None:
    """What this process's leases are for from now on (a runner process of a task says so)."""
    global _task
    _task = task


@dataclass(frozen=True)
class Holder:
    """The process that holds a job's lease."""

    pid: int
    host: str
    started_at: float
    detached: bool = False  # a runner process (spawn), not a foreground CLI or an app's own run
    task: str = RENDER  # what it does to the job: render it, or a task (finish, export, keyframe)

    def describe(self) -> str:
        if not self.pid:
            return "another process"
        return f"process {self.pid} on host {self.host}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "host": self.host,
            "started_at": self.started_at,
            "detached": self.detached,
            "task": self.task,
        }


def this_host() -> str:
    return socket.gethostname()


def read_info(job_dir: Path) -> Holder | None:
    try:
        data = json.loads((Path(job_dir) / INFO_FILE).read_text("utf-8"))
        return Holder(
            int(data["pid"]),
            str(data["host"]),
            float(data["started_at"]),
            bool(data.get("detached")),
            str(data.get("task") or RENDER),
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None


def write_info(job_dir: Path, info: Holder) -> None:
    path = Path(job_dir) / INFO_FILE
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info.to_dict()) + "\n", "utf-8")
    os.replace(tmp, path)


def lock_held(path: Path) -> bool:
    """Does a live process hold the lease file ``path``? A non-blocking shared-lock probe (the
    kernel frees a lease on any death of its holder); False when the file does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def holder(job_dir: Path) -> Holder | None:
    """Who holds the job's lease now; None when no live process does. Cheap: a non-blocking
    shared-lock probe of ``runner.lock`` and, when it is held, a read of ``runner.json``."""
    if not lock_held(Path(job_dir) / LOCK_FILE):
        return None
    return read_info(job_dir) or Holder(0, "", 0.0)


def refusal(job_id: str, who: Holder | None) -> InputError:
    """The error a second run of a job gets."""
    since = f" since {time.strftime('%H:%M:%S', time.localtime(who.started_at))}" if who and who.started_at else ""
    name = who.describe() if who else "another process"
    return InputError(
        "job",
        f"job {job_id} is running in {name}{since}",
        code=Code.JOB_RUNNING,
        context={"job": job_id, "holder": name, "pid": who.pid if who else 0, "host": who.host if who else ""},
    )


def try_lock(job_dir: Path) -> int | None:
    """An open descriptor holding the exclusive lock, or None when another process holds it."""
    path = Path(job_dir) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    for attempt in range(LOCK_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if attempt + 1 < LOCK_TRIES:
                time.sleep(0.01 * (attempt + 1))
    os.close(fd)
    return None


def clear_stop(job_dir: Path) -> None:
    """Drop a stop request (one meant for an earlier holder, or one already acted on)."""
    with contextlib.suppress(OSError):
        (Path(job_dir) / STOP_FILE).unlink()


# lock descriptors this process was handed by ``spawn`` (its runner): the first Lease of that
# job takes one over instead of locking again
_adopted: list[int] = []


def adopt(fd: int) -> None:
    """Take over a lock descriptor inherited from ``spawn`` (runner processes only)."""
    os.set_inheritable(fd, False)  # render children and ffmpeg must not keep the job locked
    _adopted.append(fd)


def _take_adopted(lock_path: Path) -> int | None:
    try:
        st = os.stat(lock_path)
    except OSError:
        return None
    for fd in list(_adopted):
        try:
            fst = os.fstat(fd)
        except OSError:
            _adopted.remove(fd)
            continue
        if (fst.st_dev, fst.st_ino) == (st.st_dev, st.st_ino):
            _adopted.remove(fd)
            return fd
    return None


class Lease:
    """The exclusive right to run one job, for as long as this object is held (or the process lives).

    ``with Lease(job_dir, job_id):`` raises InputError (code ``JOB_RUNNING``: "job X is running in
    process N on host H") when another process holds it. Released on exit, and by the kernel on any
    death of the process.
    """

    def __init__(self, job_dir: Path, job_id: str | None = None, *, detached: bool = False) -> None:
        self.dir = Path(job_dir)
        self.job_id = job_id or self.dir.name
        self.detached = detached
        self.fd: int | None = None

    @property
    def held(self) -> bool:
        return self.fd is not None

    def acquire(self) -> Lease:
        if self.fd is not None:
            return self
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = _take_adopted(self.dir / LOCK_FILE)
        detached = self.detached or fd is not None
        if fd is None:
            fd = try_lock(self.dir)
            if fd is None:
                raise refusal(self.job_id, holder(self.dir) or read_info(self.dir))
            clear_stop(self.dir)  # a request meant for an earlier holder
        self.fd = fd
        write_info(self.dir, Holder(os.getpid(), this_host(), time.time(), detached, _task))
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        info = read_info(self.dir)
        if info is not None and info.pid == os.getpid():
            with contextlib.suppress(OSError):
                (self.dir / INFO_FILE).unlink()
        clear_stop(self.dir)
        fd, self.fd = self.fd, None
        os.close(fd)

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
