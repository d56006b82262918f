"""The studio's flows through the real app factory, on the offline preview model (180p, 1 s segments)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.widget import Widget
from textual.widgets import DataTable, Input, Select, Tab, Tabs, TextArea

from sora_tui.core.follow import Reading
from sora_tui.core.models import Job, JobStatus, SegmentStatus
from sora_tui.tui.app import SoraApp
from sora_tui.tui.screens.board import BoardScreen, tab_id
from sora_tui.tui.screens.found import FoundJobsModal
from sora_tui.tui.screens.history import HistoryScreen
from sora_tui.tui.screens.modals import AskModal, ConfirmModal
from sora_tui.tui.screens.plan import PlanScreen
from sora_tui.tui.widgets.plan_editor import PlanEditor
from sora_tui.tui.widgets.request_form import FieldError
from sora_tui.tui.widgets.segment_card import SegmentCard
from sora_tui.tui.widgets.segment_editor import SegmentEditor

from .conftest import (
    SIZE,
    MakeApp,
    fill_prompt,
    focus_segment,
    notes,
    on_board,
    on_screen,
    settle,
    small_plan,
    wait_for,
    wait_jobs,
    workers_done,
)


def error_text(node: Widget, selector: str) -> str:
    err = node.query_one(selector, FieldError)
    return str(err.render()) if err.has_class("-shown") else ""


def job_of(app: SoraApp, job_id: str) -> Job:
    job = app.engine.store.get_job(job_id)
    assert job is not None, f"no job {job_id} in the store"
    return job


def plan_shown(screen: PlanScreen) -> bool:
    """The plan screen has put its plan in the editor (on_mount's load_plan is done)."""
    return screen.shown is not None


def segments_mounted(editor: PlanEditor, n: int) -> bool:
    """The editor shows ``n`` segments, each mounted (while it mounts new ones, to_plan cannot read them)."""
    editors = editor.editors
    return len(editors) == n and all(e.is_mounted for e in editors)


def asking(modal: AskModal) -> bool:
    """The modal's input has the cursor: Enter submits what it holds."""
    return isinstance(modal.focused, Input)


async def test_prompt_plan_edit_render_history(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await fill_prompt(pilot, "a paper boat drifting down a rainy street")
        await pilot.press("ctrl+r")
        plan_screen = await on_screen(pilot, PlanScreen, plan_shown, what="the plan screen")
        editor = plan_screen.query_one(PlanEditor)
        assert len(editor.editors) == 2
        # edit in place: a new title for segment 1
        editor.editors[0].query_one(".seg-title", Input).value = "Boat launch"
        # add, then delete, a segment (the new one, where the cursor goes)
        await pilot.press("ctrl+n")
        await wait_for(
            pilot,
            lambda: len(editor.editors) == 3 and editor.current_index() == 2,
            what="the added segment, with the cursor in it",
        )
        assert len(editor.editors) == 3
        await pilot.press("ctrl+delete")
        await wait_for(pilot, lambda: len(editor.editors) == 2, what="the segment deleted")
        assert len(editor.editors) == 2
        plan = plan_screen.to_plan()
        assert plan.segments[0].title == "Boat launch"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, BoardScreen), what="the board")
        await wait_jobs(pilot)
        jobs = app.engine.store.list_jobs()
        assert len(jobs) == 1
        job = jobs[0]
        assert job.status is JobStatus.COMPLETED, job.error
        assert job.output and Path(job.output).exists()
        assert app.engine.store.segments(job.id)[0].title == "Boat launch"
        live = app.jobs.live[job.id]
        assert live.overall == 1.0
        assert all(s.status is SegmentStatus.DONE for s in live.segments.values())
        # each card on the board says so, with the segment's last frame as its thumbnail
        cards = list(app.screen.query(SegmentCard))
        assert [c.index for c in cards] == [1, 2]
        await wait_for(pilot, lambda: all(c.has_thumbnail for c in cards), what="the thumbnails")
        await wait_for(pilot, lambda: all(c.text_lines()[1].startswith("✓ done") for c in cards), what="done cards")
        assert cards[0].text_lines()[0] == "#1 Boat launch · 1s" and cards[0].text_lines()[2] == "100%"
        # the job appears in history
        await pilot.press("f4")
        await settle(pilot)  # History reads the jobs in a worker
        history = app.screen
        table = history.query_one(DataTable)
        assert isinstance(history, HistoryScreen)
        assert table.row_count == 1
        assert history.selected_id() == job.id


async def test_cancel_then_resume_from_history(make_app: MakeApp) -> None:
    app = make_app(SORA_TUI_PREVIEW_LATENCY="1.5")
    async with app.run_test(size=SIZE) as pilot:
        job = app.engine.create_job(small_plan(3))
        app.start_job(job.id)
        await wait_for(pilot, lambda: job_of(app, job.id).status is JobStatus.GENERATING, what="generating")
        await on_board(pilot, job.id)
        await pilot.press("c")  # asks first, saying what was spent and what is in flight
        question = await on_screen(pilot, ConfirmModal, what="the stop question")
        assert "spent $" in str(question.message)
        await pilot.press("y")
        await wait_jobs(pilot)
        assert job_of(app, job.id).status is JobStatus.CANCELLED
        # resume from history, faster this time
        app.engine.settings.preview_latency = 0.0
        app.engine._providers.clear()
        await pilot.press("f4")
        await settle(pilot)  # History reads the jobs in a worker
        history = app.screen
        assert isinstance(history, HistoryScreen) and history.selected_id() == job.id
        await pilot.press("r")
        await on_board(pilot, job.id)  # resuming queues the job and shows it on the board
        await wait_jobs(pilot)
        done = job_of(app, job.id)
        assert done.status is JobStatus.COMPLETED, done.error


# make_app(mode=None) starts the app as `sora-tui` does (create_app's initial_mode is str | None; conftest's
# MakeApp types mode as str), so this test takes the fixture as the callable it is
async def test_resume_crashed_generating_job(make_app: Callable[..., SoraApp]) -> None:
    app = make_app(mode=None)  # as `sora-tui` starts
    # a job left "generating" by a runner that died (no process holds its lease)
    job = app.engine.create_job(small_plan(2))
    app.engine.store.update_job(job.id, status="generating")
    async with app.run_test(size=SIZE) as pilot:
        # at start the app lists it as interrupted, never as running; one key resumes it
        found = await on_screen(pilot, FoundJobsModal, what="the list of interrupted jobs")
        assert [lj.id for lj in found.interrupted] == [job.id]
        assert app.jobs.live[job.id].state == "interrupted" and not app.jobs.live[job.id].running
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, BoardScreen), what="the board")
        await wait_jobs(pilot)
        assert job_of(app, job.id).status is JobStatus.COMPLETED


async def test_prompt_bad_input_messages(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen

        async def says(selector: str, words: str) -> None:
            """Wait until the field's message says ``words`` (the form is checked on its Changed message)."""
            await wait_for(pilot, lambda: words in error_text(screen, selector), what=f"{words!r} at {selector}")

        await pilot.press("ctrl+r")  # blank prompt
        await says("#err-prompt", "is empty")
        assert "is empty" in error_text(screen, "#err-prompt")
        assert not isinstance(app.screen, PlanScreen)
        await fill_prompt(pilot, "a fox in the snow", segments="0")
        await pilot.press("ctrl+r")
        await says("#err-segments", "out of range")
        assert "out of range" in error_text(screen, "#err-segments")
        assert "1-60" in error_text(screen, "#err-segments")
        screen.query_one("#segments", Input).value = "61"
        await says("#err-segments", "61 is out of range")
        assert "61 is out of range" in error_text(screen, "#err-segments")
        screen.query_one("#segments", Input).value = "2"
        screen.query_one("#model", Select).value = "sora-2"
        await says("#err-model", "retired")
        assert "retired" in error_text(screen, "#err-model")
        screen.query_one("#model", Select).value = "veo3.1-fast"
        await says("#err-model", "no fal key")
        assert "no fal key" in error_text(screen, "#err-model")
        # the durations offered follow the model
        options = [v for _, v in screen.query_one("#seconds", Select)._options if isinstance(v, int)]
        assert options == [4, 6, 8]
        screen.query_one("#model", Select).value = "preview"
        screen.query_one("#start_image", Input).value = "/nonexistent/picture.png"
        await says("#err-start_image", "does not exist")  # the file is checked in a worker
        assert "does not exist" in error_text(screen, "#err-start_image")
        assert len(app.engine.store.list_jobs()) == 0


async def test_no_key_notice(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:

        def notice_text() -> str:
            return str(app.screen.query_one("#key-notice").render()) if app.screen.query("#key-notice") else ""

        await wait_for(pilot, lambda: bool(notice_text().strip()), what="the key notice")
        notice = notice_text()
        assert "preview" in notice and "Settings (F5)" in notice and "FAL_KEY" in notice
        assert "sora-tui" not in notice  # the studio names its own ways, not CLI commands


async def test_plan_bad_input_and_operations(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.open_plan(small_plan(2, seconds=2))
        screen = await on_screen(pilot, PlanScreen, plan_shown, what="plan screen")
        editor = screen.query_one(PlanEditor)

        def seconds() -> list[int]:
            return [s.seconds for s in screen.to_plan().segments]

        # blank segment prompt: message next to segment 2, nothing created
        editor.editors[1].query_one(".seg-prompt", TextArea).load_text("   ")
        await pilot.press("ctrl+r")
        seg_error = editor.editors[1].query_one(".seg-error", FieldError)
        await wait_for(pilot, lambda: seg_error.has_class("-shown"), what="segment 2's message")  # checked in a worker
        assert seg_error.has_class("-shown") and "prompt" in str(seg_error.render())
        assert app.engine.store.list_jobs() == []
        editor.editors[1].query_one(".seg-prompt", TextArea).load_text("the boat sinks")
        # split 2 s → 1 s + 1 s, merge back
        await focus_segment(pilot, editor, 0)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: seconds() == [1, 1, 2], what="the split")
        await focus_segment(pilot, editor, 0)
        await pilot.press("ctrl+j")
        await wait_for(pilot, lambda: seconds() == [2, 2], what="the merge")
        # move down
        await focus_segment(pilot, editor, 0)
        await pilot.press("alt+down")
        await wait_for(pilot, lambda: screen.to_plan().segments[1].title == "Part 1", what="the move")
        # re-plan one segment with the offline planner
        await focus_segment(pilot, editor, 0)
        first_prompt = screen.to_plan().segments[0].prompt

        def replanned() -> bool:
            return segments_mounted(editor, 2) and screen.to_plan().segments[0].prompt != first_prompt

        await pilot.press("ctrl+f")
        await wait_for(pilot, replanned, what="segment 1 re-planned")  # in the screen's worker
        await workers_done(app)
        assert "Part 1 of 2" in screen.to_plan().segments[0].prompt
        # a plan with a length the model does not allow
        bad = small_plan(2)
        bad.segments[0].seconds = 7
        await screen.load(bad)

        def length_error() -> str:
            return str(screen.query_one(PlanEditor).editors[0].query_one(".seg-error", FieldError).render())

        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "cannot render" in length_error(), what="segment 1's length message")
        err = screen.query_one(PlanEditor).editors[0].query_one(".seg-error", FieldError)
        assert "cannot render 7 s" in str(err.render())
        assert app.engine.store.list_jobs() == []


async def test_save_and_load_plan(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app()
    target = tmp_path / "my-plan.json"
    async with app.run_test(size=SIZE) as pilot:
        app.open_plan(small_plan(3))
        await on_screen(pilot, PlanScreen, plan_shown, what="plan screen")
        await pilot.press("ctrl+s")
        ask = await on_screen(pilot, AskModal, asking, what="the save path question")
        assert isinstance(app.screen, AskModal)
        ask.query_one(Input).value = str(target)
        await pilot.press("enter")
        await settle(pilot)  # the save worker writes the file in a thread
        assert target.exists()
        plan_screen = app.screen
        assert isinstance(plan_screen, PlanScreen)
        await plan_screen.load(small_plan(1))
        await pilot.press("ctrl+l")
        ask = await on_screen(pilot, AskModal, asking, what="the load path question")
        ask.query_one(Input).value = str(target)
        await pilot.press("enter")
        await settle(pilot)  # the load worker reads the file in a thread, then shows the plan
        assert len(plan_screen.to_plan().segments) == 3


async def test_delete_asks_first(make_app: MakeApp) -> None:
    app = make_app(mode="history")
    job = app.engine.create_job(small_plan(1))
    assert job.folder is not None
    folder = Path(job.folder)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)  # History reads the jobs in a worker
        await pilot.press("delete")
        await on_screen(pilot, ConfirmModal, what="the delete question")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        await settle(pilot)
        assert folder.exists() and app.engine.store.get_job(job.id) is not None
        await pilot.press("delete")
        await on_screen(pilot, ConfirmModal, what="the delete question")
        await pilot.press("y")
        await settle(pilot)  # the folder is removed in a worker, then History reads the jobs again
        await settle(pilot)
        assert app.engine.store.get_job(job.id) is None
        assert not folder.exists()
        assert app.screen.query_one(DataTable).row_count == 0


async def test_redo_from_k_and_duplicate(make_app: MakeApp) -> None:
    app = make_app(mode="history")
    job = app.engine.create_job(small_plan(2))
    async with app.run_test(size=SIZE) as pilot:
        app.start_job(job.id)
        await wait_jobs(pilot)
        assert job_of(app, job.id).status is JobStatus.COMPLETED
        await pilot.press("f4")
        await settle(pilot)  # History reads the jobs in a worker
        await pilot.press("k")
        ask = await on_screen(pilot, AskModal, asking, what="the redo question")
        assert isinstance(app.screen, AskModal)
        ask.query_one(Input).value = "9"
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(error_text(ask, "#ask-error")), what="the index refused")
        assert isinstance(app.screen, AskModal)  # out of range: asks again
        ask.query_one(Input).value = "2"
        await pilot.press("enter")
        await on_board(pilot, job.id)  # the redo resets segment 2.. in a worker, then queues the job
        await wait_jobs(pilot)
        assert job_of(app, job.id).status is JobStatus.COMPLETED
        assert any("redo from segment 2" in r.message for r in app.engine.store.logs(job.id))
        # duplicate opens the plan screen with a copy
        await pilot.press("f4")
        await settle(pilot)  # History reads the jobs in a worker
        await pilot.press("u")
        copy = await on_screen(pilot, PlanScreen, plan_shown, what="the plan screen with the copy")
        assert isinstance(app.screen, PlanScreen)
        assert len(copy.query(SegmentEditor)) == 2


async def test_board_shows_seams_and_re_renders_a_flagged_one(make_app: MakeApp) -> None:
    from sora_tui.core.models import SeamSettings
    from sora_tui.core.seams import worst_flagged as worst_seam

    app = make_app(mode="board")
    async with app.run_test(size=SIZE) as pilot:
        clean = app.engine.create_job(small_plan(3))
        app.start_job(clean.id)
        await wait_jobs(pilot)
        assert job_of(app, clean.id).status is JobStatus.COMPLETED
        cards = list(app.screen.query(SegmentCard))
        await wait_for(pilot, lambda: cards[1].text_lines()[3].startswith("✓ seam 1|2 clean"), what="seam lines")
        assert cards[2].text_lines()[3].startswith("✓ seam 2|3 clean")
        clean_seams = job_of(app, clean.id).seams
        assert clean_seams is not None and clean_seams["seams"][1]["repeat_cut"]
        assert "all 2 seams clean" in str(app.screen.query_one("#output-line").render())
        assert app.screen.check_action("rerender", ()) is False  # nothing to re-render

        # joined as rendered: the preview's repeated start frames stay, and the seams say so
        plan = small_plan(3)
        plan.seams = SeamSettings(seams="off")
        flagged = app.engine.create_job(plan)
        app.start_job(flagged.id)
        await wait_jobs(pilot)
        report = job_of(app, flagged.id).seams
        assert report is not None
        assert [s["verdict"] for s in report["seams"]] == ["bad", "bad"]
        line = str(app.screen.query_one("#output-line").render())
        assert "✗ seam" in line and "shown twice" in line and "r re-renders segment" in line
        await pilot.press("r")
        question = await on_screen(pilot, ConfirmModal, what="the re-render question")
        assert "Estimated cost: $0.00" in str(question.query_one(".modal-body").render())
        await pilot.press("y")
        # the answer's callback resets the segment and starts the runner before the modal is gone
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmModal), what="the question to close")
        await settle(pilot)
        await wait_jobs(pilot)
        segs = app.engine.store.segments(flagged.id)
        # the segment after the worst flagged seam was rendered again with a fresh seed; the others were kept
        worst = worst_seam(report)
        assert worst is not None
        k = worst["index"] + 1
        assert [s.seed is not None for s in segs] == [i == k for i in (1, 2, 3)]
        assert all(s.submits == 1 and s.status is SegmentStatus.DONE for s in segs)
        assert job_of(app, flagged.id).status is JobStatus.COMPLETED
        assert any("alone" in r.message for r in app.engine.store.logs(flagged.id))


async def test_two_jobs_on_the_board(make_app: MakeApp) -> None:
    app = make_app(SORA_TUI_PREVIEW_LATENCY="0.3")
    async with app.run_test(size=SIZE) as pilot:
        a = app.engine.create_job(small_plan(1, prompt="first job"))
        b = app.engine.create_job(small_plan(1, prompt="second job"))
        app.start_job(a.id)
        app.start_job(b.id)

        def started(job: Job) -> bool:  # queued in a worker, then followed as running
            live = app.jobs.live.get(job.id)
            return live is not None and live.running

        await wait_for(pilot, lambda: all(started(j) for j in (a, b)), what="a runner for each job")
        assert all(app.jobs.live[j.id].running for j in (a, b))  # each in its own runner
        assert not app.engine.controls  # none in the app's process
        board = app.screen
        assert isinstance(board, BoardScreen)

        def tabs_settled() -> bool:  # a tab per job, the active one the job shown
            found = board.query(Tabs)  # the board may still be composing when the jobs already run
            if not found:
                return False
            tabs = found.first()
            return len(tabs.query(Tab)) == 2 and board.shown is not None and tabs.active == tab_id(board.shown)

        await wait_for(pilot, tabs_settled, what="a tab for each job on the board")
        before = board.shown
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: board.shown != before and tabs_settled(), what="the previous job shown")
        first = board.shown
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: board.shown != first and tabs_settled(), what="the next job shown")
        assert board.shown != first
        await wait_jobs(pilot)
        for j in (a, b):
            assert job_of(app, j.id).status is JobStatus.COMPLETED


async def test_a_late_start_up_read_keeps_what_the_user_chose(tui_env: dict[str, str]) -> None:
    """The start-up read (active jobs, the newest job) can end after the user has already started a job and
    chosen another one and another screen (a slow disk): it must change neither, nor call the window's own
    job "found rendering"."""
    import threading

    from sora_tui.core.follow import STARTING
    from sora_tui.tui.app import create_app

    app = create_app({**tui_env, "SORA_TUI_PREVIEW_LATENCY": "0.5"})  # no initial mode: as `sora-tui` starts
    go = threading.Event()
    read_active = app.jobs.read_active

    def slow_read() -> list[Reading]:
        assert go.wait(60), "the test never let the start-up read go"
        return read_active()

    app.jobs.read_active = slow_read  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        a = app.engine.create_job(small_plan(2, prompt="first job"))
        b = app.engine.create_job(small_plan(1, prompt="second job"))
        app.start_job(a.id)

        def holds_lease(job: Job) -> bool:  # its runner took the lease: no longer "starting"
            live = app.jobs.live.get(job.id)
            return live is not None and live.running and live.state != STARTING

        await wait_for(pilot, lambda: holds_lease(a), what="the first job's runner holding its lease")
        app.show_on_board(b.id)
        # (not on_board: it waits for the app's workers, the start-up read among them)
        await wait_for(pilot, lambda: getattr(app.screen, "shown", None) == b.id, what="the second job on the board")
        board = app.screen
        assert isinstance(board, BoardScreen)
        await pilot.press("f4")
        await on_screen(pilot, HistoryScreen, what="history")
        go.set()
        await workers_done(app)
        await pilot.pause()
        assert app.jobs.current == b.id and board.shown == b.id  # the user's choice stands
        assert isinstance(app.screen, HistoryScreen)  # and so does the screen
        assert not [n for n in notes(app) if "Following" in n], notes(app)  # its own job is no news
        await wait_jobs(pilot)


async def test_settings_save_and_keyring_explanation(make_app: MakeApp, home: Path) -> None:
    from sora_tui.tui.screens.settings import SettingsScreen

    app = make_app(mode="settings")
    async with app.run_test(size=SIZE) as pilot:
        screen = await on_screen(pilot, SettingsScreen, what="the settings screen")
        # tests run with the "fail" keyring backend: the screen says so and disables storing
        assert screen.query("#no-keyring")
        screen.query_one("#default_planner", Select).value = "openai"
        screen.query_one("#output_dir", Input).value = "/definitely/not/here"
        await pilot.press("ctrl+s")
        await wait_for(  # the folder is checked in a worker
            pilot, lambda: "not a folder" in error_text(screen, "#err-output_dir"), what="the folder refused"
        )
        assert "not a folder" in error_text(screen, "#err-output_dir")
        screen.query_one("#output_dir", Input).value = ""
        await pilot.press("ctrl+s")
        await wait_for(  # written in a worker, then applied to the engine's settings
            pilot, lambda: app.engine.settings.default_planner == "openai", what="the settings saved"
        )
        text = (home / "config" / "settings.toml").read_text()
        assert 'default_planner = "openai"' in text
        assert app.engine.settings.default_planner == "openai"


async def test_settings_queue_and_local_gpu(make_app: MakeApp, home: Path, tmp_path: Path) -> None:
    """The queue's limits and the local models' device and folder are set in the studio too; the
    queue and a local job read them from settings.toml."""
    from sora_tui.core.settings import load_settings

    app = make_app(mode="settings")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        wanted = {"#queue_max_jobs": 2, "#fal_slots": 8, "#local_device": "cuda:1"}

        def choose() -> bool:  # set each choice until it holds (a Select still mounting takes its first value)
            for sel, value in wanted.items():
                if app.screen.query_one(sel, Select).value != value:
                    app.screen.query_one(sel, Select).value = value
            return all(app.screen.query_one(sel, Select).value == v for sel, v in wanted.items())

        await wait_for(pilot, choose, what="the queue and GPU choices set")
        app.screen.query_one("#local_models_dir", Input).value = str(tmp_path / "models")
        await settle(pilot)
        assert choose()
        await pilot.press("ctrl+s")
        await settle(pilot)
    s = load_settings(app.engine.paths, env={})
    assert (s.queue_max_jobs, s.fal_slots, s.local_device) == (2, 8, "cuda:1")
    assert s.local_models_dir == str(tmp_path / "models")
    assert app.engine.settings.queue_max_jobs == 2


async def test_help_and_palette_list_actions(make_app: MakeApp) -> None:
    from sora_tui.tui.screens.help import HelpScreen

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        help_screen = await on_screen(
            pilot, HelpScreen, lambda s: s.query_one(DataTable).row_count > 0, what="the help"
        )
        table = help_screen.query_one(DataTable)
        actions = {str(table.get_row_at(i)[2]) for i in range(table.row_count)}
        assert {"Plan", "Render", "Stop", "Resume", "Delete", "Save", "Split", "Merge"} <= actions
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), what="the help closed")
        from sora_tui.tui.commands import SoraCommands

        provider = SoraCommands(app.screen)
        labels = [label for label, _, _ in provider._commands()]
        assert any(label.startswith("Plan") for label in labels)
        assert any(label.startswith("History") for label in labels)


async def test_keyframe_mode_review_regenerate_replace_render(make_app: MakeApp, tmp_path: Path) -> None:
    import cv2
    import numpy as np

    from sora_tui.tui.screens.keyframes import KeyframeScreen
    from sora_tui.tui.widgets.keyframe_card import KeyframeCard
    from sora_tui.tui.widgets.keyframe_editor import KeyframeEditor

    picture = tmp_path / "mine.png"
    img = np.zeros((90, 160, 3), np.uint8)
    img[:, :, 2] = 220  # a red picture (BGR)
    cv2.imwrite(str(picture), img)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await fill_prompt(pilot, "a lighthouse in a storm")
        app.screen.query_one("#mode", Select).value = "keyframes"  # Plan reads the form's values
        await pilot.press("ctrl+r")
        plan_screen = await on_screen(pilot, PlanScreen, plan_shown, what="the plan screen")
        assert len(plan_screen.query(KeyframeEditor)) == 3  # N+1 boundaries around 2 segments
        assert "Make keyframes" in {b.binding.description for b in plan_screen.active_bindings.values()}
        plan_screen.query(KeyframeEditor).first().query_one(TextArea).load_text("the lighthouse at dusk, calm sea")
        await pilot.press("ctrl+r")  # makes the keyframes, stops for review
        review = await on_screen(pilot, KeyframeScreen, what="the review")
        await wait_jobs(pilot)
        assert app.screen is review
        job = app.engine.store.list_jobs()[0]
        assert job.status is JobStatus.AWAITING_REVIEW
        assert job.plan is not None and job.plan.keyframes[0] == "the lighthouse at dusk, calm sea"
        assert all(s.status is SegmentStatus.PENDING for s in app.engine.store.segments(job.id))
        await wait_for(pilot, lambda: len(app.jobs.keyframe_thumbs) == 3, what="keyframe thumbnails")
        await wait_for(  # the review draws them on the next update of the job
            pilot,
            lambda: len(review.cards) == 3 and all(c.thumb_version is not None for c in review.cards),
            what="the thumbnails on the cards",
        )
        cards = list(review.query(KeyframeCard))
        assert [c.index for c in cards] == [0, 1, 2]
        assert all(c.thumb_version is not None for c in cards)
        assert "nothing paid for yet" in str(review.query_one("#kf-money").render())
        # regenerate keyframe 1 with a new description
        await pilot.press("right")
        assert review.selected == 1
        review.query_one("#kf-prompt", TextArea).load_text("the lamp blazes, waves crash on the rocks")
        await pilot.press("ctrl+g")  # a runner makes it; the review follows it
        await wait_for(pilot, lambda: review.busy == 1, what="the keyframe runner started")
        await wait_for(pilot, lambda: review.busy is None, timeout=60, what="the keyframe made again")

        def at_rest() -> bool:  # the runner gone: the review takes changes again (KeyframeScreen._can_change)
            live = app.jobs.live.get(job.id)
            return live is not None and not live.running and not live.task

        await wait_for(pilot, at_rest, what="the keyframe runner to finish")
        kfs = app.engine.store.keyframes(job.id)
        assert kfs[1].prompt == "the lamp blazes, waves crash on the rocks" and kfs[1].status == "done"
        replanned = job_of(app, job.id).plan
        assert replanned is not None and replanned.keyframes[1] == kfs[1].prompt
        # replace keyframe 2 with the user's picture; a bad path is refused in the modal first
        await pilot.press("right")
        await pilot.press("ctrl+o")
        ask = await on_screen(pilot, AskModal, asking, what="the picture question")
        assert isinstance(app.screen, AskModal)
        ask.query_one(Input).value = str(tmp_path / "missing.png")
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(error_text(ask, "#ask-error")), what="the path refused")
        assert "does not exist" in error_text(ask, "#ask-error")
        ask.query_one(Input).value = str(picture)
        await pilot.press("enter")
        await settle(pilot)  # the picture is decoded and fitted in a worker
        assert app.screen is review
        kf2 = app.engine.store.keyframes(job.id)[2]
        assert kf2.source == "user" and kf2.status == "done"
        await wait_for(pilot, lambda: "your image" in str(review.cards[2]._state.render()), what="the card to say so")
        # render the videos: the estimate is shown first
        await pilot.press("ctrl+r")
        await on_screen(pilot, ConfirmModal, what="the render question")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, BoardScreen), what="the board")
        assert len(app.screen.query(KeyframeCard)) == 3  # the keyframe row above the segment cards
        await wait_jobs(pilot)
        done = job_of(app, job.id)
        assert done.status is JobStatus.COMPLETED, done.error
        assert [s.status for s in app.engine.store.segments(job.id)] == [SegmentStatus.DONE] * 2
        await pilot.press("f4")
        await settle(pilot)  # History reads the jobs in a worker
        history = app.screen
        assert isinstance(history, HistoryScreen) and history.selected_id() == job.id


async def test_keyframe_descriptions_follow_their_segments(make_app: MakeApp) -> None:
    from sora_tui.core.models import Mode
    from sora_tui.tui.widgets.keyframe_editor import KeyframeEditor

    plan = small_plan(3, seconds=2)
    plan.mode = Mode.KEYFRAMES
    plan.keyframes = ["K0", "K1", "K2", "K3"]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.open_plan(plan)
        screen = await on_screen(pilot, PlanScreen, plan_shown, what="plan screen")
        editor = screen.query_one(PlanEditor)

        async def do(key: str, segment: int) -> list[str]:
            before = screen.to_plan().keyframes
            await focus_segment(pilot, editor, segment - 1)
            await pilot.press(key)
            await wait_for(
                pilot,
                lambda: (
                    screen.to_plan().keyframes != before
                    and len(screen.query(KeyframeEditor)) == len(screen.to_plan().segments) + 1
                ),
                what=f"{key} on segment {segment}",
            )
            return screen.to_plan().keyframes

        assert await do("alt+down", 1) == ["K0", "K2", "K1", "K3"]  # segments move with their end frame
        assert await do("alt+up", 2) == ["K0", "K1", "K2", "K3"]
        kfs = await do("ctrl+t", 2)  # split: a new midway frame, the second half keeps K2
        assert kfs[:2] == ["K0", "K1"] and "Midway" in kfs[2] and kfs[3:] == ["K2", "K3"]
        assert await do("ctrl+j", 2) == ["K0", "K1", "K2", "K3"]  # merge back: the boundary goes
        assert await do("ctrl+delete", 2) == ["K0", "K1", "K3"]
        kfs = await do("ctrl+n", 1)
        assert kfs[0:2] == ["K0", "K1"] and kfs[3] == "K3" and len(kfs) == 4
        # a blank description is reported next to it; nothing is created
        screen.query(KeyframeEditor).first().query_one(TextArea).load_text("  ")
        await pilot.press("ctrl+r")
        await wait_for(  # checked in the screen's worker
            pilot,
            lambda: bool(error_text(screen.query(KeyframeEditor).first(), ".kf-error")),
            what="keyframe 0's message",
        )
        first = screen.query(KeyframeEditor).first()
        assert "describe this keyframe" in error_text(first, ".kf-error")
        assert app.engine.store.list_jobs() == []
