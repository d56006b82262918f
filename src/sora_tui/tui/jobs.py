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
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from textual.message import Message

from ..core import runner
from ..core.follow import STARTING, Follower, Reading, RunnerWatch, read_job
from ..core.models import (
    FinishProgress,
    Job,
    KeyframeReady,
    LogLine,
    Segment,
    SegmentStatus,
    TaskDone,
    TaskStarted,
)
from ..core.progress import LiveJob, log_text
from ..core.store import Store
from . import messages as msg

if TYPE_CHECKING:
    from textual.app import App
    from textual.message_pump import MessagePump

    from ..core.engine import Engine

POLL = 0.25  # seconds between readings of the followed jobs
DISCOVER = 1.0  # seconds between looks for jobs started elsewhere
THUMB_SIZE = (32, 16)  # pixels: up to 32 cells × 8 rows of half blocks
log = logging.getLogger(__name__)
__all__ = ["JobWatch", "Reading", "read_job"]  # Reading and read_job: core/follow.py


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
        self._wanted: dict[str, RunnerWatch] = {}  # jobs this window follows -> whether their runner lives
        self._started: set[str] = set()  # jobs this window started a runner for (never "found running elsewhere")
        self._since: dict[str, int] = {}  # event log offset to start following a job from (a task it started)
        self._pictures = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sora-tui-thumbs")
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sora-tui-read")  # one-off job reads
        self._loading: set[str] = set()  # jobs the reader thread is reading
        self._missing: set[str] = set()  # jobs it found no row for
        self._then: dict[str, list[Callable[[LiveJob | None], None]]] = {}  # who waits for a job's reading
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
        """The live state of a job this window holds. A job it does not hold yet is read in the reader thread
        (never on the UI loop): None now, and the subscribers hear ``JobStateChanged`` once it is held."""
        if job_id is None:
            return None
        live = self.live.get(job_id)
        if live is None and job_id not in self._missing:
            self.load(job_id)
        return live

    def load(self, job_id: str, then: Callable[[LiveJob | None], None] | None = None) -> None:
        """Hold ``job_id``: read it in the reader thread when it is not held (UI loop). ``then`` gets its live
        state on the UI loop (None: the history has no such job)."""
        live = self.live.get(job_id)
        if live is not None:
            if then is not None:
                then(live)
            return
        if then is not None:
            self._then.setdefault(job_id, []).append(then)
        if job_id not in self._loading and not self._stop.is_set():  # stopped: the app is quitting
            self._loading.add(job_id)
            self._reader.submit(self._read, job_id)

    def _read(self, job_id: str) -> None:
        """The reader thread: one job's rows, handed to the UI loop (``JobLoaded``: the app passes it to loaded)."""
        try:
            reading = read_job(self.engine.store, job_id, first=True)
        except Exception:  # an unreadable store: told as "no such job" (the start-up worker says why)
            log.exception("reading job %s", job_id)
            reading = None
        self.app.post_message(msg.JobLoaded(job_id, reading))  # thread-safe

    def loaded(self, message: msg.JobLoaded) -> None:
        """A job the reader thread read (UI loop): hold it, answer who waited for it."""
        job_id, reading = message.job_id, message.reading
        self._loading.discard(job_id)
        if self.app._closing or self.app._closed:  # quitting: no screen to show it on
            return
        live = self.live.get(job_id)
        if live is None and reading is not None:
            self._missing.discard(job_id)
            live = self._add(reading)
        elif live is None:
            self._missing.add(job_id)  # get() does not ask again (load() does)
            if self.current == job_id:  # deleted elsewhere: the board shows another job
                self.select(self.newest())
                self._publish(lambda: msg.JobStateChanged(job_id))
        for then in self._then.pop(job_id, []):
            then(live)

    def read_from(self, job_id: str, since: int | None) -> None:
        """A task is about to start on ``job_id`` (thread-safe: called before its runner is spawned): if the
        follower is not reading the job's event log yet, it begins at ``since`` (the log's end before the spawn),
        so none of the task's events is missed however late the following begins. None: the task did not start."""
        if since is None:
            self._since.pop(job_id, None)
        else:
            self._since[job_id] = since

    def follow(self, job_id: str, started: bool = False) -> LiveJob | None:
        """Follow a job (``started``: a runner was just spawned for it; until it takes the lease it is "starting").
        Returns its live state when this window holds it already (else the follower reads it)."""
        watch = self._wanted.setdefault(job_id, RunnerWatch())
        self._missing.discard(job_id)
        live = self.get(job_id)
        if started:
            self._started.add(job_id)
            watch.expect()
            if live is not None:
                live.running, live.state = True, STARTING
                self._publish(lambda: msg.JobUpdated(job_id, header=True))
        self._wake.set()
        return live

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

    def read_active(self) -> list[Reading]:
        """The jobs the store calls active, read now (a thread: store reads and lease probes)."""
        store = self.engine.store
        readings = (read_job(store, job.id, first=True) for job in self._active_jobs(store))
        return [r for r in readings if r is not None]

    def scan(self, readings: list[Reading]) -> tuple[list[LiveJob], list[LiveJob]]:
        """Follow every job the store called active (``read_active``, UI loop); returns (running elsewhere,
        interrupted), newest first."""
        for reading in readings:
            self.hold(reading)
        live = sorted(self.live.values(), key=lambda lj: lj.job.created_at, reverse=True)
        # a slow start-up read can come after this window started jobs itself: those are not news
        running = [lj for lj in live if lj.running and lj.id not in self._started]
        interrupted = [lj for lj in live if lj.state == "interrupted"]
        return running, interrupted

    def hold(self, reading: Reading) -> LiveJob:
        """Hold a job a worker has read (UI loop): its live state (the one held already, if any)."""
        live = self.live.get(reading.job.id)
        return live if live is not None else self._add(reading)

    def newest(self) -> str | None:
        """The job a board with nothing chosen shows: the newest running one, else the newest this window holds
        (the start-up worker read the history's newest; no store read here)."""
        held = [lj for lj in self.live.values() if lj.running] or list(self.live.values())
        return max(held, key=lambda lj: lj.job.created_at).id if held else None

    def _add(self, reading: Reading) -> LiveJob:
        job = reading.job
        live = LiveJob.from_rows(job, reading.segments or [], reading.keyframes or [], reading.log or [])
        self._set_holder(live, reading.holder)
        self.live[job.id] = live
        self._thumbs(live, set(live.segments), keyframes=True)
        if live.running or job.status in runner.ACTIVE:
            self._wanted.setdefault(job.id, RunnerWatch())
            self._wake.set()
        self._publish(lambda: msg.JobStateChanged(job.id))
        return live

    def _set_holder(self, live: LiveJob, holder: runner.Holder | None) -> None:
        """Whether the job's runner lives: core/follow.py's rule (one grace for a runner that is starting)."""
        alive = self._wanted.get(live.id, RunnerWatch()).look(live.job, holder)
        live.running, live.state, live.task, live.runner = alive.running, alive.state, alive.task, alive.runner
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
        self._stop.set()
        self._pictures.shutdown(wait=False, cancel_futures=True)
        self._reader.shutdown(wait=False, cancel_futures=True)
        self._wake.set()
        if self._thread is not None:
            self._thread.join(2.0)

    @staticmethod
    def _active_jobs(store: Store) -> list[Job]:
        return [job for status in runner.ACTIVE for job in store.list_jobs(status=str(status), limit=50)]

    def _follow(self) -> None:
        """The follower: reads the followed jobs; hands each pass's readings to the UI loop."""
        store = Store(self.engine.store.path)  # its own connection: a WAL reader beside the UI's
        followed: dict[str, Follower] = {}
        found: set[str] = set()  # jobs the store calls active (started elsewhere, or interrupted)
        discovered = 0.0
        try:
            while not self._stop.is_set():
                try:
                    now = time.monotonic()
                    if now - discovered >= DISCOVER:
                        discovered, found = now, {job.id for job in self._active_jobs(store)}
                    readings = self._pass(store, followed, found, now)
                    if readings and not self._stop.is_set():
                        self.app.post_message(msg.JobReadings(readings))  # thread-safe; the app hands them on
                except Exception:  # a pass that failed (a file vanishing mid-read): log it, try again
                    log.exception("following jobs")
                self._wake.wait(POLL)
                self._wake.clear()
        finally:
            store.close()

    def _pass(self, store: Store, followed: dict[str, Follower], found: set[str], now: float) -> dict[str, Reading]:
        """One pass of the follower (its thread): what changed in each followed job since the last pass."""
        wanted = set(self._wanted) | found
        readings: dict[str, Reading] = {}
        for job_id in wanted:
            state = followed.get(job_id)
            if state is None:
                job = store.get_job(job_id)
                if job is None:
                    continue
                # events before this window looked are already in the rows: read from the end, or from where
                # a task this window started began (read_from; taken after the end is read, so a task that
                # starts just now counts too)
                state = followed[job_id] = Follower.from_end(job.job_dir)
                since = self._since.pop(job_id, None)
                if since is not None:
                    state.offset = min(state.offset, since)
            elif (since := self._since.get(job_id)) is not None and state.offset > since:
                # this follower has read on past where the task began: it told the task's first events. Until
                # then the offset is kept: a follower dropped meanwhile (the job rested between two tasks) is
                # begun again from it, not from the log's end
                self._since.pop(job_id, None)
            watch = self._wanted.get(job_id)
            reading = state.read(
                store,
                job_id,
                now,
                starting=watch is not None and watch.expecting,
                max_jobs=self.engine.settings.queue_max_jobs,
            )
            if reading is not None:
                readings[job_id] = reading
        for job_id in set(followed) - wanted:
            followed.pop(job_id)
        return readings
