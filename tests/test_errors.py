"""Errors are never swallowed silently (issue 10, item 3): listener failures are logged with their
traceback, and a cancelled caller's CancelledError is never eaten while the preview reaps its tasks."""

from __future__ import annotations

import asyncio
import logging

import pytest

from sora_tui.core.engine import Engine
from sora_tui.core.models import LogLine, Plan, SegmentPlan
from sora_tui.core.providers.preview import _reap
from sora_tui.core.run import JobRun


def test_a_broken_listener_is_logged_with_its_traceback_and_the_run_goes_on(home, caplog):
    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    plan = Plan("boat", "preview", "180p", "16:9", [SegmentPlan("boat", 2)], audio=False)
    job = engine.create_job(plan)

    def broken(event):
        raise RuntimeError("listener bug")

    run = JobRun(engine, job, broken, None, None, False)
    with caplog.at_level(logging.ERROR, logger="sora_tui.core.run"):
        run.emit(LogLine(job.id, "hello"))  # does not raise
    record = next(r for r in caplog.records if "event listener failed" in r.getMessage())
    assert record.exc_info is not None and "listener bug" in str(record.exc_info[1])


async def test_reap_eats_only_the_reaped_task_cancellation(caplog):
    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(0.2)  # cleans up for a while
            raise

    inner = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    inner.cancel()
    await _reap(inner)  # its own cancellation: expected, swallowed
    assert inner.cancelled()

    inner = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    inner.cancel()
    outer = asyncio.create_task(_reap(inner))
    await asyncio.sleep(0.05)
    outer.cancel()  # the caller is cancelled while it waits: that goes on up
    with pytest.raises(asyncio.CancelledError):
        await outer

    async def broken() -> None:
        raise ValueError("render bug")

    task = asyncio.create_task(broken())
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="sora_tui.core.providers.preview"):
        await _reap(task)  # logged, not raised (the task was being cancelled anyway)
    (record,) = [r for r in caplog.records if r.name == "sora_tui.core.providers.preview"]
    assert record.levelno == logging.ERROR and "failed while being cancelled" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)
    assert str(record.exc_info[1]) == "render bug"
