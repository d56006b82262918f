"""The plan rules in core.plans: editing, plan → request, the planner, remaining cost, started videos."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from types import SimpleNamespace

import pytest

from sora_tui.core import plans
from sora_tui.core.catalog import load_catalog
from sora_tui.core.costs import estimate_cost
from sora_tui.core.engine import Engine
from sora_tui.core.errors import Code, InputError
from sora_tui.core.models import Mode, Plan, SegmentPlan, SegmentStatus
from sora_tui.core.planner import registry
from sora_tui.core.planner.offline import OfflinePlanner
from sora_tui.core.settings import Settings

CATALOG = load_catalog(None)
VEO = CATALOG.get("veo3.1-fast")  # durations 4, 6, 8


def plan_of(n: int = 3, seconds: int = 8, mode: Mode = Mode.CHAIN, keyframes: list[str] | None = None) -> Plan:
    return Plan(
        prompt="a paper boat on a rainy street",
        model="veo3.1-fast",
        resolution="720p",
        aspect="16:9",
        segments=[SegmentPlan(prompt=f"shot {i}", seconds=seconds, title=f"Part {i}") for i in range(1, n + 1)],
        mode=mode,
        keyframes=list(keyframes or []),
    )


def prompts(plan: Plan) -> list[str]:
    return [s.prompt for s in plan.segments]


def test_edits_return_a_new_plan_and_leave_the_old_one_alone() -> None:
    plan = plan_of()
    before = copy.deepcopy(plan)
    moved = plans.move_segment(plan, 1, 1)
    assert prompts(moved) == ["shot 2", "shot 1", "shot 3"] and plan == before
    assert prompts(plans.move_segment(plan, 1, -1)) == prompts(plan)  # out of range: unchanged
    assert prompts(plans.delete_segment(plan, 2)) == ["shot 1", "shot 3"]
    added = plans.add_segment(plan, 1, VEO)
    assert len(added.segments) == 4 and added.segments[1].title == "New shot" and added.segments[1].seconds == 8
    assert plans.add_segment(plan, 0, VEO).segments[0].title == "New shot"
    with pytest.raises(InputError, match="at least one segment"):
        plans.delete_segment(plan_of(1), 1)
    with pytest.raises(InputError, match="segment 4 does not exist"):
        plans.delete_segment(plan, 4)
    with pytest.raises(InputError, match="last one"):
        plans.merge_segments(plan, 3, VEO)


def test_split_then_merge_gives_back_the_segment_without_repeating_its_prompt() -> None:
    plan = plan_of(2)
    split, halves = plans.split_segment(plan, 1, VEO)
    assert halves == (4, 4) and [s.seconds for s in split.segments] == [4, 4, 8]
    assert split.segments[1].prompt.startswith("shot 1") and split.segments[0].title == "Part 1 (1/2)"
    merged, seconds = plans.merge_segments(split, 1, VEO)
    assert seconds == 8 and prompts(merged) == ["shot 1", "shot 2"]
    assert merged.segments[0].title == "Part 1"
    assert "Then:" not in merged.segments[0].prompt and merged.segments[0].prompt.count("shot 1") == 1
    # two different shots still read as one after the other, each once
    both, _ = plans.merge_segments(plan, 1, VEO)
    assert both.segments[0].prompt == "shot 1 Then: shot 2" and both.segments[0].seconds == 8  # 16 s → nearest 8
    # a split of a length the model cannot halve says what it made
    _, odd = plans.split_segment(plan_of(1, seconds=6), 1, VEO)
    assert odd == (4, 4)  # no two allowed lengths make 6: the nearest pair, halves equal


def test_keyframe_descriptions_travel_with_their_segments() -> None:
    plan = plan_of(3, mode=Mode.KEYFRAMES, keyframes=["K0", "K1", "K2", "K3"])
    assert plans.move_segment(plan, 1, 1).keyframes == ["K0", "K2", "K1", "K3"]
    split, _ = plans.split_segment(plan, 2, VEO)
    assert (
        split.keyframes[:2] == ["K0", "K1"] and "Midway" in split.keyframes[2] and split.keyframes[3:] == ["K2", "K3"]
    )
    assert plans.merge_segments(split, 2, VEO)[0].keyframes == ["K0", "K1", "K2", "K3"]
    assert plans.delete_segment(plan, 2).keyframes == ["K0", "K1", "K3"]
    added = plans.add_segment(plan, 1, VEO).keyframes
    assert added[:2] == ["K0", "K1"] and added[3:] == ["K2", "K3"] and len(added) == 5


def test_request_for_a_plan_keeps_what_the_user_chose() -> None:
    plan = plan_of(3, seconds=6)
    plan.segments[0].narration = "hello"
    plan.max_cost = 4.0
    plan.planner = "openai"
    req = plans.request_for(plan, 2)
    assert (req.segments, req.seconds, req.model, req.resolution, req.aspect) == (3, 6, "veo3.1-fast", "720p", "16:9")
    assert req.planner == "openai" and req.narration and req.max_cost == 4.0
    with pytest.raises(InputError):
        plans.request_for(plan, 9)


def test_planner_choice_and_replan_keep_lengths(home: Path) -> None:
    assert isinstance(registry.planner_for("offline", Settings(), {}), OfflinePlanner)
    with pytest.raises(InputError, match="unknown planner"):
        registry.planner_for("bogus", Settings(), {})
    engine = Engine(env={"SORA_TUI_HOME": str(home)})  # no fal key: planning needs none
    plan = plan_of(3, seconds=4)
    plan.segments[1].seconds = 8
    plan.max_cost = 2.5
    fresh = asyncio.run(engine.replan(plan))
    assert [s.seconds for s in fresh.segments] == [4, 8, 4] and fresh.max_cost == 2.5
    seg = asyncio.run(engine.replan_segment(plan, 2))
    assert seg.seconds == 8 and seg.prompt


def test_remaining_cost_counts_only_what_is_not_paid_for() -> None:
    plan = plan_of(3, seconds=4)
    each = estimate_cost(plan_of(1, seconds=4), CATALOG)
    segs = [
        SimpleNamespace(index=1, seconds=4, status=SegmentStatus.DONE, request_id="r1"),
        SimpleNamespace(index=2, seconds=4, status=SegmentStatus.RUNNING, request_id="r2"),  # paid, re-attached
        SimpleNamespace(index=3, seconds=4, status=SegmentStatus.PENDING, request_id=None),
    ]
    left = plans.remaining_cost(plan, CATALOG, segs)
    assert left.videos == pytest.approx(each) and left.videos_left == 1 and left.images == 0
    kplan = plan_of(2, seconds=4, mode=Mode.KEYFRAMES)
    price = CATALOG.image_model_for(VEO).price_per_image
    kfs = [SimpleNamespace(status="done", cost_usd=price), SimpleNamespace(status="pending", cost_usd=0.0)]
    pending = [SimpleNamespace(index=i, seconds=4, status=SegmentStatus.PENDING) for i in (1, 2)]
    left = plans.remaining_cost(kplan, CATALOG, pending, kfs)
    assert left.images_left == 2 and left.images == pytest.approx(2 * price)
    assert left.total == pytest.approx(estimate_cost(kplan, CATALOG) - price)


def test_videos_started() -> None:
    pending = SimpleNamespace(status=SegmentStatus.PENDING, request_id=None, submits=0)
    assert not plans.videos_started([pending, pending])
    assert plans.videos_started([pending, SimpleNamespace(status=SegmentStatus.PENDING, request_id="x", submits=0)])
    assert plans.videos_started([SimpleNamespace(status=SegmentStatus.RUNNING)])
    assert plans.videos_started([SimpleNamespace(status=SegmentStatus.PENDING, submits=1)])


def test_plan_max_cost_round_trips_and_is_checked() -> None:
    plan = plan_of(1)
    assert "max_cost" not in plan.to_dict()
    plan.max_cost = 3.5
    assert Plan.from_dict(plan.to_dict()).max_cost == 3.5
    with pytest.raises(InputError, match="plan.max_cost"):
        Plan.from_dict(plan.to_dict() | {"max_cost": "lots"})
    with pytest.raises(InputError, match="negative"):
        Plan.from_dict(plan.to_dict() | {"max_cost": -1})


def test_engine_run_honours_the_plan_cap(home: Path) -> None:
    # preview is free; a user catalog gives it a price so the cap bites
    (home / "config").mkdir()
    (home / "config" / "catalog.toml").write_text("[models.preview.price]\nper_second = { default = 0.5 }\n")
    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    plan = Plan(
        prompt="boat",
        model="preview",
        resolution="180p",
        aspect="16:9",
        segments=[SegmentPlan(prompt="boat", seconds=2)] * 2,
        audio=False,
        max_cost=1.5,
    )
    job = engine.create_job(plan)
    with pytest.raises(InputError) as err:
        asyncio.run(engine.run(job.id))
    assert err.value.code is Code.OVER_BUDGET and err.value.context["cap"] == 1.5
    assert "--max-cost" not in str(err.value)  # the advice is the front end's to word


def test_render_key_is_needed_to_render_not_to_plan(home: Path) -> None:
    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    plan = asyncio.run(engine.plan(plans.request_for(plan_of(2, seconds=4))))
    assert engine.estimate(plan) > 0
    with pytest.raises(InputError) as err:
        engine.check_render_key("veo3.1-fast")
    assert err.value.code is Code.RENDER_KEY and "--model" not in str(err.value)
    job = engine.create_job(plan)
    with pytest.raises(InputError):
        asyncio.run(engine.run(job.id))
    assert not engine.store.segments(job.id)[0].request_id  # nothing was sent


def test_ambiguous_job_prefix_names_the_matches(home: Path) -> None:
    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    plan = plan_of(1)
    plan.model, plan.resolution = "preview", "180p"
    plan.segments[0].seconds = 2
    ids = sorted(engine.create_job(plan).id for _ in range(3))
    common = ids[0][: next(i for i in range(len(ids[0])) if ids[0][i] != ids[-1][i])]
    if common:
        with pytest.raises(InputError) as err:
            engine.find_job(common)
        assert err.value.code is Code.JOB_AMBIGUOUS and all(i in str(err.value) for i in err.value.context["matches"])
    with pytest.raises(InputError) as err:
        engine.find_job("zzzz-nothing")
    assert err.value.code is Code.JOB_NOT_FOUND
