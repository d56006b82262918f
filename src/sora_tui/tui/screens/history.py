"""History: every job in the store, searchable and filterable, with details and actions."""

from __future__ import annotations

import contextlib
import time
from datetime import tzinfo

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Header, Input, Label, RichLog, Select, Static
from textual.widgets.data_table import RowDoesNotExist

from ...core.models import Job, JobStatus
from ...core.plans import job_matches
from ...core.store import Store
from .. import jobtext
from .. import messages as msg
from ..context import Studio
from ..format import (
    duration,
    excerpt,
    money,
)
from ..job_detail import job_detail
from ..widgets.footer import Footer
from .mode import ModeScreen

LOG_TAIL = 120  # newest log lines shown in the detail pane (`sora-tui show` has all)
STATUS_FILTER = [("all statuses", "")] + [(str(s), str(s)) for s in JobStatus]


class HistoryScreen(ModeScreen):
    BINDINGS = [
        Binding("enter", "show", "Board", id="history.show", tooltip="Show the job on the board", show=False),
        Binding("r", "resume", "Resume", id="history.resume", tooltip="Resume the job (keeps finished segments)"),
        Binding("k", "redo", "Redo from…", id="history.redo", tooltip="Render again from segment K"),
        Binding("u", "duplicate", "Duplicate", id="history.duplicate", tooltip="Copy the plan into a new draft"),
        Binding("delete,x", "delete", "Delete", id="history.delete", tooltip="Delete the job (asks first)"),
        Binding("slash", "search", "Search", id="history.search", tooltip="Search prompts, ids and models"),
        Binding("c", "copy_id", "Copy id", id="history.copy", tooltip="Copy the job id to the clipboard"),
        Binding("ctrl+o", "open", "Open video", id="history.open", tooltip="Open the finished video"),
        Binding("e", "export", "Finish/Export", id="history.export", tooltip="Narration, music, subtitles, exports"),
        Binding(
            "d", "download", "Download", id="history.download", tooltip="Get the video, a segment or the seam report"
        ),
        Binding("p", "preview", "Preview", id="history.preview", tooltip="Step through the video's frames and seams"),
    ]

    SEARCH_DEBOUNCE = 0.15  # seconds: the table is filtered once typing pauses (in memory, no disk)
    MAX_AGE = 10.0  # seconds: coming back to History reads the jobs again when the list is older

    class JobsLoaded(Message):
        """The worker read the history: every job with its table cells (lock probes included)."""

        def __init__(self, rows: list[tuple[Job, tuple[object, ...]]], select: str | None) -> None:
            super().__init__()
            self.rows = rows
            self.select = select

    class DetailLoaded(Message):
        def __init__(self, job_id: str | None, found: bool, text: Text, lines: list[str]) -> None:
            super().__init__()
            self.job_id = job_id
            self.found = found
            self.text = text
            self.lines = lines

    def __init__(self, studio: Studio) -> None:
        super().__init__(studio)
        self._all: list[tuple[Job, tuple[object, ...]]] = []  # every job, as last read (a worker reads it)
        self._loaded_at = float("-inf")  # time.monotonic() of that read
        self._stale = True  # a job changed since
        self._search_timer: Timer | None = None
        self._rows: list[tuple[str, tuple[object, ...]]] | None = None  # what the table shows
        self._detail: str | Text | None = None  # what the detail pane shows
        self._log_job: str | None = None  # whose log it shows
        self._log_lines: list[str] = []  # and which lines

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="history-filters"):
            yield Input(placeholder="search prompt, id or model  (/)", id="search", compact=True)
            yield Select(STATUS_FILTER, id="status-filter", allow_blank=False, value="", compact=True)
        with Horizontal(id="history-body"):
            yield DataTable(id="jobs", cursor_type="row", zebra_stripes=True)
            with Vertical(id="detail"):
                with VerticalScroll(id="detail-scroll"):
                    yield Static("Select a job to see its plan, segments, output and logs.", id="detail-text")
                yield Label("Log", classes="section-title")
                yield RichLog(id="detail-log", wrap=True, markup=False, max_lines=300)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "History"
        self.studio.jobs.subscribe(self)
        table = self.query_one(DataTable)
        table.add_column("Job", key="job", width=22)
        table.add_column("Prompt", key="prompt", width=20)
        table.add_column("Status", key="status", width=15)
        table.add_column("Length", key="length", width=6)
        table.add_column("Spent", key="spent", width=7)
        table.add_column("Est.", key="estimate", width=7)
        table.add_column("Model", key="model", width=12)
        self.reload()
        table.focus()

    def on_screen_resume(self) -> None:
        # the cached list is read again when a job changed while away, or when it is older than
        # MAX_AGE (jobs made by other processes): a quick F4 back and forth reads nothing
        if self._stale or time.monotonic() - self._loaded_at > self.MAX_AGE:
            self.reload()

    def on_job_state_changed(self, message: msg.JobStateChanged) -> None:
        if self.is_current:
            self.reload()
        else:
            self._stale = True

    def on_resize(self) -> None:
        self.set_class(self.size.width >= 150, "-wide")  # the detail beside the table, else below it

    # --- data -------------------------------------------------------------------------

    def jobs(self) -> list[Job]:
        """The jobs the table shows: the cached history filtered by the search and the status (no disk)."""
        return [job for job, _ in self._shown_rows()]

    def _shown_rows(self) -> list[tuple[Job, tuple[object, ...]]]:
        search = self.query_one("#search", Input).value
        status = self.query_one("#status-filter", Select).value
        return [(job, cells) for job, cells in self._all if job_matches(job, search, str(status) if status else None)]

    def reload(self, select: str | None = None) -> None:
        """Read the history again, in a worker; the table follows when it has (JobsLoaded)."""
        if self.is_mounted:
            self.load_jobs(self.studio.engine.store, select)

    @work(thread=True, exclusive=True, exit_on_error=False, group="history")
    def load_jobs(self, store: Store, select: str | None) -> None:
        """Every job with its cells, lock probes and plan decoding included: off the UI loop."""
        rows: list[tuple[Job, tuple[object, ...]]] = []
        for job in store.list_jobs():
            length = job.duration_s if job.duration_s is not None else (job.plan.total_seconds if job.plan else None)
            cells: tuple[object, ...] = (
                Text(job.id, style="bold"),
                Text(excerpt(job.prompt, 20)),
                jobtext.state(job),
                duration(length),
                money(job.cost_usd),
                Text(money(job.estimated_cost_usd), style="dim"),
                Text(job.model),
            )
            rows.append((job, cells))
        self.post_message(self.JobsLoaded(rows, select))

    def on_history_screen_jobs_loaded(self, message: JobsLoaded) -> None:
        self._all = message.rows
        self._loaded_at, self._stale = time.monotonic(), False
        self.refilter(message.select)

    def refilter(self, select: str | None = None) -> None:
        """Show the cached jobs that match the search and the filter; the table and the detail pane
        change only where their content did."""
        if not self.is_mounted:
            return
        table = self.query_one(DataTable)
        keep = select or self.selected_id()
        rows = [(job.id, cells) for job, cells in self._shown_rows()]
        if rows != self._rows:
            self._rows = rows
            table.clear()
            for job_id, cells in rows:
                table.add_row(*cells, key=job_id)
        if keep is not None and keep != self.selected_id():
            with contextlib.suppress(RowDoesNotExist):
                table.move_cursor(row=table.get_row_index(keep))
        self.show_detail(self.selected_id())

    def selected_id(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key.value is not None else None

    def show_detail(self, job_id: str | None) -> None:
        """The job's detail and log, read in a worker (a cursor move never waits on the store)."""
        if job_id is None:
            self.on_history_screen_detail_loaded(self.DetailLoaded(None, False, Text(""), []))
            return
        self.load_detail(self.studio.engine.store, job_id, self.studio.tz)

    @work(thread=True, exclusive=True, exit_on_error=False, group="history-detail")
    def load_detail(self, store: Store, job_id: str, tz: tzinfo | None) -> None:
        job = store.get_job(job_id)
        if job is None:
            self.post_message(self.DetailLoaded(job_id, False, Text(""), []))
            return
        out = job_detail(job, store, tz)
        lines = []
        for rec in store.logs(job.id, tail=LOG_TAIL):
            prefix = f"[seg {rec.index}] " if rec.index is not None else ""
            lines.append(f"{rec.level[:4]:4} {prefix}{rec.message}")
        self.post_message(self.DetailLoaded(job_id, True, out, lines))

    def on_history_screen_detail_loaded(self, message: DetailLoaded) -> None:
        if not self.is_mounted or message.job_id != self.selected_id():
            return  # the cursor moved on: a newer read is on its way
        text = self.query_one("#detail-text", Static)
        log = self.query_one("#detail-log", RichLog)
        if not message.found:
            self._show(text, Text(self.empty_text() if message.job_id is None else ""))
            self._show_log(log, None, [])
            return
        self._show(text, message.text)
        self._show_log(log, message.job_id, message.lines)

    def _show(self, text: Static, content: str | Text) -> None:
        if content != self._detail:
            self._detail = content
            text.update(content)

    def _show_log(self, log: RichLog, job_id: str | None, lines: list[str]) -> None:
        """Show a job's newest log lines; when the same job's log has grown, only the new lines are written."""
        old = self._log_lines
        if job_id == self._log_job and lines == old:
            return
        n = len(old)
        # lines added at the end; the tail may have dropped as many at the top
        shift = next((k for k in range(n) if lines[: n - k] == old[k:]), None) if job_id == self._log_job else None
        if shift is not None and n - shift < len(lines):
            for line in lines[n - shift :]:
                log.write(line)
        else:
            log.clear()
            for line in lines:
                log.write(line)
        self._log_job, self._log_lines = job_id, lines

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail(str(event.row_key.value) if event.row_key else None)

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_show()

    @on(Input.Changed, "#search")
    def _search(self) -> None:
        # debounced, and in memory: typing never reads the store
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(self.SEARCH_DEBOUNCE, self.refilter)

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        self.query_one(DataTable).focus()

    @on(Select.Changed, "#status-filter")
    def _filter(self) -> None:
        self.refilter()

    # --- actions ----------------------------------------------------------------------

    def _need_job(self) -> str | None:
        job_id = self.selected_id()
        if job_id is None:
            self.notify("No job selected.", severity="warning")
        return job_id

    def empty_text(self) -> str:
        search = self.query_one("#search", Input).value.strip()
        status = self.query_one("#status-filter", Select).value
        if search or status:
            return (
                "No job matches the search"
                + (f" {search!r}" if search else "")
                + (f" with status {status}" if status else "")
            )
        return "No jobs yet: press F2 to make one."

    def action_copy_id(self) -> None:
        if job_id := self._need_job():
            self.app.copy_to_clipboard(job_id)
            self.notify(f"Job id {job_id} copied", markup=False)

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_show(self) -> None:
        if job_id := self._need_job():
            self.post_message(msg.JobRequested(job_id, msg.JobAction.SHOW))

    def action_resume(self) -> None:
        if job_id := self._need_job():
            self.post_message(msg.JobRequested(job_id, msg.JobAction.RESUME))

    def action_redo(self) -> None:
        if job_id := self._need_job():
            self.post_message(msg.JobRequested(job_id, msg.JobAction.REDO))

    def action_duplicate(self) -> None:
        if job_id := self._need_job():
            self.post_message(msg.JobRequested(job_id, msg.JobAction.DUPLICATE))

    def action_delete(self) -> None:
        if job_id := self._need_job():
            self.post_message(msg.JobRequested(job_id, msg.JobAction.DELETE))

    def action_open(self) -> None:
        if job_id := self._need_job():
            self.post_message(msg.JobRequested(job_id, msg.JobAction.OPEN))

    def action_export(self) -> None:
        if job_id := self._need_job():
            self.post_message(msg.JobRequested(job_id, msg.JobAction.EXPORT))

    def action_download(self) -> None:
        if job_id := self._need_job():
            self.post_message(msg.JobRequested(job_id, msg.JobAction.FILES))

    def action_preview(self) -> None:
        if job_id := self._need_job():
            self.post_message(msg.JobRequested(job_id, msg.JobAction.PREVIEW))
