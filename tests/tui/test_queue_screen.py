"""The Queue screen through the real app factory: open it by key and from the palette, reorder,
pause a job and the queue, take a job out; a batch shown with its spend against its cap."""

from __future__ import annotations

from textual.command import CommandPalette
from textual.widgets import DataTable, Input, Static

from sora_tui.core import queue, scheduler
from sora_tui.core.models import JobStatus
from sora_tui.tui.app import SoraApp
from sora_tui.tui.screens.board import BoardScreen
from sora_tui.tui.screens.queue import QueueScreen

from .conftest import SIZE, MakeApp, on_screen, small_plan, wait_for


def order(app: SoraApp) -> list[str]:
    return [e.job_id for e in queue.entries(app.engine.store)]


def job_paused(app: SoraApp, job_id: str) -> bool:
    entry = queue.entry(app.engine.store, job_id)
    return entry is not None and entry.paused


async def test_queue_screen_reorders_pauses_and_removes(make_app: MakeApp) -> None:
    app = make_app("board")
    engine = app.engine
    jobs = [engine.create_job(small_plan(1, prompt=f"queued job {i}")) for i in range(3)]
    batch = queue.create_batch(engine.store, "night.jsonl", 2.5, [jobs[1].id, jobs[2].id])
    for i, job in enumerate(jobs):
        queue.add(engine.store, job, batch_id=batch.id if i else None)  # no scheduler: nothing runs here
    async with app.run_test(size=SIZE) as pilot:
        # the palette opens it (every app binding is a command)
        await pilot.press("ctrl+p")
        await on_screen(pilot, CommandPalette, lambda p: isinstance(p.focused, Input), what="the palette's search line")
        await pilot.press(*"Queue")

        def offered() -> str:  # the palette's highlighted command, once its search has answered
            from textual.command import CommandList

            found = app.screen.query(CommandList)
            if not found or found.first().highlighted is None:
                return ""
            commands = found.first()
            return str(commands.get_option_at_index(commands.highlighted or 0).prompt)

        await wait_for(pilot, lambda: offered().startswith("Queue"), what="the palette offering Queue")
        await pilot.press("enter")
        screen = await on_screen(pilot, QueueScreen, what="the queue screen")
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 3, what="three rows")
        head = str(screen.query_one("#queue-head", Static).render())
        assert "0 running" in head and "3 waiting" in head
        batches = str(screen.query_one("#queue-batches", Static).render())
        assert f"Batch {batch.id} (night.jsonl): $0.00 spent of a cap of $2.50, 2 jobs" in batches

        # pause everything first: nothing may start while this test moves jobs around
        await pilot.press("P")
        await wait_for(pilot, lambda: queue.paused_all(engine.store), what="the queue paused")
        await wait_for(pilot, lambda: "PAUSED" in str(screen.query_one("#queue-head", Static).render()))

        # the last job to the top, then one down
        table.move_cursor(row=2)
        await pilot.press("t")
        await wait_for(pilot, lambda: order(app)[0] == jobs[2].id, what="the move to the top")
        await wait_for(pilot, lambda: screen.selected_id() == jobs[2].id, what="the cursor on the moved job")
        await pilot.press("n")
        await wait_for(pilot, lambda: order(app) == [jobs[0].id, jobs[2].id, jobs[1].id], what="one down")
        assert table.get_row_index(jobs[2].id) == 1

        # pause that job, then take the first one out
        await pilot.press("p")
        await wait_for(pilot, lambda: job_paused(app, jobs[2].id), what="the job paused")
        table.move_cursor(row=0)
        await pilot.press("x")
        await wait_for(pilot, lambda: order(app) == [jobs[2].id, jobs[1].id], what="the job taken out")
        taken_out = engine.store.get_job(jobs[0].id)
        assert taken_out is not None and taken_out.status is JobStatus.CANCELLED
        await wait_for(pilot, lambda: table.row_count == 2, what="two rows")
        note = str(screen.query_one("#queue-note", Static).render())
        assert f"{jobs[0].id} taken out of the queue" in note
        # Enter shows the job on the board, whose header says where it stands and what it waits for
        table.move_cursor(row=1)
        await pilot.press("enter")
        board = await on_screen(pilot, BoardScreen, what="the board")
        summary = board.query_one("#job-summary", Static)
        await wait_for(
            pilot,
            lambda: "queued #2 · waits for the queue to resume" in str(summary.render()),
            what="the board's header naming the wait",
        )
        # F9 comes back to it from another screen
        await pilot.press("f9")
        assert isinstance(app.screen, QueueScreen)
    assert scheduler.running(engine.env) is None or queue.paused_all(engine.store)
