"""Jobs outlive the studio: each renders in its own runner process; any app that starts follows it.

A hosted job (veo3.1-fast on the fal fake, through the real FalProvider) is started from the
TUI; the fake holds every request in its queue, so the job is mid-render for as long as the
test wants. The fake counts accepted submits: one per segment, whatever the windows do.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fakes.fal_server import FalFake
from sora_tui.core import runner
from sora_tui.core.models import JobStatus, Mode, Request, SegmentStatus
from sora_tui.tui.app import SoraApp
from sora_tui.tui.screens.board import BoardScreen
from sora_tui.tui.screens.found import FoundJobsModal
from sora_tui.tui.widgets.segment_card import SegmentCard

from .conftest import SIZE, wait_for, wait_jobs

PROMPT = "a paper boat drifts down a rainy street at dusk"


@pytest.fixture
def fal_env(fal_fake: FalFake, tui_env: dict[str, str]) -> dict[str, str]:
    fal_fake.hold = True  # every request waits in the queue until release()
    return {
        **tui_env,
        **fal_fake.env(),
        "SORA_TUI_RETRY_BASE_DELAY": "0.01",
        "SORA_TUI_RETRY_MAX_DELAY": "0.05",
        "SORA_TUI_POLL_INTERVAL": "0.05",
    }


@pytest.fixture
def reap(home: Path) -> Iterator[None]:
    """Whatever a test leaves running: its runners are killed at the end."""
    yield
    for lock in (home / "data" / "jobs").glob("*/runner.lock"):
        who = runner.holder(lock.parent)
        if who is not None and who.pid:
            try:
                os.kill(who.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


async def start_hosted_job(app: SoraApp, segments: int = 3) -> str:
    engine = app.engine
    req = Request(prompt=PROMPT, segments=segments, seconds=4, model="veo3.1-fast", mode=Mode.CHAIN, audio=False)
    plan = await engine.plan(engine.resolve(req))
    job = engine.create_job(plan)
    app.start_job(job.id)
    return job.id


def wait_until(predicate: Callable[[], object], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def test_quit_mid_render_then_a_new_app_follows_the_job_to_the_end(
    fal_fake: FalFake, fal_env: dict[str, str], reap: None
) -> None:
    from sora_tui.tui.app import create_app

    first = create_app(fal_env, initial_mode="prompt")
    async with first.run_test(size=SIZE) as pilot:
        job_id = await start_hosted_job(first)
        await wait_for(pilot, lambda: len(fal_fake.submits) == 1, 60, "the first segment's submit")
        await wait_for(pilot, lambda: first.jobs.live[job_id].state == "generating", 30, "generating on the board")
        job_dir = first.engine.find_job(job_id).job_dir
        assert not first.engine.controls  # the app renders nothing itself
        await pilot.press("ctrl+q")  # no question: quitting leaves the job rendering
    assert first.return_code == 0
    who = runner.holder(job_dir)
    assert who is not None and who.pid != os.getpid()  # its runner lives on

    second = create_app(fal_env)  # as `sora-tui` starts: the board if a job is rendering
    async with second.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(second.screen, BoardScreen), 30, "the board")
        await wait_for(pilot, lambda: any("Following" in str(n.message) for n in second._notifications), 30, "notice")
        board = second.screen
        assert isinstance(board, BoardScreen)
        await wait_for(pilot, lambda: board.shown == job_id, 30, "the board on the running job")
        live = second.jobs.live[job_id]
        assert live.running and live.state == "generating" and str(who.pid) in live.runner
        await pilot.press("t")  # retry from this window: never a second run, it follows the one running
        await wait_for(pilot, lambda: any("Already running" in str(n.title) for n in second._notifications), 30)
        still = runner.holder(job_dir)
        assert still is not None and still.pid == who.pid and len(fal_fake.submits) == 1
        fal_fake.release()
        await wait_jobs(pilot, timeout=120)
        assert live.state == "completed"
        await wait_for(pilot, lambda: "3/3 segments done" in str(board.query_one("#overall-text").render()))
    job = second.engine.store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.COMPLETED, job.error
    assert len(fal_fake.submits) == 3  # one paid submit per segment
    assert all(s.submits == 1 and s.status is SegmentStatus.DONE for s in second.engine.store.segments(job_id))


async def test_a_job_whose_runner_died_is_interrupted_and_one_key_resumes_it(
    fal_fake: FalFake, fal_env: dict[str, str], reap: None
) -> None:
    from sora_tui.tui.app import create_app

    first = create_app(fal_env, initial_mode="prompt")
    async with first.run_test(size=SIZE) as pilot:
        job_id = await start_hosted_job(first, segments=2)
        await wait_for(pilot, lambda: len(fal_fake.submits) == 1, 60, "the first segment's submit")
        # the runner has stored the request's id (a kill between the POST and that write loses the
        # request: the one window no client can close)
        store = first.engine.store
        await wait_for(pilot, lambda: store.segment(job_id, 1).request_id is not None, 60, "the request id stored")
        job_dir = first.engine.find_job(job_id).job_dir
        who = runner.holder(job_dir)
        assert who is not None
        os.kill(who.pid, signal.SIGKILL)  # the runner dies mid-render (its request stays in the queue)
        await wait_for(pilot, lambda: first.jobs.live[job_id].state == "interrupted", 30, "interrupted")
        assert not first.jobs.live[job_id].running  # never shown as running
        card = next(iter(first.screen.query(SegmentCard)))  # the board: its segment says so too
        await wait_for(pilot, lambda: "interrupted" in card.text_lines()[1], 30, "the card saying interrupted")
        assert "Interrupted" in str(first.screen.query_one("#output-line").render())
        stored = first.engine.store.get_job(job_id)
        assert stored is not None and stored.status is JobStatus.GENERATING  # what the store still says

    second = create_app(fal_env)
    async with second.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(second.screen, FoundJobsModal), 30, "the interrupted jobs")
        found = second.screen
        assert isinstance(found, FoundJobsModal)
        assert [lj.id for lj in found.interrupted] == [job_id]
        await pilot.press("r")  # one key
        await wait_for(pilot, lambda: isinstance(second.screen, BoardScreen), 30, "the board")
        await wait_for(pilot, lambda: second.jobs.live[job_id].state == "generating", 30, "generating again")
        fal_fake.release()
        await wait_jobs(pilot, timeout=120)
    job = second.engine.store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.COMPLETED, job.error
    assert len(fal_fake.submits) == 2  # the new runner re-attached to the request in flight: nothing paid twice
