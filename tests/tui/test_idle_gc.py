"""The studio's garbage-collection policy: full collections only while the user is idle."""

from __future__ import annotations

import gc
from collections.abc import Callable

from sora_tui.tui import idle_gc
from sora_tui.tui.app import SoraApp
from sora_tui.tui.idle_gc import IdleCollector

from .conftest import SIZE, wait_for


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_full_collections_wait_for_idle_time_and_settings_come_back() -> None:
    before = gc.get_threshold()
    clock = Clock()
    collector = IdleCollector(clock)
    try:
        collector.start()
        assert gc.get_threshold()[2] == idle_gc.MANUAL  # no automatic full collection
        assert gc.get_threshold()[:2] == before[:2]  # young collections as before
        assert gc.get_freeze_count() > 0  # what existed at start-up is left out of later collections

        clock.now += idle_gc.MIN_GAP_S + 1
        collector.input_seen()  # the user is typing
        clock.now += idle_gc.IDLE_S / 2
        assert not collector.tick()
        clock.now += idle_gc.IDLE_S  # quiet for long enough
        assert collector.tick() and collector.full_runs == 1
        assert not collector.tick()  # and not again right away

        # someone who never stops typing still gets a collection every MAX_WAIT_S
        for _ in range(int(idle_gc.MAX_WAIT_S)):
            clock.now += 1
            collector.input_seen()
            collector.tick()
        assert collector.full_runs == 2
    finally:
        collector.stop()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    collector.stop()  # twice is harmless
    assert not collector.tick()  # and a stopped collector does nothing


async def test_the_app_takes_full_collections_over_while_it_runs_and_gives_them_back(
    make_app: Callable[..., SoraApp],
) -> None:
    before = gc.get_threshold()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.idle_gc.active, what="the idle collector", timeout=10)
        assert gc.get_threshold()[2] == idle_gc.MANUAL
        await pilot.press("f4")  # input is noticed: no full collection right after a key
        assert app.idle_gc.clock() - app.idle_gc.last_input < idle_gc.IDLE_S
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
