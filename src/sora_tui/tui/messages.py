"""Textual messages: what the live jobs (tui/jobs.py) tell the app and the screens, and a few of the app's own.

Jobs run in runner processes; JobWatch follows them and posts these. They do not
bubble: each subscriber gets its own copy.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from textual.message import Message

from ..core import models as m

if TYPE_CHECKING:  # numpy loads with the first thumbnail, not at start-up
    import numpy as np

    from ..core.follow import Reading


@dataclass
class JobUpdated(Message, bubble=False):
    """A followed job changed: ``indexes`` (segments to redraw), new ``log`` lines, ``keyframes``; its header."""

    job_id: str
    indexes: frozenset[int] = field(default_factory=frozenset)
    log: tuple[str, ...] = ()
    keyframes: bool = False
    header: bool = True


@dataclass
class JobFinished(Message, bubble=False):
    """A job's runner let go of it: ``status`` is where it rests (completed, failed, cancelled,
    awaiting_review, or interrupted when the runner died)."""

    job_id: str
    status: str
    error: str | None = None


@dataclass
class JobsChanged(Message):
    """Posted to the app by whoever changed the history (a job created, deleted, finished or exported)."""

    job_id: str | None = None


class JobAction(enum.StrEnum):
    """What a screen asks the app to do with a job (the app turns it into work: ``JobRequested``)."""

    SHOW = "show"  # on the board
    STOP = "stop"
    RESUME = "resume"
    REDO = "redo"  # asks from which segment
    DUPLICATE = "duplicate"
    DELETE = "delete"  # asks first
    OPEN = "open"  # the finished video, in the system player
    COPY = "copy"  # its path (over SSH: the scp line)
    FILES = "files"  # the download list
    EXPORT = "export"
    PREVIEW = "preview"


@dataclass
class JobRequested(Message):
    """A screen asks for ``action`` on ``job_id``; the app handles it (screens call no app method)."""

    job_id: str
    action: JobAction


@dataclass
class JobStateChanged(Message, bubble=False):
    """From JobWatch to its subscribers: a job was added, removed, or changed state (tabs, the history)."""

    job_id: str | None = None


@dataclass
class JobReadings(Message, bubble=False):
    """The follower thread's readings of one pass, for JobWatch.apply on the UI loop."""

    readings: dict[str, Reading]


@dataclass
class ThumbnailReady(Message, bubble=False):
    """A thumbnail made in JobWatch's picture thread (a segment's, or with ``keyframe`` a keyframe's;
    ``version`` (path, mtime) tells a regenerated image from the old one)."""

    job_id: str
    index: int
    pixels: np.ndarray
    version: object
    keyframe: bool = False


@dataclass
class TaskUpdate(Message, bubble=False):
    """A runner task's news from a followed job's event log (core/tasks.py): ``TaskStarted``,
    ``FinishProgress`` or ``TaskDone`` (the app gets the ``TaskDone`` too, to tell the user)."""

    job_id: str
    event: m.TaskStarted | m.TaskDone | m.FinishProgress

    def can_replace(self, message: Message) -> bool:  # only the newest progress of a stage matters
        return (
            isinstance(message, TaskUpdate)
            and isinstance(self.event, m.FinishProgress)
            and isinstance(message.event, m.FinishProgress)
            and message.job_id == self.job_id
            and message.event.stage == self.event.stage
        )
