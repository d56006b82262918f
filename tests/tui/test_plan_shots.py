"""Pilot: each shot in the plan editor says how it begins (continues or cuts), its takes and its camera,
and the user changes them there: the plan the screen renders carries them, and the estimate counts
every take at the shot's price (core.costs.quote, the figure the run's budget check uses)."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Select, Static

from sora_tui.core.costs import quote
from sora_tui.core.models import Mode, Plan, SegmentPlan
from sora_tui.tui.format import money
from sora_tui.tui.screens.plan import PlanScreen
from sora_tui.tui.widgets.segment_editor import SegmentEditor

from .conftest import SIZE, MakeApp, on_screen, wait_for


def hosted_plan() -> Plan:
    shots = [SegmentPlan(f"a lighthouse at night, part {i}", 4, title=f"Part {i}") for i in (1, 2, 3)]
    return Plan("a lighthouse", "veo3.1-fast", "720p", "16:9", shots, mode=Mode.CHAIN, audio=False)


async def test_transition_takes_and_camera_are_edited_per_shot(make_app: MakeApp) -> None:
    app = make_app("prompt")
    async with app.run_test(size=SIZE) as pilot:
        app.open_plan(hosted_plan())
        screen = await on_screen(pilot, PlanScreen, lambda s: s.shown is not None, what="the plan screen")
        editors = screen.query(SegmentEditor).results(SegmentEditor)
        first, second, third = list(editors)
        assert not first.query(".seg-transition")  # the first shot begins the video: nothing to choose
        second.query_one(".seg-transition", Select).value = "cut"
        second.query_one(".seg-takes", Select).value = 3
        third.query_one(".seg-camera", Input).value = "close-up, slow push-in"
        await wait_for(pilot, lambda: screen.to_plan().segments[2].camera != "", what="the camera typed")
        plan = screen.to_plan()
        assert [s.transition for s in plan.segments] == ["continue", "cut", "continue"]
        assert [s.takes for s in plan.segments] == [1, 3, 1]
        assert plan.segments[2].camera == "close-up, slow push-in"
        # the estimate counts shot 2 three times, as the run's budget check will
        prices = quote(plan, app.engine.catalog)
        one_take = plan.to_dict()
        one_take["segments"][1]["takes"] = 1
        single = quote(Plan.from_dict(one_take), app.engine.catalog)
        assert prices.segment(2) == pytest.approx(3 * single.segment(2)) and single.segment(2) > 0
        summary = screen.query_one("#plan-summary", Static)
        await wait_for(pilot, lambda: money(prices.total) in str(summary.render()), what="the estimate with takes")
        chips = second.query_one(".seg-chips", Static) if second.query(".seg-chips") else None
        assert chips is None or "3 takes" in str(chips.render())
        assert screen.check() is not None  # a valid plan: ctrl+r would render it


async def test_a_shots_route_follows_its_transition(make_app: MakeApp) -> None:
    """Switching a shot with cast from "continues" to "cut" changes how its cast reaches the model (it can no
    longer lean on the previous picture): the chips say the new route and its price (core.shots)."""
    from sora_tui.core.models import CastMember
    from sora_tui.tui.widgets.plan_editor import shot_lines

    plan = hosted_plan()
    plan.cast = [CastMember("Mara", "character", "a courier in a red coat")]
    for seg in plan.segments:
        seg.cast = ["Mara"]
    app = make_app("prompt")
    async with app.run_test(size=SIZE) as pilot:
        app.open_plan(plan)
        screen = await on_screen(pilot, PlanScreen, lambda s: s.shown is not None, what="the plan screen")
        second = list(screen.query(SegmentEditor).results(SegmentEditor))[1]
        chips = second.query_one(".seg-chips", Static)
        before = shot_lines(screen.to_plan(), app.engine.catalog)[2]
        assert before and before in str(chips.render())
        second.query_one(".seg-transition", Select).value = "cut"
        await wait_for(pilot, lambda: screen.to_plan().segments[1].is_cut, what="the cut chosen")
        after = shot_lines(screen.to_plan(), app.engine.catalog)[2]
        assert after != before  # the test means something: the route changes with the cut
        await wait_for(pilot, lambda: after in str(chips.render()), what="the chips saying the new route")
        assert before not in str(chips.render())
