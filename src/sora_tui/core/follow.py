"""Following a job that a runner process renders: what happened since the last look, and whether its runner lives.

One follower for both front ends: the studio's JobWatch (``tui/jobs.py``, in its follower thread)
and ``sora-tui show --follow`` (``cli/watch.py``). A look reads, in this order, the new lines of the
job's event log, who holds its lease (``runner.holder``) and then its rows in the store: a runner
writes the job's final status before it lets go of the lease, so a look that finds no holder reads
the status that runner left, and "its runner is gone" is never a runner that just finished.

Whether the runner lives is :class:`RunnerWatch`'s one rule, with one grace time
(:data:`RUNNER_GRACE`): a job that says it is working while no process holds its lease is
``starting`` while a runner may still be taking the lease (one this front end just started, or a
job whose row changed less than the grace ago: a foreground run between creating its job and taking
the lease, a runner just spawned), and ``interrupted`` after that. A runner that was seen holding the
lease and is gone while the job still says it works died: interrupted at once. A job waiting in the
queue (``queued``) is not interrupted: the scheduler starts it. No UI toolkit here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .models import Event, Job, JobStatus, Segment
from .progress import LOG_LINES, log_text
from .runner import (
    ACTIVE,
    QUEUED_FILE,
    RENDER,
    EventLog,
    Holder,
    display_status,
    holder,
)
from .store import Keyframe, Store

RUNNER_GRACE = 20.0  # seconds a runner may take to hold its job's lease before the job counts as interrupted
STARTING = "starting"  # what a job is called while its runner is being started
ROWS_EVERY = 2.0  # seconds: a followed job's rows are read at least this often while a runner holds it
_ROW_EVENTS = ("SegmentStatusChanged", "JobStatusChanged", "CostUpdate", "KeyframeReady")


@dataclass(frozen=True)
class Liveness:
    """What a front end says of a job's runner after one look."""

    state: str  # the job's status, or "starting", or "interrupted" (runner.display_status)
    running: bool  # a runner renders it, is being started, or the queue will start it
    task: str = ""  # a runner task (finish, export, keyframe: core/tasks.py) holds the job
    runner: str = ""  # who holds it: "process N on host H"

    @property
    def busy(self) -> bool:
        """Someone works on the job (a render or a task): a follower goes on looking."""
        return self.running or bool(self.task)


class RunnerWatch:
    """Whether the runner of one followed job lives (see the module's docstring for the rule).

    ``now`` is ``time.monotonic()`` and ``wall`` is ``time.time()`` unless given (tests give both).
    """

    def __init__(self, grace: float = RUNNER_GRACE) -> None:
        self.grace = grace
        self.deadline = 0.0  # monotonic: until then a job with no holder is "starting" (0: no runner expected)
        self.started_at = 0.0  # wall clock: when a runner was started for it (a status older than that is stale)

    @property
    def expecting(self) -> bool:
        """A runner is expected to take the lease (a start this front end made, or a fresh job)."""
        return bool(self.deadline)

    def expect(self, now: float | None = None, wall: float | None = None) -> None:
        """A runner was just started for the job (or is about to be): it gets the grace to take the lease."""
        now = time.monotonic() if now is None else now
        self.deadline = now + self.grace
        self.started_at = time.time() if wall is None else wall

    def begin(self, job: Job, now: float | None = None, wall: float | None = None) -> None:
        """Start watching a job someone else runs: one that says it works and whose row changed less than the
        grace ago may have a runner that is still taking its lease; it gets what is left of the grace."""
        now = time.monotonic() if now is None else now
        wall = time.time() if wall is None else wall
        left = self.grace - max(0.0, wall - job.updated_at)
        if job.status in ACTIVE and left > 0:
            self.deadline = now + left

    def look(self, job: Job, who: Holder | None, now: float | None = None) -> Liveness:
        """One look: the job's row and its lease holder, read in that order by :class:`Follower`."""
        now = time.monotonic() if now is None else now
        if who is not None:
            task = who.task if who.task != RENDER else ""
            if not task:
                self.deadline = 0.0  # the runner holds the lease: from now on, gone means died
            return Liveness(display_status(job, who), running=not task, task=task, runner=who.describe())
        state = display_status(job, None)
        if state == str(JobStatus.QUEUED):  # waiting in the queue: the scheduler starts it, nobody has to act
            return Liveness(state, running=True)
        rested = job.status not in ACTIVE and job.updated_at >= self.started_at  # a status written after the start
        if self.deadline and now < self.deadline and not rested:
            return Liveness(STARTING, running=True)
        self.deadline = 0.0
        return Liveness(state, running=False)


@dataclass
class Reading:
    """What one look at a followed job read."""

    job: Job
    events: list[Event] = field(default_factory=list)
    holder: Holder | None = None
    segments: list[Segment] | None = None  # None: rows not read this time
    keyframes: list[Keyframe] | None = None
    log: list[str] | None = None  # the log's newest lines, read once when the job is first followed
    waits_for: str = ""  # its place in the queue and what it waits for (core/queue.describe_wait)


@dataclass
class Follower:
    """Where the follow of one job is: its event log's offset, when its rows were last read, the holder seen."""

    job_dir: Path
    offset: int = 0
    rows_at: float = 0.0
    holder: Holder | None = None
    first: bool = True

    @classmethod
    def from_end(cls, job_dir: Path) -> Follower:
        """Events before the follow began are already in the rows: read the log from its end."""
        return cls(job_dir, EventLog(job_dir).end())

    def read(
        self,
        store: Store,
        job_id: str,
        now: float | None = None,
        *,
        starting: bool = False,
        rows: bool = False,
        max_jobs: int = 5,
    ) -> Reading | None:
        """The job's news since the last look (None: nothing new, or the job is gone).

        Rows are read the first time, while a runner is ``starting``, after an event that changes them,
        when the holder changed, every :data:`ROWS_EVERY` seconds while a runner holds the job or it
        waits in the queue, and whenever ``rows`` is asked for."""
        now = time.monotonic() if now is None else now
        events, self.offset = EventLog(self.job_dir).read(self.offset)
        who = holder(self.job_dir)  # before the job's row: see the module's docstring
        due = now - self.rows_at >= ROWS_EVERY
        read_rows = (
            rows
            or self.first
            or starting
            or any(type(e).__name__ in _ROW_EVENTS for e in events)
            or who != self.holder
            or (who is not None and due)
            or (who is None and due and (self.job_dir / QUEUED_FILE).exists())
        )
        if not read_rows and not events:
            return None
        job = store.get_job(job_id)
        if job is None:
            return None
        reading = Reading(job, events, who)
        if read_rows:
            if self.first:
                reading.log = [log_text(r.level, r.message, r.index) for r in store.logs(job_id, tail=LOG_LINES)]
            self.rows_at, self.holder, self.first = now, who, False
            reading.segments = store.segments(job_id)
            reading.keyframes = store.keyframes(job_id)
        if read_rows or job.status is JobStatus.QUEUED:
            reading.waits_for = waits_for(store, job_id, max_jobs)
        return reading


def waits_for(store: Store, job_id: str, max_jobs: int) -> str:
    """A queued job's place in the queue and what it waits for ("" when it is not queued)."""
    from . import queue

    return queue.describe_wait(store, job_id, max_jobs)


def read_job(store: Store, job_id: str, first: bool = False) -> Reading | None:
    """One job's rows now (and, the first time, the newest lines of its log); cheap reads."""
    job = store.get_job(job_id)
    if job is None:
        return None
    who = holder(job.job_dir)
    if who is None and job.status in ACTIVE:  # its runner may have just finished: the status it left
        job = store.get_job(job_id) or job
    reading = Reading(job, [], who, store.segments(job_id), store.keyframes(job_id))
    if first:
        reading.log = [log_text(r.level, r.message, r.index) for r in store.logs(job_id, tail=LOG_LINES)]
    return reading
