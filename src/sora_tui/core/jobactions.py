"""What the user's actions on a job may do, decided once for every front end.

* stop: :func:`stop_step` — a running task (finish, export: a stop request; a keyframe: not
  stoppable), a job waiting in the queue (taken out, nothing was paid), a job not running, or a render
  (ask first, with what it cost).
* redo: :func:`redo_index` — the segment a redo starts from, checked against the job's segments.
"""

from __future__ import annotations

import enum

from . import queue
from .errors import InputError
from .models import Job, JobStatus
from .store import Store
from .tasks import can_stop


class StopStep(enum.StrEnum):
    TASK_UNSTOPPABLE = "task_unstoppable"  # a keyframe: one image call, it finishes by itself
    STOP_TASK = "stop_task"  # a finish or an export: ask its runner to stop
    DEQUEUE = "dequeue"  # waiting in the queue, no runner: take it out (nothing was paid)
    NOT_RUNNING = "not_running"
    ASK = "ask"  # a render: ask first (with what it cost so far), then ask its runner to stop


def stop_step(*, task: str | None, running: bool, state: str, held: bool) -> StopStep:
    """What stopping a job does: ``task`` the runner task it runs (None for a render), ``running`` whether a
    render runs, ``state`` its display state ("queued", ...), ``held`` whether a runner holds its lease."""
    if task and not running:
        return StopStep.STOP_TASK if can_stop(task) else StopStep.TASK_UNSTOPPABLE
    if state == "queued" and not held:
        return StopStep.DEQUEUE
    if not running:
        return StopStep.NOT_RUNNING
    return StopStep.ASK


def take_out_of_queue(store: Store, job: Job) -> None:
    """A queued job no runner holds leaves the queue and rests as cancelled (a resume queues it again)."""
    queue.drop(store, job)
    store.update_job(job.id, status=JobStatus.CANCELLED, error="taken out of the queue")
    store.log(job.id, "taken out of the queue")


def redo_index(value: str, segments: int) -> int:
    """The segment a redo starts from, as the user typed it; an ``InputError`` names the range otherwise."""
    try:
        k = int(value.strip())
    except ValueError:
        raise InputError("segment", f"enter a segment number from 1 to {segments}") from None
    if not 1 <= k <= segments:
        raise InputError("segment", f"segment {k} does not exist; enter 1 to {segments}")
    return k
