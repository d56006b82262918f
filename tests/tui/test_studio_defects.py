"""Each studio defect a new user met (issue 10, item 8), provoked through the real app."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import DataTable, Input, Select, Static, TextArea
from textual.widgets._footer import FooterKey

from sora_tui.core.models import Plan, SegmentPlan
from sora_tui.tui.format import money
from sora_tui.tui.screens.help import HelpScreen
from sora_tui.tui.screens.history import HistoryScreen
from sora_tui.tui.screens.modals import ConfirmModal, ConfirmStart
from sora_tui.tui.screens.plan import PlanScreen
from sora_tui.tui.widgets.plan_options import PlanOptions
from sora_tui.tui.widgets.request_form import FieldError

from .conftest import SIZE, small_plan, wait_for, workers_done


def error_text(screen, selector: str) -> str:
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


async def open_plan(app, pilot, plan: Plan) -> PlanScreen:
    app.open_plan(plan)
    await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen), what="the plan screen")
    await pilot.pause()
    return app.screen


async def test_escape_on_the_plan_asks_before_dropping_edits(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_plan(app, pilot, small_plan(2))
        await pilot.press("escape")  # nothing edited: straight back
        await wait_for(pilot, lambda: not isinstance(app.screen, PlanScreen), what="back to the prompt")
        screen = await open_plan(app, pilot, small_plan(2))
        screen.query(".seg-prompt").first(TextArea).load_text("my own words for this shot")
        await pilot.pause()
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the question")
        await pilot.press("n")  # keep editing: the edit is still there
        await wait_for(pilot, lambda: app.screen is screen, what="the plan again")
        assert screen.to_plan().segments[0].prompt == "my own words for this shot"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: not isinstance(app.screen, PlanScreen | ConfirmModal), what="the prompt")


async def test_paid_start_is_confirmed_with_its_estimate_cap_and_sound(make_app):
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
        await pilot.pause()
        assert screen.to_plan().max_cost == 0.5
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.screen is screen and "over the budget cap" in error_text(screen, "#plan-error")
        assert app.engine.store.list_jobs() == []


async def test_the_budget_cap_travels_with_the_plan(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_plan(app, pilot, small_plan(2))
        screen.query_one(PlanOptions).query_one(Input).value = "3"
        await pilot.pause()
        await pilot.press("ctrl+r")  # preview is free: no question
        await wait_for(pilot, lambda: bool(app.engine.store.list_jobs()), what="the job")
        job = app.engine.store.list_jobs()[0]
        saved = json.loads((Path(job.folder) / "plan.json").read_text())
        assert saved["max_cost"] == 3.0 and job.plan.max_cost == 3.0
        await workers_done(app)


async def test_render_key_is_asked_for_on_render_not_on_plan(make_app):
    app = make_app()  # no fal key
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_plan(app, pilot, veo_plan())
        assert "$" in str(screen.query_one("#plan-summary", Static).render())  # the estimate is there
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.screen is screen and app.engine.store.list_jobs() == []
        note = [n.message for n in app._notifications][-1]
        assert "Settings (F5)" in note and "--model" not in note and "sora-tui" not in note


async def test_settings_save_writes_only_what_changed(make_app, home):
    app = make_app(mode="settings", SORA_TUI_PREVIEW_LATENCY="0.5", OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.engine.settings.preview_latency == 0.5
        app.screen.query_one("#output_dir", Input).value = "/sys"  # a read-only folder
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "not writable" in error_text(app.screen, "#err-output_dir")
        assert not (home / "config" / "settings.toml").exists()
        app.screen.query_one("#output_dir", Input).value = ""
        app.screen.query_one("#default_planner", Select).value = "openai"
        await pilot.press("ctrl+s")
        await pilot.pause()
        text = (home / "config" / "settings.toml").read_text()
        values = [line for line in text.splitlines() if not line.startswith("#")]
        assert values == ['default_planner = "openai"'], text
        assert "preview_latency" not in text and "127.0.0.1" not in text


async def test_theme_setting_offers_a_light_theme_and_persists(make_app, home):
    app = make_app(mode="settings")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        themes = [v for _, v in app.screen.query_one("#theme", Select)._options]
        assert "textual-light" in themes
        app.screen.query_one("#theme", Select).value = "textual-light"
        await pilot.pause()
        assert app.theme == "textual-light"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert 'theme = "textual-light"' in (home / "config" / "settings.toml").read_text()


async def test_start_image_must_be_a_readable_picture(make_app, tmp_path):
    noise = tmp_path / "noise.png"
    noise.write_bytes(bytes(range(256)) * 4)
    data = tmp_path / "plan.json"
    data.write_text('{"not": "a picture"}')
    odd = tmp_path / "[word]" / "frame.png"
    odd.parent.mkdir()
    odd.write_bytes(b"\x89PNG\r\n\x1a\n" + b"truncated")  # the signature, then nothing a decoder reads
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.query_one("#prompt", TextArea).load_text("a fox in the snow")
        for path, words in ((noise, "is not a PNG"), (data, "is not a PNG")):
            screen.query_one("#start_image", Input).value = str(path)
            await pilot.pause()
            assert words in error_text(screen, "#err-start_image"), path
        screen.query_one("#start_image", Input).value = str(odd)
        await pilot.pause()
        await pilot.press("ctrl+r")  # the signature passes while typing; Plan decodes it
        await pilot.pause()
        message = error_text(screen, "#err-start_image")
        assert "cannot be decoded" in message
        assert "start_image" not in message  # the label above names the field, not its id
        assert not isinstance(app.screen, PlanScreen)
        screen.query_one("#start_image", Input).value = str(odd.parent / "gone.png")
        await pilot.pause()
        assert f"{odd.parent}/gone.png does not exist" in error_text(screen, "#err-start_image")  # text, not markup


async def test_history_shows_and_copies_the_id_spent_apart_and_no_match(make_app):
    app = make_app(mode="history")
    plan = small_plan(1)
    job = app.engine.create_job(plan)
    app.engine.store.update_job(job.id, cost_usd=0.12, estimated_cost_usd=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await workers_done(app)  # History reads the jobs in a worker
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        table = screen.query_one(DataTable)
        row = [str(c) for c in table.get_row_at(0)]
        assert row[0] == job.id and "$0.12" in row and "$0.50" in row
        await pilot.press("c")
        await pilot.pause()
        assert app.clipboard == job.id
        screen.query_one("#search", Input).value = "no such words"
        # the search is debounced and filters the cached list (no store read on a keystroke)
        await wait_for(pilot, lambda: table.row_count == 0, what="the filtered table")
        await workers_done(app)
        await pilot.pause()
        assert "No job matches" in str(screen.query_one("#detail-text", Static).render())


async def test_help_fits_80x24_and_wraps_at_140(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        await pilot.pause()
        box = app.screen.query_one(".help").region
        assert box.x >= 0 and box.right <= 80 and box.bottom <= 24
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        width = list(table.columns.values())[-1].width
        assert sum(c.get_render_width(table) for c in table.columns.values()) <= table.size.width
        for key, row in table.rows.items():
            tip = str(table.get_row(key)[-1])
            if len(tip) > width:
                assert row.height > 1, tip  # wrapped onto more lines, not cut


async def test_80x24_prompt_shows_estimate_plan_button_and_one_line_selects(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        for selector in ("#estimate", "#plan-button"):
            region = screen.query_one(selector).region
            assert region.height and region.bottom <= 23, selector  # above the footer, no scrolling
        for select in screen.query(Select):
            assert select.query_one("SelectCurrent").region.height == 1, select.id
        assert "Total" in str(screen.query_one("#estimate", Static).render())


async def test_footer_leaves_no_stray_character_at_its_right_edge(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_plan(app, pilot, small_plan(2))  # its keys overflow 80 columns
        palette = next(k for k in app.screen.query(FooterKey) if k.has_class("-command-palette"))
        assert palette.region.right == 80


async def test_outside_text_is_never_markup(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.notify("provider said: [/bold] unexpected [/] close tag", severity="error")
        app.screen.notify("file /tmp/[word]/x.png failed [/", severity="error")
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any("[/bold]" in m for m in messages) and any("[word]" in m for m in messages)
        assert all(not n.markup for n in app._notifications)


async def test_keyframe_start_says_only_the_images_are_paid_now(make_app):
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
