"""Nothing on the UI loop waits on the keyring (issue 18, item 2): keys are read once, before the
app's loop runs, and set/delete run in a worker; a slow keyring (200 ms a call) never delays a key."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from textual.widgets import Input, TextArea

from fakes.memkeyring import SlowKeyring
from sora_tui.tui.app import SoraApp

from .conftest import SIZE, settle, wait_for


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
