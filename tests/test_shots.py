"""A 5-shot story with two cast members, two cuts and one per-shot model, rendered end to end
through the real FalProvider against the fal fake (which draws each reference picture into its
frames, as a reference-conditioned model keeps an identity), and through the offline preview."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fakes import fal_schemas
from fakes.fal_server import FalFake
from sora_tui.core import media
from sora_tui.core.colour import psnr
from sora_tui.core.engine import Engine
from sora_tui.core.models import JobStatus, Plan
from sora_tui.core.providers.preview import reference_box
from test_cast import picture
from test_hosted_e2e import engine_env

RED, BLUE = (220, 30, 30), (20, 40, 230)


def story(model: str = "kling-o3-std", other: str = "veo3.1", resolution: str = "1080p") -> dict[str, Any]:
    return {
        "version": 2,
        "prompt": "a courier and her lamp cross the city",
        "model": model,
        "resolution": resolution,
        "aspect": "16:9",
        "audio": False,
        "cast": [{"name": "Mara", "description": "a courier in a red coat"}, {"name": "Lamp", "kind": "object"}],
        "segments": [
            {"title": "Street", "seconds": 4, "prompt": "Mara walks down a street", "cast": ["Mara"]},
            {"title": "Shop", "seconds": 4, "prompt": "Mara lifts the lamp", "cast": ["Mara", "Lamp"]},
            {
                "title": "Desk",
                "seconds": 8,
                "prompt": "the lamp glows on a desk",
                "cast": ["Lamp"],
                "transition": "cut",
                "model": other,
                "camera": "close-up, static",
            },
            {"title": "Glow", "seconds": 4, "prompt": "the glow fills the room", "cast": ["Lamp"]},
            {"title": "Roof", "seconds": 4, "prompt": "Mara on a roof at dawn", "cast": ["Mara"], "transition": "cut"},
        ],
    }


def box_colour(frame: np.ndarray, k: int) -> np.ndarray:
    """Mean RGB inside the k-th reference box, away from its edges (the disc is in the middle)."""
    h, w = frame.shape[:2]
    x, y, tw, th = reference_box(k, w, h)
    inner = frame[y + 1 : y + th // 4, x + 1 : x + tw - 1]
    mean: np.ndarray = inner.reshape(-1, 3).mean(axis=0)
    return mean


def shows(frame: np.ndarray, colour: tuple[int, int, int]) -> bool:
    """Does one of the reference boxes show a member of this colour?"""
    return any(np.abs(box_colour(frame, k) - colour).max() < 40 for k in range(2))


def decoded(path: Path, index: int, tmp: Path) -> np.ndarray:
    out = tmp / f"{path.stem}_{index}.png"
    media.frame_png(path, index, out)
    return media.read_image(out)


@pytest.fixture
def cast_library(home: Path, tmp_path: Path) -> Engine:
    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    engine.cast_library.add("Mara", [picture(tmp_path / "mara.png", RED)], description="a courier in a red coat")
    engine.cast_library.add("Lamp", [picture(tmp_path / "lamp.png", BLUE)], kind="object")
    return engine


async def test_five_shot_story_on_the_fal_fake(
    cast_library: Engine, fal_fake: FalFake, home: Path, tmp_path: Path
) -> None:
    engine = Engine(env=engine_env(fal_fake, home, SORA_TUI_CONCURRENCY="4"))
    plan = Plan.from_dict(story())
    job = engine.create_job(plan)
    assert (job.job_dir / "cast.json").is_file()
    # the three runs ([1,2], [3,4], [5]) render at once: nothing completes until the first shot of
    # each run has been submitted (a run that waited for another's end would never be submitted here)
    fal_fake.hold = True
    running = asyncio.create_task(engine.run(job.id))
    deadline = time.monotonic() + 60
    while len(fal_fake.requests) < 3:
        assert not running.done(), "the job ended before its three runs were submitted"
        assert time.monotonic() < deadline, f"only {len(fal_fake.requests)} of the 3 runs started at once"
        await asyncio.sleep(0.02)
    openers = sorted(r.body["prompt"].split(" @")[0].split(" Camera:")[0] for r in fal_fake.requests.values())
    assert openers == sorted(story()["segments"][k]["prompt"] for k in (0, 2, 4))
    fal_fake.release()
    done = await running
    assert done.status is JobStatus.COMPLETED, done.error
    subs = fal_fake.submits
    assert len(subs) == 5  # one paid call per shot
    # every body validates against the endpoint's recorded fal type (the fake also refuses otherwise)
    for s in subs:
        assert fal_schemas.errors(s.path.strip("/"), s.json) == []
    by_prompt = {s.json["prompt"].split(" @")[0].split(" Camera:")[0]: s for s in subs}
    shot = [by_prompt[seg["prompt"]] for seg in story()["segments"]]
    endpoints = [s.path.strip("/") for s in shot]
    assert endpoints == [
        "fal-ai/kling-video/o3/standard/reference-to-video",
        "fal-ai/kling-video/o3/standard/reference-to-video",
        "fal-ai/veo3.1/reference-to-video",  # the per-shot model, on a cut: references, no start picture
        "fal-ai/kling-video/o3/standard/reference-to-video",
        "fal-ai/kling-video/o3/standard/reference-to-video",
    ]
    assert [len(s.json["elements"]) for s in shot if "elements" in s.json] == [1, 2, 1, 1]
    assert "@Element1 is Mara. @Element2 is Lamp." in shot[1].json["prompt"]
    assert "Camera: close-up, static." in shot[2].json["prompt"]
    # continuations carry the previous picture as start_image_url; cuts and the first shot do not
    assert ["start_image_url" in s.json for s in shot] == [False, True, False, True, False]
    assert "image_urls" in shot[2].json and "start_image_url" not in shot[2].json

    segs = engine.store.segments(job.id)
    files = [Path(s.file or "") for s in segs]
    members = [["Mara"], ["Mara", "Lamp"], ["Lamp"], ["Lamp"], ["Mara"]]
    colours = {"Mara": RED, "Lamp": BLUE}
    for k, (f, who) in enumerate(zip(files, members, strict=True), 1):
        info = media.probe(f)
        assert info.frames is not None
        mid = decoded(f, info.frames // 2, tmp_path)
        for name in who:  # each shot shows its cast (measured in the decoded frames)
            assert shows(mid, colours[name]), f"shot {k} does not show {name}"
    # continuations start on the previous last frame; cuts start on a fresh picture (compared
    # below the reference boxes, which a shot with another cast draws differently)
    for k in range(1, 5):
        prev_last = media.read_image(segs[k - 1].last_frame or "")
        first = media.read_image(segs[k].first_frame or "")
        below = prev_last.shape[0] // 3
        similarity = psnr(prev_last[below:], first[below:])
        if k + 1 in (3, 5):
            assert similarity < 20, f"shot {k + 1} is a cut but starts from the previous picture ({similarity:.1f} dB)"
        else:
            assert similarity > 30, f"shot {k + 1} continues but does not start from the previous picture"
    report = json.loads((job.job_dir / "seams.json").read_text())
    assert [s["kind"] for s in report["seams"]] == ["seam", "cut", "seam", "cut"]
    assert all(not s["repeat_cut"] for s in report["seams"] if s["kind"] == "cut")
    assert "hard cut: a new shot" in report["seams"][1]["changes"]
    # the costs add up: one call per shot at its own model's (reference) price
    assert done.cost_usd == pytest.approx(engine.estimate(plan))
    # the joined video decodes to the sum of the kept frames
    final = media.probe(done.output or "")
    assert final.duration == pytest.approx(sum(media.probe(f).duration for f in files), abs=0.6)


async def test_the_job_keeps_its_cast_when_the_library_changes(
    cast_library: Engine, home: Path, tmp_path: Path
) -> None:
    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    data = story("preview", "preview", "180p")
    for seg in data["segments"]:
        seg["seconds"] = 1
    plan = Plan.from_dict(data)
    job = engine.create_job(plan)
    engine.cast_library.remove("Mara")  # the library changes after the job was made
    engine.cast_library.add("Mara", [picture(tmp_path / "green.png", (30, 200, 40))])
    done = await engine.run(job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    segs = engine.store.segments(job.id)
    mid = decoded(Path(segs[0].file or ""), 6, tmp_path)
    assert shows(mid, RED) and not shows(mid, (30, 200, 40))  # the snapshot, not today's library


async def test_version_1_plan_renders_as_before(home: Path) -> None:
    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    plan = Plan.from_dict(
        {
            "version": 1,
            "prompt": "a boat",
            "model": "preview",
            "resolution": "180p",
            "aspect": "16:9",
            "audio": False,
            "segments": [{"seconds": 1, "prompt": "boat one"}, {"seconds": 1, "prompt": "boat two"}],
        }
    )
    job = engine.create_job(plan)
    done = await engine.run(job.id)
    assert done.status is JobStatus.COMPLETED
    assert not (job.job_dir / "cast.json").exists()
    report = json.loads((job.job_dir / "seams.json").read_text())
    assert [s["kind"] for s in report["seams"]] == ["seam"]
    segs = engine.store.segments(job.id)
    assert psnr(media.read_image(segs[0].last_frame or ""), media.read_image(segs[1].first_frame or "")) > 30


async def test_a_model_without_references_gets_a_cast_keyframe(
    cast_library: Engine, fal_fake: FalFake, home: Path, tmp_path: Path
) -> None:
    """Veo 3.1 Fast has no reference endpoint: a cut with cast starts on a keyframe that the image
    model's edit endpoint makes from the member pictures (priced once, never made twice)."""
    engine = Engine(env=engine_env(fal_fake, home))
    data = story("veo3.1-fast", "veo3.1-fast", "720p")
    data["segments"] = [
        {"seconds": 4, "prompt": "a street at night"},
        {"seconds": 4, "prompt": "the lamp on a desk", "cast": ["Lamp"], "transition": "cut"},
    ]
    plan = Plan.from_dict(data)
    job = engine.create_job(plan)
    done = await engine.run(job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    edits = [s for s in fal_fake.submits if s.path.strip("/") == "fal-ai/nano-banana-2/edit"]
    assert len(edits) == 1 and len(edits[0].json["image_urls"]) == 1
    assert fal_schemas.errors("fal-ai/nano-banana-2/edit", edits[0].json) == []
    videos = [s for s in fal_fake.submits if s not in edits]
    assert [v.path.strip("/") for v in videos] == ["fal-ai/veo3.1/fast", "fal-ai/veo3.1/fast/image-to-video"]
    segs = engine.store.segments(job.id)
    assert shows(decoded(Path(segs[1].file or ""), 0, tmp_path), BLUE)
    image = engine.catalog.image_models["nano-banana-2"].price_per_image
    assert done.cost_usd == pytest.approx(engine.estimate(plan)) and done.cost_usd > image


async def test_keyframe_mode_makes_cast_keyframes_from_the_pictures(
    cast_library: Engine, home: Path, tmp_path: Path
) -> None:
    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    data = story("preview", "preview", "180p")
    data["mode"] = "keyframes"
    data["segments"] = [
        {"seconds": 1, "prompt": "Mara at the door", "cast": ["Mara"]},
        {"seconds": 1, "prompt": "Mara holds the lamp", "cast": ["Mara", "Lamp"]},
    ]
    job = engine.create_job(Plan.from_dict(data))
    done = await engine.run(job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    for k in range(3):
        frame = media.read_image(engine.keyframe_path(done, k))
        assert shows(frame, RED), f"keyframe {k} does not show Mara"
    assert shows(media.read_image(engine.keyframe_path(done, 2)), BLUE)


def test_a_cut_is_judged_by_black_or_flash_frames_and_the_sound_step() -> None:
    from sora_tui.core.seams import SeamReport, _cut_verdict

    def report(sound: float | None = None) -> SeamReport:
        return SeamReport(1, 1.0, 10.0, 0.2, False, None, 20.0, 20.0, 80.0, 30.0, sound, 0, 0, "clean", kind="cut")

    r = report()
    _cut_verdict(r, 120.0, 90.0)  # a big picture change is what a cut is: clean
    assert r.verdict == "clean" and r.reasons == []
    r = report()
    _cut_verdict(r, 120.0, 8.0)
    assert r.verdict == "bad" and "first frame after the cut is black" in r.reasons[0]
    r = report(sound=-14.0)
    _cut_verdict(r, 245.0, 100.0)
    assert (
        r.verdict == "bad" and any("flash" in x for x in r.reasons) and any("sound level jumps" in x for x in r.reasons)
    )
