"""The Finish & export screen: metadata, a finish and an export run in a worker with progress."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Label, ProgressBar, Select, Static

from sora_tui.core.models import Job, JobStatus
from sora_tui.core.store import OutputRecord
from sora_tui.tui.app import SoraApp
from sora_tui.tui.screens.export import ExportScreen, eta_text
from sora_tui.tui.screens.history import HistoryScreen
from sora_tui.tui.screens.settings import SettingsScreen

from .conftest import SIZE, MakeApp, notes, on_screen, settle, small_plan, wait_for, workers_done


async def test_finish_and_export_from_history(make_app: MakeApp) -> None:
    app = make_app("history")
    plan = small_plan(n=2, seconds=2)
    plan.audio = True
    plan.segments[0].narration = "Here it begins."
    job = app.engine.create_job(plan)
    done = await app.engine.run(job.id)
    assert done.status is JobStatus.COMPLETED
    async with app.run_test(size=SIZE) as pilot:
        history = await on_screen(pilot, HistoryScreen, what="history")
        await wait_for(pilot, lambda: history.selected_id() == job.id, what="the job selected in history")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen), what="the export screen")
        screen = app.screen
        screen.query_one("#meta-title", Input).value = "Boat"
        screen.query_one("#meta-hashtags", Input).value = "boat Rain"
        await pilot.press("ctrl+s")
        await workers_done(app)  # the save (a worker) is over
        saved = app.engine.store.get_job(job.id)
        assert saved is not None and saved.plan is not None
        meta = saved.plan.metadata
        assert meta.title == "Boat" and meta.hashtags == ["#boat", "#rain"]

        await pilot.press("f6")
        outputs = screen.query_one("#outputs", Static)
        await wait_for(pilot, lambda: "finished v1" in str(outputs.render()), timeout=60, what="the finish")
        assert str(screen.query_one("#stage", Label).render()) == "finish: done"
        assert (job.job_dir / "finished_v1.srt").read_text().count("-->") == 1

        screen.query_one("#preset", Select).value = "gif-preview"
        await pilot.press("f7")
        await wait_for(pilot, lambda: "export gif-preview" in str(outputs.render()), timeout=60, what="the export")
        assert screen.query_one("#progress", ProgressBar).progress == 1.0
        assert (job.job_dir / "exports" / "poster.jpg").is_file()
        # back in History, the job lists its version and export with sizes
        await pilot.press("escape")

        def detail() -> str:
            return str(app.screen.query_one("#detail-text", Static).render()) if app.screen.is_mounted else ""

        # back in History, the job lists its version and export with sizes
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and "export gif-preview · " in detail())
        assert "finished v1 · " in detail() and "Boat" in detail()


def test_eta_text() -> None:
    assert eta_text(None) == "ETA —" and eta_text(75.4) == "ETA 1:15" and eta_text(-1) == "ETA 0:00"


async def test_plan_editor_keeps_narration_and_reports_overlong_lines(make_app: MakeApp) -> None:
    from sora_tui.tui.screens.plan import PlanScreen
    from sora_tui.tui.widgets.plan_editor import PlanEditor
    from sora_tui.tui.widgets.request_form import FieldError

    app = make_app()
    plan = small_plan(n=2, seconds=2)
    plan.segments[0].narration = "A short line."
    plan.segments[1].narration = "far too many words for two seconds of a segment to carry"
    async with app.run_test(size=SIZE) as pilot:
        app.open_plan(plan)
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, PlanScreen) and bool(app.screen.query(PlanEditor)),
            what="the plan screen and its editor",
        )
        editor = app.screen.query_one(PlanEditor)
        await wait_for(pilot, lambda: len(editor.editors) == 2 and all(e.is_mounted for e in editor.editors))
        await settle(pilot)
        errors = [e.query_one(".seg-error", FieldError) for e in editor.editors]
        assert not errors[0].has_class("-shown")
        assert errors[1].has_class("-shown") and "narration: 12 words, 2 s fit about 5" in str(errors[1].render())
        screen = app.screen
        assert isinstance(screen, PlanScreen)
        edited = screen.to_plan()
        assert [s.narration for s in edited.segments] == [s.narration for s in plan.segments]
        editor.editors[1].query_one(".seg-narration", Input).value = "Now it fits."
        await wait_for(pilot, lambda: not errors[1].has_class("-shown"), what="the narration error to clear")


async def test_finishing_settings_are_saved(make_app: MakeApp, home: Path) -> None:
    app = make_app(mode="settings")
    async with app.run_test(size=SIZE) as pilot:
        screen = await on_screen(pilot, SettingsScreen)
        screen.query_one("#tts_provider", Select).value = "openai"
        screen.query_one("#loudness_lufs", Select).value = -23.0
        screen.query_one("#auto_clean_days", Select).value = 7
        await pilot.press("ctrl+s")
        await workers_done(app)  # the save (a worker) is over
        text = (home / "config" / "settings.toml").read_text()
        assert 'tts_provider = "openai"' in text and "loudness_lufs = -23.0" in text and "auto_clean_days = 7" in text
        settings = app.engine.settings
        assert (settings.tts_provider, settings.loudness_lufs, settings.auto_clean_days) == ("openai", -23.0, 7)


async def test_a_finish_outlives_the_app_and_a_new_app_sees_it_complete(make_app: MakeApp, tmp_path: Path) -> None:
    """The finish runs in a runner: quitting the app mid-way leaves it going; a new app's Export
    screen follows it to the end; the new version is recorded once."""
    import os
    import signal

    from sora_tui.core import runner

    gate = tmp_path / "gate"  # the runner waits here (SORA_TUI_TEST_TASK_GATE): surely mid-way at the quit
    app = make_app("history", SORA_TUI_TEST_TASK_GATE=str(gate))
    job = app.engine.create_job(small_plan(n=2, seconds=2))
    assert (await app.engine.run(job.id)).status is JobStatus.COMPLETED

    def finishes() -> list[OutputRecord]:
        return [o for o in app.engine.store.outputs(job.id, include_removed=True) if o.kind == "finish"]

    who = None
    try:
        async with app.run_test(size=SIZE) as pilot:
            app.open_export(job.id)
            await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen), what="the export screen")
            await wait_for(pilot, lambda: bool(app.screen.query("#stage")), what="the export screen drawn")
            stage = app.screen.query_one("#stage", Label)
            await pilot.press("f6")
            await wait_for(pilot, lambda: str(stage.render()) == "finish: started", what="the runner's TaskStarted")
            who = runner.holder(job.job_dir)
            assert who is not None and who.task == "finish" and who.pid != os.getpid()
            await pilot.press("ctrl+q")
        # the app is gone; its runner is not, and has recorded nothing yet
        assert runner.holder(job.job_dir) == who and finishes() == []

        app2 = make_app("history", SORA_TUI_TEST_TASK_GATE=str(gate))
        async with app2.run_test(size=SIZE) as pilot:
            app2.open_export(job.id)
            # mounted: on_mount has put the running finish on the stage line
            screen = await on_screen(pilot, ExportScreen, what="the export screen drawn")
            stage = screen.query_one("#stage", Label)
            assert str(stage.render()) == f"finish: running in process {who.pid} on host {who.host}"
            before = len(notes(app2))
            await pilot.press("f6")  # a second finish from this window: refused, nothing started
            await wait_for(pilot, lambda: len(notes(app2)) > before, what="the refusal")
            assert runner.holder(job.job_dir) == who
            gate.touch()
            outputs = screen.query_one("#outputs", Static)
            await wait_for(pilot, lambda: "finished v1" in str(outputs.render()), timeout=60, what="the finish")
            await wait_for(pilot, lambda: str(stage.render()) == "finish: done", what="the outcome")
            assert screen.query_one("#progress", ProgressBar).progress == 1.0
        assert [Path(o.path).name for o in finishes()] == ["finished_v1.mp4"]
        assert (job.job_dir / "finished_v1.mp4").is_file()
    finally:
        if who is not None and runner.holder(job.job_dir) is not None:
            os.kill(who.pid, signal.SIGKILL)


async def test_f8_stops_the_finish_runner(make_app: MakeApp, tmp_path: Path) -> None:
    from sora_tui.core import runner

    gate = tmp_path / "gate"
    app = make_app("history", SORA_TUI_TEST_TASK_GATE=str(gate))
    job = app.engine.create_job(small_plan(n=2, seconds=2))
    assert (await app.engine.run(job.id)).status is JobStatus.COMPLETED
    async with app.run_test(size=SIZE) as pilot:
        app.open_export(job.id)
        await wait_for(pilot, lambda: bool(app.screen.query("#stage")), what="the export screen drawn")
        stage = app.screen.query_one("#stage", Label)
        await pilot.press("f8")
        await wait_for(pilot, lambda: "Nothing is running." in notes(app), what="the answer to F8")
        assert not (job.job_dir / runner.STOP_FILE).exists()  # nothing running: nothing asked
        await pilot.press("f6")
        await wait_for(  # a runner process starting on a loaded 2-core CI box: seen taking over 30 s twice
            pilot,
            lambda: str(stage.render()) == "finish: started",
            timeout=90.0,
            what=f"the runner's TaskStarted (the stage reads {str(stage.render())!r})",
        )
        await pilot.press("f8")
        stop = job.job_dir / runner.STOP_FILE
        await wait_for(pilot, stop.exists, what="the runner asked to stop")  # before it goes on from the gate
        gate.touch()
        await wait_for(pilot, lambda: str(stage.render()) == "finish: cancelled", timeout=60, what="the cancel")
    assert not [o for o in app.engine.store.outputs(job.id, include_removed=True) if o.kind == "finish"]
    assert not (job.job_dir / "finished_v1.mp4").exists()


async def test_the_board_names_a_running_finish_and_c_stops_it(make_app: MakeApp, tmp_path: Path) -> None:
    """A finish holds the job: the board says which process finishes it, and c asks that runner to stop."""
    import os
    import signal

    from sora_tui.core import runner

    gate = tmp_path / "gate"
    app = make_app("history", SORA_TUI_TEST_TASK_GATE=str(gate))
    job = app.engine.create_job(small_plan(n=2, seconds=2))
    assert (await app.engine.run(job.id)).status is JobStatus.COMPLETED
    try:
        await _board_stops_the_finish(app, job, gate)
    finally:
        who = runner.holder(job.job_dir)
        if who is not None:  # a failed test leaves no runner behind
            os.kill(who.pid, signal.SIGKILL)
    assert not [o for o in app.engine.store.outputs(job.id, include_removed=True) if o.kind == "finish"]


async def _board_stops_the_finish(app: SoraApp, job: Job, gate: Path) -> None:
    from sora_tui.core import runner
    from sora_tui.tui.screens.board import BoardScreen

    async with app.run_test(size=SIZE) as pilot:
        app.open_export(job.id)
        await wait_for(pilot, lambda: bool(app.screen.query("#stage")), what="the export screen drawn")
        stage = app.screen.query_one("#stage", Label)
        await pilot.press("f6")
        await wait_for(pilot, lambda: str(stage.render()) == "finish: started", what="the runner's TaskStarted")
        who = runner.holder(job.job_dir)
        assert who is not None
        app.show_on_board(job.id)
        await wait_for(pilot, lambda: bool(app.screen.query("#job-summary")), what="the board")
        assert isinstance(app.screen, BoardScreen)
        summary = app.screen.query_one("#job-summary", Static)
        await wait_for(
            pilot,
            lambda: f"finish running in process {who.pid}" in str(summary.render()),
            what="the board naming the finish",
        )
        await pilot.press("c")
        stop = job.job_dir / runner.STOP_FILE
        await wait_for(pilot, stop.exists, what="the runner asked to stop")
        assert stop.exists()
        gate.touch()
        await wait_for(pilot, lambda: runner.holder(job.job_dir) is None, timeout=60, what="the runner to stop")


async def test_a_task_that_starts_while_following_begins_is_shown(
    make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export screen follows its job from the event log's end; when the follower begins that late (after
    the finish runner already said it started), the task's events are still read: the stage says "started"."""
    import threading

    from sora_tui.core import follow, runner

    gate = tmp_path / "gate"
    app = make_app("history", SORA_TUI_TEST_TASK_GATE=str(gate))
    job = app.engine.create_job(small_plan(n=2, seconds=2))
    assert (await app.engine.run(job.id)).status is JobStatus.COMPLETED
    beginning, go_on = threading.Event(), threading.Event()
    real = follow.Follower.from_end.__func__  # type: ignore[attr-defined]

    def late(cls: type[follow.Follower], job_dir: Path) -> follow.Follower:
        if Path(job_dir) == job.job_dir and not go_on.is_set():
            beginning.set()  # the follower is about to begin following the job: held here a while
            go_on.wait(120)
        return real(cls, job_dir)  # type: ignore[no-any-return]

    monkeypatch.setattr(follow.Follower, "from_end", classmethod(late))
    try:
        async with app.run_test(size=SIZE) as pilot:
            app.open_export(job.id)
            await wait_for(pilot, beginning.is_set, what="the follower beginning to follow the job")
            stage = app.screen.query_one("#stage", Label)
            await pilot.press("f6")  # the finish runner starts and writes TaskStarted, the follower still held
            log = runner.EventLog(job.job_dir)
            await wait_for(
                pilot, lambda: any(type(e).__name__ == "TaskStarted" for e in log.read(0)[0]), 90, "TaskStarted"
            )
            go_on.set()
            await wait_for(pilot, lambda: str(stage.render()) == "finish: started", 30, "the stage saying started")
            gate.touch()
            await wait_for(pilot, lambda: str(stage.render()) == "finish: done", 90, "the finish done")
    finally:
        go_on.set()
        gate.touch()
