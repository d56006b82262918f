"""The studio app: screens as modes, engine runs in async workers, events as Textual messages.

``create_app`` is the one factory used by the CLI (``run_app``), the tests, the
screenshot script and the benchmarks.
"""

from __future__ import annotations

import copy
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, on, work
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import AwaitMount
from textual.widgets import Input, TextArea
from textual.worker import Worker

from ..core import jobactions, reach, runner, tasks
from ..core.jobactions import StopStep
from ..core.models import InputError, Job, JobStatus, Mode, Plan, SegmentStatus, TaskDone
from ..core.plans import ResumeStep, resume_step
from ..core.queue import enqueue
from . import messages as msg
from .advice import coded_words, explain, job_error
from .commands import SoraCommands
from .context import Studio
from .format import money, plural
from .idle_gc import IdleCollector
from .jobs import JobWatch, Reading, read_job
from .live import LiveJob
from .screens.modals import AskModal, ConfirmModal
from .workers import failure_text, report_failure

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel

    from ..core.engine import Engine

UI_SWITCH_INTERVAL = 0.001  # seconds (CPython's default is 0.005)
SWITCH_PAUSE = 0.005  # seconds: updates held back while a kept screen comes back (its resume handler runs)
# seconds after the first screen is up when the other screens' modules are imported, in a thread: late
# enough not to slow the first paint (the import shares the GIL with it), early enough for a first F-key
IMPORT_SCREENS_AFTER = 0.5
DELIVERY = "sora-tui:"  # prefix of the names of our browser deliveries (Textual's screenshots use others)


class SoraApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "sora-tui"
    SUB_TITLE = "one prompt, one long video"
    # the mode screens (made with the studio context in __init__: add_mode). Only the prompt screen is
    # imported with the app: each other screen's module is imported when it is first shown, so the first
    # paint does not wait for them (about 0.1 s of imports on a 2-core box)
    MODE_SCREENS: dict[str, str] = {
        "prompt": "prompt:PromptScreen",
        "board": "board:BoardScreen",
        "history": "history:HistoryScreen",
        "settings": "settings:SettingsScreen",
        "queue": "queue:QueueScreen",
    }
    COMMANDS = App.COMMANDS | {SoraCommands}
    # F-keys are priority bindings: no widget uses them, and the app answers them at once instead
    # of after the key has travelled through the focused widget and its parents
    BINDINGS = [
        Binding("f1", "help", "Help", id="app.help", tooltip="List every key and action", priority=True),
        Binding(
            "f2", "switch_mode('prompt')", "New", id="app.new", tooltip="Write a prompt for a new video", priority=True
        ),
        Binding("f3", "switch_mode('board')", "Board", id="app.board", tooltip="Watch segments render", priority=True),
        Binding(
            "f4", "switch_mode('history')", "History", id="app.history", tooltip="Past and running jobs", priority=True
        ),
        Binding(
            "f5", "switch_mode('settings')", "Settings", id="app.settings", tooltip="Keys and defaults", priority=True
        ),
        Binding(
            "f9",
            "switch_mode('queue')",
            "Queue",
            id="app.queue",
            tooltip="The job queue and batches",
            priority=True,
            show=False,  # in Help and the palette; the footer row keeps its width
        ),
        Binding(
            "ctrl+q",
            "quit",
            "Quit",
            id="app.quit",
            tooltip="Quit (running jobs keep rendering)",
        ),
    ]

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], float] = time.time,
        tz: tzinfo | None = None,
        initial_mode: str | None = None,
        cursor_blink: bool = True,
        picture_mode: str = "halfblock",
    ) -> None:
        super().__init__()
        self.engine = engine
        self.clock = clock
        self.tz = tz  # the time zone dates are shown in (None: the machine's)
        self.initial_mode = initial_mode
        self.cursor_blink = cursor_blink
        self.jobs = JobWatch(engine, self)  # the live jobs: followed from the store and their runners
        # what screens are handed when they are made (they never reach into the app)
        self.studio = Studio(engine, self.jobs, clock, tz, picture_mode)
        for mode, where in self.MODE_SCREENS.items():
            self.add_mode(mode, lambda where=where: _screen_class(where)(self.studio))  # type: ignore[misc]

        self.exit_code = 0
        self._mounted_mode = False  # switching to a mode whose screen exists already
        self._visited_modes: set[str] = set()  # modes whose screen exists (kept by Textual once made)
        self._open: set[str] = set()  # single screens shown now ("help", "cast"): a second key does not stack one
        self._place: reach.Place | None = None  # where the user sits: read once, in a worker
        self.idle_gc = IdleCollector()

    @property
    def picture_mode(self) -> str:
        """How the preview draws frames (tui/graphics.py)."""
        return self.studio.picture_mode

    @picture_mode.setter
    def picture_mode(self, mode: str) -> None:
        self.studio.picture_mode = mode

    # --- start-up ---------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed worker of the app says so (tui.workers: the one wording; exit_on_error=False)."""
        report_failure(self, event)

    def on_mount(self) -> None:
        # Thumbnail and file threads share the GIL with the UI loop: hand it over more often so keys
        # stay responsive (jobs render in runner processes, never here).
        sys.setswitchinterval(UI_SWITCH_INTERVAL)
        theme = self.engine.settings.theme
        if theme in self.available_themes:
            self.theme = theme
        self.jobs.start()
        self._find_jobs()  # a thread: the store and the runners' leases are read off the loop
        if self.initial_mode is not None:  # the caller chose what to show (tests, screenshots)
            self.switch_mode(self.initial_mode)
        # full garbage collections only while the user is idle (see idle_gc)
        self.idle_gc.start()
        self.set_interval(1.0, self.idle_gc.tick)
        if self.engine.settings.auto_clean_days > 0:
            self.auto_clean()

    @work(thread=True, exit_on_error=False, group="start")
    def _find_jobs(self) -> None:
        """At start: the jobs the store calls active (running elsewhere, or interrupted) and the newest job.
        A failed read still opens the studio (on the prompt; the follower keeps looking) and says why."""
        try:
            readings = self.jobs.read_active()
            newest = self.engine.store.list_jobs(limit=1)
            # the newest job is held too: the board shows it without a read on the loop
            first = read_job(self.engine.store, newest[0].id, first=True) if newest else None
        except Exception as exc:
            self.call_from_thread(
                self.notify, failure_text(exc), severity="error", title="Could not read the history", timeout=15
            )
            readings, first = [], None
        self.call_from_thread(self._found_jobs, readings, first)

    def _found_jobs(self, readings: list[Reading], newest: Reading | None) -> None:
        running, interrupted = self.jobs.scan(readings + ([newest] if newest is not None else []))
        # the read can end after the user already chose a job or a screen (a slow disk): never undo that
        if self.jobs.current is None:  # the newest running job, else the newest
            self.jobs.select(running[0].id if running else self.jobs.newest())
        if self.initial_mode is None and self.current_mode == self.DEFAULT_MODE:
            # as `sora-tui` starts: the board when a job renders, else the prompt
            self.switch_mode("board" if running else "prompt")
            if running or interrupted:  # what was found, and what was interrupted
                self.call_after_refresh(self.report_found, running, interrupted)
        self.set_timer(IMPORT_SCREENS_AFTER, self._import_screens)

    @work(thread=True, exit_on_error=False, group="start")
    def _import_screens(self) -> None:
        """After the first screen is up, the other screens' modules are imported here, off the loop:
        the first F3, F4, … does not wait for an import."""
        for where in self.MODE_SCREENS.values():
            _screen_class(where)
        from .screens import files, found, help, keyframes, plan, preview  # noqa: F401

    def report_found(self, running: list[LiveJob], interrupted: list[LiveJob]) -> None:
        """At start: jobs that run elsewhere (followed on the board) and jobs whose runner died (resume?)."""
        if interrupted:
            from .screens.found import FoundJobsModal

            self.push_screen(FoundJobsModal(running, interrupted), self._post_request)
        elif running:
            names = ", ".join(f"{lj.id} ({lj.runner})" for lj in running[:3])
            title = plural(len(running), "job") + " rendering"
            self.notify(f"Following {names} on the board (F3).", title=title, timeout=10)

    def _post_request(self, request: msg.JobRequested | None) -> None:
        """A modal's answer that asks for work on a job (FoundJobsModal)."""
        if request is not None:
            self.post_message(request)

    @work(thread=True, group="clean", exit_on_error=False)
    def auto_clean(self) -> None:
        """The clean-up at start that the auto_clean_days setting asks for (a thread: never in the way)."""
        from ..core.finish.clean import auto_clean
        from ..core.reach import human_size

        report = auto_clean(self.engine)
        if report is not None and report.items:
            self.call_from_thread(
                self.notify,
                f"Clean-up removed {len(report.items)} intermediate files ({human_size(report.freed_bytes)}).",
            )

    def on_unmount(self) -> None:
        self.idle_gc.stop()
        self.jobs.stop()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent):
            self.idle_gc.input_seen()
        await super().on_event(event)

    def switch_mode(self, mode: str) -> AwaitMount:
        # Textual pauses screen updates for 50 ms on every mode switch (delay_update), to hide a
        # screen that is still mounting. Our mode screens are mounted once and kept, so after the
        # first visit that pause is only latency between a key and the screen it asks for.
        self._mounted_mode = mode in self._visited_modes
        self._visited_modes.add(mode)
        try:
            return super().switch_mode(mode)
        finally:
            self._mounted_mode = False

    def delay_update(self, delay: float = 0.05) -> None:
        super().delay_update(SWITCH_PAUSE if self._mounted_mode else delay)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every toast is plain text: messages carry paths, prompts and provider errors, never markup."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def freeze(self) -> None:
        """Stop cursor blinking on the current screen (stable snapshots and screenshots)."""
        for widget in self.screen.query("Input, TextArea"):
            if isinstance(widget, Input | TextArea):
                widget.cursor_blink = False

    # --- navigation -------------------------------------------------------------------

    def _push_once(self, name: str, screen: Screen[Any]) -> None:
        """Show ``screen`` unless the one named ``name`` is shown already (a second key does not stack it)."""
        if name in self._open:
            return
        self._open.add(name)
        self.push_screen(screen, lambda _: self._open.discard(name))

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        self._push_once("help", HelpScreen())

    @on(msg.CastRequested)
    def open_cast(self) -> None:
        """The cast library (command palette: "Cast library")."""
        from .screens.cast import CastScreen

        self._push_once("cast", CastScreen(self.studio))

    def open_takes(self, job_id: str) -> None:
        """The takes of a job's shots side by side; Enter keeps one (command palette: "Takes")."""
        from .screens.takes import TakesScreen

        def kept(picked: bool | None) -> None:
            if picked:  # a take was kept: the shots after it render again, the video is joined again
                self.start_job(job_id)

        self.push_screen(TakesScreen(self.studio, job_id), kept)

    @on(msg.PlanRequested)
    def _plan_requested(self, message: msg.PlanRequested) -> None:
        self.open_plan(message.plan, message.job_id)

    def open_plan(self, plan: Plan, job_id: str | None = None) -> None:
        """Edit ``plan`` on the plan screen (over the prompt); what it dismisses with is rendered."""
        if self.current_mode != "prompt":
            self.switch_mode("prompt")
        while len(self.screen_stack) > 1:  # a new plan replaces one being edited (the prompt's stack)
            self.pop_screen()

        def accepted(chosen: Plan | None) -> None:
            if chosen is not None:
                self.post_message(msg.RenderRequested(chosen, job_id))

        from .screens.plan import PlanScreen

        self.push_screen(PlanScreen(self.studio, plan, job_id), accepted)

    def show_on_board(self, job_id: str) -> None:
        """Show a job on the board (read in JobWatch's reader thread first when this window does not hold it)."""

        def held(live: LiveJob) -> None:
            self.jobs.show(job_id)
            if self.current_mode != "board":
                self.switch_mode("board")

        self._when_held(job_id, held)

    def _when_held(
        self,
        job_id: str,
        then: Callable[[LiveJob], object],
        missing: tuple[str, SeverityLevel] | None = None,
    ) -> None:
        """``then`` with the job's live state once this window holds it (read off the loop when it does not);
        ``missing`` is said when the history has no such job."""

        def held(live: LiveJob | None) -> None:
            if live is not None:
                then(live)
            else:
                text, severity = missing or (f"No job {job_id} in the history.", "error")
                self.notify(text, severity=severity)

        self.jobs.load(job_id, held)

    def open_review(self, job_id: str) -> None:
        """Show the keyframe review of a keyframe-mode job (on top of the current screen); when the user
        accepts the keyframes (the screen dismisses with True) the videos render."""

        def accepted(render: bool | None) -> None:
            if render:
                self.start_job(job_id)

        def held(live: LiveJob) -> None:
            from .screens.keyframes import KeyframeScreen

            self.push_screen(KeyframeScreen(self.studio, job_id), accepted)

        self._when_held(job_id, held)

    # --- jobs -------------------------------------------------------------------------

    @on(msg.RenderRequested)
    def _render_requested(self, message: msg.RenderRequested) -> None:
        self.render_plan(message.plan, message.job_id)

    @work(thread=True, exit_on_error=False, group="render")
    def render_plan(self, plan: Plan, job_id: str | None = None) -> None:
        """Accept a plan: create (or update) its job (store and files: off the loop) and start rendering it."""
        try:
            job = self.engine.update_plan(job_id, plan) if job_id is not None else self.engine.create_job(plan)
        except InputError as exc:
            self.call_from_thread(self._not_rendered, plan, job_id, explain(exc))
            return
        self.post_message(msg.JobsChanged(job.id))
        # keyframe mode: make the keyframes and stop for review before any video is paid for
        self.call_from_thread(self.start_job, job.id, plan.mode is Mode.KEYFRAMES)

    def _not_rendered(self, plan: Plan, job_id: str | None, why: str) -> None:
        self.notify(why, severity="error", title="Cannot render")
        self.open_plan(plan, job_id)  # the edits stay: back on the plan screen

    def start_job(self, job_id: str, review: bool = False, show: bool = True) -> None:
        """Queue a job (a new one, or resume) and show it (on the board, or its keyframe review).

        The scheduler starts its runner, its own process: quitting the app or closing its browser tab leaves it
        rendering. ``review`` stops a keyframe-mode job once its keyframes exist. The store and the scheduler's
        start run in a thread worker."""
        self._queue_job(job_id, review, show)

    @work(thread=True, exit_on_error=False, group="start")
    def _queue_job(self, job_id: str, review: bool, show: bool) -> None:
        job = self.engine.store.get_job(job_id)
        if job is None:
            self.call_from_thread(self.notify, f"No job {job_id} in the history.", severity="error")
            return
        try:
            # the queue starts it when the limits allow (core/queue.py, core/scheduler.py); the settings'
            # output folder is the engine's to apply (core.jobfiles.default_output)
            enqueue(self.engine, job, options={"review_keyframes": True} if review else {})
        except InputError as exc:
            who = runner.holder(job.job_dir)
            if who is None:
                self.call_from_thread(self.notify, explain(exc), severity="error", title="Not started")
                return
            # a runner holds it already (another window, a browser tab, the CLI): follow that one
            reading = read_job(self.engine.store, job_id, first=True)
            self.call_from_thread(
                self._queued, job_id, False, show, f"{job_id} is rendering in {who.describe()}", reading
            )
            return
        except OSError as exc:
            self.call_from_thread(
                self.notify, f"Could not start a runner for {job_id}: {exc}", severity="error", title="Not started"
            )
            return
        self.call_from_thread(self._queued, job_id, review, show, None, read_job(self.engine.store, job_id, first=True))

    def _queued(
        self, job_id: str, review: bool, show: bool, elsewhere: str | None, reading: Reading | None = None
    ) -> None:
        if reading is not None:  # read in the worker: the board shows it at once
            self.jobs.hold(reading)
        if elsewhere is not None:
            self.notify(f"{elsewhere}; following it.", title="Already running")
        self.jobs.follow(job_id, started=elsewhere is None)
        self.post_message(msg.JobsChanged(job_id))
        if not show:
            return
        if review:
            self.open_review(job_id)
        else:
            self.show_on_board(job_id)

    def _held(self, job_id: str, doing: str) -> bool:
        """True (and says so) when this window sees a runner holding the job: ``doing`` would change it under
        that runner. Only what the window holds (no read here): the engine refuses a held job in the worker too."""
        live = self.jobs.live.get(job_id)
        if live is None or not live.running:
            return False
        who = f" ({live.runner})" if live.runner else ""
        self.notify(f"{job_id} is rendering{who}; stop it first (c on the board).", severity="warning", title=doing)
        return True

    @work(thread=True, exit_on_error=False, group="resume")
    def resume_job(self, job_id: str) -> None:
        """What resuming does next (core: plans.resume_step), decided off the loop."""
        job = self.engine.store.get_job(job_id)
        if job is None:
            self.call_from_thread(self.notify, f"No job {job_id} in the history.", severity="error")
            return
        if job.folder and runner.holder(job.job_dir) is None:
            runner.reset_crashes(job.job_dir)  # the user's resume: a job held after a crash loop runs again
        step = resume_step(job, self.engine.store.segments(job_id), self.engine.store.keyframes(job_id))
        self.call_from_thread(self._resume, job_id, step)

    def _resume(self, job_id: str, step: ResumeStep) -> None:
        if step is ResumeStep.COMPLETE:
            self.notify("This job is complete; use Redo (k in History) to render segments again.")
            self.show_on_board(job_id)
        elif step is ResumeStep.REVIEW:
            self.open_review(job_id)
        else:  # keyframes missing: made now, then reviewed before any video is paid for
            self.start_job(job_id, review=step is ResumeStep.KEYFRAMES)

    # --- runner tasks ---------------------------------------------------------------------

    @on(msg.TaskRequested)
    def _task_requested(self, message: msg.TaskRequested) -> None:
        self.start_task(message.job_id, message.task, message.options)

    @work(thread=True, exit_on_error=False, group="task")
    def start_task(self, job_id: str, task: str, options: dict[str, Any]) -> None:
        """Start a runner task on a job (core/tasks.py: finish, export, keyframe) and follow it. The spawn
        (which waits for the runner) runs here, off the loop; a refusal is told to the user and to the screens
        (``TaskRefused``): another process holds the job (a render, another window's finish)."""
        job = self.engine.store.get_job(job_id)
        if job is None:
            self.call_from_thread(self._task_refused, job_id, task, f"No job {job_id} in the history.")
            return
        # its events are read from here on, however late the follower begins to follow the job
        self.jobs.read_from(job_id, runner.EventLog(job.job_dir).end())
        try:
            runner.spawn(self.engine.env, job_id, task=task, options=options)
        except InputError as exc:
            self.jobs.read_from(job_id, None)
            self.call_from_thread(self._task_refused, job_id, task, explain(exc))
            return
        except OSError as exc:
            self.jobs.read_from(job_id, None)
            self.call_from_thread(self._task_refused, job_id, task, f"Could not start a runner for {job_id}: {exc}")
            return
        self.call_from_thread(self.jobs.follow, job_id)

    def _task_refused(self, job_id: str, task: str, reason: str) -> None:
        self.notify(reason, severity="warning", title="Not started")
        self.screen.post_message(msg.TaskRefused(job_id, task, reason))

    # --- stop, redo, duplicate, delete ---------------------------------------------------

    def cancel_job(self, job_id: str) -> None:
        """Stop a job as core.jobactions.stop_step says (a task, the queue, a render); a render is asked first,
        saying what has been paid and what a stopped request may still cost."""

        self._when_held(
            job_id,
            lambda live: self._stop(live.job, live.task, live.running, live.state),
            missing=("This job is not running.", "warning"),
        )

    @work(thread=True, exit_on_error=False, group="stop")
    def _stop(self, job: Job, task: str | None, running: bool, state: str) -> None:
        held = runner.holder(job.job_dir) is not None
        step = jobactions.stop_step(task=task, running=running, state=state, held=held)
        say = self.call_from_thread
        if step is StopStep.TASK_UNSTOPPABLE:
            say(self.notify, "A keyframe is being made (one image call); it cannot be stopped.", severity="warning")
        elif step is StopStep.STOP_TASK:
            if runner.request_stop(job.job_dir):
                say(self.notify, f"Stopping the {task}… the video and earlier versions are kept.", title="Stop")
        elif step is StopStep.DEQUEUE:
            jobactions.take_out_of_queue(self.engine.store, job)  # nothing was paid: take it out
            say(self.notify, "Taken out of the queue; t resumes it.", title="Stop")
            say(self.jobs.follow, job.id)
        elif step is StopStep.NOT_RUNNING:
            say(self.notify, "This job is not running.", severity="warning")
        else:
            quote = self.engine.cancel_quote(job.id)
            say(self._ask_stop, job, quote.summary())

    def _ask_stop(self, job: Job, paid: str) -> None:
        def done(yes: bool | None) -> None:
            if yes:
                self._request_stop(job)

        self.push_screen(
            ConfirmModal(
                "Stop this job?",
                f"So far this job has {paid}. Finished segments are kept; t resumes it.",
                yes="Stop",
            ),
            done,
        )

    @work(thread=True, exit_on_error=False, group="stop")
    def _request_stop(self, job: Job) -> None:
        if runner.request_stop(job.job_dir):
            self.call_from_thread(self.notify, "Stopping… finished segments are kept; t resumes it.", title="Stop")
        else:
            self.call_from_thread(self.notify, "This job is not running any more.", severity="warning")

    @work(thread=True, exit_on_error=False, group="redo")
    def ask_redo(self, job_id: str) -> None:
        """Ask from which segment to render again (the index checked by core.jobactions.redo_index)."""
        if self.engine.store.get_job(job_id) is None:
            return
        n = len(self.engine.store.segments(job_id))
        self.call_from_thread(self._ask_redo, job_id, n)

    def _ask_redo(self, job_id: str, n: int) -> None:
        def check(value: str) -> str | None:
            try:
                jobactions.redo_index(value, n)
            except InputError as exc:
                return exc.problem
            return None

        def done(value: str | None) -> None:
            if value:
                self.redo(job_id, jobactions.redo_index(value, n))

        self.push_screen(
            AskModal(
                "Redo from segment…",
                f"Segments K..{n} of {job_id} render again (from its plan.json, which you may have edited); "
                "earlier segments are kept.",
                value="1",
                check=check,
            ),
            done,
        )

    @on(msg.RedoRequested)
    def _redo_requested(self, message: msg.RedoRequested) -> None:
        if message.seam is None:
            self.redo(message.job_id, message.index, message.only)
        else:
            self.ask_rerender(message.job_id, message.index, message.seam)

    @work(thread=True, exit_on_error=False, group="redo")
    def ask_rerender(self, job_id: str, index: int, seam: dict[str, Any]) -> None:
        """Re-render the segment after a flagged seam, alone, with a fresh seed; its cost is asked first."""
        try:
            cost, _ = self.engine.redo_cost(job_id, index, only=True)
        except InputError as exc:
            self.call_from_thread(self.notify, explain(exc), severity="error", title="Cannot re-render")
            return
        self.call_from_thread(self._ask_rerender, job_id, index, seam, cost)

    def _ask_rerender(self, job_id: str, index: int, seam: dict[str, Any], cost: float) -> None:
        def done(yes: bool | None) -> None:
            if yes:
                self.redo(job_id, index, only=True)

        reasons = "; ".join(seam["reasons"]) or seam["verdict"]
        self.push_screen(
            ConfirmModal(
                f"Re-render segment {index}?",
                f"Seam {seam['index']}|{index} is {seam['verdict']}: {reasons}. Segment {index} renders again "
                f"with a fresh seed; the other segments are kept and the video is joined again. "
                f"Estimated cost: {money(cost)}.",
                yes="Re-render",
                danger=False,
            ),
            done,
        )

    def redo(self, job_id: str, index: int, only: bool = False) -> None:
        """Reset segments ``index``.. (or ``index`` alone) and render them again; refused while a runner holds it."""
        title = "Cannot re-render" if only else "Cannot redo"
        if not self._held(job_id, title):
            self._redo(job_id, index, only, title)

    @work(thread=True, exit_on_error=False, group="redo")
    def _redo(self, job_id: str, index: int, only: bool, title: str) -> None:
        try:
            self.engine.prepare_redo(job_id, index, only=only)  # the engine refuses a job a runner holds
        except InputError as exc:
            self.call_from_thread(self.notify, explain(exc), severity="error", title=title)
            return
        self._reload(job_id)
        self.call_from_thread(self.start_job, job_id)

    def _reload(self, job_id: str) -> None:
        """Read a job again after this window changed it (in a worker's thread), then fold it in on the loop."""
        reading = read_job(self.engine.store, job_id)
        self.call_from_thread(self._reloaded, job_id, reading)

    def _reloaded(self, job_id: str, reading: Any) -> None:
        if reading is None:
            self.jobs.forget(job_id)
        else:
            self.jobs.apply({job_id: reading})
        self.post_message(msg.JobsChanged(job_id))

    @on(msg.JobChangedHere)
    def _changed_here(self, message: msg.JobChangedHere) -> None:
        self.reload_job(message.job_id)

    @work(thread=True, exit_on_error=False, group="reload")
    def reload_job(self, job_id: str) -> None:
        self._reload(job_id)

    @work(thread=True, exit_on_error=False, group="duplicate")
    def duplicate_job(self, job_id: str) -> None:
        job = self.engine.store.get_job(job_id)
        if job is None or job.plan is None:
            self.call_from_thread(self.notify, "That job has no plan to copy.", severity="warning")
            return
        self.call_from_thread(self.open_plan, copy.deepcopy(job.plan))
        self.call_from_thread(self.notify, "Copied the plan into a new draft; ctrl+r renders it as a new job.")

    def ask_delete(self, job_id: str) -> None:
        if self._held(job_id, "Not deleted"):
            return

        def done(yes: bool | None) -> None:
            if yes and not self._held(job_id, "Not deleted"):
                self._delete_job(job_id)

        self.push_screen(
            ConfirmModal(
                "Delete job?",
                f"Job {job_id} and its folder (segments, frames, final video) are removed for good.",
                yes="Delete",
            ),
            done,
        )

    @work(thread=True, exit_on_error=False, group="delete")
    def _delete_job(self, job_id: str) -> None:
        """The store row and the job's folder (rmtree): off the UI loop; a refusal is reported by
        the one worker-failure handler (on_worker_state_changed)."""
        self.engine.delete_job(job_id)
        self._reload(job_id)
        self.call_from_thread(self.notify, f"Deleted job {job_id} and its files.")

    # --- the finished video -------------------------------------------------------------

    @work(thread=True, exit_on_error=False, group="export")
    def open_export(self, job_id: str) -> None:
        """Finish & export a completed job (narration, subtitles, music, delivery presets)."""
        from .screens.export import ExportScreen

        job = self.engine.store.get_job(job_id)
        if job is None or job.status is not JobStatus.COMPLETED:
            self.call_from_thread(self.notify, "Finish & export works on completed jobs.", severity="warning")
            return
        self.call_from_thread(self.push_screen, ExportScreen(self.studio, job))

    def _output(self, job_id: str) -> str | None:
        """The finished video's path (in a worker's thread), or None after saying there is none."""
        job = self.engine.store.get_job(job_id)
        if job is None or not job.output:
            self.call_from_thread(self.notify, "No finished video yet.", severity="warning")
            return None
        return job.output

    @work(thread=True, exit_on_error=False, group="open")
    def open_output(self, job_id: str) -> None:
        path = self._output(job_id)
        if path is None:
            return
        say = self.call_from_thread
        if not Path(path).exists():
            say(self.notify, f"{path} no longer exists.", severity="error")
            return
        place = self.place
        problem = reach.open_problem(place)
        if problem is not None or place.opener is None:
            say(self.notify, problem or "No system player here.", title="Cannot open", severity="warning", timeout=10)
            return
        opener = place.opener
        try:
            subprocess.Popen(
                [opener, path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
            )
        except OSError as exc:
            say(self.notify, f"Could not start {opener}: {exc.strerror}", severity="error")
            return
        say(self.notify, f"Opening {Path(path).name}…")

    @work(thread=True, exit_on_error=False, group="copy")
    def copy_output(self, job_id: str) -> None:
        path = self._output(job_id)
        if path is not None:
            self.call_from_thread(self._copy_output, path, reach.fetch_commands(self.place, path))

    def _copy_output(self, path: str, commands: list[str]) -> None:
        if commands and not self.is_web:  # over SSH a server path is of no use: the line that fetches it is
            self.copy_to_clipboard(commands[0])
            self.notify(f"{commands[0]}\nRun it on your own computer.", title="scp command copied", timeout=10)
            return
        self.copy_to_clipboard(path)
        self.notify(f"Copied {path}", title="Path copied")

    # --- getting files to the user ------------------------------------------------------

    @property
    def place(self) -> reach.Place:
        """Where the user sits (browser, SSH, local) and what can show them a video (read once: PATH lookups)."""
        if self._place is None:
            self._place = reach.locate(
                self.engine.env,
                web=self.is_web,
                hostname=socket.gethostname(),
                opener=shutil.which("xdg-open") or shutil.which("open"),
                platform=sys.platform,
            )
        return self._place

    def job_files(self, job_id: str) -> list[reach.JobFile]:
        """A job's files (store reads: call it from a worker's thread)."""
        job = self.engine.store.get_job(job_id)
        if job is None:
            return []
        done = [(s.index, s.file) for s in self.engine.store.segments(job_id) if s.status is SegmentStatus.DONE]
        return reach.job_files(job.id, job.output, job.folder, done)

    @work(thread=True, exit_on_error=False, group="files")
    def open_files(self, job_id: str) -> None:
        """The job's files and how to get each one here; the modal dismisses with a video to preview."""
        files = self.job_files(job_id)
        if not files:
            self.call_from_thread(
                self.notify, "Nothing to get yet: no segment of this job has finished.", severity="warning"
            )
            return
        place = self.place

        def chosen(file: reach.JobFile | None) -> None:
            if file is not None:
                self.open_preview(job_id, file)

        from .screens.files import FilesModal  # imported here, in the worker: never on the loop

        self.call_from_thread(self.push_screen, FilesModal(job_id, files, place), chosen)

    @on(msg.FileRequested)
    def _file_requested(self, message: msg.FileRequested) -> None:
        self.get_file(message.file)

    @work(thread=True, exit_on_error=False, group="downloads")
    def get_file(self, file: reach.JobFile) -> None:
        """Hand ``file`` to the user: a browser download, the scp line over SSH, else a copy in Downloads."""
        place = self.place
        say = self.call_from_thread
        if place.web:
            try:
                binary = open(file.path, "rb")  # noqa: SIM115  (textual-serve reads it in chunks and closes it)
            except OSError as exc:
                say(self.notify, f"Cannot read {file.path}: {exc.strerror}", severity="error")
                return
            # only ever on the web: in a terminal, Textual 8's deliver_binary writes to the downloads folder
            # joined with the file object's name, an absolute path, i.e. over the file being read
            say(self.deliver_binary, binary, save_filename=file.download_name, name=DELIVERY + file.download_name)
            say(
                self.notify,
                f"Sending {file.download_name} ({reach.human_size(file.size)}) to your browser…",
                title="Download",
            )
            return
        commands = reach.fetch_commands(place, file.path)
        if commands:
            say(self.copy_to_clipboard, commands[0])
            say(self.notify, f"{commands[0]}\nRun it on your own computer.", title="scp command copied", timeout=10)
            return
        self._save_download(file)

    def _save_download(self, file: reach.JobFile) -> None:
        from platformdirs import user_downloads_path

        try:
            dest = reach.save_copy(file.path, user_downloads_path(), file.download_name)
        except OSError as exc:
            self.call_from_thread(
                self.notify, f"Could not save {file.download_name}: {exc.strerror or exc}", severity="error"
            )
            return
        self.call_from_thread(self.notify, f"Saved a copy: {dest}", title="Saved")

    def on_delivery_complete(self, event: events.DeliveryComplete) -> None:
        if event.name and event.name.startswith(DELIVERY):
            name = event.name.removeprefix(DELIVERY)
            self.notify(f"{name} sent: your browser keeps it in its downloads.", title="Downloaded")

    def on_delivery_failed(self, event: events.DeliveryFailed) -> None:
        if event.name and event.name.startswith(DELIVERY):
            name = event.name.removeprefix(DELIVERY)
            self.notify(f"{name} could not be sent: {event.exception}", title="Download failed", severity="error")

    @work(thread=True, exit_on_error=False, group="preview")
    def open_preview(self, job_id: str, file: reach.JobFile | None = None) -> None:
        """Frames of the final video (or ``file``), with the segments and seams to step through."""
        videos = [f for f in self.job_files(job_id) if f.is_video]
        if not videos:
            self.call_from_thread(
                self.notify, "No video to preview yet: no segment of this job has finished.", severity="warning"
            )
            return
        start = videos.index(file) if file in videos else 0
        from .screens.preview import PreviewScreen  # imported here, in the worker: never on the loop

        self.call_from_thread(self.push_screen, PreviewScreen(self.studio, job_id, videos, start))

    @on(msg.JobRequested)
    def _job_requested(self, message: msg.JobRequested) -> None:
        """What a screen asked for a job, turned into work (a fixed table: no dispatch by name)."""
        handlers: dict[msg.JobAction, Callable[[str], object]] = {
            msg.JobAction.SHOW: self.show_on_board,
            msg.JobAction.STOP: self.cancel_job,
            msg.JobAction.RESUME: self.resume_job,
            msg.JobAction.REDO: self.ask_redo,
            msg.JobAction.DUPLICATE: self.duplicate_job,
            msg.JobAction.DELETE: self.ask_delete,
            msg.JobAction.OPEN: self.open_output,
            msg.JobAction.COPY: self.copy_output,
            msg.JobAction.FILES: self.open_files,
            msg.JobAction.EXPORT: self.open_export,
            msg.JobAction.PREVIEW: self.open_preview,
            msg.JobAction.START: self.start_job,
            msg.JobAction.REVIEW: self.open_review,
            msg.JobAction.TAKES: self.open_takes,
        }
        handlers[message.action](message.job_id)

    @on(msg.KeysChanged)
    def keys_changed(self) -> None:
        self.engine.reload_keys(reread=False)  # set/delete went through engine.keys, in a worker

    # --- what the live jobs say -----------------------------------------------------------

    def on_job_readings(self, message: msg.JobReadings) -> None:
        self.jobs.apply(message.readings)

    def on_thumbnail_ready(self, message: msg.ThumbnailReady) -> None:
        self.jobs.thumbnail_ready(message)

    def on_job_loaded(self, message: msg.JobLoaded) -> None:
        self.jobs.loaded(message)

    def on_jobs_changed(self, message: msg.JobsChanged) -> None:
        self.jobs.changed(message.job_id)

    def on_task_update(self, message: msg.TaskUpdate) -> None:
        """A runner task ended (JobWatch sends the app only ``TaskDone``): tell the user, wherever they are."""
        done = message.event
        if not isinstance(done, TaskDone):
            return
        if done.outcome == "done":
            title = {"finish": "Finished", "keyframe": "Keyframe"}.get(done.task, "Exported")
            text = f"{done.what}: {done.result}"
            if done.task == tasks.KEYFRAME:
                text = f"{done.what.capitalize()} made again.{self._later_keyframes(done)}"
            self.notify(text, title=title, markup=False)
        elif done.outcome == "cancelled":
            self.notify(f"{done.what} cancelled; nothing the job had was changed.", severity="warning")
        else:
            error = coded_words(done.error or "it failed", done.error_code, done.error_context)
            self.notify(error, title=f"{done.what} failed", severity="error", timeout=10, markup=False)
        self.post_message(msg.JobsChanged(message.job_id))

    def _later_keyframes(self, done: TaskDone) -> str:
        live = self.jobs.live.get(done.job_id)
        plan = live.job.plan if live is not None else None
        if tasks.later_keyframes_follow(done.index, len(plan.segments) if plan else 0):
            return " Later keyframes were made from the old one; regenerate them too if they should follow."
        return ""

    def on_job_finished(self, message: msg.JobFinished) -> None:
        live = self.jobs.live.get(message.job_id)
        if message.status == "awaiting_review":
            self.notify(
                "Keyframes ready: nothing has been paid for video yet. Review them, then ctrl+r renders the videos.",
                title="Review keyframes",
                timeout=8,
            )
        elif message.status == "completed" and live is not None:
            self.notify(f"Video ready: {live.job.output}", title="Done", timeout=8)
        elif message.status == "cancelled":
            self.notify("Job stopped; t on the board (or r in History) resumes it.", severity="warning")
        elif message.status == "interrupted":
            self.notify(
                f"The runner of {message.job_id} ended without finishing it; t on the board resumes it.",
                severity="warning",
                title="Interrupted",
            )
        elif message.status == "failed":
            job = live.job if live is not None else None  # the follower's copy: no store read on the loop
            error = job_error(job) if job is not None and job.error else (message.error or "the job failed")
            self.notify(error, severity="error", title="Job stopped", timeout=10)

    # --- takes (the takes strip): ask with what it re-renders and costs, keep, render ---------------

    @on(msg.TakeKeepRequested)
    def _take_keep_requested(self, message: msg.TakeKeepRequested) -> None:
        from .screens.takes import KeepTakeModal

        def done(yes: bool | None) -> None:
            if yes:
                self.notify(f"Keeping take {message.take} of shot {message.index}…", timeout=3)
                self._keep_take(message.job_id, message.index, message.take)

        self.push_screen(KeepTakeModal(self.studio, message.job_id, message.index, message.take), done)

    @work(thread=True, group="pick", exit_on_error=False)
    def _keep_take(self, job_id: str, index: int, take: int) -> None:
        """``sora-tui pick``'s path (Engine.pick_take), then the job is queued to render what continues."""
        import asyncio

        try:
            asyncio.run(self.engine.pick_take(job_id, index, take))
        except InputError as exc:
            self.call_from_thread(self.notify, explain(exc), severity="error", title="Take not kept")
            return
        self.call_from_thread(self.start_job, job_id)


def _screen_class(where: str) -> Callable[[Studio], Screen[Any]]:
    """A mode screen's class from "module:Class" under tui/screens, imported when first needed."""
    import importlib

    module, name = where.split(":")
    made: Callable[[Studio], Screen[Any]] = getattr(importlib.import_module(f".screens.{module}", __package__), name)
    return made


def create_app(
    env: dict[str, str] | None = None,
    *,
    engine: Engine | None = None,
    clock: Callable[[], float] | None = None,
    tz: tzinfo | None = None,
    initial_mode: str | None = None,
    cursor_blink: bool = True,
    picture_mode: str = "halfblock",
) -> SoraApp:
    """The app, as the CLI, the tests, the screenshots and the benchmarks build it."""
    if engine is None:
        from ..core.engine import Engine

        engine = Engine(env=env)
    # keys and the keyring probe are read here, before the app's loop runs: a slow or locked
    # keyring delays the start once, never a key press (screens read engine.keys, cached)
    engine.keys.load()
    return SoraApp(
        engine,
        clock=clock or time.time,
        tz=tz,
        initial_mode=initial_mode,
        cursor_blink=cursor_blink,
        picture_mode=picture_mode,
    )


def run_app(engine_factory: Callable[[], Engine] | None = None) -> int:
    """`sora-tui` with no sub-command: run the studio; returns the exit code."""
    import os

    from .graphics import detect

    try:
        engine = engine_factory() if engine_factory is not None else None
        # the terminal answers graphics queries only before Textual starts reading its input
        app = create_app(engine=engine, picture_mode=detect(os.environ))
    except InputError as exc:
        print(f"sora-tui: {exc}", file=sys.stderr)
        return 2
    result = app.run()
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(run_app())
