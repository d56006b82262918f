"""Takes: N renders of a shot with distinct seeds, each paid once; the best kept; ``takes`` lists
them; ``pick`` keeps another and re-renders only the shots that continue from it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from fakes import fal_schemas
from fakes.fal_server import FalFake
from sora_tui.cli import main
from sora_tui.core import media
from sora_tui.core.colour import psnr
from sora_tui.core.engine import Engine
from sora_tui.core.models import JobStatus, Plan
from sora_tui.core.takes import Take, best_take
from test_hosted_e2e import engine_env


def plan(cut_after_2: bool = False) -> Plan:
    segs = [
        {"seconds": 4, "prompt": "a boat on a canal"},
        {"seconds": 4, "prompt": "the boat passes a bridge", "takes": 3},
        {"seconds": 4, "prompt": "the boat reaches the sea"},
    ]
    if cut_after_2:
        segs[2]["transition"] = "cut"
    return Plan.from_dict(
        {"version": 2, "prompt": "a boat", "model": "veo3.1-fast", "resolution": "720p", "aspect": "16:9",
         "audio": False, "segments": segs}
    )  # fmt: skip


def test_best_take_is_the_lowest_seam_figures_then_the_earliest() -> None:
    takes = [
        Take(1, 1, "done", "a", score=[0, 3, 1.0]),
        Take(2, 2, "done", "b", score=[0, 0, 4.0]),
        Take(3, 3, "done", "c", score=[0, 0, 2.5]),
        Take(4, 4, "failed", None, score=[]),
    ]
    assert best_take(takes).take == 3
    takes[0].score = [0, 0, 2.5]
    assert best_take(takes).take == 1
    with pytest.raises(ValueError):
        best_take([Take(1, 1, "failed")])


async def test_three_takes_then_pick_take_3(
    fal_fake: FalFake, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = Engine(env=engine_env(fal_fake, home))
    p = plan()
    job = engine.create_job(p)
    done = await engine.run(job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    subs = fal_fake.submits
    assert len(subs) == 5  # shot 1, three takes of shot 2, shot 3: each paid once
    shot2 = [s for s in subs if s.json["prompt"].startswith("the boat passes")]
    seeds = [s.json["seed"] for s in shot2]
    assert len(shot2) == 3 and len(set(seeds)) == 3
    assert all(fal_schemas.errors(s.path.strip("/"), s.json) == [] for s in subs)
    price = engine.catalog.get("veo3.1-fast").for_kind("i2v").cost(4, "720p", False)
    assert (
        done.cost_usd
        == pytest.approx(engine.estimate(p))
        == pytest.approx(engine.catalog.get("veo3.1-fast").for_kind("t2v").cost(4, "720p", False) + 4 * price)
    )
    rows = engine.shot_takes(job.id, 2)
    assert [r["take"] for r in rows] == [1, 2, 3] and sum(r["kept"] for r in rows) == 1
    assert sorted(r["seed"] for r in rows) == sorted(seeds)
    assert all(Path(r["file"]).is_file() and r["cost_usd"] == pytest.approx(price) for r in rows)
    kept = next(r["take"] for r in rows if r["kept"])
    # the CLI lists the same
    for k, v in engine_env(fal_fake, home).items():
        monkeypatch.setenv(k, v)
    assert await asyncio.to_thread(main, ["takes", job.id, "2", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["take"], r["kept"]) for r in listed] == [(r["take"], r["kept"]) for r in rows]
    # keep another take: only shot 3 (which continues from it) renders again, then the join
    other = 3 if kept != 3 else 2
    cost, redo = engine.pick_quote(job.id, 2, other)
    assert redo == [3] and cost == pytest.approx(price)
    before = len(fal_fake.submits)
    assert await asyncio.to_thread(main, ["pick", job.id, "2", str(other), "--yes", "--json"]) == 0
    capsys.readouterr()
    after = fal_fake.submits[before:]
    assert len(after) == 1 and after[0].json["prompt"].startswith("the boat reaches")
    final = engine.find_job(job.id)
    assert final.status is JobStatus.COMPLETED
    segs = engine.store.segments(job.id)
    take_file = Path(next(r["file"] for r in engine.shot_takes(job.id, 2) if r["take"] == other))
    assert Path(segs[1].file or "") == take_file
    # the joined video shows the picked take's frames in shot 2's span
    info = media.probe(take_file)
    spans = json.loads((job.job_dir / "seams.json").read_text())["spans"]
    t_mid = (spans[1][0] + spans[1][1]) / 2
    joined = tmp_path / "joined.png"
    fps = media.probe(final.output or "").fps
    media.frame_png(final.output or "", int(round(t_mid * fps)), joined)
    ref = tmp_path / "take.png"
    media.frame_png(take_file, int(round((t_mid - spans[1][0]) * info.fps)), ref)
    # the joined frame is the take's, re-encoded (and colour-graded at most 3 ΔE): 27.97 dB seen once
    assert psnr(media.read_image(joined), media.read_image(ref)) > 26
    # shot 3 started from the picked take's last picture
    assert psnr(media.read_image(segs[1].last_frame or ""), media.read_image(segs[2].first_frame or "")) > 30
    assert final.cost_usd == pytest.approx(done.cost_usd + price)  # the re-render, counted once


async def test_pick_before_a_cut_renders_nothing_else(fal_fake: FalFake, home: Path) -> None:
    engine = Engine(env=engine_env(fal_fake, home))
    job = engine.create_job(plan(cut_after_2=True))
    done = await engine.run(job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    kept = next(r["take"] for r in engine.shot_takes(job.id, 2) if r["kept"])
    other = 1 if kept != 1 else 2
    assert engine.pick_quote(job.id, 2, other) == (0.0, [])
    before = len(fal_fake.submits)
    picked, redo = await engine.pick_take(job.id, 2, other)
    again = await engine.run(picked.id)
    assert again.status is JobStatus.COMPLETED and redo == [] and len(fal_fake.submits) == before
    with pytest.raises(Exception) as info:
        engine.pick_quote(job.id, 2, 9)
    assert "no finished take 9" in str(info.value)


def test_show_json_gives_each_segment_its_shot_fields(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = plan(cut_after_2=True).to_dict()
    data["model"], data["resolution"] = "preview", "180p"
    for seg in data["segments"]:
        seg["seconds"] = 1
    data["segments"][1]["model"] = "preview"
    path = home / "plan.json"
    path.write_text(json.dumps(data))
    assert main(["render", str(path), "--yes", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    shots = [{k: s[k] for k in ("take", "takes", "transition", "model", "cast")} for s in out["segments"]]
    assert [s["takes"] for s in shots] == [1, 3, 1] and [s["transition"] for s in shots] == [
        "continue",
        "continue",
        "cut",
    ]
    assert all(s["model"] == "preview" and s["cast"] == [] and 1 <= s["take"] <= 3 for s in shots)
    assert [s["kind"] for s in out["seams"]] == ["seam", "cut"]
    assert main(["takes", out["job_id"], "2", "--json"]) == 0
    assert [t["take"] for t in json.loads(capsys.readouterr().out)] == [1, 2, 3]


async def test_redo_of_a_shot_with_takes_renders_new_takes(home: Path) -> None:
    data = plan().to_dict()
    data["model"], data["resolution"] = "preview", "180p"
    for seg in data["segments"]:
        seg["seconds"] = 1
    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    p = Plan.from_dict(data)
    job = engine.create_job(p)
    done = await engine.run(job.id)
    assert done.status is JobStatus.COMPLETED
    before = {r["take"]: r["seed"] for r in engine.shot_takes(job.id, 2)}
    cost, indexes = engine.redo_cost(job.id, 2, only=True)
    assert indexes == [2] and cost == 0.0
    engine.prepare_redo(job.id, 2, only=True)
    again = await engine.run(job.id)
    assert again.status is JobStatus.COMPLETED
    after = {r["take"]: r["seed"] for r in engine.shot_takes(job.id, 2)}
    assert sorted(after) == [1, 2, 3] and all(after[t] != before[t] for t in after)  # fresh seeds, new takes


async def test_a_stopped_run_cancels_every_take_and_pays_nothing_twice(fal_fake: FalFake, home: Path) -> None:
    """A stop asks fal to cancel each take in flight (take 1 and takes 2..N): dropped from the queue
    they are not billed, so the resumed run submits them again and the job pays one call per take.
    (The stop that comes while a take's submit answer is on the wire: tests/test_pay_once.py.)"""
    engine = Engine(env=engine_env(fal_fake, home))
    job = engine.create_job(plan())
    fal_fake.hold = "passes a bridge"  # the three takes of shot 2 stay queued
    task = asyncio.create_task(engine.run(job.id))
    assert await asyncio.to_thread(
        fal_fake.wait_for, lambda: sum("passes a bridge" in s.json["prompt"] for s in fal_fake.submits) == 3
    )

    def recorded() -> int:  # takes 2 and 3 stored with their request ids (the fake counts a submit sooner)
        try:
            shot = json.loads((job.job_dir / "takes.json").read_text())["shots"].get("2", [])
        except (OSError, ValueError):
            return 0
        return sum(1 for t in shot if t.get("request_id"))

    for _ in range(200):
        if recorded() == 2:
            break
        await asyncio.sleep(0.05)
    engine.cancel(job.id)
    stopped = await task
    assert stopped.status is JobStatus.CANCELLED
    takes = json.loads((job.job_dir / "takes.json").read_text())["shots"]["2"]
    assert sorted(t["take"] for t in takes) == [2, 3] and all(t["request_id"] for t in takes)
    assert all(t["cancelled_while"] == "queued" for t in takes)
    first_round = {s.json["seed"]: s for s in fal_fake.submits if "passes a bridge" in s.json["prompt"]}
    ids = {r.id for r in fal_fake.requests.values() if "passes a bridge" in r.prompt}
    cancelled = {r.path.rstrip("/").split("/")[-2] for r in fal_fake.of("cancel") if 200 <= r.status < 300}
    assert ids == cancelled and len(ids) == 3  # every take cancelled at fal, not only take 1
    fal_fake.hold = None
    fal_fake.release()
    done = await engine.run(job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    shot2 = [s for s in fal_fake.submits if "passes a bridge" in s.json["prompt"]]
    # each take was dropped from the queue unbilled and submitted again with its own seed
    assert len(shot2) == 6 and len(fal_fake.submits) == 8
    assert sorted(s.json["seed"] for s in shot2[3:]) == sorted(first_round)
    assert done.cost_usd == pytest.approx(engine.estimate(plan()))


def test_review_takes_stops_for_a_choice_then_pick_goes_on(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = plan().to_dict()
    data["model"], data["resolution"] = "preview", "180p"
    for seg in data["segments"]:
        seg["seconds"] = 1
    path = home / "plan.json"
    path.write_text(json.dumps(data))
    assert main(["render", str(path), "--yes", "--review-takes"]) == 0
    captured = capsys.readouterr()
    assert "the takes of shot 2 are ready" in captured.err and "sora-tui pick" in captured.err
    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    (job,) = engine.store.list_jobs()
    assert job.status is JobStatus.AWAITING_REVIEW
    segs = engine.store.segments(job.id)
    assert [str(s.status) for s in segs] == ["done", "done", "pending"]  # shot 3 waits for the choice
    kept = next(r["take"] for r in engine.shot_takes(job.id, 2) if r["kept"])
    other = 3 if kept != 3 else 1
    assert main(["pick", job.id, "2", str(other), "--yes"]) == 0
    done = engine.find_job(job.id)
    assert done.status is JobStatus.COMPLETED
    assert next(r["take"] for r in engine.shot_takes(job.id, 2) if r["kept"]) == other


async def test_takes_hold_the_shared_fal_slots(fal_fake: FalFake, home: Path) -> None:
    """Every take in flight holds one of the provider's slots (core/slots.py), as a segment does:
    with two slots and the account's own limit at two, three takes never put a third request in flight."""
    env = engine_env(fal_fake, home) | {"SORA_TUI_FAL_SLOTS": "2"}
    engine = Engine(env=env)
    fal_fake.concurrency_limit = 2  # one more request in flight would be the fake's 429
    job = engine.create_job(plan())
    done = await engine.run(job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    assert len(fal_fake.submits) == 5  # nothing paid twice
    assert [r.status for r in fal_fake.of("submit") if r.status == 429] == []  # never sent over the limit
    assert fal_fake.max_in_flight == 2  # the three takes of shot 2 met the limit and never crossed it
