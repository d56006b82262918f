"""fal's status stream (server-sent events) tells the pipeline about a completion at once;
servers without it (gateways, fakes with ``sse = False``) are polled as before."""

from __future__ import annotations

from pathlib import Path

from fakes.fal_server import FalFake
from sora_tui.core.engine import Engine
from sora_tui.core.models import Job, JobStatus, Mode, Request

PROMPT = "A paper boat drifts down a rainy street at dusk"


def engine(fake: FalFake, home: Path, poll: float) -> Engine:
    return Engine(
        env={
            "SORA_TUI_HOME": str(home),
            **fake.env(),
            "SORA_TUI_POLL_INTERVAL": str(poll),
            "SORA_TUI_RETRY_BASE_DELAY": "0.01",
        }
    )


async def run_job(eng: Engine, mode: Mode = Mode.CHAIN, segments: int = 2) -> Job:
    req = eng.resolve(Request(prompt=PROMPT, segments=segments, seconds=4, model="veo3.1-fast", mode=mode, audio=False))
    job = eng.create_job(await eng.plan(req))
    done = await eng.run(job.id)
    await eng.aclose()
    return done


async def test_completion_is_noticed_from_the_stream_not_the_next_poll(fal_fake: FalFake, home: Path) -> None:
    fal_fake.run_time = 0.3
    poll = 60.0  # a completion noticed by polling would wait a minute
    done = await run_job(engine(fal_fake, home, poll))
    assert done.status is JobStatus.COMPLETED, done.error
    streams = fal_fake.of("stream")
    assert len(streams) == 2 and all(r.status == 200 for r in streams)
    for req in fal_fake.requests.values():
        polls = [r for r in fal_fake.of("status") if req.id in r.path]
        result = next(r for r in fal_fake.of("result") if req.id in r.path)
        # fetched after completion, long before a second poll could have happened
        assert result.time >= req.completed_wall
        assert result.time - polls[0].time < poll / 2
        # the first look, then one per streamed change (at most IN_PROGRESS and COMPLETED)
        assert len(polls) <= 3


async def test_servers_without_the_stream_are_polled(fal_fake: FalFake, home: Path) -> None:
    fal_fake.sse = False
    fal_fake.run_time = 0.3
    done = await run_job(engine(fal_fake, home, 0.05))
    assert done.status is JobStatus.COMPLETED, done.error
    streams = fal_fake.of("stream")
    assert [r.status for r in streams] == [404]  # asked once, then remembered
    assert len(fal_fake.of("status")) > 4


async def test_keyframe_images_use_the_stream_too(fal_fake: FalFake, home: Path) -> None:
    fal_fake.run_time = 0.2
    done = await run_job(engine(fal_fake, home, 60.0), Mode.KEYFRAMES, segments=1)
    assert done.status is JobStatus.COMPLETED, done.error
    image_ids = {r.id for r in fal_fake.requests.values() if "nano-banana" in r.endpoint}
    assert len(image_ids) == 2
    streamed = {rid for rid in image_ids if any(rid in r.path for r in fal_fake.of("stream"))}
    assert streamed == image_ids
