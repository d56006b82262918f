"""The takes of a job's shots (command palette: "Takes of job…"), and the question before keeping one.

``TakesScreen`` shows the same ``TakesPanel`` as the board (a strip of takes per shot); Enter in
a strip posts ``TakeKeepRequested``, which the app answers with ``KeepTakeModal``: what keeping
the take renders again and costs (``Engine.pick_quote``, read in a thread), yes or no. The rules
are the engine's (``shot_takes``, ``pick_quote``, ``pick_take``).
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from ...core.models import InputError
from .. import messages as msg
from ..advice import explain
from ..context import Studio
from ..format import money
from ..widgets.takes_strip import TakesPanel, TakesStrip


def keep_words(shot: int, take: int, cost: float, redo: list[int]) -> Text:
    """What keeping ``take`` of ``shot`` does, in words (the figures are ``Engine.pick_quote``'s)."""
    text = Text()
    if redo:
        shots = ", ".join(map(str, redo))
        one = len(redo) == 1
        text.append(
            f"Shot {shots} continues from it and renders again"
            if one
            else f"Shots {shots} continue from it and render again"
        )
        if cost > 0:
            text.append(" for about ").append(money(cost), "bold")
        else:
            text.append(" (free)")
        text.append(", then the video is joined again.")
    else:
        text.append(
            f"Nothing else renders again (shot {shot} is the last before a cut or the end); "
            "the video is joined again, free."
        )
    text.append("\nTakes not kept stay on disk until clean.")
    return text


class KeepTakeModal(ModalScreen[bool]):
    """Keep take ``take`` of shot ``index``? Shows what it renders again and costs; True only on yes."""

    BINDINGS = [
        Binding("y", "answer(True)", "Keep", id="keep.yes", tooltip="Keep this take"),
        Binding("n,escape", "answer(False)", "Cancel", id="keep.no", tooltip="Keep things as they are"),
    ]

    def __init__(self, studio: Studio, job_id: str, index: int, take: int) -> None:
        super().__init__()
        self.studio = studio
        self.job_id, self.index, self.take = job_id, index, take
        self.quote: tuple[float, list[int]] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal"):
            yield Label(f"Keep take {self.take} of shot {self.index}?", classes="modal-title")
            yield Static("Working out what keeping it renders again…", id="keep-body", classes="modal-body")
            with Horizontal(classes="modal-buttons"):
                yield Button("Keep", id="yes", variant="primary", disabled=True)
                yield Button("Cancel", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()
        self.load_quote()

    @work(thread=True, exclusive=True, group="keep-quote", exit_on_error=False)
    def load_quote(self) -> None:
        try:
            quote = self.studio.engine.pick_quote(self.job_id, self.index, self.take)
        except InputError as exc:
            self.app.call_from_thread(self.show_problem, explain(exc))
            return
        self.app.call_from_thread(self.show_quote, *quote)

    def show_quote(self, cost: float, redo: list[int]) -> None:
        self.quote = (cost, redo)
        self.query_one("#keep-body", Static).update(keep_words(self.index, self.take, cost, redo))
        yes = self.query_one("#yes", Button)
        yes.disabled = False
        yes.label = f"Keep · {money(cost)}" if redo and cost > 0 else "Keep"

    def show_problem(self, words: str) -> None:
        self.query_one("#keep-body", Static).update(Text(words))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_answer(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(bool(value) and self.quote is not None)


class TakesScreen(ModalScreen[bool]):
    """Every shot of a job with takes, a strip each (the board shows the same panel)."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="takes.close", tooltip="Close"),
    ]
    DEFAULT_CSS = """
    TakesScreen > Vertical { width: 110; height: 34; border: round $accent; background: $surface; padding: 0 1; }
    TakesScreen #takes-scroll { height: 1fr; }
    TakesScreen TakesPanel { display: block; }
    """

    def __init__(self, studio: Studio, job_id: str) -> None:
        super().__init__()
        self.studio = studio
        self.job_id = job_id

    def compose(self) -> ComposeResult:
        from textual.containers import VerticalScroll

        with Vertical():
            yield Label(f"Takes of {self.job_id}", classes="modal-title")
            with VerticalScroll(id="takes-scroll"):
                yield TakesPanel(
                    self.studio.engine,
                    job_id=self.job_id,
                    empty_note="No shot of this job has more than one take.",
                    id="takes-panel",
                )
            yield Static("[dim]←/→: choose a take · ↑/↓: another shot · Enter: keep it · Esc: close[/]")

    @property
    def panel(self) -> TakesPanel:
        return self.query_one(TakesPanel)

    @on(TakesPanel.Loaded)
    def loaded(self, event: TakesPanel.Loaded) -> None:
        if not isinstance(self.focused, TakesStrip):
            self.panel.focus_first()

    @on(msg.TakeKeepRequested)
    def keep_requested(self, message: msg.TakeKeepRequested) -> None:
        # the app asks and keeps; this screen steps aside for the board, which shows the re-render
        message.stop()
        self.dismiss(False)  # the app asks and keeps (TakeKeepRequested)
        self.app.post_message(msg.TakeKeepRequested(message.job_id, message.index, message.take))

    def action_close(self) -> None:
        self.dismiss(False)
