"""Finish & export one completed job: metadata, narration + music bed + subtitles, delivery presets.

The work runs in a runner process (``runner.spawn(..., task="finish"|"export")``, core/tasks.py)
under the job's lease: the app does no ffmpeg work, and leaving this screen or quitting the app
leaves it going. This screen follows it like any window does: progress, ETA and the outcome come
from the job's event log as JobWatch's ``TaskUpdate`` messages; reopening it shows a running one.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Header, Input, Label, ProgressBar, Select, Static
from textual.worker import Worker

from ...core.finish.export import PRESETS
from ...core.finish.stage import Finisher, FinishOptions, describe_outputs
from ...core.models import FinishProgress, InputError, Job, TaskDone, TaskStarted
from ...core.progress import LiveJob
from ...core.tasks import EXPORT, FINISH
from .. import messages as msg
from ..advice import coded_words
from ..context import Studio
from ..widgets.footer import Footer
from ..workers import report_failure


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return "ETA —"
    seconds = max(0, round(seconds))
    return f"ETA {seconds // 60}:{seconds % 60:02d}"


class ExportScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "back", "Back", id="export.back", tooltip="Back (finishing goes on in the background)"),
        Binding(
            "f6",
            "finish",
            "Finish",
            id="export.finish",
            tooltip="Narration, subtitles, music: a new version",
            priority=True,
        ),
        Binding("f7", "export", "Export", id="export.export", tooltip="Export with the chosen preset", priority=True),
        Binding(
            "f8",
            "cancel_work",
            "Cancel",
            id="export.cancel",
            tooltip="Stop the running finish or export",
            priority=True,
        ),
        Binding("ctrl+s", "save_meta", "Save metadata", id="export.save", tooltip="Save title, description, hashtags"),
    ]

    def __init__(self, studio: Studio, job: Job) -> None:
        """``job``: the completed job, as the app read it (off the loop)."""
        super().__init__()
        self.studio = studio
        self.job = job
        self.job_id = job.id

    def compose(self) -> ComposeResult:
        job = self.job
        meta = job.plan.metadata if job and job.plan else None
        narrated = bool(job and job.plan and job.plan.has_narration)
        yield Header()
        with VerticalScroll(id="export-body"):
            yield Label(f"Finish & export · {self.job_id}", classes="section-title")
            yield Label("Metadata (shown in History, written into the finished file)", classes="section-title")
            yield Input(meta.title if meta else "", placeholder="title", id="meta-title")
            yield Input(
                meta.description if meta else "", placeholder="one-paragraph description", id="meta-description"
            )
            yield Input(" ".join(meta.hashtags) if meta else "", placeholder="#hashtags", id="meta-hashtags")
            yield Label("Finish: narration, subtitles, music bed, loudness", classes="section-title")
            with Horizontal(classes="export-row"):
                yield Input(placeholder="music file (optional): wav, mp3, m4a, ogg, flac", id="music")
                yield Checkbox("narration", value=narrated, disabled=not narrated, id="narration")
                yield Checkbox("burn in subtitles", id="burn")
                yield Button("Finish (F6)", id="do-finish", variant="primary")
            yield Label("Export", classes="section-title")
            with Horizontal(classes="export-row"):
                yield Select(
                    [(f"{p.name} — {p.description}", p.name) for p in PRESETS.values()],
                    value="web-720p",
                    allow_blank=False,
                    id="preset",
                )
                yield Button("Export (F7)", id="do-export", variant="primary")
            with Vertical(id="export-progress"):
                with Horizontal(classes="export-row"):
                    yield Label("idle", id="stage")
                    yield ProgressBar(total=1.0, show_eta=False, id="progress")
                    yield Label(eta_text(None), id="eta")
            yield Label("Versions and exports", classes="section-title")
            yield Static("", id="outputs")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "Finish & export"
        self.studio.jobs.subscribe(self)
        self.studio.jobs.follow(self.job_id)  # a finish or export started elsewhere shows here too
        self.studio.jobs.load(self.job_id, self._running_elsewhere)  # at once when held, else once read
        self.show_outputs()

    def _running_elsewhere(self, live: LiveJob | None) -> None:
        if live is not None and live.task in (FINISH, EXPORT) and self.is_attached:  # not after it is closed
            self.query_one("#stage", Label).update(f"{live.task}: running in {live.runner}")

    # --- state --------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="outputs", exit_on_error=False)
    def show_outputs(self) -> None:
        """The versions and exports (a store read: off the loop)."""
        lines = describe_outputs(self.studio.engine.store.outputs(self.job_id, include_removed=True))
        self.app.call_from_thread(self._show_outputs, lines)

    def _show_outputs(self, lines: list[str]) -> None:
        self.query_one("#outputs", Static).update(Text("\n".join(lines) or "none yet"), layout=True)

    def _busy(self) -> bool:
        live = self.studio.jobs.get(self.job_id)
        if live is not None and live.task in (FINISH, EXPORT):
            self.notify(f"A {live.task} of this job is running ({live.runner}); F8 cancels it.", severity="warning")
            return True
        return False

    # --- actions ------------------------------------------------------------------------

    def action_back(self) -> None:
        self.dismiss(None)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failure(self, event)

    def action_save_meta(self) -> None:
        self.save_meta(
            self.query_one("#meta-title", Input).value,
            self.query_one("#meta-description", Input).value,
            self.query_one("#meta-hashtags", Input).value.split(),
        )

    @work(thread=True, exclusive=True, group="metadata", exit_on_error=False)
    def save_meta(self, title: str, description: str, hashtags: list[str]) -> None:
        """The plan and the store change (files and SQLite: off the loop)."""
        try:
            Finisher(self.studio.engine).set_metadata(self.job_id, title, description, hashtags)
        except InputError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.app.call_from_thread(self.notify, "Metadata saved.")
        self.post_message(msg.JobsChanged(self.job_id))

    def action_finish(self) -> None:
        if self._busy():
            return
        music = self.query_one("#music", Input).value.strip()
        opts = FinishOptions(
            narration=self.query_one("#narration", Checkbox).value,
            music=Path(music).expanduser().resolve() if music else None,
            burn_subtitles=self.query_one("#burn", Checkbox).value,
        )
        self._start(FINISH, "finish", opts.to_dict())

    def action_export(self) -> None:
        if self._busy():
            return
        preset = str(self.query_one("#preset", Select).value)
        self._start(EXPORT, preset, {"preset": preset})

    def action_cancel_work(self) -> None:
        live = self.studio.jobs.live.get(self.job_id)
        if live is None or live.task not in (FINISH, EXPORT):
            self.notify("Nothing is running.")
            return
        self.post_message(msg.JobRequested(self.job_id, msg.JobAction.STOP))  # the app asks its runner to stop

    @on(Button.Pressed, "#do-finish")
    def _finish_pressed(self) -> None:
        self.action_finish()

    @on(Button.Pressed, "#do-export")
    def _export_pressed(self) -> None:
        self.action_export()

    # --- the work (in a runner; this screen follows it) -------------------------------------

    def _start(self, task: str, what: str, options: dict[str, object]) -> None:
        self.post_message(msg.TaskRequested(self.job_id, task, dict(options)))
        self.query_one("#stage", Label).update(f"{what}: starting")
        self.query_one("#progress", ProgressBar).update(progress=0.0)
        self.query_one("#eta", Label).update(eta_text(None))

    def on_task_refused(self, message: msg.TaskRefused) -> None:
        if message.job_id == self.job_id and message.task in (FINISH, EXPORT):
            self.query_one("#stage", Label).update(Text(f"not started: {message.reason[:60]}"))

    def on_task_update(self, message: msg.TaskUpdate) -> None:
        event = message.event
        if message.job_id != self.job_id or (not isinstance(event, FinishProgress) and event.task == "keyframe"):
            return
        stage = self.query_one("#stage", Label)
        if isinstance(event, TaskStarted):
            stage.update(f"{event.what}: started")
        elif isinstance(event, FinishProgress):
            stage.update(event.stage)
            self.query_one("#progress", ProgressBar).update(progress=event.fraction)
            self.query_one("#eta", Label).update(eta_text(event.eta_s))
        elif isinstance(event, TaskDone):
            word = {"done": "done", "cancelled": "cancelled"}.get(event.outcome) or coded_words(
                event.error or "failed", event.error_code, event.error_context
            )
            stage.update(Text(f"{event.what}: {word[:60]}"))
            if event.outcome == "done":
                self.query_one("#progress", ProgressBar).update(progress=1.0)
                self.query_one("#eta", Label).update(eta_text(0))
            self.show_outputs()
