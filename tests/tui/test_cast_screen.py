"""Pilot: the Cast screen adds a member by path, shows its picture, refuses a bad picture inline
and deletes a member; the library it edits is the core's."""

from __future__ import annotations

from pathlib import Path

from sora_tui.tui.screens.cast import CastScreen, parse_add
from test_cast import picture

from .conftest import SIZE, wait_for


def test_parse_add_line():
    assert parse_add('Mara "my pics/a.png" b.png --kind object -d "red coat"') == (
        "Mara",
        ["my pics/a.png", "b.png"],
        "object",
        "red coat",
    )


async def test_cast_screen_add_look_delete(make_app, tmp_path: Path):
    red = picture(tmp_path / "red.png", (220, 30, 30))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a picture")
    app = make_app("prompt")
    async with app.run_test(size=SIZE) as pilot:
        app.open_cast()
        await wait_for(pilot, lambda: isinstance(app.screen, CastScreen), what="the cast screen")
        await pilot.pause()
        screen = app.screen
        box = screen.query_one("#cast-add")
        box.focus()
        box.value = f"Mara {red} --description 'a courier in a red coat'"
        await pilot.press("enter")
        await wait_for(pilot, lambda: [m.name for m in screen.members] == ["Mara"], what="Mara listed")
        assert app.engine.cast_library.get("Mara").member.description == "a courier in a red coat"
        picture_widget = screen.query_one("#cast-picture")
        await wait_for(pilot, lambda: picture_widget.has_image, what="the picture drawn")
        assert "a courier in a red coat" in str(screen.query_one("#cast-detail").render())
        box.value = f"Kit {bad}"
        await pilot.press("enter")
        error = screen.query_one("#cast-error")
        await wait_for(pilot, lambda: "cannot be decoded" in str(error.render()) or "is not a" in str(error.render()))
        assert app.engine.cast_library.find("Kit") is None
        screen.query_one("#cast-list").focus()
        await pilot.press("delete")
        await wait_for(pilot, lambda: screen.members == [], what="Mara removed")
        assert app.engine.cast_library.members() == []
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, CastScreen), what="closed")
