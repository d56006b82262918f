"""Runners, leases and honest states end to end: real processes, the real FalProvider against the
fal fake (which counts every paid submit), the preview renderer for the crash window.

Waits poll the store or the fake with generous deadlines (2-core CI), never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fakes.fal_server import FalFake
from sora_tui.core import follow, runner
from sora_tui.core.engine import Engine
from sora_tui.core.models import InputError, Job, JobStatus, Mode, Request, SegmentStatus

PROMPT = "A paper boat drifts down a rainy street at dusk"
CMD = [sys.executable, "-m", "sora_tui"]
DEADLINE = 120.0


def engine_env(fake: FalFake | None, home: Path, **extra: str) -> dict[str, str]:
    env = {
        "SORA_TUI_HOME": str(home),
        "SORA_TUI_RETRY_BASE_DELAY": "0.01",
        "SORA_TUI_RETRY_MAX_DELAY": "0.05",
        "SORA_TUI_POLL_INTERVAL": "0.05",
        "SORA_TUI_MAX_RETRIES": "3",
        **extra,
    }
    if fake is not None:
        env.update(fake.env())
    return env


def proc_env(fake: FalFake | None, home: Path, **extra: str) -> dict[str, str]:
    """The environment of a child process (the CLI, a runner): no real keys, this test's home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAL_", "OPENAI_", "SORA_TUI_"))}
    return env | engine_env(fake, home, **extra) | {"PYTHONUNBUFFERED": "1"}


def wait_until(predicate: Callable[[], object], timeout: float = DEADLINE, interval: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


async def await_until(predicate: Callable[[], object], timeout: float = DEADLINE, interval: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return bool(predicate())


async def fal_job(engine: Engine, segments: int = 3, mode: Mode = Mode.CHAIN) -> Job:
    req = engine.resolve(
        Request(prompt=PROMPT, segments=segments, seconds=4, model="veo3.1-fast", mode=mode, audio=False)
    )
    return engine.create_job(await engine.plan(req))


def cli(env: dict[str, str], *args: str, timeout: float = DEADLINE) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CMD, *args], env=env, capture_output=True, text=True, timeout=timeout)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a finished child of this process stays a zombie until reaped
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == 0


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    wait_until(lambda: not alive(pid), timeout=30)


def db_logs(home: Path, job_id: str) -> list[str]:
    db = sqlite3.connect(home / "data" / "history.sqlite3")
    try:
        return [m for (m,) in db.execute("SELECT message FROM logs WHERE job_id=? ORDER BY id", (job_id,))]
    finally:
        db.close()


# --- the lease: one runner per job; SIGKILL frees it; a new runner re-attaches ---------------------


async def test_two_runners_one_runs_then_sigkill_and_takeover_reattaches(fal_fake: FalFake, tmp_path: Path) -> None:
    home = tmp_path / "home"
    engine = Engine(env=engine_env(fal_fake, home))
    job = await fal_job(engine)
    env = proc_env(fal_fake, home)
    fal_fake.hold = 2  # segment 2 stays queued at fal until released
    pid = runner.spawn(env, job.id)
    try:
        who = runner.holder(job.job_dir)
        assert who is not None and who.pid == pid and who.detached  # named as soon as spawn returns
        held = lambda: any(r.number == 2 and r.polls >= 1 for r in fal_fake.requests.values())  # noqa: E731
        assert await await_until(held), (job.job_dir / runner.LOG_FILE).read_text()

        # a second runner of the same job, in every shape, refuses and names the holder
        with pytest.raises(InputError) as err:
            runner.spawn(env, job.id)
        assert f"process {pid} on host {runner.this_host()}" in str(err.value)
        second = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "sora_tui.core.runner", job.id],
            env=env,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
        assert second.returncode == 2 and f"is running in process {pid}" in second.stdout
        res = await asyncio.to_thread(cli, env, "resume", job.id)
        assert res.returncode == 2, res.stderr
        assert f"job {job.id} is running in process {pid} on host {runner.this_host()}" in res.stderr
        assert "Traceback" not in res.stderr
        with pytest.raises(InputError, match=f"process {pid}"):
            await engine.run(job.id)
        assert len(fal_fake.submits) == 2  # only the one runner submitted

        shown = json.loads((await asyncio.to_thread(cli, env, "show", job.id, "--json")).stdout)
        assert shown["status"] == "generating" and shown["runner"]["pid"] == pid

        os.kill(pid, signal.SIGKILL)
        assert await await_until(lambda: not alive(pid))
        assert await await_until(lambda: runner.holder(job.job_dir) is None)  # the kernel freed the lease
    finally:
        kill(pid)
    request_2 = engine.store.segment(job.id, 2).request_id
    assert request_2
    hist = await asyncio.to_thread(cli, env, "history", "--json", "--status", "interrupted")
    ((row,),) = [json.loads(hist.stdout)]
    assert row["status"] == "interrupted" and row["runner"] is None
    assert [s["status"] for s in row["segments"]] == ["done", "interrupted", "pending"]
    text = (await asyncio.to_thread(cli, env | {"COLUMNS": "200"}, "history")).stdout
    assert "interrupted" in text and "generating" not in text

    fal_fake.release()
    pid2 = runner.spawn(env, job.id)
    try:
        assert await await_until(lambda: runner.holder(job.job_dir) is None)
    finally:
        kill(pid2)
    done = engine.store.get_job(job.id)
    assert done is not None and done.status is JobStatus.COMPLETED, (job.job_dir / runner.LOG_FILE).read_text()
    assert len(fal_fake.submits) == 3  # the killed runner's request was re-attached, not paid again
    assert [s.submits for s in engine.store.segments(job.id)] == [1, 1, 1]
    assert any(f"re-attaching to request {request_2}" in m for m in db_logs(home, job.id))
    log_text = (job.job_dir / runner.LOG_FILE).read_text()
    assert "is running in process" not in log_text  # refusals went to the refused process, not here
    assert fal_fake.key not in log_text
    assert fal_fake.key not in (job.job_dir / runner.EVENTS_FILE).read_text()
    await engine.aclose()


def start_following(env: dict[str, str], job_id: str, *extra: str) -> subprocess.Popen[str]:
    """`show --follow JOB` in a child process, returned once it has said it follows (its first line)."""
    proc = subprocess.Popen(
        [*CMD, "show", "--follow", job_id, *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert f"following job {job_id}" in first, first
    return proc


def test_detached_generate_and_follow_to_the_end(fal_fake: FalFake, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = proc_env(fal_fake, home)
    fal_fake.hold = True  # the job waits at fal until the follower is attached
    res = cli(
        env, "generate", PROMPT, "--model", "veo3.1-fast", "-n", "2", "-s", "4", "--yes", "--detach", "--now", "--json"
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    job_id, pid = out["job_id"], out["runner_pid"]
    assert out["follow"] == f"sora-tui show --follow {job_id}"
    try:
        follower = start_following(env, job_id)
        fal_fake.release()
        stdout, stderr = follower.communicate(timeout=DEADLINE)
    finally:
        kill(pid)
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode == 0, stderr
    assert "[job] completed" in stderr  # the runner's events, streamed as they came
    assert "segment 2 submitted" in stderr
    assert "done:" in stdout
    assert len(fal_fake.submits) == 2
    # following a finished job returns at once with its outcome
    again = cli(env, "show", "--follow", job_id, "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "completed"


def test_stop_cancels_a_detached_job_and_resume_pays_nothing_twice(fal_fake: FalFake, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = proc_env(fal_fake, home)
    fal_fake.hold = True
    res = cli(env, "generate", PROMPT, "--model", "veo3.1-fast", "-n", "2", "-s", "4", "--yes", "--detach", "--now")
    assert res.returncode == 0, res.stderr
    started = re.search(r"^job (\S+) is rendering in the background", res.stdout, re.M)
    assert started is not None, res.stdout
    job_id = started.group(1)
    assert f"sora-tui stop {job_id}" in res.stdout
    try:
        assert wait_until(lambda: any(r.polls >= 1 for r in fal_fake.requests.values()))
        stop = cli(env | {"COLUMNS": "300"}, "stop", job_id, "--wait")
        assert stop.returncode == 0, stop.stderr
        spent = re.search(r"spent \$(\d+\.\d\d)", stop.stdout)
        assert spent is not None, stop.stdout
        cost = spent.group(1)
        assert f"including ${cost} for 1 request in flight (segment 1)" in stop.stdout
        assert "are dropped and not billed" in stop.stdout
    finally:
        who = runner.holder(home / "data" / "jobs" / job_id)
        if who is not None:
            kill(who.pid)
    shown = json.loads(cli(env, "show", job_id, "--json").stdout)
    assert shown["status"] == "cancelled" and shown["runner"] is None
    assert shown["cost_usd"] == float(cost)
    assert len(fal_fake.of("cancel")) == 1
    again = cli(env, "stop", job_id)
    assert again.returncode == 2 and "is not running (cancelled)" in again.stderr
    # the request was dropped from fal's queue: resuming submits it again, and the dropped one is not billed
    fal_fake.hold = None
    res = cli(env, "resume", job_id, "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["status"] == "completed" and summary["cost_usd"] == pytest.approx(2 * float(cost))
    assert len(fal_fake.submits) == 3
    logs = "\n".join(db_logs(home, job_id))
    assert "was cancelled while queued, so it was not billed; submitting again" in logs


# --- pre-flight failures end `failed` --------------------------------------------------------------


async def test_no_fal_key_ends_failed_in_process_and_in_a_runner(fal_fake: FalFake, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with_key = Engine(env=engine_env(fal_fake, home))
    job = await fal_job(with_key)
    job2 = await fal_job(with_key)
    without = Engine(env=engine_env(None, home))
    with pytest.raises(InputError, match="fal key"):
        await without.run(job.id)
    failed = without.store.get_job(job.id)
    assert failed is not None
    assert failed.status is JobStatus.FAILED and "fal key" in (failed.error or "")
    assert any("fal key" in m for m in db_logs(home, job.id))
    assert runner.live_status(failed) == "failed"

    pid = runner.spawn(proc_env(None, home), job2.id)
    try:
        assert await await_until(lambda: not alive(pid))
    finally:
        kill(pid)
    failed2 = without.store.get_job(job2.id)
    assert failed2 is not None
    assert failed2.status is JobStatus.FAILED and "fal key" in (failed2.error or "")
    assert "fal key" in (job2.job_dir / runner.LOG_FILE).read_text()
    assert fal_fake.submits == []
    await with_key.aclose()


async def test_read_only_output_folder_ends_failed(home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    engine = Engine()
    req = engine.resolve(Request(prompt=PROMPT, segments=1, seconds=1, model="preview", resolution="180p"))
    job = engine.create_job(await engine.plan(req))
    ro = tmp_path / "ro"
    ro.mkdir()
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != ro)  # root writes anywhere
    with pytest.raises(InputError, match="read-only"):
        await engine.run(job.id, output=ro / "x.mp4")
    failed = engine.store.get_job(job.id)
    assert failed is not None
    assert failed.status is JobStatus.FAILED and "read-only" in (failed.error or "")
    assert engine.store.logs(job.id)[-1].level == "error"
    assert runner.holder(job.job_dir) is None  # the lease went with the run
    await engine.aclose()


# --- cancel keeps request ids: a retry re-attaches ---------------------------------------------------


async def _cancel_while_rendering(fal_fake: FalFake, engine: Engine, job: Job) -> str:
    fal_fake.run_time = 3600.0  # segment 1 renders until the test says otherwise
    task = asyncio.create_task(engine.run(job.id))
    running = lambda: engine.store.segment(job.id, 1).status is SegmentStatus.RUNNING  # noqa: E731
    assert await await_until(running)
    fal_fake.run_time = 0.05
    quote = engine.cancel_quote(job.id)
    (flying,) = quote.in_flight
    assert (flying.index, flying.status, flying.cost_usd) == (1, "running", 0.4)
    assert (
        quote.spent_usd == 0.4 and quote.at_risk_usd == 0.4 and "may finish those already rendering" in quote.summary()
    )
    assert engine.cancel(job.id)
    cancelled = await asyncio.wait_for(task, DEADLINE)
    assert cancelled.status is JobStatus.CANCELLED
    seg = engine.store.segment(job.id, 1)
    assert seg.request_id == flying.request_id and seg.cancelled_at is not None  # kept
    assert engine.cancel_quote(job.id).in_flight[0].cancelled
    assert len(fal_fake.of("cancel")) == 1
    fal_fake.requests[flying.request_id].run_time = 0.0  # if it goes on rendering, it is finished now
    return flying.request_id


async def test_cancel_then_retry_reattaches_and_pays_nothing_twice(fal_fake: FalFake, tmp_path: Path) -> None:
    fal_fake.running_ignores_cancel = True  # the app goes on rendering (fal: "the model app decides")
    engine = Engine(env=engine_env(fal_fake, tmp_path / "home"))
    job = await fal_job(engine, segments=2)
    rid = await _cancel_while_rendering(fal_fake, engine, job)
    done = await engine.run(job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    assert len(fal_fake.submits) == 2  # one paid submit per segment, cancel or not
    assert [s.submits for s in engine.store.segments(job.id)] == [1, 1]
    assert done.cost_usd == pytest.approx(0.8)
    assert any(f"re-attaching to request {rid} (cancelled earlier" in r.message for r in engine.store.logs(job.id))
    await engine.aclose()


async def test_cancel_honoured_then_retry_submits_again_with_its_cost(fal_fake: FalFake, tmp_path: Path) -> None:
    engine = Engine(env=engine_env(fal_fake, tmp_path / "home"))
    job = await fal_job(engine, segments=2)
    rid = await _cancel_while_rendering(fal_fake, engine, job)
    done = await engine.run(job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    assert len(fal_fake.submits) == 3  # the cancelled request really stopped: segment 1 again
    text = "\n".join(r.message for r in engine.store.logs(job.id))
    assert f"request {rid} was cancelled" in text and "submitting again (cost $0.40)" in text
    assert done.cost_usd == pytest.approx(1.2)  # the cancelled-but-started request stays counted
    await engine.aclose()


# --- SIGKILL between a segment's download and its "done" --------------------------------------------


def test_sigkill_after_download_then_resume_fetches_nothing(fal_fake: FalFake, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = proc_env(fal_fake, home, SORA_TUI_TEST_KILL_AT="downloaded:2")
    args = ["generate", PROMPT, "--model", "veo3.1-fast", "-n", "3", "-s", "4", "--yes", "--json"]
    res = cli(env, *args)
    assert res.returncode == -signal.SIGKILL, res.stderr
    probe = Engine(env=engine_env(fal_fake, home))
    (job,) = probe.store.list_jobs()
    seg2 = probe.store.segment(job.id, 2)
    assert seg2.file is not None and seg2.request_id is not None
    assert seg2.status is SegmentStatus.DOWNLOADED and Path(seg2.file).is_file()
    assert runner.live_status(job) == "interrupted"
    shown = cli(proc_env(fal_fake, home) | {"COLUMNS": "200"}, "show", job.id)
    assert f"job {job.id} — interrupted —" in shown.stdout
    # the runner died a while ago (a job changed within the grace may still have a runner taking its lease)
    probe.store._db.execute("UPDATE jobs SET updated_at=updated_at-?", (follow.RUNNER_GRACE,))
    followed = cli(proc_env(fal_fake, home), "show", "--follow", job.id)
    assert followed.returncode == 1 and f"`sora-tui resume {job.id}` continues it" in followed.stderr
    submits, results, files = len(fal_fake.submits), len(fal_fake.of("result")), len(fal_fake.of("file"))

    res = cli(proc_env(fal_fake, home), "resume", job.id, "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["status"] == "completed"
    assert len(fal_fake.submits) == submits + 1  # segment 3 only
    assert len(fal_fake.of("result")) == results + 1  # segment 3's result only
    new_files = fal_fake.of("file")[files:]
    assert len(new_files) == 1 and seg2.request_id not in new_files[0].path
    assert [s.submits for s in probe.store.segments(job.id)] == [1, 1, 1]
    text = "\n".join(db_logs(home, job.id))
    assert "segment 2 was downloaded before the interruption; finishing it" in text
    assert "submitting again" not in text


def test_sigkill_after_download_on_preview_is_not_rendered_again(cli_env: dict[str, str], home: Path) -> None:
    env = cli_env | {"SORA_TUI_TEST_KILL_AT": "downloaded:2"}
    res = cli(env, "generate", PROMPT, "-n", "3", "-s", "1", "-r", "180p", "--yes", "--json")
    assert res.returncode == -signal.SIGKILL, res.stderr
    engine = Engine()
    (job,) = engine.store.list_jobs()
    file2 = engine.store.segment(job.id, 2).file
    assert file2 is not None
    stamp = Path(file2).stat().st_mtime_ns
    res = cli(cli_env, "resume", job.id, "--json")
    assert res.returncode == 0, res.stderr
    seg2 = engine.store.segment(job.id, 2)
    assert seg2.status is SegmentStatus.DONE and seg2.submits == 1
    assert seg2.file is not None
    assert Path(seg2.file).stat().st_mtime_ns == stamp
    text = "\n".join(db_logs(home, job.id))
    assert "no longer knows request" not in text and "submitting again" not in text


async def test_runner_survives_sighup_and_turns_sigterm_into_a_cancel(fal_fake: FalFake, tmp_path: Path) -> None:
    home = tmp_path / "home"
    engine = Engine(env=engine_env(fal_fake, home))
    job = await fal_job(engine, segments=2)
    fal_fake.hold = True
    pid = runner.spawn(proc_env(fal_fake, home), job.id)
    try:
        assert os.getsid(pid) == pid  # its own session: a closing terminal's SIGHUP does not reach it
        assert await await_until(lambda: any(r.polls >= 1 for r in fal_fake.requests.values()))
        os.kill(pid, signal.SIGHUP)  # ignored
        os.kill(pid, signal.SIGTERM)  # a stop: cancel in flight, keep the request id, end "cancelled"
        assert await await_until(lambda: runner.holder(job.job_dir) is None)
        assert await await_until(lambda: not alive(pid))
    finally:
        kill(pid)
    done = engine.store.get_job(job.id)
    assert done is not None
    log = (job.job_dir / runner.LOG_FILE).read_text()
    assert done.status is JobStatus.CANCELLED, log
    assert "SIGTERM received" in log and "SIGHUP" not in log
    seg = engine.store.segment(job.id, 1)
    assert seg.request_id and seg.cancelled_while == "queued"
    assert len(fal_fake.of("cancel")) == 1
    await engine.aclose()


def test_follow_a_foreground_run_from_another_shell(fal_fake: FalFake, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = proc_env(fal_fake, home)
    fal_fake.hold = True
    args = ["generate", PROMPT, "--model", "veo3.1-fast", "-n", "2", "-s", "4", "--yes", "--json"]
    fg = subprocess.Popen([*CMD, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    follower = None
    try:
        jobs = home / "data" / "jobs"
        held = lambda: jobs.is_dir() and any(runner.holder(d) for d in jobs.iterdir())  # noqa: E731
        assert wait_until(held)
        (job_dir,) = list(jobs.iterdir())
        who = runner.holder(job_dir)
        assert who is not None and who.pid == fg.pid and not who.detached
        follower = start_following(env, job_dir.name)
        fal_fake.release()
        _, err = fg.communicate(timeout=DEADLINE)
        _, follow_err = follower.communicate(timeout=DEADLINE)
    finally:
        for proc in (fg, follower):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert fg.returncode == 0, err
    assert follower.returncode == 0, follow_err
    assert "[job] completed" in follow_err and "segment 2 done" in follow_err
