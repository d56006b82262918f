"""Crash loops, with real runner processes: a job whose runner is SIGKILLed (the test hook
SORA_TUI_TEST_KILL_AT) ``crash_limit`` times in a row without finishing a segment is not
started again by an automatic restart (what a scheduler or the studio does); it ends ``failed``
with the last error, and the user's ``resume`` starts the count again and finishes it. A runner
that dies after making progress each time is never held."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sora_tui.core import runner
from sora_tui.core.engine import Engine
from sora_tui.core.models import Job, JobStatus, Request, SegmentStatus

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "a kite over a windy beach"


def make_job(home: Path, segments: int = 2) -> tuple[Engine, str]:
    import asyncio

    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    req = engine.resolve(Request(prompt=PROMPT, segments=segments, seconds=1, model="preview", resolution="180p"))
    plan = asyncio.run(engine.plan(req))
    return engine, engine.create_job(plan).id


def stored_job(engine: Engine, job_id: str) -> Job:
    """The job as the store has it now (the runners write it from their own processes)."""
    job = engine.store.get_job(job_id)
    assert job is not None, job_id
    return job


def start(home: Path, job_id: str, **extra: str) -> tuple[bool, int]:
    """Start a detached runner as an automatic restart would (runner.spawn) and wait for it to end:
    (killed by SIGKILL, exit status)."""
    env = {"SORA_TUI_HOME": str(home), "PYTHONPATH": str(ROOT / "src"), **extra}
    pid = runner.spawn(env, job_id)
    deadline = time.monotonic() + 120
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        assert time.monotonic() < deadline, "the runner did not end"
        time.sleep(0.05)
    if os.WIFSIGNALED(status):
        return os.WTERMSIG(status) == signal.SIGKILL, -1
    return False, os.WEXITSTATUS(status)


def test_crash_loop_is_held_and_the_users_resume_runs_it(home: Path, cli_env: dict[str, str]) -> None:
    engine, job_id = make_job(home)
    job_dir = engine.find_job(job_id).job_dir
    for death in (1, 2, 3):
        killed, _ = start(home, job_id, SORA_TUI_TEST_KILL_AT="started:0")
        assert killed, f"runner {death} was not killed by the hook"
        assert runner.live_status(stored_job(engine, job_id)) == runner.INTERRUPTED
    # the next automatic start finds three deaths in a row without progress: it holds the job
    killed, code = start(home, job_id, SORA_TUI_TEST_KILL_AT="started:0")
    assert not killed and code == runner.EXIT_FAILED
    job = stored_job(engine, job_id)
    assert job.status is JobStatus.FAILED
    assert "died 3 times in a row without finishing a segment" in (job.error or "")
    assert "last error: " in (job.error or "") and f"resuming job {job_id}" in (job.error or "")
    assert any("crash loop" in r.message and r.level == "error" for r in engine.store.logs(job_id))
    assert runner.read_crashes(job_dir).deaths == 3
    # and so does every automatic start after it (none of them dies again)
    killed, code = start(home, job_id, SORA_TUI_TEST_KILL_AT="started:0")
    assert not killed and code == runner.EXIT_FAILED and runner.read_crashes(job_dir).deaths == 3
    assert all(s.submits == 0 for s in engine.store.segments(job_id))
    # the user's resume starts the count again and finishes the job
    res = subprocess.run(
        [sys.executable, "-m", "sora_tui", "resume", job_id],
        env={**cli_env, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert res.returncode == 0, res.stderr
    assert stored_job(engine, job_id).status is JobStatus.COMPLETED
    rec = runner.read_crashes(job_dir)
    assert rec.deaths == 0 and not rec.open


def test_deaths_that_make_progress_are_not_a_loop(home: Path) -> None:
    """Killed right after each segment's download, three times: each run finished a segment the one
    before had not, so the fourth automatic start renders the rest instead of holding the job."""
    engine, job_id = make_job(home, segments=3)
    for k in (1, 2, 3):
        killed, _ = start(home, job_id, SORA_TUI_TEST_KILL_AT=f"downloaded:{k}")
        assert killed
        assert engine.store.segment(job_id, k).status is SegmentStatus.DOWNLOADED
    killed, code = start(home, job_id)
    assert not killed and code == runner.EXIT_OK
    assert stored_job(engine, job_id).status is JobStatus.COMPLETED
    assert [s.submits for s in engine.store.segments(job_id)] == [1, 1, 1]


def test_the_limit_is_a_setting(home: Path) -> None:
    engine, job_id = make_job(home)
    killed, _ = start(home, job_id, SORA_TUI_TEST_KILL_AT="started:0")
    assert killed
    killed, code = start(home, job_id, SORA_TUI_TEST_KILL_AT="started:0", SORA_TUI_CRASH_LIMIT="1")
    assert not killed and code == runner.EXIT_FAILED
    assert "died 1 time in a row" in (stored_job(engine, job_id).error or "")


@pytest.mark.parametrize("limit", [0])
def test_a_limit_of_zero_never_holds(tmp_path: Path, limit: int) -> None:
    for _ in range(5):
        rec = runner.note_start(tmp_path, 0, "boom")
    assert rec.deaths == 4 and rec.last_error == "boom" and not rec.looping(limit) and rec.looping(4)
    runner.note_end(tmp_path)
    assert runner.read_crashes(tmp_path).deaths == 0
    runner.reset_crashes(tmp_path)
    assert runner.read_crashes(tmp_path) == runner.CrashRecord()
