"""Pilot: the Cast screen adds a member by path, shows its picture, refuses a bad picture inline
and deletes a member; the library it edits is the core's."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, OptionList, Static

from sora_tui.tui.screens.cast import CastScreen, parse_add
from sora_tui.tui.widgets.halfblock import HalfBlockImage
from test_cast import picture

from .conftest import SIZE, MakeApp, on_screen, wait_for, workers_done


def test_parse_add_line() -> None:
    assert parse_add('Mara "my pics/a.png" b.png --kind object -d "red coat"') == (
        "Mara",
        ["my pics/a.png", "b.png"],
        "object",
        "red coat",
    )


async def test_cast_screen_add_look_delete(make_app: MakeApp, tmp_path: Path) -> None:
    red = picture(tmp_path / "red.png", (220, 30, 30))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a picture")
    app = make_app("prompt")
    async with app.run_test(size=SIZE) as pilot:
        app.open_cast()
        screen = await on_screen(pilot, CastScreen, what="the cast screen")
        await workers_done(app)  # its first read of the library
        box = screen.query_one("#cast-add", Input)
        box.focus()
        box.value = f"Mara {red} --description 'a courier in a red coat'"
        await pilot.press("enter")
        await wait_for(pilot, lambda: [m.name for m in screen.members] == ["Mara"], what="Mara listed")
        assert app.engine.cast_library.get("Mara").member.description == "a courier in a red coat"
        picture_widget = screen.query_one("#cast-picture", HalfBlockImage)
        await wait_for(pilot, lambda: picture_widget.has_image, what="the picture drawn")
        assert "a courier in a red coat" in str(screen.query_one("#cast-detail", Static).render())
        box.value = f"Kit {bad}"
        await pilot.press("enter")
        error = screen.query_one("#cast-error", Static)
        await wait_for(pilot, lambda: "cannot be decoded" in str(error.render()) or "is not a" in str(error.render()))
        assert app.engine.cast_library.find("Kit") is None
        screen.query_one("#cast-list", OptionList).focus()
        await pilot.press("delete")
        await wait_for(pilot, lambda: screen.members == [], what="Mara removed")
        assert app.engine.cast_library.members() == []
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, CastScreen), what="closed")


async def test_plan_editor_shows_cast_chips_and_keeps_the_shot_fields(make_app: MakeApp) -> None:
    from sora_tui.core.models import CastMember
    from sora_tui.tui.screens.plan import PlanScreen
    from sora_tui.tui.widgets.request_form import FieldError
    from sora_tui.tui.widgets.segment_editor import SegmentEditor

    from .conftest import small_plan

    plan = small_plan(3)
    plan.cast = [CastMember("Mara"), CastMember("Lamp", "object")]
    plan.segments[0].cast = ["Mara"]
    plan.segments[1].cast, plan.segments[1].transition, plan.segments[1].takes = ["Lamp"], "cut", 2
    plan.segments[2].camera = "close-up"
    app = make_app("prompt")
    async with app.run_test(size=SIZE) as pilot:
        app.open_plan(plan)
        # mounted: on_mount has put the plan in the editor (each segment composed with its chips)
        screen = await on_screen(pilot, PlanScreen, lambda s: s.shown is not None, what="the plan screen")
        editors = list(screen.query(SegmentEditor))
        chips = [str(e.query_one(".seg-chips", Static).render()) for e in editors]
        assert "Mara" in chips[0] and "first shot" in chips[0] and "as references" in chips[0]
        assert "preview r2v" in chips[0] and "$0.00" in chips[0]
        assert "Lamp" in chips[1] and "cut" in chips[1] and "2 takes" in chips[1]
        assert "close-up" in chips[2] and "continue" in chips[2]
        edited = screen.to_plan()
        assert [s.cast for s in edited.segments] == [["Mara"], ["Lamp"], []]
        assert edited.segments[1].transition == "cut" and edited.segments[1].takes == 2
        assert edited.segments[2].camera == "close-up" and [c.name for c in edited.cast] == ["Mara", "Lamp"]
        # an unknown member: the message sits next to the shot, naming the allowed names
        editors[2].query_one(".seg-cast", Input).value = "Mara, Ghost"
        shot_3 = editors[2].query_one(".seg-chips", Static)
        await wait_for(pilot, lambda: "Ghost" in str(shot_3.render()), what="the chips redrawn (Input.Changed)")
        assert "Ghost" in str(shot_3.render())
        assert screen.check() is None  # the message is shown there and then
        error = str(editors[2].query_one(".seg-error", FieldError).render())
        assert "Ghost" in error and "Mara" in error
