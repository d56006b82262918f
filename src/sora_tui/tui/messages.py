"""Textual messages: what the live jobs (tui/jobs.py) tell the app and the screens, and what screens ask of the app.

Jobs run in runner processes; JobWatch follows them and posts these. They do not
bubble: each subscriber gets its own copy. The requests (``*Requested``) bubble from a
screen to the app, which turns them into work (screens call no app method).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.message import Message

from ..core import models as m

if TYPE_CHECKING:  # numpy loads with the first thumbnail, not at start-up
    import numpy as np

    from ..core.follow import Reading
    from ..core.reach import JobFile


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
    START = "start"  # queue it (after a change made here: a take kept) and show it on the board
    REVIEW = "review"  # its keyframe review
    RENDER_VIDEOS = "render_videos"  # the keyframes are accepted: render the videos
    TAKES = "takes"  # the takes of its shots


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
class JobLoaded(Message, bubble=False):
    """From JobWatch's reader thread: one job's rows, read because the window asked for a job it did not hold
    (``reading`` None: the history has no such job)."""

    job_id: str
    reading: Reading | None


@dataclass
class JobReadings(Message, bubble=False):
    """The follower thread's readings of one pass, for JobWatch.apply on the UI loop."""

    readings: dict[str, Reading]  # job id -> what the follower read (core.follow)


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


@dataclass
class PlanRequested(Message):
    """Open ``plan`` on the plan screen (a new draft, or the plan of job ``job_id``)."""

    plan: m.Plan
    job_id: str | None = None


@dataclass
class RenderRequested(Message):
    """The user accepted ``plan`` (and its cost): create (or update ``job_id``) and start it."""

    plan: m.Plan
    job_id: str | None = None


@dataclass
class RedoRequested(Message):
    """Render job ``job_id`` again from segment ``index`` (``only``: that segment alone); asked and priced by the app
    (``seam``: the flagged seam that motivates it, shown in the question)."""

    job_id: str
    index: int
    only: bool = False
    seam: dict[str, Any] | None = None


@dataclass
class TaskRequested(Message):
    """Start runner task ``task`` (core/tasks.py: finish, export, keyframe) on ``job_id`` with ``options``.
    The outcome comes back as ``TaskUpdate`` (started, done) or ``TaskRefused`` (not started)."""

    job_id: str
    task: str
    options: dict[str, Any]


@dataclass
class TaskRefused(Message, bubble=False):
    """From the app to the screens: a task could not start (``reason`` in the studio's words)."""

    job_id: str
    task: str
    reason: str


@dataclass
class FileRequested(Message):
    """Hand ``file`` to the user (a browser download, an scp line, a copy in Downloads)."""

    file: JobFile


@dataclass
class CastRequested(Message):
    """Open the cast library."""


@dataclass
class KeysChanged(Message):
    """A key was set or deleted (in a worker, through engine.keys): the engine reads them again."""


@dataclass
class JobChangedHere(Message):
    """This window changed job ``job_id`` (a keyframe replaced): read it again, off the loop, and tell everyone."""

    job_id: str


@dataclass
class TakeKeepRequested(Message):
    """The user chose take ``take`` of shot ``index`` of ``job_id`` (the takes strip's Enter): the
    app asks first, saying what keeping it renders again and costs, then keeps it (``Engine.pick_take``)."""

    job_id: str
    index: int
    take: int


@dataclass
class CastChosen(Message):
    """The cast chips on the prompt screen changed: the library members offered to the planner."""

    names: tuple[str, ...]
