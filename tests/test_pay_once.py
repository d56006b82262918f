"""Nothing is paid twice when a run stops while a submit is on the wire.

The fal fake accepts a request (stores and counts it: fal bills it) and holds its answer
(``hold_reply``); meanwhile the job is stopped or a sibling fails, and the run gives up on the
task that is waiting for that answer. The submit and the recording of its request id are one
step that a cancellation cannot split, so a resume re-attaches to the stored request instead of
submitting it again: exactly one accepted submit per segment and per take across both runs.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from fakes.fal_server import FakeRequest, FalFake
from sora_tui.core.engine import Engine
from sora_tui.core.models import JobStatus, Plan
from sora_tui.core.takes import take_seed
from test_hosted_e2e import engine_env


def make_plan(mode: str, prompts: list[str], takes: dict[int, int] | None = None, cut: int | None = None) -> Plan:
    segs: list[dict[str, object]] = [{"seconds": 4, "prompt": p} for p in prompts]
    for k, n in (takes or {}).items():
        segs[k - 1]["takes"] = n
    if cut is not None:
        segs[cut - 1]["transition"] = "cut"
    return Plan.from_dict(
        {"version": 2, "prompt": "a boat", "model": "veo3.1-fast", "resolution": "720p", "aspect": "16:9",
         "audio": False, "mode": mode, "segments": segs}
    )  # fmt: skip


def accepted(fake: FalFake) -> Counter[tuple[str, object]]:
    """Accepted submits per (prompt, seed): what the account was billed for."""
    with fake._lock:
        return Counter((r.prompt, r.body.get("seed")) for r in fake.requests.values())


def fetched(fake: FalFake, request_id: str) -> bool:
    return any(r.path.rstrip("/").endswith(f"/requests/{request_id}") for r in fake.of("result"))


async def wait_until(predicate: Callable[[], object], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.02)


def held_request(fake: FalFake, rule: Callable[[FakeRequest], bool]) -> FakeRequest | None:
    with fake._lock:
        return next((r for r in fake.requests.values() if rule(r)), None)


async def test_stop_while_a_parallel_submit_is_on_the_wire_pays_once(fal_fake: FalFake, home: Path) -> None:
    engine = Engine(env=engine_env(fal_fake, home))
    plan = make_plan("parallel", ["a boat on a canal", "a bridge at dusk", "the open sea"])
    job = engine.create_job(plan)
    fal_fake.run_time = 4.0  # every request is rendering when the stop comes, and finishes anyway
    fal_fake.running_ignores_cancel = True
    fal_fake.hold_reply, fal_fake.hold_reply_s = "the open sea", 2.0
    task = asyncio.create_task(engine.run(job.id))
    await wait_until(lambda: len(fal_fake.requests) == 3)  # the third is accepted, its answer held
    held = held_request(fal_fake, lambda r: "open sea" in r.prompt)
    assert held is not None
    engine.cancel(job.id)
    stopped = await task
    assert stopped.status is JobStatus.CANCELLED
    row = engine.store.segment(job.id, 3)
    assert row.request_id == held.id  # recorded though the stop came while the answer was on the wire
    # the stop asked fal to cancel every request in flight, that one included
    cancelled = {r.path.rstrip("/").split("/")[-2] for r in fal_fake.of("cancel")}
    assert held.id in cancelled and len(cancelled) == 3
    fal_fake.hold_reply = None
    done = await engine.run(job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    assert sorted(accepted(fal_fake).values()) == [1, 1, 1]  # one submit per segment across both runs
    assert fetched(fal_fake, held.id)  # the resumed run fetched the stored request
    assert done.cost_usd == pytest.approx(engine.estimate(plan))


async def test_a_failing_shot_while_a_cut_shot_is_on_the_wire_pays_once(fal_fake: FalFake, home: Path) -> None:
    """Chain mode: the runs split at a cut render at once; one fails while the other's submit waits."""
    engine = Engine(env=engine_env(fal_fake, home))
    plan = make_plan("chain", ["a boat on a canal", "the boat passes a bridge", "a lighthouse"], cut=3)
    job = engine.create_job(plan)
    fal_fake.run_time = 0.1
    fal_fake.content_policy = "a boat on a canal"  # shot 1's result is refused after it rendered
    fal_fake.hold = "a boat on a canal"  # ... once shot 3's submit is on the wire
    fal_fake.hold_reply, fal_fake.hold_reply_s = "a lighthouse", 3.0
    running = asyncio.create_task(engine.run(job.id))
    await wait_until(lambda: held_request(fal_fake, lambda r: "lighthouse" in r.prompt))
    fal_fake.release()
    failed = await running
    assert failed.status is JobStatus.FAILED and "content policy" in (failed.error or "")
    held = held_request(fal_fake, lambda r: "lighthouse" in r.prompt)
    assert held is not None and engine.store.segment(job.id, 3).request_id == held.id
    assert not any(r.path.endswith("/cancel") for r in fal_fake.of("cancel"))  # a failure cancels nothing
    fal_fake.content_policy, fal_fake.hold_reply = None, None
    done = await engine.run(job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    per_prompt = Counter(p for (p, _), n in accepted(fal_fake).items() for _ in range(n))
    # shot 1 was refused (its request ended in an error) and is asked again; shots 2 and 3 once each
    assert per_prompt == {"a boat on a canal": 2, "the boat passes a bridge": 1, "a lighthouse": 1}
    assert fetched(fal_fake, held.id)


async def test_a_failing_shot_while_a_take_is_on_the_wire_pays_once(fal_fake: FalFake, home: Path) -> None:
    engine = Engine(env=engine_env(fal_fake, home))
    plan = make_plan("parallel", ["a boat on a canal", "a bridge at dusk"], takes={2: 3})
    job = engine.create_job(plan)
    third = take_seed(2, 3)  # shot 2's take 3 (the shot's seed is its index)
    fal_fake.run_time = 0.1
    fal_fake.content_policy = "a boat on a canal"  # refused once the third take's submit is on the wire
    fal_fake.hold = "a boat on a canal"
    fal_fake.hold_reply, fal_fake.hold_reply_s = (lambda r: r.body.get("seed") == third), 3.0
    running = asyncio.create_task(engine.run(job.id))
    await wait_until(lambda: held_request(fal_fake, lambda r: r.body.get("seed") == third))
    fal_fake.release()
    failed = await running
    assert failed.status is JobStatus.FAILED
    held = held_request(fal_fake, lambda r: r.body.get("seed") == third)
    assert held is not None
    book = json.loads((job.job_dir / "takes.json").read_text())["shots"]["2"]
    assert {t["take"]: t["request_id"] for t in book}.get(3) == held.id  # recorded before the run ended
    fal_fake.content_policy, fal_fake.hold_reply = None, None
    done = await engine.run(job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    counts = accepted(fal_fake)
    shot2 = {seed: n for (p, seed), n in counts.items() if p == "a bridge at dusk"}
    assert len(shot2) == 3 and set(shot2.values()) == {1}  # three takes, each submitted once
    assert fetched(fal_fake, held.id)


async def test_a_refused_take_forgets_only_its_own_request(fal_fake: FalFake, home: Path) -> None:
    """Take 2 of a shot is refused by the content policy: the job fails, take 1's and take 3's requests
    stay stored (they are paid for) and only take 2 is asked again on resume."""
    engine = Engine(env=engine_env(fal_fake, home))
    plan = make_plan("parallel", ["a boat on a canal"], takes={1: 3})
    job = engine.create_job(plan)
    second = take_seed(1, 2)
    fal_fake.run_time = 0.3
    fal_fake.content_policy = lambda r: r.body.get("seed") == second
    failed = await engine.run(job.id)
    assert failed.status is JobStatus.FAILED and "content policy" in (failed.error or "")
    first_id = engine.store.segment(job.id, 1).request_id
    assert first_id, "take 1's paid request was forgotten because take 2 failed"
    fal_fake.content_policy = None
    done = await engine.run(job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    counts = {seed: n for (_, seed), n in accepted(fal_fake).items()}
    assert counts == {take_seed(1, 1): 1, second: 2, take_seed(1, 3): 1}  # only the refused take twice
    assert fetched(fal_fake, first_id)


async def test_a_stop_cancels_every_take_at_fal(fal_fake: FalFake, home: Path) -> None:
    """Takes 2..N are requests in flight like take 1: a stop asks fal to cancel each of them."""
    engine = Engine(env=engine_env(fal_fake, home))
    plan = make_plan("chain", ["a bridge at dusk"], takes={1: 3})
    job = engine.create_job(plan)
    fal_fake.hold = True  # all three stay queued
    task = asyncio.create_task(engine.run(job.id))

    def recorded() -> int:
        try:
            shot = json.loads((job.job_dir / "takes.json").read_text())["shots"].get("1", [])
        except (OSError, ValueError):
            return 0
        return sum(1 for t in shot if t.get("request_id"))

    await wait_until(
        lambda: len(fal_fake.requests) == 3 and recorded() == 2 and engine.store.segment(job.id, 1).request_id
    )
    engine.cancel(job.id)
    assert (await task).status is JobStatus.CANCELLED
    cancelled = {r.path.rstrip("/").split("/")[-2] for r in fal_fake.of("cancel") if 200 <= r.status < 300}
    assert cancelled == set(fal_fake.requests)  # each of the three takes
    fal_fake.release()
    done = await engine.run(job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    # dropped from the queue before they started, so not billed: submitted again, paid once each
    assert done.cost_usd == pytest.approx(engine.estimate(plan))
