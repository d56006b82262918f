"""End to end through Engine (and the CLI) with the real FalProvider against the fal fake.

Every test renders on ``veo3.1-fast`` in chain mode; the fake renders small real MP4s,
so the whole pipeline runs: submit → status → result → download → probe → last frame →
upload as the next start frame → join. The fake records every request, so the tests
prove "no double spending": accepted submits == segments, across retries and resumes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fakes.fal_server import FalFake
from sora_tui.core import media
from sora_tui.core.engine import Engine
from sora_tui.core.models import Event, InputError, Job, JobStatus, LogLine, Mode, Plan, Request, SegmentStatus

PROMPT = "A paper boat drifts down a rainy street at dusk"
ROOT = Path(__file__).resolve().parents[1]


def engine_env(fake: FalFake, home: Path, **extra: str) -> dict[str, str]:
    return {
        "SORA_TUI_HOME": str(home),
        **fake.env(),
        "SORA_TUI_RETRY_BASE_DELAY": "0.01",
        "SORA_TUI_RETRY_MAX_DELAY": "0.05",
        "SORA_TUI_POLL_INTERVAL": "0.05",
        "SORA_TUI_MAX_RETRIES": "3",
        **extra,
    }


def make_engine(fake: FalFake, home: Path, **extra: str) -> Engine:
    return Engine(env=engine_env(fake, home, **extra))


async def new_job(engine: Engine, segments: int = 3, edit: Callable[[Plan], None] | None = None) -> Job:
    req = engine.resolve(
        Request(prompt=PROMPT, segments=segments, seconds=4, model="veo3.1-fast", mode=Mode.CHAIN, audio=False)
    )
    plan = await engine.plan(req)
    if edit is not None:
        edit(plan)
    return engine.create_job(plan)


def logs(engine: Engine, job_id: str) -> list[str]:
    return [r.message for r in engine.store.logs(job_id)]


async def test_chain_of_three_submits_three_times_and_chains_last_frames(fal_fake: FalFake, home: Path) -> None:
    engine = make_engine(fal_fake, home)
    job = await new_job(engine)
    events: list[Event] = []
    done = await engine.run(job.id, events.append)
    await engine.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    subs = fal_fake.submits
    assert len(subs) == 3
    assert [s.path for s in subs] == [
        "/fal-ai/veo3.1/fast",
        "/fal-ai/veo3.1/fast/image-to-video",
        "/fal-ai/veo3.1/fast/image-to-video",
    ]
    assert all(s.headers["authorization"] == f"Key {fal_fake.key}" for s in subs)
    assert all(s.json["duration"] == "4s" and s.json["generate_audio"] is False for s in subs)
    # the start frame uploaded for segment k+1 is segment k's exact last frame
    folder = done.job_dir
    assert fal_fake.uploads == [(folder / "seg_01_last.png").read_bytes(), (folder / "seg_02_last.png").read_bytes()]
    assert media.psnr(folder / "seg_01_last.png", folder / "seg_02_first.png") > 35
    assert media.psnr(folder / "seg_02_last.png", folder / "seg_03_first.png") > 35
    segs = engine.store.segments(job.id)
    assert [s.submits for s in segs] == [1, 1, 1] and all(s.status is SegmentStatus.DONE for s in segs)
    assert done.cost_usd == pytest.approx(3 * 4 * 0.10)
    assert done.output is not None
    assert abs(media.probe(Path(done.output)).duration - 12) < 0.5
    assert any(isinstance(e, LogLine) and e.message == "Starting generation" for e in events)


async def test_429_and_500_bursts_are_retried_and_logged(fal_fake: FalFake, home: Path) -> None:
    engine = make_engine(fal_fake, home)
    job = await new_job(engine)
    fal_fake.fail_next("submit", 429, 2)
    fal_fake.fail_next("status", 500, 2)
    fal_fake.fail_next("result", 503, 1)
    fal_fake.fail_next("upload", 502, 1)
    done = await engine.run(job.id)
    await engine.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    assert len(fal_fake.submits) == 3
    assert len(fal_fake.of("submit")) == 5  # 2 refused with 429, 3 accepted
    text = "\n".join(logs(engine, job.id))
    assert "submitting failed (fal answered HTTP 429" in text and "retry 1/3" in text and "retry 2/3" in text
    assert "checking status failed (fal answered HTTP 500" in text
    assert "fetching the result failed (fal answered HTTP 503" in text


async def test_content_policy_on_segment_2_then_edit_and_redo(fal_fake: FalFake, home: Path) -> None:
    fal_fake.content_policy = "FORBIDDEN"

    def edit(plan: Plan) -> None:
        plan.segments[1].prompt = "FORBIDDEN scene: " + plan.segments[1].prompt

    engine = make_engine(fal_fake, home)
    job = await new_job(engine, edit=edit)
    failed = await engine.run(job.id)
    assert failed.status is JobStatus.FAILED
    msg = failed.error or ""
    assert "segment 2" in msg and "flagged by a content checker" in msg
    assert 'Prompt: "FORBIDDEN scene:' in msg and "sora-tui" not in msg  # the front ends word the redo
    seg2 = engine.store.segment(job.id, 2)
    assert seg2.status is SegmentStatus.FAILED and seg2.request_id is None
    assert len(fal_fake.submits) == 2

    plan_file = failed.job_dir / "plan.json"
    data = json.loads(plan_file.read_text())
    data["segments"][1]["prompt"] = data["segments"][1]["prompt"].replace("FORBIDDEN scene: ", "A calm scene: ")
    plan_file.write_text(json.dumps(data))
    engine.prepare_redo(job.id, 2)
    done = await engine.run(job.id)
    await engine.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    prompts = [s.json["prompt"] for s in fal_fake.submits]
    assert len(prompts) == 4 and prompts.count(prompts[0]) == 1  # segment 1 was not submitted again
    assert prompts[2].startswith("A calm scene: ")
    assert engine.store.segment(job.id, 1).submits == 1
    # segment 2's new start frame is still segment 1's last frame
    assert fal_fake.uploads[-2] == (done.job_dir / "seg_01_last.png").read_bytes()


async def test_retries_exhausted_then_resume_reattaches(fal_fake: FalFake, home: Path) -> None:
    engine = make_engine(fal_fake, home)
    job = await new_job(engine)
    fal_fake.fail_next("status", 500, 10, submit_no=2)  # more than max_retries (3) + 1
    failed = await engine.run(job.id)
    await engine.aclose()
    assert failed.status is JobStatus.FAILED and failed.error is not None
    assert "segment 2: checking status failed 4 times" in failed.error and "a resume continues it" in failed.error
    seg2 = engine.store.segment(job.id, 2)
    assert seg2.request_id and seg2.status_url  # kept: the paid request is not cancelled nor forgotten
    assert fal_fake.of("cancel") == []
    assert len(fal_fake.submits) == 2

    with fal_fake._lock:  # the network is fine again
        fal_fake._faults.clear()
    again = make_engine(fal_fake, home)  # a new process would do the same
    done = await again.run(job.id)
    await again.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    assert len(fal_fake.submits) == 3  # segment 2 re-attached, only segment 3 submitted
    assert f"re-attaching to request {seg2.request_id}" in "\n".join(logs(again, job.id))
    assert [s.submits for s in again.store.segments(job.id)] == [1, 1, 1]


async def test_request_not_found_on_resume_is_resubmitted_once_with_its_cost(fal_fake: FalFake, home: Path) -> None:
    engine = make_engine(fal_fake, home)
    job = await new_job(engine)
    fal_fake.fail_next("status", 503, 10, submit_no=2)
    failed = await engine.run(job.id)
    await engine.aclose()
    assert failed.status is JobStatus.FAILED
    lost = engine.store.segment(job.id, 2).request_id
    with fal_fake._lock:
        fal_fake._faults.clear()
    fal_fake.forget()  # fal expired the request
    again = make_engine(fal_fake, home)
    done = await again.run(job.id)
    await again.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    assert len(fal_fake.submits) == 4  # 3 + the one lost request, submitted again once
    text = "\n".join(logs(again, job.id))
    assert f"the provider no longer knows request {lost}; submitting again (cost $0.40)" in text
    assert again.store.segment(job.id, 2).submits == 2


async def test_401_is_a_clear_message(fal_fake: FalFake, home: Path) -> None:
    fal_fake.reject_key = True
    engine = make_engine(fal_fake, home)
    job = await new_job(engine)
    failed = await engine.run(job.id)
    await engine.aclose()
    assert failed.status is JobStatus.FAILED and failed.error is not None
    # the run's words name no command (the front ends word the advice); the provider's own line is the provider's
    assert "fal key was rejected" in failed.error and "sora-tui resume" not in failed.error
    assert fal_fake.key not in failed.error
    assert fal_fake.submits == []


async def test_404_names_the_model(fal_fake: FalFake, home: Path) -> None:
    fal_fake.unknown_endpoints = {"fal-ai/veo3.1/fast"}
    engine = make_engine(fal_fake, home)
    job = await new_job(engine)
    failed = await engine.run(job.id)
    await engine.aclose()
    assert failed.status is JobStatus.FAILED and failed.error is not None
    assert "veo3.1-fast is not available on fal" in failed.error and "fal-ai/veo3.1/fast" in failed.error


async def test_result_without_video_keeps_nothing_as_done(fal_fake: FalFake, home: Path) -> None:
    fal_fake.no_video = 1
    engine = make_engine(fal_fake, home)
    job = await new_job(engine)
    failed = await engine.run(job.id)
    await engine.aclose()
    assert failed.status is JobStatus.FAILED and failed.error is not None
    assert "segment 1" in failed.error and "no video URL in the result" in failed.error
    seg = engine.store.segment(job.id, 1)
    assert seg.status is SegmentStatus.FAILED and seg.file is None
    assert not (failed.job_dir / "seg_01.mp4").exists()


async def test_dropped_download_is_retried(fal_fake: FalFake, home: Path) -> None:
    fal_fake.drop_downloads = 2
    engine = make_engine(fal_fake, home)
    job = await new_job(engine)
    done = await engine.run(job.id)
    await engine.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    assert len(fal_fake.submits) == 3
    assert sum(1 for r in fal_fake.of("file") if r.status == 206) == 2


async def test_the_key_is_nowhere(fal_fake: FalFake, home: Path) -> None:
    """Scan the database (and its WAL), job files, logs, events and messages for the key."""
    engine = make_engine(fal_fake, home)
    job = await new_job(engine)
    events: list[Event] = []
    done = await engine.run(job.id, events.append)
    fal_fake.reject_key = True
    job2 = await new_job(engine)
    failed = await engine.run(job2.id, events.append)
    await engine.aclose()
    assert done.status is JobStatus.COMPLETED and failed.status is JobStatus.FAILED
    key = fal_fake.key.encode()
    for path in home.rglob("*"):
        if path.is_file():
            assert key not in path.read_bytes(), f"the key leaked into {path}"
    blob = json.dumps([e.to_dict() for e in events], default=str)
    blob += "\n".join(logs(engine, job.id) + logs(engine, job2.id)) + (failed.error or "")
    assert fal_fake.key not in blob


def test_default_model_and_retired_sora(fal_fake: FalFake, home: Path) -> None:
    with_key = make_engine(fal_fake, home)
    assert with_key.default_model() == "veo3.1-fast"
    without = Engine(env={"SORA_TUI_HOME": str(home)})
    assert without.default_model() == "preview"
    for model in ("sora-2", "sora-2-pro"):
        with pytest.raises(InputError) as err:
            with_key.resolve(Request(prompt=PROMPT, model=model))
        assert "retired" in str(err.value) and "veo3.1-fast" in str(err.value)


# --- the CLI: SIGKILL while a request is in flight, then resume ----------------------------


def test_cli_sigkill_then_resume_reattaches(fal_fake: FalFake, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAL_", "OPENAI_", "SORA_TUI_"))}
    env.update(engine_env(fal_fake, tmp_path / "home"), PYTHONUNBUFFERED="1")
    fal_fake.hold = 2  # segment 2 stays in the queue until released
    cmd = [sys.executable, "-m", "sora_tui"]
    args = ["generate", PROMPT, "--model", "veo3.1-fast", "--segments", "3", "--seconds", "4", "--yes", "--json"]
    proc = subprocess.Popen(cmd + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    assert proc.stderr is not None
    try:
        held = lambda: any(r.number == 2 and r.polls >= 2 for r in fal_fake.requests.values())  # noqa: E731
        assert fal_fake.wait_for(held, timeout=60), proc.stderr.read().decode() if proc.poll() is not None else ""
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(fal_fake.submits) == 2
    probe = Engine(env=engine_env(fal_fake, tmp_path / "home"))
    (job,) = probe.store.list_jobs()
    assert probe.store.segment(job.id, 2).request_id
    fal_fake.release()
    out = subprocess.run(cmd + ["resume", job.id], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(fal_fake.submits) == 3  # the killed run's accepted request was re-attached
    final = probe.store.get_job(job.id)
    assert final is not None and final.status is JobStatus.COMPLETED
    assert [s.submits for s in probe.store.segments(job.id)] == [1, 1, 1]
    assert fal_fake.key not in out.stdout + out.stderr


async def test_keyframe_mode_on_fal_images_and_first_last_frames(fal_fake: FalFake, home: Path) -> None:
    engine = make_engine(fal_fake, home)
    req = engine.resolve(
        Request(prompt=PROMPT, segments=2, seconds=4, model="veo3.1-fast", mode=Mode.KEYFRAMES, audio=False)
    )
    job = engine.create_job(await engine.plan(req))
    done = await engine.run(job.id)
    await engine.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    paths = [s.path for s in fal_fake.submits]
    assert paths.count("/fal-ai/nano-banana-2") == 1 and paths.count("/fal-ai/nano-banana-2/edit") == 2
    assert paths.count("/fal-ai/veo3.1/fast/first-last-frame-to-video") == 2
    flf = [s.json for s in fal_fake.submits if s.path.endswith("first-last-frame-to-video")]
    assert all(b["first_frame_url"] != b["last_frame_url"] for b in flf)


async def test_parallel_mode_submits_each_segment_once(fal_fake: FalFake, home: Path) -> None:
    fal_fake.fail_next("status", 429, 3)
    engine = make_engine(fal_fake, home)
    req = engine.resolve(
        Request(prompt=PROMPT, segments=3, seconds=4, model="veo3.1-fast", mode=Mode.PARALLEL, audio=False)
    )
    job = engine.create_job(await engine.plan(req))
    done = await engine.run(job.id)
    await engine.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    assert len(fal_fake.submits) == 3 and {s.path for s in fal_fake.submits} == {"/fal-ai/veo3.1/fast"}
