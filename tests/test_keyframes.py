"""Keyframe mode on the preview provider: keyframes first, then every segment at once."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from sora_tui.core import media
from sora_tui.core.engine import Engine
from sora_tui.core.models import Event, InputError, Job, JobStatus, KeyframeReady, Mode, Request, SegmentStatus

PROMPT = "a lighthouse keeper climbs the spiral stairs at night"


def make_engine(home: Path) -> Engine:
    return Engine(env={"SORA_TUI_HOME": str(home)})


async def plan_job(engine: Engine, n: int = 3, start_image: str | None = None) -> Job:
    req = engine.resolve(
        Request(
            prompt=PROMPT,
            segments=n,
            seconds=1,
            model="preview",
            resolution="180p",
            mode=Mode.KEYFRAMES,
            start_image=start_image,
        )
    )
    plan = await engine.plan(req)
    assert len(plan.keyframes) == n + 1
    return engine.create_job(plan)


async def test_keyframe_job_matches_at_every_boundary(home: Path) -> None:
    engine = make_engine(home)
    job = await plan_job(engine, 3)
    events: list[Event] = []
    final = await engine.run(job.id, on_event=events.append)
    assert final.status is JobStatus.COMPLETED, final.error
    assert [e.index for e in events if isinstance(e, KeyframeReady)] == [0, 1, 2, 3]
    segs = engine.store.segments(job.id)
    kfs = engine.store.keyframes(job.id)
    assert [k.status for k in kfs] == ["done"] * 4
    for seg in segs:
        # each segment starts on keyframe k-1 and ends on keyframe k
        assert media.psnr(seg.first_frame, kfs[seg.index - 1].file) >= 35
        assert media.psnr(seg.last_frame, kfs[seg.index].file) >= 35
    for a, b in zip(segs, segs[1:], strict=False):
        assert media.psnr(a.last_frame, b.first_frame) >= 30
    assert final.output is not None
    assert abs(media.probe(final.output).duration - 3.0) < 0.1
    await engine.aclose()


async def test_review_replace_regenerate_then_render(home: Path, tmp_path: Path) -> None:
    engine = make_engine(home)
    job = await plan_job(engine, 2)
    paused = await engine.run(job.id, review_keyframes=True)
    assert paused.status is JobStatus.AWAITING_REVIEW
    assert all(s.submits == 0 and s.status is SegmentStatus.PENDING for s in engine.store.segments(job.id))

    # the user's own image for keyframe 2 (any size: it is fitted to the video)
    import cv2

    own = tmp_path / "own.png"
    img = np.zeros((300, 300, 3), np.uint8)
    img[:, :150] = (20, 200, 60)
    cv2.imwrite(str(own), img)
    engine.replace_keyframe(job.id, 2, own)
    kf1_before = engine.store.keyframes(job.id)[1].file
    assert kf1_before is not None
    before = Path(kf1_before).read_bytes()
    await engine.regenerate_keyframe(job.id, 1, "a brighter lighthouse lamp")
    kf1 = engine.store.keyframes(job.id)[1]
    assert kf1.prompt == "a brighter lighthouse lamp" and kf1.file is not None and Path(kf1.file).read_bytes() != before

    final = await engine.run(job.id)
    assert final.status is JobStatus.COMPLETED, final.error
    seg2 = engine.store.segment(job.id, 2)
    kf2 = engine.store.keyframes(job.id)[2]
    assert kf2.source == "user"
    assert media.psnr(seg2.last_frame, kf2.file) >= 35
    assert [s.submits for s in engine.store.segments(job.id)] == [1, 1]
    await engine.aclose()


async def test_start_image_is_keyframe_zero(home: Path, tmp_path: Path) -> None:
    import cv2

    start = tmp_path / "start.png"
    img = np.full((180, 320, 3), 90, np.uint8)
    cv2.circle(img, (160, 90), 50, (0, 0, 255), -1)
    cv2.imwrite(str(start), img)
    engine = make_engine(home)
    job = await plan_job(engine, 2, start_image=str(start))
    final = await engine.run(job.id)
    assert final.status is JobStatus.COMPLETED
    kf0 = engine.store.keyframes(job.id)[0]
    assert kf0.source == "user"
    assert media.psnr(engine.store.segment(job.id, 1).first_frame, start) >= 35
    await engine.aclose()


async def test_keyframe_costs_count_towards_the_budget(home: Path) -> None:
    (home / "config").mkdir()
    (home / "config" / "catalog.toml").write_text("[image_models.preview-image]\nprice_per_image = 0.25\n")
    engine = make_engine(home)
    job = await plan_job(engine, 3)
    assert job.estimated_cost_usd == pytest.approx(1.0)  # 4 keyframes × $0.25, free videos
    with pytest.raises(InputError, match="max_cost"):
        await engine.run(job.id, max_cost=0.9)
    final = await engine.run(job.id, max_cost=1.0)
    assert final.status is JobStatus.COMPLETED and final.cost_usd == pytest.approx(1.0)
    # replacing a generated keyframe with the user's image keeps what it cost
    kf0_file = engine.store.keyframes(job.id)[0].file
    assert kf0_file is not None
    engine.replace_keyframe(job.id, 1, kf0_file)
    assert sum(k.cost_usd for k in engine.store.keyframes(job.id)) == pytest.approx(1.0)
    await engine.aclose()


def test_keyframe_mode_needs_a_first_last_frame_model(home: Path) -> None:
    engine = make_engine(home)
    with pytest.raises(InputError) as info:
        engine.resolve(Request(prompt=PROMPT, model="sora-2-pro", mode=Mode.KEYFRAMES))
    assert info.value.field == "model"


def test_cli_review_keyframes(sora_cmd: list[str], cli_env: dict[str, str], tmp_path: Path) -> None:
    base = [*sora_cmd, "generate", PROMPT, "-n", "2", "-s", "1", "-r", "180p", "--mode", "keyframes", "--yes"]
    res = subprocess.run([*base, "--review-keyframes", "--json"], env=cli_env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    job = json.loads(res.stdout)
    assert job["status"] == "awaiting_review"
    listing = subprocess.run(
        [*sora_cmd, "keyframes", job["job_id"], "--json"], env=cli_env, capture_output=True, text=True
    )
    rows = json.loads(listing.stdout)
    assert [r["index"] for r in rows] == [0, 1, 2] and all(Path(r["file"]).is_file() for r in rows)
    bad = subprocess.run(
        [*sora_cmd, "keyframes", job["job_id"], "--regenerate", "9"], env=cli_env, capture_output=True, text=True
    )
    assert bad.returncode == 2 and "keyframe" in bad.stderr
    res = subprocess.run([*sora_cmd, "resume", job["job_id"], "--json"], env=cli_env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["status"] == "completed"
