"""Nothing on the UI loop waits on the keyring (issue 18, item 2): keys are read once, before the
app's loop runs, and set/delete run in a worker; a slow keyring (200 ms a call) never delays a key."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from textual.widgets import Input, TextArea

from fakes.memkeyring import SlowKeyring
from sora_tui.tui.app import SoraApp
from sora_tui.tui.screens.board import BoardScreen
from sora_tui.tui.screens.history import HistoryScreen
from sora_tui.tui.screens.modals import ConfirmModal

from .conftest import SIZE, notes, on_board, on_screen, settle, small_plan, wait_for


@pytest.fixture
def slow_keyring() -> Iterator[SlowKeyring]:
    import keyring

    previous = keyring.get_keyring()
    backend = SlowKeyring(0.2)
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


async def test_typing_in_the_prompt_never_reads_the_keyring(
    make_app: Callable[..., SoraApp], slow_keyring: SlowKeyring
) -> None:
    slow_keyring.data[("sora-tui", "fal")] = "fal-key-0123456789"
    app = make_app()  # create_app reads the keys once, here (before the loop runs)
    assert app.engine.has_key("fal")
    before = len(slow_keyring.calls)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        prompt = app.screen.query_one("#prompt", TextArea)
        prompt.focus()
        await pilot.press(*"a lighthouse at dusk")
        app.screen.query_one("#segments", Input).value = "4"
        await settle(pilot)
        assert prompt.text == "a lighthouse at dusk"
    assert slow_keyring.calls[before:] == []  # every keystroke, estimate and notice used the cached key


async def test_storing_a_key_runs_in_a_worker_and_the_panel_shows_it(
    make_app: Callable[..., SoraApp], slow_keyring: SlowKeyring
) -> None:
    app = make_app(mode="settings")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not app.screen.query("#no-keyring")  # a real (slow) backend: storing is offered
        assert not app.engine.has_key("fal")
        panel = app.screen.query_one("#key-fal")
        panel.query_one(".key-input", Input).value = "fal-key-abcdef123456"
        before = len(slow_keyring.calls)
        await pilot.click("#key-fal .key-set")
        await wait_for(pilot, lambda: "stored in the OS keyring" in _notes(app), what="the stored note")
        await settle(pilot)
        calls = slow_keyring.calls[before:]
        assert calls and calls[0][0] == "set"
        assert all(thread != threading.main_thread().name for _, thread in calls)  # never on the loop
        assert app.engine.has_key("fal") and "keyring" in str(panel.query_one(".key-status").render())
        assert slow_keyring.data[("sora-tui", "fal")] == "fal-key-abcdef123456"
        # and deleting it
        before = len(slow_keyring.calls)
        await pilot.click("#key-fal .key-delete")
        await wait_for(pilot, lambda: "removed from the OS keyring" in _notes(app), what="the removed note")
        await settle(pilot)
        assert all(thread != threading.main_thread().name for _, thread in slow_keyring.calls[before:])
        assert not app.engine.has_key("fal") and "not set" in str(panel.query_one(".key-status").render())


def _notes(app: SoraApp) -> str:
    return " ".join(str(n.message) for n in app._notifications)


class _Watched:
    """The store's SQLite connection, noting the thread of every use."""

    def __init__(self, db: Any, threads: list[str]) -> None:
        self._db, self._threads = db, threads

    def __getattr__(self, name: str) -> Any:
        self._threads.append(threading.current_thread().name)
        return getattr(self._db, name)


async def test_the_studio_never_reads_the_store_on_the_loop(make_app: Callable[..., SoraApp]) -> None:
    """Start-up, the board, History (open, search, cursor, show a job it does not hold), stop, delete:
    every store read runs in a thread (the app's workers, JobWatch's reader and follower)."""
    app = make_app()
    jobs = {
        word: app.engine.create_job(small_plan(1, prompt=f"a {word} at dusk")).id for word in ("harbour", "lighthouse")
    }
    threads: list[str] = []
    store = app.engine.store
    store._db = _Watched(store._db, threads)  # type: ignore[assignment]
    loop = threading.current_thread().name  # the pilot runs the app's loop on this thread
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f3")  # the board shows the newest job, read by the start-up worker
        await wait_for(pilot, lambda: isinstance(app.screen, BoardScreen) and app.screen.shown in jobs.values())
        assert isinstance(app.screen, BoardScreen)
        held = app.screen.shown
        assert held is not None
        word, other = next((w, j) for w, j in jobs.items() if j != held)
        await pilot.press("f4")
        history = await on_screen(pilot, HistoryScreen, lambda h: h.selected_id() is not None)
        await pilot.press("slash", *word)
        await wait_for(pilot, lambda: history.selected_id() == other, what=f"the search to find {word}")
        await pilot.press(
            "enter", "enter"
        )  # the table, then the board: a job this window did not hold (read in a thread)
        await on_board(pilot, other)
        app.cancel_job(other)  # stop: it is not running (its live state is read off the loop too)
        await wait_for(pilot, lambda: any("not running" in n for n in notes(app)), what="the not-running note")
        app.ask_delete(other)
        await on_screen(pilot, ConfirmModal, what="the delete question")
        await pilot.press("y")
        await wait_for(pilot, lambda: any("Deleted job" in n for n in notes(app)), what="the deleted note")
        await on_board(pilot, held)  # the board went back to the job it held
    assert threads, "the store was never read: the test watched nothing"
    on_loop = [t for t in threads if t == loop]
    assert not on_loop, f"{len(on_loop)} of {len(threads)} store uses ran on the UI loop"
