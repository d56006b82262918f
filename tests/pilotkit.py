"""Pilot helpers shared by the studio's tests (tests/tui) and the other tests that drive the app."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot


async def wait_for(
    pilot: Pilot[int], predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition"
) -> None:
    """Let the app run until ``predicate`` holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
