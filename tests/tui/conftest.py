"""Fixtures for the studio's Pilot tests: the real app factory on a temp SORA_TUI_HOME."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen

from pilotkit import wait_for as wait_for  # re-exported: the tests import it from here
from sora_tui.core.models import Mode, Plan, SegmentPlan

if TYPE_CHECKING:
    from sora_tui.tui.app import SoraApp
    from sora_tui.tui.widgets.plan_editor import PlanEditor

SIZE = (120, 40)

ScreenT = TypeVar("ScreenT", bound="Screen[Any]")


class MakeApp(Protocol):
    """The ``make_app`` fixture: ``make_app(mode="prompt", **env)`` builds the studio app."""

    def __call__(self, mode: str = "prompt", **env: str) -> SoraApp: ...


@pytest.fixture
def demo_home_lock() -> Iterator[None]:
    """Each snapshot test draws the fixed demo history in its own /tmp/sora-tui-demo-NAME (the path
    is in the pictures): two test runs on one machine take turns instead of rebuilding it under each other."""
    import fcntl

    with open("/tmp/sora-tui-demo.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture
def tui_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAL_", "OPENAI_"))}
    env["SORA_TUI_HOME"] = str(home)
    return env


@pytest.fixture
def make_app(tui_env: dict[str, str]) -> MakeApp:
    from sora_tui.tui.app import create_app

    def make(mode: str = "prompt", **env: str) -> SoraApp:
        return create_app({**tui_env, **env}, initial_mode=mode)

    return make


def small_plan(n: int = 2, seconds: int = 1, prompt: str = "a paper boat on a rainy street") -> Plan:
    return Plan(
        prompt=prompt,
        model="preview",
        resolution="180p",
        aspect="16:9",
        segments=[
            SegmentPlan(prompt=f"{prompt}, part {i}", seconds=seconds, title=f"Part {i}") for i in range(1, n + 1)
        ],
        mode=Mode.CHAIN,
        audio=False,
    )


def studio(pilot: Pilot[int]) -> SoraApp:
    """The studio app the pilot drives (``pilot.app`` is typed as Textual's App)."""
    from sora_tui.tui.app import SoraApp

    app = pilot.app
    assert isinstance(app, SoraApp)
    return app


async def on_screen(
    pilot: Pilot[int],
    kind: type[ScreenT],
    ready: Callable[[ScreenT], bool] | None = None,
    timeout: float = 30.0,
    what: str | None = None,
) -> ScreenT:
    """Wait until the app shows a ``kind`` screen, mounted (composed and its on_mount done) and, if given,
    ``ready(screen)``; return it."""
    app = pilot.app

    def shown() -> bool:
        screen = app.screen
        return isinstance(screen, kind) and screen.is_mounted and (ready is None or ready(screen))

    await wait_for(pilot, shown, timeout, what or f"the {kind.__name__}")
    screen = app.screen
    assert isinstance(screen, kind)
    return screen


def notes(app: App[int]) -> list[str]:
    """The texts of the toasts the app has shown (a Notify message is handled on a later turn of the loop)."""
    return [str(n.message) for n in app._notifications]


async def workers_done(app: App[int], rounds: int = 50) -> None:
    """Wait until no worker of the app runs (an exclusive worker cancelled by a newer one is not a
    failure: wait for the newer one); a worker that starts another is waited for too."""
    from textual.worker import WorkerCancelled

    for _ in range(rounds):
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:
            continue
        if not any(w.is_running for w in app.workers):
            return
    raise AssertionError("the app's workers kept running")


async def settle(pilot: Pilot[int]) -> None:
    """Wait for what the last key or call started: the app's workers, then its queued messages and
    animations (no fixed delay), then the workers those messages started."""
    await workers_done(pilot.app)
    await pilot.wait_for_scheduled_animations()
    await workers_done(pilot.app)
    await pilot.wait_for_scheduled_animations()


async def on_board(pilot: Pilot[int], job_id: str, timeout: float = 30.0) -> None:
    """Wait until the board is the screen and shows ``job_id``."""
    from sora_tui.tui.screens.board import BoardScreen

    app = pilot.app
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, BoardScreen) and app.screen.shown == job_id,
        timeout,
        f"the board showing {job_id}",
    )
    await settle(pilot)


async def wait_jobs(pilot: Pilot[int], timeout: float = 240.0) -> None:
    """Wait until no job the app follows runs (each renders in its own runner process), then for the messages."""
    app = studio(pilot)
    await settle(pilot)  # what started them (queueing, a spawn) runs in the app's workers
    await wait_for(pilot, lambda: not any(lj.running for lj in app.jobs.live.values()), timeout, "the jobs to rest")
    await settle(pilot)


async def fill_prompt(
    pilot: Pilot[int], prompt: str, segments: str = "2", seconds: int = 1, resolution: str = "180p"
) -> None:
    from textual.widgets import Input, Select, Static, TextArea

    screen = pilot.app.screen
    screen.query_one("#prompt", TextArea).load_text(prompt)
    screen.query_one("#segments", Input).value = segments
    screen.query_one("#seconds", Select).value = seconds
    screen.query_one("#resolution", Select).value = resolution

    def estimated() -> bool:  # the form's Changed messages handled: the estimate is of these values
        text = str(screen.query_one("#estimate", Static).render())
        return "Fix the field" in text or (f"{segments} × {seconds} s" in text and f" {resolution} " in text)

    await wait_for(pilot, estimated, what=f"the estimate of {segments} × {seconds} s at {resolution}")


async def focus_segment(pilot: Pilot[int], editor: PlanEditor, index: int, timeout: float = 30.0) -> None:
    """Put the cursor in segment ``index``'s prompt (0-based) and wait until it is there.

    ``focus()`` takes effect on a later turn of the loop (a key sent before goes elsewhere), and
    after an edit the plan editor rebuilds its segments: until the new ones are mounted, focusing
    one does nothing. So: ask again until the focus sticks.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        segment = editor.editors[index]
        segment.focus_prompt()
        await pilot.pause(0.05)
        if segment.is_attached and pilot.app.focused is segment.query_one(".seg-prompt"):
            return
    raise AssertionError(f"timed out after {timeout}s putting the focus on segment {index + 1}")
