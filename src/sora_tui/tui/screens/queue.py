"""Queue: the box's job queue (core/queue.py): order, state, estimate, what each job waits for;
reorder, pause, remove; batches with their spend against their cap.

Every read and change runs in a thread worker (the store, the leases); the worker posts
``QueueRead`` and the screen only draws it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Header, Static
from textual.widgets.data_table import RowDoesNotExist

from ...core import queue
from .. import messages as msg
from ..context import Studio
from ..format import excerpt, money
from ..widgets.footer import Footer
from .mode import ModeScreen

REFRESH = 1.0  # seconds between reads of the queue while the screen shows
STATE_STYLE = {"running": "bold green", "next": "cyan", "paused": "yellow", "held": "bold yellow", "queued": ""}


@dataclass
class QueueRead(Message, bubble=False):
    """What a worker read: the queue assessed, and a note to show (a change done, or why not)."""

    snap: queue.Snapshot
    note: str = ""
    error: bool = False


class QueueScreen(ModeScreen):
    BINDINGS = [
        Binding("enter", "show", "Board", id="queue.show", tooltip="Show the job on the board", show=False),
        Binding("u", "move('up')", "Up", id="queue.up", tooltip="Move the job one place up"),
        Binding("n", "move('down')", "Down", id="queue.down", tooltip="Move the job one place down"),
        Binding("t", "move('top')", "Top", id="queue.top", tooltip="Move the job to the top of the queue"),
        Binding("p", "pause_job", "Pause job", id="queue.pause", tooltip="Pause or resume the selected job"),
        Binding("P", "pause_all", "Pause all", id="queue.pause_all", tooltip="Pause or resume the whole queue"),
        Binding("delete,x", "remove", "Remove", id="queue.remove", tooltip="Take the job out of the queue"),
    ]

    def __init__(self, studio: Studio) -> None:
        super().__init__(studio)
        self.snap: queue.Snapshot | None = None
        self._rows: list[tuple[str, tuple[object, ...]]] | None = None
        self._select: str | None = None  # the job the cursor goes to at the next draw (a moved one)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Reading the queue…", id="queue-head")
        yield DataTable(id="queue-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="queue-batches")
        yield Static("", id="queue-note")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "Queue"
        table = self.query_one(DataTable)
        table.add_column("#", key="pos", width=3)
        table.add_column("Job", key="job", width=22)
        table.add_column("State", key="state", width=8)
        table.add_column("Est.", key="estimate", width=7)
        table.add_column("Waits for", key="waits", width=46)
        table.add_column("Prompt", key="prompt", width=24)
        table.focus()
        self.set_interval(REFRESH, self.refresh_queue)
        self.refresh_queue()

    def on_screen_resume(self) -> None:
        self.refresh_queue()

    # --- reading and changing (thread workers) ---------------------------------------------------

    def refresh_queue(self) -> None:
        if self.is_current:
            self._work(None)

    @work(thread=True, exclusive=True, group="queue", exit_on_error=False)
    def _work(self, change: tuple[str, str | None, str] | None) -> None:
        """Apply ``change`` (what, job id, argument), then read the queue; post what was read."""
        engine = self.studio.engine
        note, error = "", False
        if change is not None:
            note, error = self._apply(change)
        snap = queue.snapshot(engine.store, engine.settings.queue_max_jobs)
        self.post_message(QueueRead(snap, note, error))

    def _apply(self, change: tuple[str, str | None, str]) -> tuple[str, bool]:
        from ...core import scheduler
        from ...core.models import InputError, JobStatus

        engine = self.studio.engine
        what, job_id, arg = change
        try:
            if what == "move" and job_id:
                pos = queue.move(engine.store, job_id, arg)
                scheduler.ensure(engine.env)
                return f"{job_id} is now at position {pos}.", False
            if what == "pause":
                paused = arg == "on"
                queue.set_paused(engine.store, paused, job_id)
                if not paused:
                    scheduler.ensure(engine.env)
                who = f"Job {job_id}" if job_id else "The queue"
                if paused:
                    return f"{who} paused: requests in flight finish, no new one starts.", False
                return f"{who} resumed.", False
            if what == "remove" and job_id:
                job = engine.store.get_job(job_id)
                if job is None:
                    return f"No job {job_id}.", True
                snap = queue.snapshot(engine.store, engine.settings.queue_max_jobs)
                if job_id in snap.running:
                    return f"{job_id} is running: stop it on the board (c).", True
                queue.drop(engine.store, job)
                if job.status is JobStatus.QUEUED:
                    engine.store.update_job(job_id, status=JobStatus.CANCELLED, error="taken out of the queue")
                engine.store.log(job_id, "taken out of the queue")
                return f"{job_id} taken out of the queue (History keeps it; r there resumes it).", False
        except InputError as exc:
            return exc.problem, True
        return "", False

    def on_queue_read(self, message: QueueRead) -> None:
        self.snap = message.snap
        self.draw()
        if message.note:
            self.query_one("#queue-note", Static).update(
                Text(message.note, style="bold red" if message.error else "green")
            )

    # --- drawing ---------------------------------------------------------------------------------

    def draw(self) -> None:
        snap = self.snap
        if snap is None or not self.is_mounted:
            return
        running = sum(1 for r in snap.rows if r.state == queue.RUNNING)
        head = Text.assemble(
            (f"{running} running", "bold"),
            f" (at most {self.studio.engine.settings.queue_max_jobs} at once, "
            f"{self.studio.engine.settings.fal_slots} fal requests in flight)  ·  "
            f"{len(snap.rows) - running} waiting",
        )
        if snap.paused:
            head.append("  ·  PAUSED (P resumes)", style="bold yellow")
        if not snap.rows:
            head.append("\nNothing queued. Jobs you render (F2) and batches (`sora-tui batch FILE`) wait here.")
        self.query_one("#queue-head", Static).update(head)
        rows: list[tuple[str, tuple[object, ...]]] = []
        for row in snap.rows:
            cells: tuple[object, ...] = (
                str(row.position) if row.position else "▶",
                Text(row.job_id, style="bold"),
                Text(row.state, style=STATE_STYLE.get(row.state, "")),
                money(row.estimate),
                Text(row.waits_for),
                Text(excerpt(row.job.prompt, 24) + (f" [{row.entry.batch_id}]" if row.entry.batch_id else "")),
            )
            rows.append((row.job_id, cells))
        table = self.query_one(DataTable)
        if rows != self._rows or self._select:
            keep = self._select or self.selected_id()
            self._rows = rows
            table.clear()
            for job_id, cells in rows:
                table.add_row(*cells, key=job_id)
            if keep is not None:
                with contextlib.suppress(RowDoesNotExist):
                    table.move_cursor(row=table.get_row_index(keep))
            self._select = None
        lines = []
        for b in snap.batches.values():
            spend = snap.batch_spend(b)
            cap = f" of a cap of {money(b.max_cost)}" if b.max_cost is not None else " (no cap)"
            held = sum(1 for r in snap.rows if r.entry.batch_id == b.id and r.state == queue.HELD)
            lines.append(
                f"Batch {b.id} ({excerpt(b.name, 30)}): {money(spend.spent)} spent{cap}, "
                f"{len(b.jobs)} jobs" + (f", {held} held by the cap" if held else "")
            )
        self.query_one("#queue-batches", Static).update(Text("\n".join(lines)))

    def selected_id(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except RowDoesNotExist:
            return None
        return str(key.value) if key.value is not None else None

    # --- actions ---------------------------------------------------------------------------------

    def _row(self) -> queue.Row | None:
        job_id = self.selected_id()
        if self.snap is None or job_id is None:
            return None
        return queue.position_of(self.snap, job_id)

    def action_move(self, where: str) -> None:
        row = self._row()
        if row is None:
            return
        self._select = row.job_id  # the cursor follows the job it moves
        self._work(("move", row.job_id, where))

    def action_pause_job(self) -> None:
        row = self._row()
        if row is not None:
            self._work(("pause", row.job_id, "off" if row.entry.paused else "on"))

    def action_pause_all(self) -> None:
        paused = self.snap.paused if self.snap is not None else False
        self._work(("pause", None, "off" if paused else "on"))

    def action_remove(self) -> None:
        row = self._row()
        if row is not None:
            self._work(("remove", row.job_id, ""))

    @on(DataTable.RowSelected)
    def action_show(self) -> None:
        job_id = self.selected_id()
        if job_id is not None:
            self.post_message(msg.JobRequested(job_id, msg.JobAction.SHOW))
