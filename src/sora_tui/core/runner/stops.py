"""Stop requests: ``request_stop`` writes ``JOB_DIR/stop.request``; the holder's run watches for it
and cancels the way ``Engine.cancel`` does (SIGTERM/SIGINT to a runner do the same)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Protocol

from .files import STOP_FILE
from .lease import holder, this_host

STOP_POLL = 0.2  # seconds between looks for a stop request while a run holds the lease


class Cancellable(Protocol):
    """What a stop cancels (a run's ``RunControl``)."""

    @property
    def cancelled(self) -> bool: ...

    def cancel(self) -> None: ...


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


async def watch_stop(job_dir: Path, control: Cancellable, interval: float = STOP_POLL) -> None:
    """Cancel ``control`` when a stop request appears (runs while a run holds the lease)."""
    while not control.cancelled:
        if stop_requested(job_dir):
            control.cancel()
            return
        await asyncio.sleep(interval)
