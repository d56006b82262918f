"""Crash loops: ``JOB_DIR/crashes.json`` counts runner deaths in a row, so that automatic restarts
of a job that keeps killing its runner stop; ``last_words`` reads what a runner said last."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .files import CRASH_FILE, LOG_FILE


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
