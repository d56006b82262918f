"""A runner per job: one process renders a job, under an exclusive lease; any process follows it.

* The lease is an OS file lock (``fcntl.flock``) on ``JOB_DIR/runner.lock``, held for the life of
  the process that runs the job. The kernel frees it when that process ends in any way (SIGKILL
  included), so a lease never outlives its holder and needs no heartbeat. ``JOB_DIR/runner.json``
  names the holder (pid, host, start time) for messages.
* ``spawn`` starts a detached runner (``python -m sora_tui.core.runner JOB``) in its own session:
  closing the terminal, an SSH disconnect (SIGHUP) or a browser tab's app ending does not reach
  it. The parent takes the lock and hands the locked descriptor to the child, so the job is never
  unheld between the two and two spawns of one job cannot both start.
* A stop is a request: ``request_stop`` writes ``JOB_DIR/stop.request``; the holder's run watches
  for it and cancels the way ``Engine.cancel`` does (SIGTERM/SIGINT to a runner do the same).
* Every event of a run (``Engine.run``: runners and foreground runs alike) is appended to
  ``JOB_DIR/events.jsonl``; ``EventLog.read`` lets any process follow a job that another process
  runs (with the store for the state itself).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import media
from .models import (
    Event,
    InputError,
    Job,
    JobStatus,
    LogLine,
    Segment,
    SegmentStatus,
    event_from_dict,
    event_to_dict,
)

if TYPE_CHECKING:
    from .jobrun.base import RunControl

LOCK_FILE = "runner.lock"
INFO_FILE = "runner.json"
EVENTS_FILE = "events.jsonl"
LOG_FILE = "runner.log"
STOP_FILE = "stop.request"
TASK_FILE = "task.json"  # a runner task's options (JSON, never keys)
QUEUED_FILE = "queued"  # the job waits in the queue (core/queue.py writes and removes it)

RENDER = "render"  # a runner's task when it renders the job; the others are in core/tasks.py
_task = RENDER  # what this process's leases are for (a runner of a task sets it)

INTERRUPTED = "interrupted"
# statuses that mean "a process is working on it": without a live holder the job was interrupted
ACTIVE = frozenset({JobStatus.QUEUED, JobStatus.GENERATING, JobStatus.JOINING})
STOP_POLL = 0.2  # seconds between looks for a stop request while a run holds the lease
LOCK_TRIES = 5  # a holder() probe holds a shared lock for microseconds: retry before refusing

# exit codes of a runner process (the CLI's)
EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_CANCELLED = 0, 1, 2, 130


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


def _read_info(job_dir: Path) -> Holder | None:
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


def _write_info(job_dir: Path, info: Holder) -> None:
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
    return _read_info(job_dir) or Holder(0, "", 0.0)


def display_status(job: Job, holder: Holder | None) -> str:
    """The honest state of a job: one that says it is working but has no live holder was interrupted."""
    if job.status in ACTIVE and holder is None:
        if job.status is JobStatus.QUEUED and job.folder and (job.job_dir / QUEUED_FILE).exists():
            return str(job.status)  # waiting in the queue (core/queue.py) for the scheduler to start it
        return INTERRUPTED
    return str(job.status)


def display_segment_status(segment: Segment, job_status: str) -> str:
    """A segment's honest state: one that was being rendered when its job was interrupted is
    interrupted too (its request id is kept: a resume re-attaches to it)."""
    working = (SegmentStatus.WAITING, SegmentStatus.SUBMITTED, SegmentStatus.RUNNING)
    if job_status == INTERRUPTED and segment.status in working:
        return INTERRUPTED
    return str(segment.status)


def live_status(job: Job) -> str:
    """``display_status`` of a job with its current holder."""
    if not job.folder:
        return display_status(job, None)
    return display_status(job, holder(job.job_dir))


def refusal(job_id: str, who: Holder | None) -> InputError:
    """The error a second run of a job gets."""
    since = f" since {time.strftime('%H:%M:%S', time.localtime(who.started_at))}" if who and who.started_at else ""
    name = who.describe() if who else "another process"
    return InputError(
        "job",
        f"job {job_id} is running in {name}{since}; follow it with `sora-tui show --follow {job_id}` "
        f"or stop it with `sora-tui stop {job_id}`",
    )


def _try_lock(job_dir: Path) -> int | None:
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


def _clear_stop(job_dir: Path) -> None:
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

    ``with Lease(job_dir, job_id):`` raises InputError ("job X is running in process N on host H")
    when another process holds it. Released on exit, and by the kernel on any death of the process.
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
            fd = _try_lock(self.dir)
            if fd is None:
                raise refusal(self.job_id, holder(self.dir) or _read_info(self.dir))
            _clear_stop(self.dir)  # a request meant for an earlier holder
        self.fd = fd
        _write_info(self.dir, Holder(os.getpid(), this_host(), time.time(), detached, _task))
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        info = _read_info(self.dir)
        if info is not None and info.pid == os.getpid():
            with contextlib.suppress(OSError):
                (self.dir / INFO_FILE).unlink()
        _clear_stop(self.dir)
        fd, self.fd = self.fd, None
        os.close(fd)

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


# --- what a cancel leaves paid ---------------------------------------------------------------


@dataclass(frozen=True)
class InFlight:
    """A provider request that was accepted (and counted as paid) but whose video has not arrived."""

    index: int  # segment
    request_id: str
    cost_usd: float
    status: str  # the segment's status: waiting / submitted / running / pending (cancelled, kept)
    cancelled: bool = False  # a cancel already asked the provider to stop it
    started: bool = False  # the provider was rendering it (a cancel may not stop it: billed)


@dataclass(frozen=True)
class CancelQuote:
    """For a cancel dialog: what the job has paid, and what requests in flight cost.

    A request's price is counted when the provider accepts it, so ``spent_usd`` already includes
    ``in_flight_usd``. Cancelling asks the provider to stop those requests: one still queued is
    dropped (not billed: a retry gives its cost back when it submits again), one that started may
    finish and be billed anyway (``at_risk_usd``). Their ids are kept, so a retry uses a finished
    request's video instead of paying again.
    """

    job_id: str
    spent_usd: float
    estimated_usd: float
    in_flight: list[InFlight]

    @property
    def in_flight_usd(self) -> float:
        return round(sum(r.cost_usd for r in self.in_flight), 4)

    @property
    def at_risk_usd(self) -> float:
        """What requests that were rendering may still cost although cancelled."""
        return round(sum(r.cost_usd for r in self.in_flight if r.started), 4)

    def summary(self) -> str:
        text = f"spent ${self.spent_usd:.2f} of an estimated ${self.estimated_usd:.2f}"
        if not self.in_flight:
            return text + "; no request is in flight"
        n = len(self.in_flight)
        segs = ", ".join(str(r.index) for r in self.in_flight)
        text += (
            f", including ${self.in_flight_usd:.2f} for {n} request{'s' if n > 1 else ''} in flight "
            f"(segment{'s' if n > 1 else ''} {segs})"
        )
        queued = [r for r in self.in_flight if not r.started]
        if queued:
            text += f"; the queued ones (${sum(r.cost_usd for r in queued):.2f}) are dropped and not billed"
        if self.at_risk_usd:
            text += (
                f"; the provider may finish those already rendering and bill them (${self.at_risk_usd:.2f}): "
                "their ids are kept, so a retry uses their videos instead of paying again"
            )
        return text


# --- stop requests ----------------------------------------------------------------------


def request_stop(job_dir: Path) -> bool:
    """Ask the process that holds the job to cancel it (in-flight requests are cancelled at the
    provider and their ids kept). False when no live process holds the job."""
    if holder(job_dir) is None:
        return False
    path = Path(job_dir) / STOP_FILE
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"requested_at": time.time(), "pid": os.getpid(), "host": this_host()}) + "\n")
    os.replace(tmp, path)
    return True


def stop_requested(job_dir: Path) -> bool:
    return (Path(job_dir) / STOP_FILE).exists()


async def watch_stop(job_dir: Path, control: RunControl, interval: float = STOP_POLL) -> None:
    """Cancel ``control`` when a stop request appears (runs while a run holds the lease)."""
    while not control.cancelled:
        if stop_requested(job_dir):
            control.cancel()
            return
        await asyncio.sleep(interval)


# --- crash loops -------------------------------------------------------------------------

CRASH_FILE = "crashes.json"  # runner deaths in a row, kept across runs (JSON, no keys)


@dataclass
class CrashRecord:
    """``JOB_DIR/crashes.json``: whether a render run of the job is open (started, not ended), and
    how many runs in a row died (ended without closing it: SIGKILL, out of memory, a segfault, a
    reboot) before a segment more was done. An orderly end of any kind (completed, failed,
    cancelled) closes the run and clears the count; a user's resume removes the record."""

    deaths: int = 0
    open: bool = False
    done_at_start: int = 0  # segments done when the open run started
    last_error: str = ""
    pid: int = 0

    def looping(self, limit: int) -> bool:
        return limit > 0 and self.deaths >= limit


def read_crashes(job_dir: Path) -> CrashRecord:
    try:
        data = json.loads((Path(job_dir) / CRASH_FILE).read_text("utf-8"))
        return CrashRecord(
            int(data.get("deaths", 0)),
            bool(data.get("open", False)),
            int(data.get("done_at_start", 0)),
            str(data.get("last_error", "")),
            int(data.get("pid", 0)),
        )
    except (OSError, ValueError, TypeError, AttributeError):
        return CrashRecord()


def _write_crashes(job_dir: Path, rec: CrashRecord) -> None:
    path = Path(job_dir) / CRASH_FILE
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):  # a full disk: the run itself will say so
        tmp.write_text(json.dumps(rec.__dict__) + "\n", "utf-8")
        os.replace(tmp, path)


def note_start(job_dir: Path, done: int, last_error: str = "") -> CrashRecord:
    """A render run of the job starts (its lease held) with ``done`` segments done. When the run
    before never ended, its process died: one more death in a row, unless it finished a segment."""
    rec = read_crashes(job_dir)
    if rec.open:
        rec.deaths = rec.deaths + 1 if done <= rec.done_at_start else 0
        rec.last_error = last_error or rec.last_error
    rec.open, rec.done_at_start, rec.pid = True, done, os.getpid()
    _write_crashes(job_dir, rec)
    return rec


def note_end(job_dir: Path, *, keep_count: bool = False) -> None:
    """The run ended in order (whatever the outcome): it did not die. ``keep_count``: a run that
    refused to start on a crash loop keeps the count, so that automatic restarts keep refusing."""
    rec = read_crashes(job_dir)
    rec.open = False
    if not keep_count:
        rec.deaths, rec.last_error = 0, ""
    _write_crashes(job_dir, rec)


def reset_crashes(job_dir: Path) -> None:
    """A user's resume: start the count again."""
    with contextlib.suppress(OSError):
        (Path(job_dir) / CRASH_FILE).unlink()


def last_words(job_dir: Path) -> str:
    """The last line a runner of the job wrote to ``runner.log`` (without its time stamp)."""
    try:
        with open(Path(job_dir) / LOG_FILE, "rb") as fh:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - 4096))
            lines = [ln.strip() for ln in fh.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    if not lines:
        return ""
    parts = lines[-1].split(" ", 2)
    return parts[2] if len(parts) == 3 and parts[0][:2].isdigit() else lines[-1]


# --- the event log ----------------------------------------------------------------------


@dataclass
class EventLog:
    """``JOB_DIR/events.jsonl``: one JSON line per engine event, appended and flushed as it happens
    (one ``write`` per line on an O_APPEND descriptor), read by any process that follows the job."""

    job_dir: Path
    _fd: int | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.job_dir = Path(self.job_dir)

    @property
    def path(self) -> Path:
        return self.job_dir / EVENTS_FILE

    def append(self, event: Event) -> None:
        line = json.dumps(event_to_dict(event), ensure_ascii=False, default=str) + "\n"
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        os.write(self._fd, line.encode("utf-8"))

    __call__ = append  # an EventLog is an event sink

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def end(self) -> int:
        """The offset a follower starts from to see only new events."""
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def read_dicts(self, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Complete lines written after ``offset``, as dicts (with ``t`` and ``type``), and the new offset.
        A log shorter than ``offset`` (replaced) is read from its start."""
        try:
            with open(self.path, "rb") as fh:
                if os.fstat(fh.fileno()).st_size < offset:
                    offset = 0
                fh.seek(offset)
                data = fh.read()
        except OSError:
            return [], offset
        end = data.rfind(b"\n") + 1
        rows = []
        for raw in data[:end].splitlines():
            try:
                row = json.loads(raw)
            except ValueError:
                continue
            if isinstance(row, dict):
                rows.append(row)
        return rows, offset + end

    def read(self, offset: int = 0) -> tuple[list[Event], int]:
        """Events written after ``offset`` and the offset to read from next time."""
        rows, offset = self.read_dicts(offset)
        events = []
        for row in rows:
            try:
                event = event_from_dict(row)
            except (TypeError, ValueError, KeyError):
                continue
            if event is not None:
                events.append(event)
        return events, offset


# --- spawning and the runner process ------------------------------------------------------


def spawn(
    paths_env: dict[str, str] | None,
    job_id: str,
    *,
    max_cost: float | None = None,
    review_keyframes: bool = False,
    output: str | None = None,
    task: str = RENDER,
    options: dict[str, Any] | None = None,
) -> int:
    """Start a detached runner for ``job_id`` and return its pid.

    ``task``: what it does — render the job (the default), or one of ``core.tasks.TASKS`` (finish,
    export, keyframe) with its ``options`` (plain JSON data, written to ``JOB_DIR/task.json``).

    ``paths_env`` is laid over this process's environment for the runner (an Engine's ``env``);
    it also says where the job lives (SORA_TUI_HOME). Raises InputError when a live process
    already holds the job. Returns at once: the runner holds the lease from the start.
    """
    from .settings import get_paths

    env = {**os.environ, **(paths_env or {})}
    job_dir = get_paths(env).jobs_dir / job_id
    if not job_dir.is_dir():
        raise InputError("job", f"no folder for job {job_id} ({job_dir}); see `sora-tui history`")
    fd = _try_lock(job_dir)
    if fd is None:
        raise refusal(job_id, holder(job_dir) or _read_info(job_dir))
    try:
        _clear_stop(job_dir)
        cmd = [sys.executable, "-m", "sora_tui.core.runner", job_id, "--lock-fd", str(fd)]
        if task != RENDER:
            path = job_dir / TASK_FILE
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"task": task, "options": options or {}}) + "\n", "utf-8")
            os.replace(tmp, path)
            cmd += ["--task", task]
        if max_cost is not None:
            cmd += ["--max-cost", repr(float(max_cost))]
        if review_keyframes:
            cmd.append("--review-keyframes")
        if output:
            cmd += ["--output", str(Path(output).expanduser().resolve())]
        env.setdefault("PYTHONUNBUFFERED", "1")
        with open(job_dir / LOG_FILE, "ab") as log:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # no SIGHUP from the terminal, no Ctrl-C from its process group
                pass_fds=(fd,),
            )
        # a runner is background work, like the renders and ffmpeg runs it starts (media.lower_priority):
        # the keys of the windows that follow it come first. On Linux a new session is also its own
        # scheduling group (autogroup), shared fairly with the app's whatever the nice value: lower it too.
        media.lower_priority(proc.pid)
        with contextlib.suppress(OSError):
            Path(f"/proc/{proc.pid}/autogroup").write_text(f"{media.BACKGROUND_NICE}\n")
        _write_info(job_dir, Holder(proc.pid, this_host(), time.time(), detached=True, task=task))
    finally:
        os.close(fd)  # the child keeps the lock through its copy of the descriptor
    return proc.pid


def exit_code(status: JobStatus) -> int:
    """A runner's (and the CLI's) exit status for a job that ended in ``status``."""
    if status in (JobStatus.COMPLETED, JobStatus.AWAITING_REVIEW):
        return EXIT_OK
    if status is JobStatus.CANCELLED:
        return EXIT_CANCELLED
    return EXIT_FAILED


def _say(text: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} {text}", flush=True)


async def _run(args: argparse.Namespace) -> int:
    from .engine import Engine

    engine = Engine()
    try:
        job = engine.find_job(args.job)
    except InputError as exc:
        _say(f"runner: {exc}")
        return EXIT_INPUT
    job_dir = job.job_dir

    def on_event(event: Event) -> None:  # Engine.run also appends every event to the job's EventLog
        if isinstance(event, LogLine):  # already redacted by the engine
            seg = f" [segment {event.index}]" if event.index is not None else ""
            _say(f"{event.level}{seg}: {event.message}")

    def on_signal(name: str) -> None:
        _say(f"runner: {name} received; cancelling the job (in-flight request ids are kept)")
        with contextlib.suppress(OSError):
            request_stop(job_dir)
        engine.cancel(job.id)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig.name)
    _say(f"runner {os.getpid()} on {this_host()}: job {job.id} ({job.status})")
    try:
        final = await engine.run(
            job.id,
            on_event,
            output=args.output,
            max_cost=args.max_cost,
            review_keyframes=args.review_keyframes,
        )
    except InputError as exc:
        _say(f"runner: {engine.redact(str(exc))}")
        return EXIT_INPUT
    except Exception as exc:  # a bug or an OS error: the job says so instead of looking alive
        from .errors import JobFailed, describe_os_error

        if isinstance(exc, OSError | JobFailed):  # a disk fault (full, read-only, gone): named, no traceback
            message = engine.redact(describe_os_error(exc) if isinstance(exc, OSError) else str(exc))
        else:
            message = engine.redact(f"the runner stopped on an unexpected error: {type(exc).__name__}: {exc}")
        _say(message)
        with contextlib.suppress(Exception):  # best effort: a full disk may refuse this write too
            current = engine.store.get_job(job.id)
            if current is not None and current.status in ACTIVE:
                engine.store.update_job(job.id, status=JobStatus.FAILED, error=message)
                engine.log(job.id, message, "error")
        return EXIT_FAILED
    finally:
        await engine.aclose()
    _say(f"runner: job {final.id} {final.status}" + (f": {final.error}" if final.error else ""))
    return exit_code(final.status)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sora_tui.core.runner", description="run one job (detached)")
    parser.add_argument("job")
    parser.add_argument("--lock-fd", type=int, help="the locked runner.lock descriptor handed over by spawn")
    parser.add_argument("--max-cost", type=float)
    parser.add_argument("--review-keyframes", action="store_true")
    parser.add_argument("--output")
    parser.add_argument("--task", default=RENDER, help="finish, export or keyframe (options in JOB_DIR/task.json)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a closed terminal or SSH session does not end the job
    if args.lock_fd is not None:
        adopt(args.lock_fd)
    if args.task != RENDER:
        from .tasks import run_task

        global _task
        _task = args.task
        return asyncio.run(run_task(args.job, args.task, _say))
    return asyncio.run(_run(args))


if __name__ == "__main__":
    # run the imported module's main, not this __main__ copy: the lease registry must be the one
    # the engine sees
    from sora_tui.core.runner import main as _main

    sys.exit(_main())
