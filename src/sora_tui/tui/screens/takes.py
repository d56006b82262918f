"""The takes of a job's shots side by side: each take's first picture, seam figures, seed and
cost; Enter keeps the highlighted take (the shots that continue from it render again, their
cost asked first). The rules are the engine's (``shot_takes``, ``pick_quote``, ``pick_take``)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker

from ...core.models import InputError
from ..context import Studio
from ..format import money
from ..widgets.halfblock import HalfBlockImage
from ..workers import report_failure


def take_label(shot: int, row: dict[str, Any]) -> Text:
    text = Text()
    text.append("★ " if row["kept"] else "  ", "bold green" if row["kept"] else "")
    text.append(f"shot {shot} take {row['take']}  ")
    text.append(f"{row['status']:<9} seed {row['seed']:<11} {money(row['cost_usd']):>7}  ")
    score = row.get("score") or []
    if score:
        text.append(f"fade {score[1]:g} · drift {score[2]:.1f} ΔE", "dim")
    return text


class TakesScreen(ModalScreen[bool]):
    """Dismisses with True when a take was kept (the app renders what follows it again), else False."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="takes.close", tooltip="Close"),
    ]
    DEFAULT_CSS = """
    TakesScreen > Vertical { width: 110; height: 30; border: round $accent; background: $surface; padding: 0 1; }
    TakesScreen #takes-body { height: 1fr; }
    TakesScreen #takes-list { width: 66; }
    TakesScreen #takes-picture { width: 1fr; height: 14; }
    """

    def __init__(self, studio: Studio, job_id: str) -> None:
        super().__init__()
        self.studio = studio
        self.job_id = job_id
        self.rows: list[tuple[int, dict[str, Any]]] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Takes of {self.job_id}", classes="modal-title")
            with Horizontal(id="takes-body"):
                yield OptionList(id="takes-list")
                yield HalfBlockImage("no picture", id="takes-picture")
            yield Static("", id="takes-note")
            yield Static("[dim]Enter: keep this take · Esc: close[/]")

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="takes", exit_on_error=False)
    def load(self) -> None:
        engine = self.studio.engine
        job = engine.find_job(self.job_id)
        rows: list[tuple[int, dict[str, Any]]] = []
        n = len(job.plan.segments) if job.plan else 0
        for k in range(1, n + 1):
            takes = engine.shot_takes(job.id, k)
            if len(takes) > 1 or (job.plan and job.plan.segments[k - 1].takes > 1):
                rows += [(k, r) for r in takes]
        self.app.call_from_thread(self.show_rows, rows)

    def show_rows(self, rows: list[tuple[int, dict[str, Any]]]) -> None:
        self.rows = rows
        ol = self.query_one(OptionList)
        ol.clear_options()
        for n, (shot, row) in enumerate(rows):
            ol.add_option(Option(take_label(shot, row), id=str(n)))
        if rows:
            ol.highlighted = 0
            ol.focus()
        else:
            self.query_one("#takes-note", Static).update("No shot of this job has more than one take.")

    @on(OptionList.OptionHighlighted, "#takes-list")
    def highlighted(self, event: OptionList.OptionHighlighted) -> None:
        _, row = self.rows[int(event.option.id or 0)]
        if row["file"]:  # seg_KK.mp4 → seg_KK_first.png, seg_KK_tT.mp4 → seg_KK_tT_first.png
            self.load_picture(str(row["file"]).removesuffix(".mp4") + "_first.png")

    @on(OptionList.OptionSelected, "#takes-list")
    def selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_keep()

    @work(thread=True, exclusive=True, group="takes-picture", exit_on_error=False)
    def load_picture(self, path: str) -> None:
        import cv2

        from ...core import media

        try:
            rgb = media.read_image(path)
        except (media.MediaError, OSError):
            return
        h, w = rgb.shape[:2]
        scale = min(40 / w, 28 / h)
        small = cv2.resize(rgb, (max(1, int(w * scale)), max(2, int(h * scale))), interpolation=cv2.INTER_AREA)
        self.app.call_from_thread(self.query_one(HalfBlockImage).set_pixels, small)

    def action_keep(self) -> None:
        ol = self.query_one(OptionList)
        if ol.highlighted is None or not self.rows:
            return
        shot, row = self.rows[ol.highlighted]
        if row["kept"]:
            self.notify(f"Take {row['take']} is already kept for shot {shot}.")
            return
        try:
            cost, redo = self.studio.engine.pick_quote(self.job_id, shot, row["take"])
        except InputError as exc:
            self.query_one("#takes-note", Static).update(Text(str(exc)))
            return
        from .modals import ConfirmModal

        again = (
            f"Shots {', '.join(map(str, redo))} continue from it and render again for about {money(cost)}."
            if redo
            else "Nothing else renders again; the video is joined again."
        )

        def done(yes: bool | None) -> None:
            if yes:
                self.keep(shot, int(row["take"]))

        self.app.push_screen(
            ConfirmModal(f"Keep take {row['take']} of shot {shot}?", again, yes="Keep", danger=False), done
        )

    @work(exclusive=True, group="takes-keep", exit_on_error=False)
    async def keep(self, shot: int, take: int) -> None:
        try:
            await self.studio.engine.pick_take(self.job_id, shot, take)
        except InputError as exc:
            self.query_one("#takes-note", Static).update(Text(str(exc)))
            return
        self.dismiss(True)  # the app renders what follows the kept take again

    def action_close(self) -> None:
        self.dismiss(False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failure(self, event)
