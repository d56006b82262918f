"""The prompt form offers only what every call of the chosen model and mode accepts."""

from __future__ import annotations

from typing import Any

from textual.widget import Widget
from textual.widgets import Input, Select, Static, TextArea

from sora_tui.tui.screens.prompt import PromptScreen

from .conftest import SIZE, MakeApp, on_screen, wait_for


def options(screen: Widget, name: str) -> list[Any]:
    return [v for _, v in screen.query_one(f"#{name}", Select)._options if v is not Select.BLANK]


async def test_choices_follow_model_mode_and_start_image(make_app: MakeApp) -> None:
    app = make_app(FAL_KEY="fal-test-key")
    async with app.run_test(size=SIZE) as pilot:
        screen = await on_screen(pilot, PromptScreen)

        async def offered(name: str, values: list[str]) -> None:
            """The form has handled the change (Select.Changed / Input.Changed): ``name`` offers ``values``."""
            await wait_for(pilot, lambda: options(screen, name) == values, what=f"{name} offering {values}")

        screen.query_one("#model", Select).value = "ltx-2.3"
        await offered("aspect", ["16:9", "9:16"])
        # segment 1 is text-to-video, whose endpoint has no `auto` aspect
        assert options(screen, "aspect") == ["16:9", "9:16"]
        screen.query_one("#start_image", Input).value = "/tmp/first.png"
        await offered("aspect", ["16:9", "9:16", "auto"])
        assert options(screen, "aspect") == ["16:9", "9:16", "auto"]
        screen.query_one("#start_image", Input).value = ""
        screen.query_one("#model", Select).value = "veo3.1-fast"
        screen.query_one("#mode", Select).value = "extend"
        await offered("resolution", ["720p"])
        assert options(screen, "resolution") == ["720p"]  # Veo 3.1 Fast extends at 720p only
        assert "extend" in options(screen, "mode")
        screen.query_one("#prompt", TextArea).load_text("a paper boat")
        estimate = screen.query_one("#estimate", Static)
        await wait_for(pilot, lambda: "8 s + 2 × 7 s" in str(estimate.render()), what="the extend estimate")
        text = str(estimate.render())
        assert "8 s + 2 × 7 s" in text and "$3.30" in text  # each extension adds 7 s, $0.15/s with audio
        screen.query_one("#mode", Select).value = "chain"
        await offered("resolution", ["720p", "1080p", "4k"])
        assert options(screen, "resolution") == ["720p", "1080p", "4k"]
