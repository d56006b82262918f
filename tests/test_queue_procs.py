"""The queue end to end: a real scheduler process starting real runner processes, the real
FalProvider against the fal fake (which holds requests until released and counts what is in
flight), the `sora-tui` command for batches.

Waits poll the store, the leases or the fake with generous deadlines (2-core CI), never fixed sleeps.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fakes.fal_server import FalFake
from sora_tui.core import queue, runner, scheduler
from sora_tui.core.engine import Engine
from sora_tui.core.models import Job, JobStatus, Mode, Request

CMD = [sys.executable, "-m", "sora_tui"]
DEADLINE = 90.0


def env_for(fake: FalFake, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAL_", "OPENAI_", "SORA_TUI_"))}
    return env | {
        "SORA_TUI_HOME": str(home),
        "SORA_TUI_RETRY_BASE_DELAY": "0.01",
        "SORA_TUI_RETRY_MAX_DELAY": "0.05",
        "SORA_TUI_POLL_INTERVAL": "0.05",
        "SORA_TUI_MAX_RETRIES": "3",
        "PYTHONUNBUFFERED": "1",
        **fake.env(),
        **extra,
    }


def wait_until(predicate: Callable[[], object], timeout: float = DEADLINE, interval: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


async def make_job(engine: Engine, marker: str, segments: int = 1, mode: Mode = Mode.CHAIN) -> Job:
    req = engine.resolve(
        Request(
            prompt=f"{marker} a paper boat on a rainy street",
            segments=segments,
            seconds=4,
            model="veo3.1-fast",
            mode=mode,
            audio=False,
        )
    )
    return engine.create_job(await engine.plan(req))


def live(engine: Engine, job_id: str) -> bool:
    job = engine.store.get_job(job_id)
    return job is not None and runner.holder(job.job_dir) is not None


def status(engine: Engine, job_id: str) -> JobStatus:
    job = engine.store.get_job(job_id)
    assert job is not None
    return job.status


def submits_of(fake: FalFake, marker: str) -> int:
    return sum(1 for r in fake.submits if marker in (r.json or {}).get("prompt", ""))


def snap(engine: Engine) -> queue.Snapshot:
    return queue.snapshot(engine.store, engine.settings.queue_max_jobs)


def cleanup(engine: Engine) -> None:
    """Kill whatever this test left running (the scheduler, runners)."""
    who = scheduler.running(engine.env)
    if who is not None and who.pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(who.pid, signal.SIGKILL)
    for job in engine.store.list_jobs():
        holder = runner.holder(job.job_dir)
        if holder is not None and holder.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(holder.pid, signal.SIGKILL)


def describe(engine: Engine) -> str:
    log = engine.paths.data_dir / scheduler.LOG_FILE
    rows = "\n".join(f"{r.job_id} {r.state} {r.waits_for}" for r in snap(engine).rows)
    return rows + "\n" + (log.read_text() if log.exists() else "(no scheduler log)")


# --- limits: at most N run, the next starts when one ends; queue order; nothing starts twice -----------
# (six jobs and a limit of five are the rule's own test, tests/test_queue.py; here three and two keep
# the processes few on a 2-core machine)


async def test_jobs_at_once_the_next_starts_when_one_ends(fal_fake: FalFake, tmp_path: Path) -> None:
    env = env_for(fal_fake, tmp_path / "home", SORA_TUI_QUEUE_MAX_JOBS="2", SORA_TUI_FAL_SLOTS="8")
    engine = Engine(env=env)
    fal_fake.hold = True  # every request stays queued at fal until released
    jobs = [await make_job(engine, f"job-{i}") for i in range(3)]
    try:
        for job in jobs:
            queue.enqueue(engine, job)
        first = [j.id for j in jobs[:2]]
        assert wait_until(lambda: all(live(engine, j) for j in first) and len(fal_fake.submits) == 2), describe(engine)
        # the third waits, and says for what
        row = queue.position_of(snap(engine), jobs[2].id)
        assert row is not None and row.state == queue.WAITING and row.position == 1
        assert row.waits_for == "a free job slot (2 of 2 jobs running)"
        assert runner.live_status(jobs[2]) == "queued"  # not "interrupted": it is in the queue
        assert not live(engine, jobs[2].id) and submits_of(fal_fake, "job-2") == 0
        # one ends: the third starts
        fal_fake.release_only("job-1")
        assert wait_until(lambda: status(engine, jobs[1].id) is JobStatus.COMPLETED), describe(engine)
        assert wait_until(lambda: submits_of(fal_fake, "job-2") == 1), describe(engine)
        assert live(engine, jobs[0].id)
        fal_fake.release()
        assert wait_until(lambda: all(status(engine, j.id) is JobStatus.COMPLETED for j in jobs)), describe(engine)
        assert wait_until(lambda: scheduler.running(env) is None), "the scheduler stays after the queue emptied"
        assert queue.entries(engine.store) == []
        assert all(submits_of(fal_fake, f"job-{i}") == 1 for i in range(3))  # no job started twice
        log = (engine.paths.data_dir / scheduler.LOG_FILE).read_text()
        started = [line.split("started job ")[1].split()[0] for line in log.splitlines() if "started job" in line]
        assert started == [j.id for j in jobs]  # in queue order
    finally:
        cleanup(engine)


# --- hosted slots shared by every job ---------------------------------------------------------------


async def test_fal_slots_hold_across_jobs(fal_fake: FalFake, tmp_path: Path) -> None:
    env = env_for(fal_fake, tmp_path / "home", SORA_TUI_QUEUE_MAX_JOBS="2", SORA_TUI_FAL_SLOTS="2")
    engine = Engine(env=env)
    fal_fake.concurrency_limit = 2  # the account's own limit: one more would be a 429
    fal_fake.queue_time, fal_fake.run_time = 0.3, 0.3
    # two jobs of two parallel segments: four requests at once without a shared limit
    jobs = [await make_job(engine, f"slot-{i}", segments=2, mode=Mode.PARALLEL) for i in range(2)]
    try:
        for job in jobs:
            queue.enqueue(engine, job)
        assert wait_until(lambda: all(status(engine, j.id) is JobStatus.COMPLETED for j in jobs)), describe(engine)
    finally:
        cleanup(engine)
    assert len(fal_fake.submits) == 4
    assert fal_fake.max_in_flight == 2  # the limit was reached and never crossed
    assert not [r for r in fal_fake.of("submit") if r.status == 429]
    logs = [m.message for j in jobs for m in engine.store.logs(j.id)]
    assert any("waits for a fal slot" in m for m in logs)


# --- pause, resume, move ------------------------------------------------------------------------------


async def test_pause_move_resume_and_pause_a_running_job(fal_fake: FalFake, tmp_path: Path) -> None:
    env = env_for(fal_fake, tmp_path / "home", SORA_TUI_QUEUE_MAX_JOBS="1")
    engine = Engine(env=env)
    fal_fake.hold = True
    queue.set_paused(engine.store, True)
    first = await make_job(engine, "pm-a")
    second = await make_job(engine, "pm-b", segments=2)
    try:
        queue.enqueue(engine, first)
        queue.enqueue(engine, second)
        # paused: nothing starts, and the scheduler does not stay for nothing
        assert wait_until(lambda: scheduler.running(env) is None), describe(engine)
        assert [r.state for r in snap(engine).rows] == [queue.PAUSED, queue.PAUSED]
        assert not fal_fake.of("submit")
        assert queue.move(engine.store, second.id, "top") == 1
        queue.set_paused(engine.store, False)
        scheduler.ensure(env)
        assert wait_until(lambda: submits_of(fal_fake, "pm-b") == 1), describe(engine)  # the moved one runs first
        assert not live(engine, first.id)
        # pause the running job: its request in flight finishes, no new one starts
        queue.set_paused(engine.store, True, second.id)
        fal_fake.release_only("pm-b")
        said = lambda: "waits for the job to resume" in " ".join(m.message for m in engine.store.logs(second.id))  # noqa: E731
        assert wait_until(said), describe(engine)
        time.sleep(0.5)  # a bounded look for a submit that must not come
        assert submits_of(fal_fake, "pm-b") == 1 and live(engine, second.id)
        row = queue.position_of(snap(engine), second.id)
        assert row is not None and row.state == queue.RUNNING and "the job to resume" in row.waits_for
        queue.set_paused(engine.store, False, second.id)
        fal_fake.release()
        assert wait_until(lambda: all(status(engine, j.id) is JobStatus.COMPLETED for j in (first, second)))
        assert submits_of(fal_fake, "pm-b") == 2 and submits_of(fal_fake, "pm-a") == 1
    finally:
        cleanup(engine)


# --- the scheduler killed and started again ------------------------------------------------------------


async def test_sigkill_of_the_scheduler_loses_nothing_and_starts_nothing_twice(
    fal_fake: FalFake, tmp_path: Path
) -> None:
    env = env_for(fal_fake, tmp_path / "home", SORA_TUI_QUEUE_MAX_JOBS="1")
    engine = Engine(env=env)
    fal_fake.hold = True
    jobs = [await make_job(engine, f"kill-{i}") for i in range(2)]
    try:
        for job in jobs:
            queue.add(engine.store, job)
        pid = scheduler.ensure(env)
        assert pid is not None
        assert scheduler.ensure(env) is None  # one scheduler per box: a second call starts nothing
        assert wait_until(lambda: live(engine, jobs[0].id) and len(fal_fake.submits) == 1), describe(engine)
        runners = {jobs[0].id: runner.holder(jobs[0].job_dir).pid}  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)
        assert wait_until(lambda: scheduler.running(env) is None)
        # the runners go on; the queue is intact
        assert all(live(engine, j) for j in runners)
        assert [e.job_id for e in queue.entries(engine.store)] == [j.id for j in jobs]
        # `sora-tui queue` finds work left and no scheduler: it starts one
        listed = cli(env, "queue", "--json")
        assert listed.returncode == 0, listed.stderr
        assert [j["state"] for j in json.loads(listed.stdout)["jobs"]] == ["running", "queued"]
        again = scheduler.running(env)
        assert again is not None and again.pid not in (0, pid)
        time.sleep(0.6)  # a few ticks of the new scheduler: it must not start the running jobs again
        assert {j: runner.holder(engine.store.get_job(j).job_dir).pid for j in runners} == runners  # type: ignore[union-attr]
        assert len(fal_fake.submits) == 1
        row = queue.position_of(snap(engine), jobs[1].id)
        assert row is not None and row.state == queue.WAITING
        fal_fake.release()
        assert wait_until(lambda: all(status(engine, j.id) is JobStatus.COMPLETED for j in jobs)), describe(engine)
        assert all(submits_of(fal_fake, f"kill-{i}") == 1 for i in range(2))
        assert wait_until(lambda: scheduler.running(env) is None)
    finally:
        cleanup(engine)


# --- batches ------------------------------------------------------------------------------------------


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CMD, *args], env=env, capture_output=True, text=True, timeout=DEADLINE)


def test_batch_cap_holds_the_job_that_would_cross_it(fal_fake: FalFake, tmp_path: Path) -> None:
    env = env_for(fal_fake, tmp_path / "home")
    lines = [
        {
            "prompt": f"cap-{i} a lighthouse at night",
            "segments": 1,
            "seconds": 4,
            "model": "veo3.1-fast",
            "no_audio": True,
        }
        for i in range(4)
    ]
    path = tmp_path / "night.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    # each job costs $0.40 (4 s at $0.10/s silent): three fit under $1.30, the fourth would cross it
    res = cli(env, "batch", str(path), "--max-cost", "1.30", "--yes", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert "4 jobs, estimated $1.60, capped at $1.30" in res.stderr
    engine = Engine(env=env)
    try:
        ids = out["jobs"]
        assert wait_until(lambda: all(status(engine, j) is JobStatus.COMPLETED for j in ids[:3])), describe(engine)
        assert wait_until(lambda: scheduler.running(env) is None), describe(engine)  # nothing left it could start
        row = queue.position_of(snap(engine), ids[3])
        assert row is not None and row.state == queue.HELD and row.waits_for.startswith("held: batch cap")
        assert submits_of(fal_fake, "cap-3") == 0 and len(fal_fake.submits) == 3
        shown = json.loads(cli(env, "batch", "status", out["batch_id"], "--json").stdout)
        assert shown["spent_usd"] == pytest.approx(1.20) and shown["max_cost"] == pytest.approx(1.30)
        assert [j["status"] for j in shown["jobs"]] == ["completed"] * 3 + ["held"]
        listed = cli(env, "queue")
        assert "held: batch cap ($1.20 spent or committed + $0.40 would cross the cap of $1.30)" in listed.stdout
    finally:
        cleanup(engine)
