"""Pilot: cast chips on the prompt screen. Two library members chosen by name (completed from the
library) → the planned plan carries them, as ``generate --cast`` would (the same engine call); an
unknown name and a member deleted after it was chosen are named in the line under the chips, and
nothing is planned; a chip is taken off with Enter. A snapshot of the chips (own folder and clock)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from sora_tui.core.engine import Engine
from sora_tui.tui.widgets.cast_chips import CastChips
from test_cast import picture

from .conftest import SIZE, MakeApp, fill_prompt, on_screen, wait_for, workers_done


def library(engine: Engine, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    engine.cast_library.add("Mara", [picture(folder / "mara.png", (220, 30, 30))], "character", "a courier")
    engine.cast_library.add("Lamp", [picture(folder / "lamp.png", (30, 30, 220))], "object", "a brass lamp")


async def chips_ready(pilot: Pilot[int]) -> CastChips:
    app = pilot.app
    await wait_for(pilot, lambda: bool(app.screen.query(CastChips)), what="the cast chips")
    chips = app.screen.query_one(CastChips)
    await wait_for(pilot, lambda: chips.kinds is not None, what="the library read")
    return chips


async def type_name(pilot: Pilot[int], chips: CastChips, name: str) -> None:
    """Type ``name`` and Enter; wait until the chips have taken it (the line is emptied) or said why not
    (the line under the chips changed)."""
    box = chips.query_one("#cast-name", Input)
    box.focus()
    box.value = name
    before = problem_text(chips)
    await pilot.press("enter")
    await wait_for(pilot, lambda: box.value == "" or problem_text(chips) != before, what=f"{name!r} taken or refused")


def problem_text(chips: CastChips) -> str:
    line = chips.query_one("#cast-problem")
    return str(line.render()) if line.display else ""


async def test_two_members_reach_the_plan_and_unknown_names_are_named(make_app: MakeApp, tmp_path: Path) -> None:
    from sora_tui.tui.screens.plan import PlanScreen

    app = make_app("prompt")
    library(app.engine, tmp_path / "pics")
    async with app.run_test(size=SIZE) as pilot:
        chips = await chips_ready(pilot)
        assert sorted(chips.kinds or {}) == ["Lamp", "Mara"]
        await type_name(pilot, chips, "mara")  # names match without case: the library's spelling is kept
        await type_name(pilot, chips, "Lamp")
        await wait_for(pilot, lambda: len(chips.chips) == 2, what="two chips")
        assert chips.names == ["Mara", "Lamp"]
        labels = [str(c.label) for c in chips.chips]
        assert "Mara · character" in labels[0] and "Lamp · object" in labels[1]
        await type_name(pilot, chips, "Ghost")
        text = problem_text(chips)
        assert "no member 'Ghost' in the cast library" in text and "Lamp, Mara" in text
        assert chips.names == ["Mara", "Lamp"]
        await type_name(pilot, chips, "MARA")
        assert "Mara is in the cast already" in problem_text(chips) and chips.names == ["Mara", "Lamp"]

        await fill_prompt(pilot, "a courier carries a lamp through the night market")
        await pilot.press("ctrl+r")
        plan = (await on_screen(pilot, PlanScreen, what="the plan")).to_plan()
        # the same members `generate --cast Mara,Lamp` offers (Engine.cast_members)
        assert plan.cast == app.engine.cast_members(["Mara", "Lamp"])
        assert [c.name for c in plan.cast] == ["Mara", "Lamp"] and plan.cast[1].kind == "object"
        assert all(s.cast == ["Mara", "Lamp"] for s in plan.segments)  # the offline planner: every shot


async def test_a_deleted_member_is_named_and_nothing_is_planned(make_app: MakeApp, tmp_path: Path) -> None:
    from sora_tui.tui.screens.prompt import PromptScreen

    app = make_app("prompt")
    library(app.engine, tmp_path / "pics")
    async with app.run_test(size=SIZE) as pilot:
        chips = await chips_ready(pilot)
        await type_name(pilot, chips, "Mara")
        await type_name(pilot, chips, "Lamp")
        await wait_for(pilot, lambda: len(chips.chips) == 2, what="two chips")
        app.engine.cast_library.remove("Mara")  # e.g. from the CLI, while the prompt is open
        await fill_prompt(pilot, "a courier carries a lamp")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "Mara" in problem_text(chips), what="the missing member named")
        assert "no member 'Mara' in the cast library" in problem_text(chips)
        await workers_done(app)  # the plan action (a worker) is over
        assert isinstance(app.screen, PromptScreen)  # nothing planned
        # read again (as when the Cast screen closes): the chip says it is gone
        chips.reload()
        await wait_for(pilot, lambda: chips.chips[0].has_class("-missing"), what="the chip marked")
        assert "Mara is not in the cast library" in problem_text(chips)
        # Enter on a chip takes it off
        chips.chips[0].focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: chips.names == ["Lamp"] and len(chips.chips) == 1, what="Mara taken off")
        assert problem_text(chips) == ""


async def test_an_empty_library_says_where_to_add_members(make_app: MakeApp) -> None:
    app = make_app("prompt")
    async with app.run_test(size=SIZE) as pilot:
        chips = await chips_ready(pilot)
        assert "the cast library is empty" in chips.query_one("#cast-name", Input).placeholder
        await type_name(pilot, chips, "Mara")
        assert "the library is empty" in problem_text(chips) and "Cast library" in problem_text(chips)
        assert chips.names == [] and not chips.chips


# --- snapshot ----------------------------------------------------------------------------------


@pytest.fixture
def _fixed_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")


@pytest.mark.usefixtures("demo_home_lock", "_fixed_keyring")
def test_cast_chips_snapshot(snap_compare: Callable[..., bool]) -> None:
    from .demo import DEMO_PROMPT, demo_app, demo_home, settle
    from .demo import SIZE as DEMO_SIZE

    home = demo_home("cast-chips")  # its own folder; the demo app has its own frozen clock
    app = demo_app(home)
    library(app.engine, home / "pictures")

    async def run_before(pilot: Pilot[int]) -> None:
        from textual.widgets import TextArea

        app.screen.query_one("#prompt", TextArea).load_text(DEMO_PROMPT)
        chips = await chips_ready(pilot)
        for name in ("Mara", "Lamp", "Ghost"):
            await type_name(pilot, chips, name)
        await settle(pilot)

    assert snap_compare(app, terminal_size=DEMO_SIZE, run_before=run_before)
