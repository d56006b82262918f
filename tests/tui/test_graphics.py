"""Graphics detection: the terminal's answer (through textual-image's own probe) picks Kitty graphics or
Sixel; browsers, forced settings and silent terminals get half-blocks; the preview then draws with it."""

from __future__ import annotations

import importlib
import io
import sys
from collections.abc import Callable, Iterator

import pytest
import textual_image.renderable as renderable
import textual_image.renderable.sixel as sixel
import textual_image.renderable.tgp as tgp
import textual_image.widget  # noqa: F401  (imported while stdout is no terminal: no query, cell size cached)
from PIL import Image

from sora_tui.core import reach
from sora_tui.tui import graphics
from sora_tui.tui.app import SoraApp
from sora_tui.tui.screens.preview import PreviewScreen

from .conftest import SIZE, settle, small_plan, wait_for, wait_jobs

Terminal = tuple[dict[str, bool], Callable[[], str | None]]  # (the answers to give, ask)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[Terminal]:
    """A terminal that answers textual-image's queries as told: set ``answers`` before detecting."""
    answers = {"sixel": False, "kitty": False}
    monkeypatch.setattr(sys, "__stdout__", FakeTerminal())
    monkeypatch.setattr(sixel, "query_terminal_support", lambda: answers["sixel"])
    monkeypatch.setattr(tgp, "query_terminal_support", lambda: answers["kitty"])

    def ask() -> str | None:
        importlib.reload(renderable)  # textual-image asks when it is imported
        return graphics.terminal_reports()

    yield answers, ask
    monkeypatch.undo()
    importlib.reload(renderable)


@pytest.mark.parametrize(
    ("sixel_ok", "kitty_ok", "reported"), [(False, True, "kitty"), (True, False, "sixel"), (False, False, None)]
)
def test_terminal_answer_picks_the_graphics_path(
    terminal: Terminal, sixel_ok: bool, kitty_ok: bool, reported: str | None
) -> None:
    answers, ask = terminal
    answers.update(sixel=sixel_ok, kitty=kitty_ok)
    assert ask() == reported
    assert reach.picture_mode({"TERM": "xterm-256color"}, reported) == (reported or "halfblock")


def test_detect_asks_only_when_the_environment_leaves_a_choice(
    terminal: Terminal, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers, ask = terminal
    answers.update(kitty=True)
    ask()
    assert graphics.detect({"TERM": "xterm-kitty"}) == "kitty"
    asked: list[int] = []

    def reports() -> str:
        asked.append(1)
        return "kitty"

    monkeypatch.setattr(graphics, "terminal_reports", reports)
    assert graphics.detect({"SORA_TUI_GRAPHICS": "halfblock"}) == "halfblock"
    assert graphics.detect({"TEXTUAL_DRIVER": "textual.drivers.web_driver:WebDriver"}) == "halfblock"
    assert asked == []
    assert graphics.detect({"TERM": "xterm"}) == "kitty" and asked == [1]


def test_no_terminal_no_question(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "__stdout__", io.StringIO())
    assert graphics.terminal_reports() is None


async def test_preview_draws_with_kitty_graphics_when_chosen(
    make_app: Callable[..., SoraApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual_image.widget import TGPImage

    app = make_app(mode="board")
    app.picture_mode = "kitty"
    out = FakeTerminal()
    monkeypatch.setattr(sys, "__stdout__", out)  # where textual-image sends the picture
    async with app.run_test(size=SIZE) as pilot:
        job = app.engine.create_job(small_plan(1))
        app.start_job(job.id, show=False)
        await wait_jobs(pilot)
        app.open_preview(job.id)
        await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen), what="the preview")
        screen = app.screen
        assert isinstance(screen, PreviewScreen)
        await wait_for(pilot, lambda: bool(screen.query("#picture")), what="the picture")
        picture = screen.query_one("#picture")
        assert isinstance(picture, TGPImage)
        await wait_for(pilot, lambda: screen._shown is not None, what="a frame")
        await wait_for(pilot, lambda: picture.image is not None, what="the frame in the picture widget")
        await settle(pilot)
        image, shown = picture.image, screen._shown
        assert isinstance(image, Image.Image) and shown is not None
        (w, h), (bw, bh) = image.size, shown[2]  # the frame fits the picture area's pixels
        assert w <= bw and h <= bh and (w == bw or h == bh)
    sent = out.getvalue()
    assert "\x1b_G" in sent and "f=100" in sent  # a PNG sent with the Kitty graphics protocol
