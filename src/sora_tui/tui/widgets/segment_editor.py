"""One planned segment, editable in place: title, seconds (the model's choices), prompt and narration; and,
as a shot, how it begins (continue or cut), its takes, its camera and its cast."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Select, Static

from ...core.catalog import ModelSpec
from ...core.finish.narration import WORDS_PER_SECOND, word_budget, word_count
from ...core.models import MAX_TAKES, TRANSITIONS, Kind, SegmentPlan
from ..format import money
from .request_form import FieldError
from .text_area import TextArea


class SegmentEditor(Vertical):
    DEFAULT_CSS = """
    SegmentEditor {
        height: auto;
        border: round $primary 40%;
        padding: 0 1;
        margin-bottom: 0;
    }
    SegmentEditor:focus-within { border: round $accent; }
    SegmentEditor .seg-head { height: 1; }
    SegmentEditor .seg-num { width: 4; text-style: bold; }
    SegmentEditor .seg-title { width: 1fr; background: $boost; }
    SegmentEditor .seg-seconds { width: 14; margin-left: 1; }
    SegmentEditor .seg-seconds SelectCurrent { background: $boost; }
    SegmentEditor .seg-cost { width: 10; content-align: right top; color: $text-muted; }
    SegmentEditor .seg-prompt { height: 5; margin: 1 0 0 0; background: $boost; }
    SegmentEditor .seg-narration { background: $boost 60%; }
    SegmentEditor .seg-chips { height: 1; color: $text-muted; }
    SegmentEditor .seg-cast { background: $boost 60%; }
    SegmentEditor .seg-shot { height: 1; }
    SegmentEditor .seg-transition { width: 16; }
    SegmentEditor .seg-takes { width: 12; margin-left: 1; }
    SegmentEditor .seg-camera { width: 1fr; margin-left: 1; background: $boost 60%; }
    """

    class Changed(Message):
        def __init__(self, editor: SegmentEditor, shot: bool = False) -> None:
            super().__init__()
            self.editor = editor
            self.shot = shot  # a field that can change how the shot's cast reaches its model (or its price)

    def __init__(
        self,
        index: int,
        segment: SegmentPlan,
        spec: ModelSpec,
        resolution: str,
        audio: bool,
        kind: Kind | None = None,
        cast_names: list[str] | None = None,
        route: str = "",
        **kw: Any,
    ):
        super().__init__(**kw)
        self.route = route  # how the shot's cast reaches its model, and its cost (core.shots)
        self.cast_names = cast_names  # the plan's cast (None: the plan has none; no cast line)
        self.index = index
        self.segment = segment
        self.spec = spec
        self.resolution = resolution
        self.audio = audio
        self.kind = kind if kind is not None and spec.supports(kind) else None  # the call that renders it
        self.durations = spec.for_kind(self.kind).durations if self.kind is not None else spec.durations

    def compose(self) -> ComposeResult:
        seconds = self.segment.seconds
        options = [(f"{d} s", d) for d in self.durations]
        if seconds not in self.durations:
            options.append((f"{seconds} s (not allowed)", seconds))
        with Horizontal(classes="seg-head"):
            yield Label(f"#{self.index}", classes="seg-num")
            yield Input(self.segment.title, placeholder="title", classes="seg-title", compact=True)
            yield Select(options, value=seconds, allow_blank=False, classes="seg-seconds", compact=True)
            yield Static(self._cost_text(seconds), classes="seg-cost")
        yield TextArea(self.segment.prompt, soft_wrap=True, classes="seg-prompt", compact=True)
        yield Input(
            self.segment.narration,
            placeholder=f"narration (optional): words spoken over this segment, about {WORDS_PER_SECOND:g} a second",
            classes="seg-narration",
            compact=True,
        )
        with Horizontal(classes="seg-shot"):
            if self.index > 1:  # how the shot begins: on the previous last frame, or a cut to a new picture
                begins = [("continues", "continue"), ("cut", "cut")]
                yield Select(
                    begins, value=self.segment.transition, allow_blank=False, classes="seg-transition", compact=True
                )
            takes = [(f"{n} take{'s' if n > 1 else ''}", n) for n in range(1, MAX_TAKES + 1)]
            yield Select(takes, value=self.segment.takes, allow_blank=False, classes="seg-takes", compact=True)
            yield Input(
                self.segment.camera,
                placeholder="camera (optional): shot size and movement, e.g. close-up, slow push-in",
                classes="seg-camera",
                compact=True,
            )
        if self.cast_names is not None or self._shot_fields():
            yield Static(self._chips(self.segment.cast), classes="seg-chips")
        if self.cast_names is not None:
            yield Input(
                ", ".join(self.segment.cast),
                placeholder=f"cast in this shot: {', '.join(self.cast_names)} (comma separated)",
                classes="seg-cast",
                compact=True,
            )
        yield FieldError(classes="seg-error")

    def _shot_fields(self) -> bool:
        s = self.segment
        return bool(s.cast or s.is_cut or s.model or s.camera or s.takes > 1)

    def _chips(self, cast: list[str], shot: SegmentPlan | None = None) -> Text:
        """The shot at a glance: each member as a chip, then how it begins, its model, camera, takes."""
        text = Text()
        for name in cast:
            text.append(f" {name} ", "reverse bold")
            text.append(" ")
        s = shot or self.segment
        bits = ["cut" if self.index > 1 and s.is_cut else "continue" if self.index > 1 else "first shot"]
        if s.model:
            bits.append(s.model)
        if s.camera:
            bits.append(s.camera)
        if s.takes > 1:
            bits.append(f"{s.takes} takes")
        if self.route:
            bits.append(self.route)
        text.append(" · ".join(bits), "italic")
        return text

    def cast_value(self) -> list[str]:
        if self.cast_names is None:
            return list(self.segment.cast)
        raw = self.query_one(".seg-cast", Input).value
        return [n.strip() for n in raw.split(",") if n.strip()]

    def on_mount(self) -> None:
        self.check_narration()

    def check_narration(self) -> None:
        """Too many words for the segment's seconds: said here, before anything is rendered."""
        text = self.query_one(".seg-narration", Input).value
        seconds = int(self.query_one(".seg-seconds", Select).value)  # type: ignore[arg-type]  # allow_blank=False: never Select.BLANK
        words, budget = word_count(text), word_budget(seconds)
        if words > budget:
            self.show_error(f"✗ narration: {words} words, {seconds} s fit about {budget}; shorten it")
        elif self.query_one(".seg-error", FieldError).has_class("-shown") and "narration" in str(
            self.query_one(".seg-error", FieldError).render()
        ):
            self.show_error("")

    def _cost_text(self, seconds: int) -> str:
        return money(self.spec.segment_cost(seconds, self.resolution, self.audio, self.kind))

    def to_segment(self) -> SegmentPlan:
        value = self.query_one(".seg-seconds", Select).value
        transition = self.segment.transition
        if self.index > 1:
            chosen = self.query_one(".seg-transition", Select).value
            transition = str(chosen) if chosen in TRANSITIONS else transition
        takes = self.query_one(".seg-takes", Select).value
        camera = self.query_one(".seg-camera", Input).value.strip()
        return SegmentPlan(
            prompt=self.query_one(".seg-prompt", TextArea).text.strip(),
            seconds=int(value),  # type: ignore[arg-type]  # allow_blank=False: never Select.BLANK
            title=self.query_one(".seg-title", Input).value.strip(),
            narration=self.query_one(".seg-narration", Input).value.strip(),
            cast=self.cast_value(),
            transition=transition,
            model=self.segment.model,
            camera=camera,
            takes=takes if isinstance(takes, int) else self.segment.takes,
        )

    def show_error(self, message: str) -> None:
        self.query_one(".seg-error", FieldError).show(message)

    def focus_prompt(self) -> None:
        self.query_one(".seg-prompt", TextArea).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.has_class("seg-seconds"):
            seconds = event.value
            assert isinstance(seconds, int), "the Select has allow_blank=False and holds durations in seconds"
            self.query_one(".seg-cost", Static).update(self._cost_text(seconds))
            self.check_narration()
        self._update_chips()
        self.post_message(self.Changed(self, shot=True))

    def set_route(self, route: str) -> None:
        """How the shot's cast reaches its model now (the plan editor works it out again after an edit)."""
        if route != self.route:
            self.route = route
            self._update_chips()

    def _update_chips(self) -> None:
        for chips in self.query(".seg-chips").results(Static):
            chips.update(self._chips(self.cast_value(), self.to_segment()))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.has_class("seg-narration"):
            self.check_narration()
        shot = event.input.has_class("seg-cast") or event.input.has_class("seg-camera")
        if shot:
            self._update_chips()
        self.post_message(self.Changed(self, shot=shot))

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self))
