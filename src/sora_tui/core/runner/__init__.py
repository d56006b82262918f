"""A runner per job: one process renders a job, under an exclusive lease; any process follows it.

The parts, one job each:

* ``lease`` — the OS file lock on ``JOB_DIR/runner.lock`` (``Lease``, ``holder``, ``lock_held``);
* ``stops`` — stop requests (``request_stop``, ``watch_stop``);
* ``status`` — the honest state of a job and its segments ("interrupted"), exit codes;
* ``crashes`` — runner deaths in a row (crash loops);
* ``events`` — the event log ``JOB_DIR/events.jsonl`` (``EventLog``);
* ``cancel`` — what a cancel leaves paid (``CancelQuote``);
* ``spawn`` — start a detached runner process;
* ``__main__`` — the runner process itself (``python -m sora_tui.core.runner JOB``), the only part
  that builds an ``Engine``.

This package re-exports the names of its parts (all but the entry point), so callers write
``runner.holder(...)``.
"""

from __future__ import annotations

from .cancel import CancelQuote, InFlight
from .crashes import CrashRecord, last_words, note_end, note_start, read_crashes, reset_crashes
from .events import EventLog
from .files import (
    CRASH_FILE,
    EVENTS_FILE,
    INFO_FILE,
    LOCK_FILE,
    LOG_FILE,
    QUEUED_FILE,
    RENDER,
    STOP_FILE,
    TASK_FILE,
)
from .lease import LOCK_TRIES, Holder, Lease, adopt, holder, lock_held, refusal, this_host
from .spawn import spawn
from .status import (
    ACTIVE,
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_OK,
    INTERRUPTED,
    display_segment_status,
    display_status,
    exit_code,
    live_status,
)
from .stops import STOP_POLL, request_stop, stop_requested, watch_stop

__all__ = [
    "ACTIVE",
    "CRASH_FILE",
    "EVENTS_FILE",
    "EXIT_CANCELLED",
    "EXIT_FAILED",
    "EXIT_INPUT",
    "EXIT_OK",
    "INFO_FILE",
    "INTERRUPTED",
    "LOCK_FILE",
    "LOCK_TRIES",
    "LOG_FILE",
    "QUEUED_FILE",
    "RENDER",
    "STOP_FILE",
    "STOP_POLL",
    "TASK_FILE",
    "CancelQuote",
    "CrashRecord",
    "EventLog",
    "Holder",
    "InFlight",
    "Lease",
    "adopt",
    "display_segment_status",
    "display_status",
    "exit_code",
    "holder",
    "last_words",
    "live_status",
    "lock_held",
    "note_end",
    "note_start",
    "read_crashes",
    "refusal",
    "request_stop",
    "reset_crashes",
    "spawn",
    "stop_requested",
    "this_host",
    "watch_stop",
]
