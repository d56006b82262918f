"""Finish & export one completed job: metadata, narration + music bed + subtitles, delivery presets.

The work runs in an async worker of the app (ffmpeg in threads), so the studio never waits
on it, and it keeps going when this screen is closed; progress and ETA come as messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Header, Input, Label, ProgressBar, Select, Static

from ...core.finish.export import PRESETS
from ...core.finish.stage import Finisher, FinishOptions, describe_outputs
from ...core.models import InputError
from .. import messages as msg
from ..advice import studio_words
from ..widgets.footer import Footer

if TYPE_CHECKING:
    from ..app import SoraApp


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return "ETA —"
    seconds = max(0, round(seconds))
    return f"ETA {seconds // 60}:{seconds % 60:02d}"


class ExportScreen(Screen):
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

    app: SoraApp

    def __init__(self, job_id: str) -> None:
        super().__init__()
        self.job_id = job_id
        self.finisher: Finisher | None = None  # the running finish or export, if any

    def compose(self) -> ComposeResult:
        job = self.app.engine.store.get_job(self.job_id)
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
        self.show_outputs()

    # --- state --------------------------------------------------------------------------

    def show_outputs(self) -> None:
        lines = describe_outputs(self.app.engine.store.outputs(self.job_id, include_removed=True))
        self.query_one("#outputs", Static).update(Text("\n".join(lines) or "none yet"), layout=True)

    def _busy(self) -> bool:
        if self.finisher is not None:
            self.notify("A finish or export of this job is running; F8 cancels it.", severity="warning")
            return True
        return False

    # --- actions ------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_save_meta(self) -> None:
        try:
            Finisher(self.app.engine).set_metadata(
                self.job_id,
                self.query_one("#meta-title", Input).value,
                self.query_one("#meta-description", Input).value,
                self.query_one("#meta-hashtags", Input).value.split(),
            )
        except InputError as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify("Metadata saved.")
        self.post_message(msg.JobsChanged(self.job_id))

    def action_finish(self) -> None:
        if self._busy():
            return
        music = self.query_one("#music", Input).value.strip()
        opts = FinishOptions(
            narration=self.query_one("#narration", Checkbox).value,
            music=Path(music).expanduser() if music else None,
            burn_subtitles=self.query_one("#burn", Checkbox).value,
        )
        self._start("finish", opts)

    def action_export(self) -> None:
        if self._busy():
            return
        self._start(str(self.query_one("#preset", Select).value))

    def action_cancel_work(self) -> None:
        if self.finisher is None:
            self.notify("Nothing is running.")
            return
        self.finisher.cancel()

    @on(Button.Pressed, "#do-finish")
    def _finish_pressed(self) -> None:
        self.action_finish()

    @on(Button.Pressed, "#do-export")
    def _export_pressed(self) -> None:
        self.action_export()

    # --- the work -----------------------------------------------------------------------

    def _start(self, what: str, opts: FinishOptions | None = None) -> None:
        self.finisher = Finisher(self.app.engine, self._sink)
        self.query_one("#stage", Label).update(f"{what}: starting")
        self.query_one("#progress", ProgressBar).update(progress=0.0)
        finisher = self.finisher
        self.app.run_worker(self._work(finisher, what, opts), group="finishing", exit_on_error=False)

    def _sink(self, event: object) -> None:
        from ...core.models import FinishProgress

        if isinstance(event, FinishProgress):
            self.post_message(msg.FinishProgressMessage(event))

    async def _work(self, finisher: Finisher, what: str, opts: FinishOptions | None) -> None:
        from ...core.finish.ffmpeg import Cancelled

        try:
            if what == "finish":
                assert opts is not None
                result = await finisher.finish(self.job_id, opts)
                path = str(result.path)
            else:
                path = str((await finisher.export(self.job_id, what)).path)
        except Cancelled:
            self._done(msg.FinishWorkDone(self.job_id, what, None, "cancelled"))
            return
        except Exception as exc:  # InputError, FinishError: the message says what to fix
            self._done(msg.FinishWorkDone(self.job_id, what, None, str(exc)))
            return
        self._done(msg.FinishWorkDone(self.job_id, what, path))

    def _done(self, message: msg.FinishWorkDone) -> None:
        self.finisher = None
        if message.error is None:
            self.app.notify(
                f"{message.what}: {message.result}", title="Finished" if message.what == "finish" else "Exported"
            )
        elif message.error == "cancelled":
            self.app.notify(f"{message.what} cancelled; nothing the job had was changed.", severity="warning")
        else:
            self.app.notify(message.error, title=f"{message.what} failed", severity="error", timeout=10)
        if self.is_attached:
            self.post_message(message)
        self.app.post_message(msg.JobsChanged(self.job_id))

    def on_finish_progress_message(self, message: msg.FinishProgressMessage) -> None:
        event = message.event
        self.query_one("#stage", Label).update(event.stage)
        self.query_one("#progress", ProgressBar).update(progress=event.fraction)
        self.query_one("#eta", Label).update(eta_text(event.eta_s))

    def on_finish_work_done(self, message: msg.FinishWorkDone) -> None:
        self.query_one("#stage", Label).update(
            Text(f"{message.what}: {'done' if message.error is None else studio_words(message.error)[:60]}")
        )
        if message.error is None:
            self.query_one("#progress", ProgressBar).update(progress=1.0)
            self.query_one("#eta", Label).update(eta_text(0))
        self.show_outputs()
