"""Full garbage collections while the user is idle, not between a key and its screen.

A Textual app holds a few hundred thousand Python objects; CPython's automatic full
(generation 2) collection walks all of them and stops the event loop for 100-250 ms
on a small machine, which lands on whatever key was pressed at that moment. The
studio keeps the young collections (cheap, a few ms) and takes the full ones over:

- at start-up, everything that exists (modules, classes, CSS) is frozen out of
  future collections (no collection first: start-up leaves next to no garbage, and
  the app's first paint should not wait for one);
- a full collection runs when no key or mouse event came for ``IDLE_S`` seconds, and
  at the latest every ``MAX_WAIT_S`` seconds, so memory stays bounded.

``stop`` restores the interpreter's settings (tests run many apps in one process).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

IDLE_S = 2.0  # seconds without input before a full collection may run
MIN_GAP_S = 15.0  # seconds between full collections while idle
MAX_WAIT_S = 120.0  # a full collection at least this often, idle or not
MANUAL = 1_000_000  # a generation-2 threshold that automatic collection never reaches


class IdleCollector:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.saved: tuple[int, int, int] | None = None
        self.last_input = self.last_full = clock()
        self.full_runs = 0

    @property
    def active(self) -> bool:
        return self.saved is not None

    def start(self) -> None:
        if self.active:
            return
        gc.freeze()
        self.saved = gc.get_threshold()
        young, middle, _ = self.saved
        gc.set_threshold(young, middle, MANUAL)
        self.last_full = self.clock()

    def input_seen(self) -> None:
        self.last_input = self.clock()

    def tick(self) -> bool:
        """Run a full collection if one is due; returns whether it ran."""
        if not self.active:
            return False
        now = self.clock()
        idle = now - self.last_input >= IDLE_S and now - self.last_full >= MIN_GAP_S
        if idle or now - self.last_full >= MAX_WAIT_S:
            gc.collect()
            self.last_full = self.clock()
            self.full_runs += 1
            return True
        return False

    def stop(self) -> None:
        """Give automatic full collections back to the interpreter (until the next ``start``)."""
        if self.saved is not None:
            gc.set_threshold(*self.saved)
            gc.unfreeze()
            self.saved = None
