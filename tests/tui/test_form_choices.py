"""The prompt form offers only what every call of the chosen model and mode accepts."""

from __future__ import annotations

from textual.widgets import Input, Select, Static, TextArea

from .conftest import SIZE


def options(screen, name: str) -> list:
    return [v for _, v in screen.query_one(f"#{name}", Select)._options if v is not Select.BLANK]


async def test_choices_follow_model_mode_and_start_image(make_app):
    app = make_app(FAL_KEY="fal-test-key")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        screen.query_one("#model", Select).value = "ltx-2.3"
        await pilot.pause()
        # segment 1 is text-to-video, whose endpoint has no `auto` aspect
        assert options(screen, "aspect") == ["16:9", "9:16"]
        screen.query_one("#start_image", Input).value = "/tmp/first.png"
        await pilot.pause()
        assert options(screen, "aspect") == ["16:9", "9:16", "auto"]
        screen.query_one("#start_image", Input).value = ""
        screen.query_one("#model", Select).value = "veo3.1-fast"
        screen.query_one("#mode", Select).value = "extend"
        await pilot.pause()
        assert options(screen, "resolution") == ["720p"]  # Veo 3.1 Fast extends at 720p only
        assert "extend" in options(screen, "mode")
        screen.query_one("#prompt", TextArea).load_text("a paper boat")
        await pilot.pause()
        text = str(screen.query_one("#estimate", Static).render())
        assert "8 s + 2 × 7 s" in text and "$3.30" in text  # each extension adds 7 s, $0.15/s with audio
        screen.query_one("#mode", Select).value = "chain"
        await pilot.pause()
        assert options(screen, "resolution") == ["720p", "1080p", "4k"]
