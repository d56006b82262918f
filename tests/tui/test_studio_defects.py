"""Each studio defect a new user met (issue 10, item 8), provoked through the real app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, Input, Select, Static
from textual.widgets._footer import FooterKey

from sora_tui.core.models import Plan, SegmentPlan
from sora_tui.tui.app import SoraApp
from sora_tui.tui.format import money
from sora_tui.tui.screens.help import HelpScreen
from sora_tui.tui.screens.history import HistoryScreen
from sora_tui.tui.screens.modals import ConfirmModal, ConfirmStart
from sora_tui.tui.screens.plan import PlanScreen
from sora_tui.tui.screens.prompt import PromptScreen
from sora_tui.tui.screens.settings import SettingsScreen
from sora_tui.tui.widgets.plan_options import PlanOptions
from sora_tui.tui.widgets.request_form import FieldError
from sora_tui.tui.widgets.text_area import TextArea

from .conftest import SIZE, MakeApp, notes, on_screen, settle, small_plan, wait_for, workers_done


def error_text(screen: Widget, selector: str) -> str:
    err = screen.query_one(selector, FieldError)
    return str(err.render()) if err.has_class("-shown") else ""


def veo_plan(n: int = 2) -> Plan:
    return Plan(
        prompt="a lighthouse in a storm",
        model="veo3.1-fast",
        resolution="720p",
        aspect="16:9",
        segments=[SegmentPlan(prompt=f"the lighthouse, part {i}", seconds=4, title=f"Part {i}") for i in (1, 2)][:n],
        audio=True,
    )


async def open_plan(app: SoraApp, pilot: Pilot[int], plan: Plan) -> PlanScreen:
    app.open_plan(plan)
    # mounted: on_mount has put the plan in the editor; then its Changed messages (the summary) are handled
    screen = await on_screen(pilot, PlanScreen, lambda s: s.shown is not None, what="the plan screen with its plan")
    await settle(pilot)
    return screen


async def test_escape_on_the_plan_asks_before_dropping_edits(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_plan(app, pilot, small_plan(2))
        await pilot.press("escape")  # nothing edited: straight back
        await wait_for(pilot, lambda: not isinstance(app.screen, PlanScreen), what="back to the prompt")
        screen = await open_plan(app, pilot, small_plan(2))
        screen.query(".seg-prompt").first(TextArea).load_text("my own words for this shot")
        await wait_for(pilot, screen.edited, what="the edit seen by the plan")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the question")
        await pilot.press("n")  # keep editing: the edit is still there
        await wait_for(pilot, lambda: app.screen is screen, what="the plan again")
        assert screen.to_plan().segments[0].prompt == "my own words for this shot"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: not isinstance(app.screen, PlanScreen | ConfirmModal), what="the prompt")


async def test_paid_start_is_confirmed_with_its_estimate_cap_and_sound(make_app: MakeApp) -> None:
    app = make_app(FAL_KEY="fal-test-key-0000")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_plan(app, pilot, veo_plan())
        with_sound = app.engine.estimate(screen.to_plan())
        screen.query_one("#plan-audio", Select).value = False  # sound off: cheaper on Veo
        await wait_for(pilot, lambda: not screen.to_plan().audio, what="sound off")
        silent = app.engine.estimate(screen.to_plan())
        assert 0 < silent < with_sound
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmStart), what="the paid-start question")
        body = str(app.screen.query_one(".modal-body", Static).render())
        assert money(silent) in body and "No budget cap" in body and "silent" in body
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen, what="the plan again")
        assert app.engine.store.list_jobs() == []  # nothing started, nothing paid
        # a cap below the estimate: refused on the plan, no question, no job
        screen.query_one("#plan-cap", Input).value = "0.5"
        await wait_for(pilot, lambda: screen.to_plan().max_cost == 0.5, what="the cap in the plan")
        assert screen.to_plan().max_cost == 0.5
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: bool(error_text(screen, "#plan-error")), what="the plan's answer to Render")
        await workers_done(app)  # the render action (a worker) is over: nothing else comes
        assert app.screen is screen and "over the budget cap" in error_text(screen, "#plan-error")
        assert app.engine.store.list_jobs() == []


async def test_the_budget_cap_travels_with_the_plan(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_plan(app, pilot, small_plan(2))
        screen.query_one(PlanOptions).query_one(Input).value = "3"
        await wait_for(pilot, lambda: screen.to_plan().max_cost == 3.0, what="the cap in the plan")
        await pilot.press("ctrl+r")  # preview is free: no question
        await wait_for(pilot, lambda: bool(app.engine.store.list_jobs()), what="the job")
        job = app.engine.store.list_jobs()[0]
        assert job.folder is not None and job.plan is not None
        saved = json.loads((Path(job.folder) / "plan.json").read_text())
        assert saved["max_cost"] == 3.0 and job.plan.max_cost == 3.0
        await workers_done(app)


async def test_render_key_is_asked_for_on_render_not_on_plan(make_app: MakeApp) -> None:
    app = make_app()  # no fal key
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_plan(app, pilot, veo_plan())
        assert "$" in str(screen.query_one("#plan-summary", Static).render())  # the estimate is there
        before = len(notes(app))
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: len(notes(app)) > before, what="the note that a key is missing")
        await workers_done(app)  # the render action (a worker) is over: nothing else comes
        assert app.screen is screen and app.engine.store.list_jobs() == []
        note = [n.message for n in app._notifications][-1]
        assert "Settings (F5)" in note and "--model" not in note and "sora-tui" not in note


async def test_settings_save_writes_only_what_changed(make_app: MakeApp, home: Path) -> None:
    app = make_app(mode="settings", SORA_TUI_PREVIEW_LATENCY="0.5", OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    async with app.run_test(size=SIZE) as pilot:
        screen = await on_screen(pilot, SettingsScreen)
        assert app.engine.settings.preview_latency == 0.5
        screen.query_one("#output_dir", Input).value = "/sys"  # a read-only folder
        await pilot.press("ctrl+s")
        await workers_done(app)  # the save (a worker) is over
        assert "not writable" in error_text(screen, "#err-output_dir")
        assert not (home / "config" / "settings.toml").exists()
        screen.query_one("#output_dir", Input).value = ""
        screen.query_one("#default_planner", Select).value = "openai"
        await pilot.press("ctrl+s")
        await workers_done(app)  # the save (a worker) is over
        text = (home / "config" / "settings.toml").read_text()
        values = [line for line in text.splitlines() if not line.startswith("#")]
        assert values == ['default_planner = "openai"'], text
        assert "preview_latency" not in text and "127.0.0.1" not in text


async def test_theme_setting_offers_a_light_theme_and_persists(make_app: MakeApp, home: Path) -> None:
    app = make_app(mode="settings")
    async with app.run_test(size=SIZE) as pilot:
        screen = await on_screen(pilot, SettingsScreen)
        themes = [v for _, v in screen.query_one("#theme", Select)._options]
        assert "textual-light" in themes
        screen.query_one("#theme", Select).value = "textual-light"
        await wait_for(pilot, lambda: app.theme == "textual-light", what="the theme taken (Select.Changed)")
        assert app.theme == "textual-light"
        await pilot.press("ctrl+s")
        await workers_done(app)  # the save (a worker) is over
        assert 'theme = "textual-light"' in (home / "config" / "settings.toml").read_text()


async def test_start_image_must_be_a_readable_picture(make_app: MakeApp, tmp_path: Path) -> None:
    noise = tmp_path / "noise.png"
    noise.write_bytes(bytes(range(256)) * 4)
    data = tmp_path / "plan.json"
    data.write_text('{"not": "a picture"}')
    odd = tmp_path / "[word]" / "frame.png"
    odd.parent.mkdir()
    odd.write_bytes(b"\x89PNG\r\n\x1a\n" + b"truncated")  # the signature, then nothing a decoder reads
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await on_screen(pilot, PromptScreen)
        screen.query_one("#prompt", TextArea).load_text("a fox in the snow")

        async def error_names(name: str) -> None:
            """The field's message is about file ``name`` (its signature is read in a worker, then the form
            checked again)."""
            await wait_for(pilot, lambda: name in error_text(screen, "#err-start_image"), what=f"the error on {name}")

        for path, words in ((noise, "is not a PNG"), (data, "is not a PNG")):
            screen.query_one("#start_image", Input).value = str(path)
            await error_names(path.name)
            assert words in error_text(screen, "#err-start_image"), path
        screen.query_one("#start_image", Input).value = str(odd)
        await wait_for(pilot, lambda: error_text(screen, "#err-start_image") == "", what="the last error cleared")
        await workers_done(app)  # the signature read
        await pilot.press("ctrl+r")  # the signature passes while typing; Plan decodes it
        await error_names(odd.name)
        await workers_done(app)  # the plan action (a worker) is over: nothing else comes
        message = error_text(screen, "#err-start_image")
        assert "cannot be decoded" in message
        assert "start_image" not in message  # the label above names the field, not its id
        assert not isinstance(app.screen, PlanScreen)
        screen.query_one("#start_image", Input).value = str(odd.parent / "gone.png")
        await error_names("gone.png")
        assert f"{odd.parent}/gone.png does not exist" in error_text(screen, "#err-start_image")  # text, not markup


async def test_history_shows_and_copies_the_id_spent_apart_and_no_match(make_app: MakeApp) -> None:
    app = make_app(mode="history")
    plan = small_plan(1)
    job = app.engine.create_job(plan)
    app.engine.store.update_job(job.id, cost_usd=0.12, estimated_cost_usd=0.5)
    async with app.run_test(size=SIZE) as pilot:
        screen = await on_screen(pilot, HistoryScreen)
        await workers_done(app)  # History reads the jobs in a worker
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1, what="the job listed")
        row = [str(c) for c in table.get_row_at(0)]
        assert row[0] == job.id and "$0.12" in row and "$0.50" in row
        await pilot.press("c")
        await wait_for(pilot, lambda: app.clipboard == job.id, what="the id on the clipboard")
        assert app.clipboard == job.id
        screen.query_one("#search", Input).value = "no such words"
        # the search is debounced and filters the cached list (no store read on a keystroke)
        await wait_for(pilot, lambda: table.row_count == 0, what="the filtered table")
        await workers_done(app)
        detail = screen.query_one("#detail-text", Static)
        await wait_for(pilot, lambda: "No job matches" in str(detail.render()), what="the detail saying so")
        assert "No job matches" in str(screen.query_one("#detail-text", Static).render())


async def test_help_fits_80x24_and_wraps_at_140(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        help_box = (await on_screen(pilot, HelpScreen, what="help")).query_one(".help")
        await wait_for(pilot, lambda: help_box.region.width > 0, what="the help laid out")
        box = help_box.region
        assert box.x >= 0 and box.right <= 80 and box.bottom <= 24
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("f1")
        table = (await on_screen(pilot, HelpScreen, what="help")).query_one(DataTable)
        # laid out: the table filled for its own width (on_resize), the rows measured
        await wait_for(pilot, lambda: table.size.width > 0 and table.row_count > 0, what="the help table laid out")
        await settle(pilot)
        width = list(table.columns.values())[-1].width
        assert sum(c.get_render_width(table) for c in table.columns.values()) <= table.size.width
        for key, row in table.rows.items():
            tip = str(table.get_row(key)[-1])
            if len(tip) > width:
                assert row.height > 1, tip  # wrapped onto more lines, not cut


async def test_80x24_prompt_shows_estimate_plan_button_and_one_line_selects(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await on_screen(pilot, PromptScreen)
        estimate = screen.query_one("#estimate", Static)
        await wait_for(
            pilot,
            lambda: estimate.region.height > 0 and screen.query_one("#plan-button").region.height > 0,
            what="the prompt laid out",
        )
        for selector in ("#estimate", "#plan-button"):
            region = screen.query_one(selector).region
            assert region.height and region.bottom <= 23, selector  # above the footer, no scrolling
        for select in screen.query(Select):
            assert select.query_one("SelectCurrent").region.height == 1, select.id
        assert "Total" in str(screen.query_one("#estimate", Static).render())


async def test_footer_leaves_no_stray_character_at_its_right_edge(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_plan(app, pilot, small_plan(2))  # its keys overflow 80 columns

        def palette_key() -> FooterKey | None:
            """The footer's palette key, once placed: the footer recomposes its keys (after a refresh) each
            time the screen's bindings change, and a new key has no region until the next layout."""
            keys = [k for k in app.screen.query(FooterKey) if k.has_class("-command-palette") and k.region]
            return keys[0] if keys else None

        await wait_for(pilot, lambda: palette_key() is not None, what="the footer's palette key laid out")
        palette = palette_key()
        assert palette is not None and palette.region.right == 80


async def test_outside_text_is_never_markup(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.notify("provider said: [/bold] unexpected [/] close tag", severity="error")
        app.screen.notify("file /tmp/[word]/x.png failed [/", severity="error")
        await wait_for(pilot, lambda: len(app._notifications) == 2, what="both toasts (Notify messages)")
        messages = [n.message for n in app._notifications]
        assert any("[/bold]" in m for m in messages) and any("[word]" in m for m in messages)
        assert all(not n.markup for n in app._notifications)


async def test_keyframe_start_says_only_the_images_are_paid_now(make_app: MakeApp) -> None:
    from textual.widgets import Button

    from sora_tui.core.models import Mode

    plan = veo_plan()
    plan.mode = Mode.KEYFRAMES
    app = make_app(FAL_KEY="fal-test-key-0000")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_plan(app, pilot, plan)
        catalog = app.engine.catalog
        images = 3 * catalog.image_model_for(catalog.get("veo3.1-fast")).price_per_image
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmStart), what="the paid-start question")
        body = str(app.screen.query_one(".modal-body", Static).render())
        assert "only the keyframe images" in body and money(images) in body
        assert str(app.screen.query_one("#yes", Button).label) == f"Pay ~{money(images)}"
        assert money(app.engine.estimate(screen.to_plan())) in body  # the whole job's estimate too
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen, what="the plan again")
        assert app.engine.store.list_jobs() == []


async def test_a_removed_prompt_field_draws_blank_instead_of_ending_the_app(make_app: MakeApp) -> None:
    """Loading a plan replaces every segment editor; under load the compositor may draw a removed one once
    more from its old map. Textual's TextArea then raises KeyError, which ended the app (CI, test_flows'
    save-and-load; Textualize/textual#6528). The studio's TextArea draws blank lines instead."""
    import textual.widgets
    from textual.app import App, ComposeResult
    from textual.geometry import Region

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.open_plan(small_plan(3))
        screen = await on_screen(pilot, PlanScreen, lambda s: s.shown is not None, what="plan screen")
        old = list(screen.query(".seg-prompt").results(TextArea))
        assert len(old) == 3
        await screen.load(small_plan(1))
        assert all(not area.is_attached for area in old)
        lines = old[0].render_lines(Region(0, 0, 20, 2))
        assert [line.cell_length for line in lines] == [20, 20] and not "".join(line.text for line in lines).strip()

    class Stock(App[None]):
        def compose(self) -> ComposeResult:
            yield textual.widgets.TextArea("a prompt")

    stock = Stock()
    async with stock.run_test():
        area = stock.query_one(textual.widgets.TextArea)
        await area.remove()
        with pytest.raises(KeyError, match="text-area--gutter"):  # Textual's bug is still there: keep the guard
            area.render_lines(Region(0, 0, 20, 2))
