"""One keyframe description in a keyframe-mode plan: the picture at a boundary between segments."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Label

from .request_form import FieldError
from .text_area import TextArea


def boundary_label(index: int, segments: int) -> str:
    """Where keyframe ``index`` (0..N) sits: the opening, between two segments, or the final frame."""
    if index == 0:
        return "opening frame (start of #1)"
    if index >= segments:
        return f"final frame (end of #{segments})"
    return f"between #{index} and #{index + 1}"


class KeyframeEditor(Vertical):
    DEFAULT_CSS = """
    KeyframeEditor {
        height: auto;
        border-left: thick $warning 60%;
        padding: 0 1;
        margin: 0 0 0 2;
    }
    KeyframeEditor:focus-within { border-left: thick $warning; }
    KeyframeEditor .kf-head { color: $warning; text-style: bold; }
    KeyframeEditor .kf-prompt { height: 3; border: none; padding: 0; }
    """

    class Changed(Message):
        def __init__(self, editor: KeyframeEditor) -> None:
            super().__init__()
            self.editor = editor

    def __init__(self, index: int, text: str, segments: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.index = index
        self.text = text
        self.segments = segments

    def compose(self) -> ComposeResult:
        yield Label(f"◆ Keyframe {self.index} · {boundary_label(self.index, self.segments)}", classes="kf-head")
        yield TextArea(self.text, soft_wrap=True, classes="kf-prompt")
        yield FieldError(classes="kf-error")

    def to_text(self) -> str:
        return self.query_one(".kf-prompt", TextArea).text.strip()

    def show_error(self, message: str) -> None:
        self.query_one(".kf-error", FieldError).show(message)

    def focus_prompt(self) -> None:
        self.query_one(".kf-prompt", TextArea).focus()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self))
