"""The names of a job folder's runner files (one place, so every part of the runner agrees)."""

from __future__ import annotations

LOCK_FILE = "runner.lock"  # the lease (flock)
INFO_FILE = "runner.json"  # who holds the lease: pid, host, start time
EVENTS_FILE = "events.jsonl"  # the event log
LOG_FILE = "runner.log"  # what a detached runner says
STOP_FILE = "stop.request"  # a stop request for the holder
TASK_FILE = "task.json"  # a runner task's options (JSON, never keys)
QUEUED_FILE = "queued"  # the job waits in the queue (core/queue.py writes and removes it)
CRASH_FILE = "crashes.json"  # runner deaths in a row, kept across runs (JSON, no keys)

RENDER = "render"  # a runner's task when it renders the job; the others are in core/tasks.py
