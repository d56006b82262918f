"""The scheduler: one process per box that starts the queue's runners while the limits allow.

* ``ensure(env)`` starts it on demand (whatever queues work calls it). It is idempotent: the
  scheduler's lease is an OS file lock on ``DATA/scheduler.lock`` that the parent takes first and
  hands to the child (as ``runner.spawn`` does), so when a scheduler lives nothing is started, and
  two callers racing cannot both start one.
* ``python -m sora_tui.core.scheduler`` runs detached (its own session: an SSH drop does not end
  it). Each tick it reads the queue (``queue.snapshot``: the store and the job leases), drops the
  rows whose job is over and spawns a runner (``runner.spawn``) for each row ``queue.assess`` says
  starts now. It ends when nothing is left to do: the queue is empty, or no runner lives and every
  row waits on a pause or a batch cap (a resume, a move or a new job starts it again).
* Killed at any moment (SIGKILL), it loses nothing: the queue lives in the store, a runner it
  started goes on under its own lease, and a new scheduler counts that runner as running (the
  lease), never starting the job a second time.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import queue, runner
from .models import InputError
from .settings import Paths, Settings, get_paths, load_settings
from .store import Store

LOCK_FILE = "scheduler.lock"
INFO_FILE = "scheduler.json"
LOG_FILE = "scheduler.log"
TICK = 0.25  # seconds between looks at the queue


@dataclass(frozen=True)
class SchedulerInfo:
    pid: int
    started_at: float


@dataclass
class Context:
    """What the scheduler reads: the environment its runners get, the data folder, the settings
    (read again each tick) and the store. No engine: the scheduler only starts runners."""

    env: dict[str, str]
    paths: Paths
    settings: Settings
    store: Store

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None) -> Context:
        environ = dict(os.environ) if env is None else dict(env)
        paths = get_paths(environ)
        return cls(environ, paths, load_settings(paths, environ), Store(paths.db_file))


def _data_dir(env: Mapping[str, str] | None) -> Path:
    return get_paths({**os.environ, **(env or {})}).data_dir


def _try_lock(data_dir: Path) -> int | None:
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def running(env: Mapping[str, str] | None = None) -> SchedulerInfo | None:
    """The live scheduler of this data folder, or None."""
    data_dir = _data_dir(env)
    if not runner.lock_held(data_dir / LOCK_FILE):
        return None
    try:
        data = json.loads((data_dir / INFO_FILE).read_text("utf-8"))
        return SchedulerInfo(int(data["pid"]), float(data["started_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return SchedulerInfo(0, 0.0)


def _write_info(data_dir: Path, pid: int) -> None:
    path = data_dir / INFO_FILE
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"pid": pid, "started_at": time.time()}) + "\n", "utf-8")
    os.replace(tmp, path)


def ensure(env: Mapping[str, str] | None = None) -> int | None:
    """Start the scheduler unless one lives; returns the new process's pid, or None when one was
    already running (it will see the new rows at its next tick)."""
    data_dir = _data_dir(env)
    fd = _try_lock(data_dir)
    if fd is None:
        return None
    try:
        child_env = {**os.environ, **(env or {})}
        child_env.setdefault("PYTHONUNBUFFERED", "1")
        cmd = [sys.executable, "-m", "sora_tui.core.scheduler", "--lock-fd", str(fd)]
        with open(data_dir / LOG_FILE, "ab") as log:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env,
                start_new_session=True,
                pass_fds=(fd,),
            )
        _write_info(data_dir, proc.pid)
    finally:
        os.close(fd)  # the child keeps the lock through its copy
    return proc.pid


def _say(text: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} scheduler: {text}", flush=True)


def tick(engine: Context) -> tuple[queue.Snapshot, list[str]]:
    """One look at the queue: drop what is over, start what may start. Returns the snapshot and the
    ids of the jobs started."""
    with contextlib.suppress(InputError):  # settings.toml changed (queue_max_jobs): from the next look on
        engine.settings = load_settings(engine.paths, engine.env)
    snap = queue.snapshot(engine.store, engine.settings.queue_max_jobs)
    for jid in queue.settle(engine.store, snap):
        _say(f"job {jid} left the queue")
    started: list[str] = []
    for row in snap.rows:
        if row.state != queue.NEXT:
            continue
        opts = row.entry.options
        budget = queue.runner_budget(row, snap.batches, snap.jobs, snap.running)
        try:
            pid = runner.spawn(
                engine.env,
                row.job_id,
                max_cost=budget,
                review_keyframes=bool(opts.get("review_keyframes")),
                output=opts.get("output") or None,
            )
        except InputError as exc:
            # held by another process (a foreground resume): it counts as running from the next tick
            _say(f"job {row.job_id} not started: {exc}")
            continue
        queue.mark_started(engine.store, row.job, pid)
        cap = f" under a cap of ${budget:.2f}" if budget is not None else ""
        engine.store.log(row.job_id, f"started by the queue (runner {pid}){cap}")
        _say(f"started job {row.job_id} (runner {pid}){cap}")
        started.append(row.job_id)
        snap.running.add(row.job_id)
    return snap, started


def idle(snap: queue.Snapshot, started: list[str]) -> bool:
    """Nothing left for a scheduler to do: no runner lives and no row can start."""
    if started or snap.running:
        return False
    return all(r.state in (queue.PAUSED, queue.HELD) for r in snap.rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sora_tui.core.scheduler", description="run the job queue")
    parser.add_argument("--lock-fd", type=int, help="the locked scheduler.lock descriptor handed over by ensure")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    engine = Context.load()
    data_dir = engine.paths.data_dir
    fd = args.lock_fd
    if fd is None:
        fd = _try_lock(data_dir)
        if fd is None:
            _say("another scheduler is running; nothing to do")
            return 0
    os.set_inheritable(fd, False)  # runners must not keep the scheduler's lease
    _write_info(data_dir, os.getpid())
    _say(f"process {os.getpid()} runs the queue (at most {engine.settings.queue_max_jobs} jobs at once)")
    try:
        while True:
            try:
                snap, started = tick(engine)
            except Exception as exc:  # a busy or full disk, a store being migrated: say so, look again
                _say(f"could not read the queue ({type(exc).__name__}: {exc}); trying again")
                time.sleep(TICK * 4)
                continue
            if idle(snap, started):
                # let go, then look once more: a job queued while we decided to stop found the lease
                # held and relied on us
                with contextlib.suppress(OSError):
                    (data_dir / INFO_FILE).unlink()
                os.close(fd)
                fd = None
                again = queue.snapshot(engine.store, engine.settings.queue_max_jobs)
                if idle(again, []):
                    _say("the queue has nothing to start; exiting")
                    return 0
                fd = _try_lock(data_dir)
                if fd is None:
                    _say("another scheduler took over; exiting")
                    return 0
                _write_info(data_dir, os.getpid())
            time.sleep(TICK)
    finally:
        if fd is not None:
            os.close(fd)


if __name__ == "__main__":
    from sora_tui.core.scheduler import main as _main

    sys.exit(_main())
