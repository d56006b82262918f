"""The runner API (core/runner.py): lease, holder, stop requests, event log, honest states."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sora_tui.core import runner
from sora_tui.core.errors import Code
from sora_tui.core.models import (
    CostUpdate,
    InputError,
    Job,
    JobStatus,
    JobStatusChanged,
    JoinProgress,
    LogLine,
    Mode,
    SegmentProgress,
    SegmentStatus,
    SegmentStatusChanged,
    event_from_dict,
    event_to_dict,
)

HOLD = """
import sys, time
from sora_tui.core.runner import Lease
with Lease(sys.argv[1], "job-x"):
    print("held", flush=True)
    time.sleep(120)
"""


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0, interval: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def hold_in_child(job_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(job_dir)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_lease_is_exclusive_and_names_the_holder(tmp_path: Path) -> None:
    assert runner.holder(tmp_path) is None
    with runner.Lease(tmp_path, "job-a") as lease:
        assert lease.held
        who = runner.holder(tmp_path)
        assert who is not None and who.pid == os.getpid() and who.host == runner.this_host()
        with pytest.raises(InputError) as err:
            runner.Lease(tmp_path, "job-a").acquire()
        text = str(err.value)
        assert f"job job-a is running in process {os.getpid()} on host {runner.this_host()}" in text
        assert err.value.code is Code.JOB_RUNNING and "sora-tui" not in text  # each front end words the advice
        assert err.value.context["job"] == "job-a" and err.value.context["pid"] == os.getpid()
    assert runner.holder(tmp_path) is None
    with runner.Lease(tmp_path, "job-a"):  # free again
        pass


def test_sigkill_frees_the_lease(tmp_path: Path) -> None:
    proc = hold_in_child(tmp_path)
    try:
        who = runner.holder(tmp_path)
        assert who is not None and who.pid == proc.pid
        with pytest.raises(InputError, match=f"process {proc.pid}"):
            runner.Lease(tmp_path, "job-x").acquire()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert wait_until(lambda: runner.holder(tmp_path) is None)
    with runner.Lease(tmp_path, "job-x"):
        who = runner.holder(tmp_path)
        assert who is not None and who.pid == os.getpid()


def test_stop_request_goes_to_the_holder_only(tmp_path: Path) -> None:
    assert runner.request_stop(tmp_path) is False  # nobody to ask
    assert not runner.stop_requested(tmp_path)
    with runner.Lease(tmp_path, "job-s"):
        assert runner.request_stop(tmp_path) is True
        assert runner.stop_requested(tmp_path)
    assert not runner.stop_requested(tmp_path)  # cleared with the lease: the next run starts clean


async def test_watch_stop_cancels_the_run(tmp_path: Path) -> None:
    import asyncio

    from sora_tui.core.run import RunControl

    control = RunControl()
    with runner.Lease(tmp_path, "job-w"):
        task = asyncio.create_task(runner.watch_stop(tmp_path, control, interval=0.01))
        await asyncio.sleep(0.05)
        assert not control.cancelled
        runner.request_stop(tmp_path)
        await asyncio.wait_for(task, timeout=30)
    assert control.cancelled


def test_events_round_trip_and_follow(tmp_path: Path) -> None:
    log = runner.EventLog(tmp_path)
    events = [
        JobStatusChanged("j", JobStatus.GENERATING, "go"),
        SegmentStatusChanged("j", 1, SegmentStatus.RUNNING, "rendering"),
        SegmentProgress("j", 1, 0.5, "rendering", None, ""),
        LogLine("j", "hello", "warning", 1),
        CostUpdate("j", 0.4, 1.2),
    ]
    assert log.read(0) == ([], 0)
    log.append(events[0])
    got, offset = log.read(0)
    assert got == events[:1] and offset == log.end()
    for e in events[1:]:
        log(e)
    # a half-written line is not read until it is complete
    with open(log.path, "ab") as fh:
        fh.write(b'{"t": 1, "type": "JoinProg')
    got, offset2 = log.read(offset)
    assert got == events[1:]
    first, job_change = got[0], events[0]
    assert isinstance(first, SegmentStatusChanged) and isinstance(job_change, JobStatusChanged)
    assert isinstance(first.status, SegmentStatus) and isinstance(job_change.status, JobStatus)
    with open(log.path, "ab") as fh:
        fh.write(b'ress", "job_id": "j", "fraction": 0.25}\n{"type": "FutureEvent", "job_id": "j"}\n')
    got, offset3 = log.read(offset2)
    assert [type(e).__name__ for e in got] == ["JoinProgress"]
    assert isinstance(got[0], JoinProgress) and got[0].fraction == 0.25
    assert offset3 == log.path.stat().st_size
    log.close()
    rows, _ = log.read_dicts(0)
    assert len(rows) == 7 and all("t" in r for r in rows[:5])
    # a log replaced by a shorter one is read from its start
    log.path.write_text("")
    assert log.read(offset3) == ([], 0)


def test_event_dicts() -> None:
    e = SegmentStatusChanged("j", 2, SegmentStatus.DONE, "4.0 s")
    d = event_to_dict(e, t=5.0)
    assert d == {
        "t": 5.0,
        "type": "SegmentStatusChanged",
        "job_id": "j",
        "index": 2,
        "status": "done",
        "message": "4.0 s",
    }
    assert event_from_dict(d) == e
    assert event_from_dict({"type": "Nope"}) is None


def test_display_status(tmp_path: Path) -> None:
    job = Job(id="j", prompt="p", model="preview", mode=Mode.CHAIN, status=JobStatus.GENERATING, folder=str(tmp_path))
    assert runner.display_status(job, None) == "interrupted"
    assert runner.live_status(job) == "interrupted"
    who = runner.Holder(1, "h", 0.0)
    assert runner.display_status(job, who) == "generating"
    with runner.Lease(tmp_path, "j"):
        assert runner.live_status(job) == "generating"
    for status in (JobStatus.QUEUED, JobStatus.JOINING):
        job.status = status
        assert runner.display_status(job, None) == "interrupted"
    for status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.DRAFT):
        job.status = status
        assert runner.display_status(job, None) == str(status)


def test_display_segment_status() -> None:
    from sora_tui.core.models import Segment

    seg = Segment(job_id="j", index=1, prompt="p", seconds=4)
    for status, shown in (
        (SegmentStatus.RUNNING, "interrupted"),
        (SegmentStatus.SUBMITTED, "interrupted"),
        (SegmentStatus.WAITING, "interrupted"),
        (SegmentStatus.DOWNLOADED, "downloaded"),
        (SegmentStatus.DONE, "done"),
        (SegmentStatus.PENDING, "pending"),
    ):
        seg.status = status
        assert runner.display_segment_status(seg, "interrupted") == shown
        assert runner.display_segment_status(seg, "generating") == str(status)


def test_a_starting_runner_is_never_read_as_the_jobs_last_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From the moment spawn takes the lease, the holder says what the new runner is for. runner.json still
    described the job's last run (here: a render) while the child was being started, so a window that looked
    then saw the job rendering, then saw a finish, and stopped following it (its TaskStarted was never read)."""
    from sora_tui.core.runner.lease import read_info, write_info
    from sora_tui.core.settings import get_paths

    env = {"SORA_TUI_HOME": str(tmp_path / "home")}
    job_dir = get_paths(env).jobs_dir / "job-f"
    job_dir.mkdir(parents=True)
    write_info(job_dir, runner.Holder(os.getpid(), runner.this_host(), time.time(), detached=False, task=""))
    seen: list[runner.Holder | None] = []
    real = subprocess.Popen

    def starting(cmd: list[str], **kw: object) -> subprocess.Popen[bytes]:
        seen.append(runner.holder(job_dir))  # what a window reads while the child starts
        return real([sys.executable, "-c", "pass"], **kw)  # type: ignore[call-overload,no-any-return]

    monkeypatch.setattr(subprocess, "Popen", starting)
    pid = runner.spawn(env, "job-f", task="finish", options={})
    assert len(seen) == 1 and seen[0] is not None and seen[0].task == "finish", seen
    after = read_info(job_dir)
    assert after is not None and after.pid == pid and after.task == "finish"
