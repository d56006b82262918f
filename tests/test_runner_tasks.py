"""Runner tasks (core/tasks.py): a finish, an export and a keyframe regeneration run in a runner
process under the job's lease; progress and the outcome go to the job's event log."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from fakes.fal_server import FalFake
from finishkit import make_engine, make_job
from sora_tui.core import runner, tasks
from sora_tui.core.engine import Engine
from sora_tui.core.finish.stage import FinishOptions
from sora_tui.core.models import (
    FinishProgress,
    InputError,
    JobStatus,
    KeyframeReady,
    Mode,
    Request,
    TaskDone,
    TaskStarted,
    event_from_dict,
    event_to_dict,
)
from test_runner_jobs import engine_env

DEADLINE = 120.0


def wait_exit(pid: int) -> int:
    """The exit status of a runner this test spawned (its child)."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    raise AssertionError(f"runner {pid} still running")


def test_task_events_round_trip() -> None:
    for event in (
        TaskStarted("j", "export", "web-720p"),
        TaskDone("j", "finish", "finish", "done", result="/x/finished_v1.mp4"),
        TaskDone("j", "keyframe", "keyframe 2", "failed", error="no key"),
    ):
        assert event_from_dict(event_to_dict(event)) == event
    opts = FinishOptions(narration=False, music=Path("/m/bed.wav"), burn_subtitles=True, loudness=-16.0)
    assert FinishOptions.from_dict(opts.to_dict()) == opts
    assert FinishOptions.from_dict(FinishOptions().to_dict()) == FinishOptions()


def test_finish_then_export_in_a_runner(home: Path) -> None:
    engine = make_engine(home)
    job_id = make_job(engine, segments=2, seconds=2)
    job = engine.store.get_job(job_id)
    assert job is not None
    log = runner.EventLog(job.job_dir)
    start = log.end()
    env = {"SORA_TUI_HOME": str(home)}
    # not while another process holds the job: the refusal names it
    with runner.Lease(job.job_dir, job_id), pytest.raises(InputError, match=rf"process {os.getpid()} on host"):
        runner.spawn(env, job_id, task=tasks.FINISH, options=FinishOptions(narration=False).to_dict())

    pid = runner.spawn(env, job_id, task=tasks.FINISH, options=FinishOptions(narration=False).to_dict())
    who = runner.holder(job.job_dir)
    assert who is None or (who.pid == pid and who.task == tasks.FINISH)
    assert wait_exit(pid) == runner.EXIT_OK
    events, offset = log.read(start)
    assert isinstance(events[0], TaskStarted) and events[0].task == "finish"
    assert any(isinstance(e, FinishProgress) and e.stage == "mix" for e in events)
    done = events[-1]
    assert isinstance(done, TaskDone) and done.outcome == "done"
    assert done.result is not None and done.result.endswith("finished_v1.mp4")
    finishes = [o for o in engine.store.outputs(job_id) if o.kind == "finish"]
    assert [Path(o.path).name for o in finishes] == ["finished_v1.mp4"] and Path(done.result).is_file()
    assert not (job.job_dir / runner.TASK_FILE).exists() and runner.holder(job.job_dir) is None

    pid = runner.spawn(env, job_id, task=tasks.EXPORT, options={"preset": "gif-preview"})
    assert wait_exit(pid) == runner.EXIT_OK
    events, _ = log.read(offset)
    assert isinstance(events[-1], TaskDone)
    assert events[-1] == TaskDone(job_id, "export", "gif-preview", "done", result=events[-1].result)
    assert [o.name for o in engine.store.outputs(job_id) if o.kind == "export"] == ["gif-preview"]

    # an export preset that does not exist: failed, with the reason, exit 2
    pid = runner.spawn(env, job_id, task=tasks.EXPORT, options={"preset": "nope"})
    assert wait_exit(pid) == runner.EXIT_INPUT
    last = runner.EventLog(job.job_dir).read(offset)[0][-1]
    assert isinstance(last, TaskDone) and last.outcome == "failed" and "nope" in (last.error or "")


def test_stop_request_cancels_a_finish(home: Path, tmp_path: Path) -> None:
    from finishkit import tone_file

    engine = make_engine(home)
    job_id = make_job(engine, segments=2, seconds=2)
    job = engine.store.get_job(job_id)
    assert job is not None
    start = runner.EventLog(job.job_dir).end()
    music = tone_file(tmp_path / "bed.wav", seconds=4.0)
    env = {"SORA_TUI_HOME": str(home)}
    pid = runner.spawn(env, job_id, task=tasks.FINISH, options=FinishOptions(narration=False, music=music).to_dict())
    # the runner holds the job from its first instant: a stop asked now reaches it before the mix
    assert runner.request_stop(job.job_dir)
    code = wait_exit(pid)
    last = runner.EventLog(job.job_dir).read(start)[0][-1]
    assert isinstance(last, TaskDone)
    assert code == runner.EXIT_CANCELLED and last.outcome == "cancelled"
    assert not [o for o in engine.store.outputs(job_id) if o.kind == "finish"]


async def test_keyframe_regeneration_in_a_runner_makes_one_image_call(fal_fake: FalFake, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = engine_env(fal_fake, home)
    engine = Engine(env=env)
    req = engine.resolve(
        Request(prompt="A lighthouse at dusk", segments=2, seconds=4, model="veo3.1-fast", mode=Mode.KEYFRAMES)
    )
    job = engine.create_job(await engine.plan(req))
    paused = await engine.run(job.id, review_keyframes=True)
    assert paused.status is JobStatus.AWAITING_REVIEW, paused.error
    images = len(fal_fake.submits)
    assert images == 3
    kf1_file = engine.store.keyframes(job.id)[1].file
    assert kf1_file is not None
    before = Path(kf1_file).read_bytes()
    log = runner.EventLog(job.job_dir)
    start = log.end()

    pid = runner.spawn(env, job.id, task=tasks.KEYFRAME, options={"index": 1, "prompt": "the lamp blazes"})
    assert wait_exit(pid) == runner.EXIT_OK
    assert len(fal_fake.submits) == images + 1  # exactly one image call
    assert fal_fake.submits[-1].path.startswith("/fal-ai/nano-banana-2")
    kf1 = engine.store.keyframes(job.id)[1]
    assert kf1.prompt == "the lamp blazes" and kf1.status == "done" and kf1.file is not None
    assert Path(kf1.file).read_bytes() != before
    after = engine.store.get_job(job.id)
    assert after is not None and after.plan is not None
    assert after.plan.keyframes[1] == "the lamp blazes"
    events, _ = log.read(start)
    assert any(isinstance(e, KeyframeReady) and e.index == 1 for e in events)
    assert events[-1] == TaskDone(job.id, "keyframe", "keyframe 1", "done", result=kf1.file, index=1)
    text = (job.job_dir / runner.LOG_FILE).read_text() + log.path.read_text()
    assert fal_fake.key not in text
    await engine.aclose()


def test_cli_export_detach_then_follow(home: Path, cli_env: dict[str, str], sora_cmd: list[str]) -> None:
    import json
    import subprocess

    engine = make_engine(home)
    job_id = make_job(engine, segments=2, seconds=2)

    def run(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*sora_cmd, *a], env=cli_env, capture_output=True, text=True, timeout=DEADLINE)

    res = run("export", job_id, "-p", "webm", "-p", "hls", "--detach")
    assert res.returncode == 2 and "one preset at a time" in res.stderr
    gate = home / "gate"  # the export waits there (SORA_TUI_TEST_TASK_GATE) until the follower is attached
    gated = {**cli_env, "SORA_TUI_TEST_TASK_GATE": str(gate)}
    res = subprocess.run(
        [*sora_cmd, "export", job_id, "-p", "gif-preview", "--detach", "--json"],
        env=gated, capture_output=True, text=True, timeout=DEADLINE,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["task"] == "export" and data["runner_pid"] > 0
    # follows the runner until it lets go of the job
    with subprocess.Popen([*sora_cmd, "show", "--follow", job_id], env=cli_env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as follow:  # fmt: skip
        assert follow.stderr is not None
        try:
            said = follow.stderr.readline()
        finally:
            gate.touch()
        out, err = follow.communicate(timeout=DEADLINE)
    assert f"following job {job_id} (completed, export running in process {data['runner_pid']} " in said, said
    res = subprocess.CompletedProcess(follow.args, follow.returncode, out, said + err)
    assert res.returncode == 0, res.stderr
    job = engine.store.get_job(job_id)
    assert job is not None and runner.holder(job.job_dir) is None
    assert [o.name for o in engine.store.outputs(job_id) if o.kind == "export"] == ["gif-preview"]
    assert "export gif-preview:" in res.stdout + res.stderr
