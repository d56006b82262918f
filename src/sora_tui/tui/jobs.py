"""JobWatch: the one live state of the jobs a window shows, and how it follows them.

Jobs run in runner processes (``core/runner.py``), never in the app. A thread reads,
a few times a second and without ever holding up the UI loop, what each followed job's
runner wrote: the new lines of its event log (progress, log lines), who holds its lease,
and its rows in the store (its own SQLite connection: a WAL reader, never blocked by
the runner's writes). The UI loop folds each reading into the job's :class:`LiveJob`
and tells the subscribed screens (and the app) what changed, as messages:
:class:`~.messages.JobUpdated`, :class:`~.messages.JobsChanged`,
:class:`~.messages.JobFinished`. Screens draw from ``JobWatch.get(job_id)``.

Followed: every job the store says is queued, generating or joining (a runner
elsewhere — another terminal, a browser tab, the CLI — or a runner that died:
"interrupted"), and every job this window started or opened until it rests.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from textual.message import Message

from ..core import runner
from ..core.models import (
    Event,
    FinishProgress,
    Job,
    JobStatus,
    KeyframeReady,
    LogLine,
    Segment,
    SegmentStatus,
    TaskDone,
    TaskStarted,
)
from ..core.store import Keyframe, Store
from . import messages as msg
from .live import LOG_LINES, LiveJob, log_text

if TYPE_CHECKING:
    from textual.app import App
    from textual.message_pump import MessagePump

    from ..core.engine import Engine

POLL = 0.25  # seconds between readings of the followed jobs
DISCOVER = 1.0  # seconds between looks for jobs started elsewhere
ROWS_EVERY = 2.0  # seconds: a running job's rows are read at least this often (else on status events)
START_GRACE = 20.0  # seconds a spawned runner has to take its job's lease before the job counts as interrupted
THUMB_SIZE = (32, 16)  # pixels: up to 32 cells × 8 rows of half blocks
log = logging.getLogger(__name__)
_ROW_EVENTS = ("SegmentStatusChanged", "JobStatusChanged", "CostUpdate", "KeyframeReady")


@dataclass
class Reading:
    """What the follower thread read for one job in one pass."""

    job: Job
    events: list[Event] = field(default_factory=list)
    holder: runner.Holder | None = None
    segments: list[Segment] | None = None  # None: rows not read this time
    keyframes: list[Keyframe] | None = None
    log: list[str] | None = None  # the log's newest lines, read once when the job is first followed
    waits_for: str = ""  # its place in the queue and what it waits for (core/queue.describe_wait)


@dataclass
class _Followed:
    job_dir: Path
    offset: int = 0
    rows_at: float = 0.0
    holder: runner.Holder | None = None
    first: bool = True


class JobWatch:
    """The live jobs of one window (one per app); thread-safe where it says so."""

    def __init__(self, engine: Engine, app: App[Any]) -> None:
        self.engine = engine
        self.app = app
        self.live: dict[str, LiveJob] = {}
        self.current: str | None = None  # the job the board shows
        self.thumbnails: dict[tuple[str, int], Any] = {}  # (job, segment) -> pixels
        self.keyframe_thumbs: dict[tuple[str, int], tuple[Any, object]] = {}  # (job, k) -> (pixels, version)
        self._subscribers: weakref.WeakSet[MessagePump] = weakref.WeakSet()
        self._wanted: dict[str, float] = {}  # jobs this window follows -> start grace deadline (0: none)
        self._spawned: dict[str, float] = {}  # when this window spawned a runner for the job (wall clock)
        self._since: dict[str, int] = {}  # event log offset to start following a job from (a task it started)
        self._pictures = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sora-tui-thumbs")
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the UI side ------------------------------------------------------------------

    def subscribe(self, node: MessagePump) -> None:
        """Send ``node`` the watch's messages (until it is gone)."""
        self._subscribers.add(node)

    def _publish(self, make: Callable[[], Message], app: bool = False) -> None:
        for node in [self.app, *self._subscribers] if app else list(self._subscribers):
            if not (node._closing or node._closed):
                node.post_message(make())

    def get(self, job_id: str | None) -> LiveJob | None:
        """The live state of a job: loaded from the store the first time (and followed while it runs)."""
        if job_id is None:
            return None
        live = self.live.get(job_id)
        if live is None:
            reading = read_job(self.engine.store, job_id, first=True)
            if reading is None:
                return None
            live = self._add(reading)
        return live

    def follow(self, job_id: str, started: bool = False, since: int | None = None) -> LiveJob | None:
        """Follow a job (``started``: a runner was just spawned for it; until it takes the lease it is "starting";
        ``since``: read its event log from there, when it is not followed yet — a task started here)."""
        live = self.get(job_id)
        if live is None:
            return None
        if since is not None:
            self._since.setdefault(job_id, since)
        self._wanted[job_id] = time.monotonic() + START_GRACE if started else self._wanted.get(job_id, 0.0)
        if started:
            self._spawned[job_id] = time.time()
            live.running, live.state = True, "starting"
            self._publish(lambda: msg.JobUpdated(job_id, header=True))
        self._wake.set()
        return live

    def reload(self, job_id: str) -> None:
        """Re-read a job now (after this window changed it: a redo, a new keyframe)."""
        reading = read_job(self.engine.store, job_id)
        if reading is None:
            self.live.pop(job_id, None)
            self._publish(lambda: msg.JobStateChanged(job_id))
            return
        if job_id not in self.live:
            self._add(reading)
        else:
            self.apply({job_id: reading})

    def changed(self, job_id: str | None) -> None:
        """Someone changed the history (the app passes on its JobsChanged): tell the subscribers."""
        self._publish(lambda: msg.JobStateChanged(job_id))

    def show(self, job_id: str) -> None:
        """Make ``job_id`` the board's job (the board follows with its tabs)."""
        self.select(job_id)
        self._publish(lambda: msg.JobStateChanged(job_id))

    def forget(self, job_id: str) -> None:
        """A deleted job."""
        self.live.pop(job_id, None)
        self._wanted.pop(job_id, None)
        if self.current == job_id:
            self.select(self.newest())
        self._publish(lambda: msg.JobStateChanged(job_id))

    def scan(self) -> tuple[list[LiveJob], list[LiveJob]]:
        """Follow every job the store calls active; returns (running elsewhere, interrupted), newest first."""
        for job in self._active_jobs(self.engine.store):
            if job.id not in self.live:
                reading = read_job(self.engine.store, job.id, first=True)
                if reading is not None:
                    self._add(reading)
        mine = {j for j, deadline in self._wanted.items() if deadline}
        live = sorted(self.live.values(), key=lambda lj: lj.job.created_at, reverse=True)
        running = [lj for lj in live if lj.running and lj.id not in mine]
        interrupted = [lj for lj in live if lj.state == "interrupted"]
        return running, interrupted

    def newest(self) -> str | None:
        """The job a board with nothing chosen shows: the newest running one, else the newest job."""
        running = [lj for lj in self.live.values() if lj.running]
        if running:
            return max(running, key=lambda lj: lj.job.created_at).id
        jobs = self.engine.store.list_jobs(limit=1)
        return jobs[0].id if jobs else None

    def _add(self, reading: Reading) -> LiveJob:
        job = reading.job
        live = LiveJob.from_rows(job, reading.segments or [], reading.keyframes or [], reading.log or [])
        self._set_holder(live, reading.holder)
        self.live[job.id] = live
        self._thumbs(live, set(live.segments), keyframes=True)
        if live.running or job.status in runner.ACTIVE:
            self._wanted.setdefault(job.id, 0.0)
            self._wake.set()
        self._publish(lambda: msg.JobStateChanged(job.id))
        return live

    def _set_holder(self, live: LiveJob, holder: runner.Holder | None) -> None:
        grace = self._wanted.get(live.id, 0.0)
        live.task = holder.task if holder is not None and holder.task != runner.RENDER else ""
        if live.task:  # a finish, an export or a keyframe: the job is not rendering
            assert holder is not None
            live.running, live.state, live.runner = False, runner.display_status(live.job, holder), holder.describe()
            return
        if holder is not None:
            self._wanted[live.id] = 0.0
            live.running, live.state = True, runner.display_status(live.job, holder)
            live.runner = holder.describe()
            return
        live.runner = ""
        # spawned, not yet holding its lease (a status from before the spawn says nothing about this runner)
        rested = live.job.status.finished and live.job.updated_at >= self._spawned.get(live.id, 0.0)
        if grace and time.monotonic() < grace and not rested:
            live.running, live.state = True, "starting"
            return
        if grace:
            self._wanted[live.id] = 0.0
        live.running, live.state = False, runner.display_status(live.job, None)
        if live.state == "queued":  # waiting in the queue: the scheduler starts it, nobody has to act
            live.running = True
        if live.state == runner.INTERRUPTED:  # its segments that were being rendered say so too
            for seg in live.segments.values():
                if runner.display_segment_status(cast(Segment, seg), live.state) == runner.INTERRUPTED:
                    seg.message = "interrupted · t resumes"

    def apply(self, readings: dict[str, Reading]) -> None:
        """Fold the follower's readings into the live state; tell the screens what changed (UI loop)."""
        for job_id, reading in readings.items():
            live = self.live.get(job_id)
            if live is None:
                self._add(reading)
                continue
            before = (live.state, live.running)
            indexes: set[int] = set()
            log: list[str] = []
            keyframes = False
            for event in reading.events:
                live.apply(event)
                index = getattr(event, "index", None)
                if isinstance(event, LogLine):
                    log.append(log_text(event.level, event.message, event.index))
                elif isinstance(event, KeyframeReady):
                    keyframes = True
                    self._keyframe_thumb(job_id, event.index, event.path)
                if isinstance(event, TaskStarted | TaskDone | FinishProgress):  # a runner task's news
                    self._publish(partial(msg.TaskUpdate, job_id, event), app=isinstance(event, TaskDone))
                elif index is not None:
                    indexes.add(index)
            if reading.segments is not None:
                changed = live.update_rows(reading.job, reading.segments, reading.keyframes or [])
                indexes |= changed
                keyframes = keyframes or live.is_keyframe_job
                self._thumbs(live, changed)
            else:
                live.job, live.spent_usd = reading.job, reading.job.cost_usd
            self._set_holder(live, reading.holder)
            live.waits_for = reading.waits_for
            after = (live.state, live.running)
            if after != before:
                indexes |= set(live.segments)  # each card says how it rests
            self._publish(partial(msg.JobUpdated, job_id, frozenset(indexes), tuple(log), keyframes))
            if after != before:
                self._publish(partial(msg.JobStateChanged, job_id))
                if before[1] and not live.running:
                    self._wanted.pop(job_id, None)
                    self._publish(partial(msg.JobFinished, job_id, live.state, live.job.error), app=True)

    # --- thumbnails (one thread: a burst of finished segments never crowds the UI loop) -------------

    def select(self, job_id: str | None) -> None:
        """The board shows ``job_id`` now: make the thumbnails it lacks (only the shown job's are made)."""
        self.current = job_id
        live = self.live.get(job_id) if job_id else None
        if live is not None:
            self._thumbs(live, {i for i in live.segments if (live.id, i) not in self.thumbnails})

    def _thumbs(self, live: LiveJob, indexes: set[int], keyframes: bool = False) -> None:
        if live.id == self.current:
            for idx in indexes:
                seg = live.segments.get(idx)
                if seg is not None and seg.status is SegmentStatus.DONE and seg.thumbnail_source:
                    self._pictures.submit(self._make_thumb, live.id, idx, seg.thumbnail_source, False)
        if keyframes:
            for kf in live.keyframes.values():
                if kf.status == "done" and kf.file:
                    self._keyframe_thumb(live.id, kf.index, kf.file)

    def _keyframe_thumb(self, job_id: str, index: int, path: str) -> None:
        self._pictures.submit(self._make_thumb, job_id, index, path, True)

    def _make_thumb(self, job_id: str, index: int, path: str, keyframe: bool) -> None:
        from ..core import media

        try:
            version = (path, Path(path).stat().st_mtime_ns)
            pixels = media.thumbnail(path, *THUMB_SIZE)
        except Exception:
            return
        self.app.post_message(msg.ThumbnailReady(job_id, index, pixels, version, keyframe))  # thread-safe

    def thumbnail_ready(self, message: msg.ThumbnailReady) -> None:
        """A thumbnail made in the thread (the app hands it over on the UI loop)."""
        job_id, index = message.job_id, message.index
        if message.keyframe:
            self.keyframe_thumbs[(job_id, index)] = (message.pixels, message.version)
            self._publish(lambda: msg.JobUpdated(job_id, header=False, keyframes=True))
        else:
            self.thumbnails[(job_id, index)] = message.pixels
            self._publish(lambda: msg.JobUpdated(job_id, frozenset({index}), header=False))

    # --- the follower thread ----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._follow, name="sora-tui-follow", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._pictures.shutdown(wait=False, cancel_futures=True)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(2.0)

    @staticmethod
    def _active_jobs(store: Store) -> list[Job]:
        return [job for status in runner.ACTIVE for job in store.list_jobs(status=str(status), limit=50)]

    def _follow(self) -> None:
        """The follower: reads the followed jobs; hands each pass's readings to the UI loop."""
        store = Store(self.engine.store.path)  # its own connection: a WAL reader beside the UI's
        followed: dict[str, _Followed] = {}
        found: set[str] = set()  # jobs the store calls active (started elsewhere, or interrupted)
        discovered = 0.0
        try:
            while not self._stop.is_set():
                try:
                    now = time.monotonic()
                    if now - discovered >= DISCOVER:
                        discovered, found = now, {job.id for job in self._active_jobs(store)}
                    wanted = set(self._wanted) | found
                    readings: dict[str, Reading] = {}
                    for job_id in wanted:
                        state = followed.get(job_id)
                        if state is None:
                            job = store.get_job(job_id)
                            if job is None:
                                continue
                            # events before this window looked are already in the rows: read from the end
                            # (or from where a task this window started began)
                            since = self._since.pop(job_id, None)
                            offset = runner.EventLog(job.job_dir).end() if since is None else since
                            state = followed[job_id] = _Followed(job.job_dir, offset)
                        reading = self._read(
                            store,
                            job_id,
                            state,
                            now,
                            self._wanted.get(job_id, 0.0),
                            self.engine.settings.queue_max_jobs,
                        )
                        if reading is not None:
                            readings[job_id] = reading
                    for job_id in set(followed) - wanted:
                        followed.pop(job_id)
                    if readings and not self._stop.is_set():
                        self.app.post_message(msg.JobReadings(readings))  # thread-safe; the app hands them on
                except Exception:  # a pass that failed (a file vanishing mid-read): log it, try again
                    log.exception("following jobs")
                self._wake.wait(POLL)
                self._wake.clear()
        finally:
            store.close()

    @staticmethod
    def _read(
        store: Store, job_id: str, state: _Followed, now: float, grace: float, max_jobs: int = 5
    ) -> Reading | None:
        """One job's news since the last pass (None: nothing new). ``grace``: its runner is starting."""
        events, state.offset = runner.EventLog(state.job_dir).read(state.offset)
        holder = runner.holder(state.job_dir)
        rows = (
            state.first
            or bool(grace)  # a starting runner: until it holds the lease (or the job failed before it could)
            or any(type(e).__name__ in _ROW_EVENTS for e in events)
            or holder != state.holder
            or (holder is not None and now - state.rows_at >= ROWS_EVERY)
            # waiting in the queue: its place and what it waits for change without events
            or (holder is None and now - state.rows_at >= ROWS_EVERY and (state.job_dir / runner.QUEUED_FILE).exists())
        )
        if not rows and not events:
            return None
        job = store.get_job(job_id)
        if job is None:
            return None
        reading = Reading(job, events, holder)
        if rows:
            if state.first:
                reading.log = [log_text(r.level, r.message, r.index) for r in store.logs(job_id, tail=LOG_LINES)]
            state.rows_at, state.holder, state.first = now, holder, False
            reading.segments = store.segments(job_id)
            reading.keyframes = store.keyframes(job_id)
        if rows or job.status is JobStatus.QUEUED:
            reading.waits_for = _waits_for(store, job_id, max_jobs)
        return reading


def _waits_for(store: Store, job_id: str, max_jobs: int) -> str:
    from ..core import queue

    return queue.describe_wait(store, job_id, max_jobs)


def read_job(store: Store, job_id: str, first: bool = False) -> Reading | None:
    """One job's rows now (and, the first time, the newest lines of its log); cheap reads."""
    job = store.get_job(job_id)
    if job is None:
        return None
    reading = Reading(job, [], runner.holder(job.job_dir), store.segments(job_id), store.keyframes(job_id))
    if first:
        reading.log = [log_text(r.level, r.message, r.index) for r in store.logs(job_id, tail=LOG_LINES)]
    return reading
