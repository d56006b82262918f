"""The only code paths that exist for tests: two hooks that reach a crash window of a run or hold a
runner task, each inert unless its environment variable is set.

- ``SORA_TUI_TEST_KILL_AT=STAGE:K``: ``kill_at(env, stage, k)`` SIGKILLs this process at that point of a
  run: ``started:0`` as the run begins, ``downloaded:K`` right after segment K's download is committed
  (tests/test_crashloop.py, tests/test_runner_jobs.py: a crash there loses nothing and pays nothing twice).
- ``SORA_TUI_TEST_TASK_GATE=PATH``: ``task_gate()`` holds a runner task (finish, export, keyframe) until
  PATH exists, so a test can quit a window or attach a follower while the task is surely running
  (tests/tui/test_export_screen.py, tests/test_runner_tasks.py). It gives up after ``GATE_LIMIT`` seconds, so a test that fails
  before it opens the gate leaves no runner behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

KILL_AT = "SORA_TUI_TEST_KILL_AT"
TASK_GATE = "SORA_TUI_TEST_TASK_GATE"
GATE_LIMIT = 300.0  # seconds the task gate waits at most


def kill_at(env: dict[str, str], stage: str, index: int) -> None:
    """SIGKILL this process when ``env`` names this point (``STAGE:INDEX``)."""
    if env.get(KILL_AT) == f"{stage}:{index}":
        os.kill(os.getpid(), signal.SIGKILL)


async def task_gate() -> None:
    """Wait until the gate file exists (at most ``GATE_LIMIT`` s) when a test set one."""
    gate = os.environ.get(TASK_GATE)
    deadline = time.monotonic() + GATE_LIMIT
    while gate and not os.path.exists(gate) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
