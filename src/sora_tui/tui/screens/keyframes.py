"""Keyframe review: every boundary image of a keyframe-mode job, before any video is paid for
(regenerate one with an edited description, use your own image, then render the videos).

A regeneration (one paid image call) runs in a runner process (``task="keyframe"``, core/tasks.py);
this screen follows it through JobWatch (``TaskUpdate``, ``JobUpdated``), as any window does."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Label, Static
from textual.worker import Worker

from ...core.jobfiles import image_problem
from ...core.models import InputError, JobStatus, TaskDone
from ...core.tasks import KEYFRAME
from .. import messages as msg
from ..advice import coded_words, explain
from ..context import Studio
from ..format import JOB_STATUS_STYLE, duration, excerpt, plural, review_money
from ..live import LiveJob
from ..widgets.footer import Footer
from ..widgets.keyframe_card import KeyframeCard
from ..widgets.request_form import FieldError
from ..widgets.text_area import TextArea
from ..workers import report_failure
from .modals import AskModal, ConfirmModal

if TYPE_CHECKING:
    from ...core.engine import Engine


def check_image_path(value: str) -> str | None:
    """Why ``value`` cannot be a keyframe image (None when it can)."""
    return image_problem(value) if value else "enter the path of a PNG or JPEG image"


_REGENERATE = "Make the selected keyframe again, with its description as edited below"
_RENDER = "Accept the keyframes and render the videos (shows the estimate first)"
_BACK = "Close the review (the job waits; History → r reopens it)"


class KeyframeScreen(Screen[bool]):
    """Dismisses with True when the user accepts the keyframes (the app renders the videos), else False."""

    BINDINGS = [
        Binding("ctrl+g", "regenerate", "Regenerate", id="keyframes.regenerate", tooltip=_REGENERATE),
        Binding("ctrl+o", "replace", "Use my image", id="keyframes.replace", tooltip="Use an image file instead"),
        Binding("ctrl+r", "render", "Render videos", id="keyframes.render", tooltip=_RENDER),
        Binding("enter", "edit", "Edit text", id="keyframes.edit", tooltip="Edit the selected keyframe's description"),
        Binding("left", "select(-1)", "Prev", id="keyframes.prev", tooltip="Select the previous keyframe"),
        Binding("right", "select(1)", "Next", id="keyframes.next", tooltip="Select the next keyframe"),
        Binding("escape", "back", "Back", id="keyframes.back", tooltip=_BACK),
    ]

    def __init__(self, studio: Studio, job_id: str) -> None:
        super().__init__()
        self.studio = studio
        self.job_id = job_id
        self.selected = 0
        self.busy: int | None = None  # keyframe being regenerated here
        self.drafts: dict[int, str] = {}  # edited, not yet used descriptions

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="kf-summary")
        yield Static("", id="kf-money")
        with Vertical(id="kf-scroll"):  # scrolls (overflow-y) without taking ← → from the review
            yield Grid(id="kf-grid")
        with Vertical(id="kf-edit"):
            yield Label("", id="kf-edit-title", classes="section-title")
            yield TextArea("", soft_wrap=True, id="kf-prompt")
            yield FieldError(id="kf-error")
        yield Footer(compact=True)

    async def on_mount(self) -> None:
        self.sub_title = "Keyframes — review before rendering the videos"
        self.studio.jobs.subscribe(self)
        live = self.live
        if live is None:
            return
        n = len(live.segments)
        grid = self.query_one("#kf-grid", Grid)
        grid.styles.grid_size_columns = min(n + 1, 4)
        await grid.mount_all([KeyframeCard(k, n) for k in range(n + 1)])
        self.redraw()
        self.cards[0].focus()

    def on_screen_resume(self) -> None:
        self.redraw()

    def on_job_updated(self, message: msg.JobUpdated) -> None:
        if message.job_id == self.job_id and self.is_current:
            self.redraw()

    @property
    def live(self) -> LiveJob | None:
        return self.studio.jobs.get(self.job_id)

    @property
    def cards(self) -> list[KeyframeCard]:
        return list(self.query(KeyframeCard))

    # --- drawing --------------------------------------------------------------------------

    def redraw(self) -> None:
        live = self.live
        if live is None or not self.is_mounted:
            return
        making = self.making()
        for card in self.cards:
            kf = live.keyframes.get(card.index)
            card.update_from(kf, busy=card.index == making)
            thumb = self.studio.jobs.keyframe_thumbs.get((self.job_id, card.index))
            if thumb is not None and kf is not None and kf.status == "done" and card.thumb_version != thumb[1]:
                card.set_thumbnail(*thumb)
            card.set_class(card.index == self.selected, "-selected")
        self.update_summary()
        self.show_selected(load_text=False)

    def making(self) -> int | None:
        """The keyframe being made now (here, or by the job's first run), if any."""
        live = self.live
        if self.busy is not None or live is None or not (live.running or live.task == KEYFRAME):
            return self.busy
        return next((k for k, kf in sorted(live.keyframes.items()) if kf.status != "done"), None)

    def update_summary(self) -> None:
        live = self.live
        if live is None:
            return
        job = live.job
        spec = self.studio.engine.catalog.get(job.model)
        plan = job.plan
        n = len(live.segments)
        head = Text.assemble(
            (f"{job.status}", JOB_STATUS_STYLE.get(job.status, "")),
            f"  {job.id}  ·  {spec.name} {plan.resolution if plan else ''}  ·  {plural(n, 'segment')}  ·  "
            f"{duration(live.total_seconds)}\n",
            (excerpt(job.prompt, 110), "italic"),
        )
        self.query_one("#kf-summary", Static).update(head)
        text = self.money_text()
        if not live.running and live.job.status is not JobStatus.COMPLETED:
            text.append("   (ctrl+r Render videos)", "dim")
        self.query_one("#kf-money", Static).update(text)

    def money_text(self) -> Text:
        return review_money(self.studio.engine.catalog, self.live)

    def show_selected(self, load_text: bool = True) -> None:
        live = self.live
        if live is None:
            return
        k = self.selected
        kf = live.keyframes.get(k)
        self.query_one("#kf-edit-title", Label).update(
            f"Keyframe {k} description — edit it, then ctrl+g makes the keyframe again with it"
        )
        if load_text:
            area = self.query_one("#kf-prompt", TextArea)
            area.load_text(self.drafts.get(k, kf.prompt if kf else ""))
            self.query_one("#kf-error", FieldError).show("")

    # --- selection ------------------------------------------------------------------------

    def on_keyframe_card_selected(self, event: KeyframeCard.Selected) -> None:
        self.select(event.card.index)

    def select(self, index: int) -> None:
        if index == self.selected and self.query_one("#kf-prompt", TextArea).text:
            return
        self.selected = index
        for card in self.cards:
            card.set_class(card.index == index, "-selected")
        self.show_selected()

    def action_select(self, delta: int) -> None:
        cards = self.cards
        if not cards:
            return
        index = max(0, min(len(cards) - 1, self.selected + delta))
        cards[index].focus()
        self.query_one("#kf-scroll").scroll_to_widget(cards[index], animate=False)
        self.select(index)

    def action_edit(self) -> None:
        self.query_one("#kf-prompt", TextArea).focus()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        live = self.live
        kf = live.keyframes.get(self.selected) if live else None
        text = event.text_area.text
        if kf is not None and text.strip() != kf.prompt:
            self.drafts[self.selected] = text
        else:
            self.drafts.pop(self.selected, None)

    # --- actions --------------------------------------------------------------------------

    def _can_change(self) -> bool:
        live = self.live
        if self.busy is not None or (live is not None and (live.running or live.task)):
            self.notify("Wait until the keyframe being made is ready.", severity="warning")
            return False
        return True

    def action_regenerate(self) -> None:
        if not self._can_change():
            return
        text = self.query_one("#kf-prompt", TextArea).text.strip()
        if not text:
            self.query_one("#kf-error", FieldError).show("describe the picture for this keyframe first")
            return
        self.regenerate(self.selected, text)

    def regenerate(self, index: int, text: str) -> None:
        """Ask a runner to make keyframe ``index`` again (the app says how it went, wherever the user is)."""
        live = self.live
        kf = live.keyframes.get(index) if live else None
        new_prompt = text if kf is None or text != kf.prompt else None
        self.post_message(msg.TaskRequested(self.job_id, KEYFRAME, {"index": index, "prompt": new_prompt}))
        self.busy = index  # until it is done, or the app says it could not start (TaskRefused)
        self.query_one("#kf-error", FieldError).show("")
        self.redraw()

    def on_task_refused(self, message: msg.TaskRefused) -> None:
        if message.job_id == self.job_id and message.task == KEYFRAME:
            self.busy = None
            self.query_one("#kf-error", FieldError).show(message.reason)
            self.redraw()

    def on_task_update(self, message: msg.TaskUpdate) -> None:
        done = message.event
        if message.job_id != self.job_id or not isinstance(done, TaskDone) or done.task != KEYFRAME:
            return
        index = done.index  # carried by the event (core.tasks.task_index)
        if self.busy == index or index is None:
            self.busy = None
        if done.outcome == "done" and index is not None:
            self.drafts.pop(index, None)
        elif done.error:
            self.query_one("#kf-error", FieldError).show(coded_words(done.error, done.error_code, done.error_context))
        self.post_message(msg.JobChangedHere(self.job_id))  # read again off the loop; JobUpdated redraws

    def action_replace(self) -> None:
        if not self._can_change():
            return
        index = self.selected

        def done(value: str | None) -> None:
            if value:
                self.replace_image(self.studio.engine, index, value)

        self.app.push_screen(
            AskModal(
                f"Use my image for keyframe {index}",
                "Path of a PNG or JPEG file; it is fitted to the video size. Nothing is paid for.",
                placeholder="/path/to/picture.png",
                check=check_image_path,
            ),
            done,
        )

    class ImageReplaced(Message):
        def __init__(self, index: int, image: str, problem: str | None) -> None:
            super().__init__()
            self.index = index
            self.image = image
            self.problem = problem

    @work(thread=True, exclusive=True, exit_on_error=False, group="keyframe-image")
    def replace_image(self, engine: Engine, index: int, image: str) -> None:
        """Decode and fit the user's picture as keyframe ``index``: off the UI loop."""
        problem = None
        try:
            engine.replace_keyframe(self.job_id, index, image)
        except InputError as exc:
            problem = explain(exc)
        except Exception as exc:  # an unreadable or corrupt image
            problem = f"cannot use {Path(image).name} as an image: {exc}"
        self.post_message(self.ImageReplaced(index, image, problem))

    def on_keyframe_screen_image_replaced(self, message: ImageReplaced) -> None:
        if message.problem:
            self.query_one("#kf-error", FieldError).show(message.problem)
            self.notify(message.problem, severity="error", title="Image not used", markup=False)
            return
        self.query_one("#kf-error", FieldError).show("")
        self.post_message(msg.JobChangedHere(self.job_id))  # read again off the loop, everyone told
        self.notify(f"Keyframe {message.index} is now {Path(message.image).name}", title="Keyframe", markup=False)
        self.redraw()

    def action_render(self) -> None:
        live = self.live
        if live is None or not self._can_change():
            return
        missing = [k for k, kf in sorted(live.keyframes.items()) if kf.status != "done"]
        if missing:
            self.notify(
                f"Keyframe {missing[0]} is not made yet; regenerate it (ctrl+g) or use your image (ctrl+o).",
                severity="warning",
            )
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.dismiss(True)  # the app renders every segment between its two keyframes

        self.app.push_screen(
            ConfirmModal(
                "Render the videos?",
                self.money_text().append("\n\nThe segments render side by side, each between its two keyframes."),
                yes="Render videos",
                danger=False,
            ),
            answer,
        )

    def action_back(self) -> None:
        self.dismiss(False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failure(self, event)
