"""History: every job in the store, searchable and filterable, with details and actions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Label, RichLog, Select, Static

from ...core.models import Job, JobStatus
from ..format import JOB_STATUS_STYLE, SEGMENT_STATUS_STYLE, STATUS_ICON, date, duration, excerpt, money

if TYPE_CHECKING:
    from ..app import SoraApp

LOG_TAIL = 120  # newest log lines shown in the detail pane (`sora-tui show` has all)
STATUS_FILTER = [("all statuses", "")] + [(str(s), str(s)) for s in JobStatus]


class HistoryScreen(Screen):
    BINDINGS = [
        Binding("enter", "show", "Board", id="history.show", tooltip="Show the job on the board", show=False),
        Binding("r", "resume", "Resume", id="history.resume", tooltip="Resume the job (keeps finished segments)"),
        Binding("k", "redo", "Redo from…", id="history.redo", tooltip="Render again from segment K"),
        Binding("u", "duplicate", "Duplicate", id="history.duplicate", tooltip="Copy the plan into a new draft"),
        Binding("delete,x", "delete", "Delete", id="history.delete", tooltip="Delete the job (asks first)"),
        Binding("slash", "search", "Search", id="history.search", tooltip="Search prompts, ids and models"),
        Binding("ctrl+o", "open", "Open video", id="history.open", tooltip="Open the finished video"),
    ]

    app: SoraApp

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="history-filters"):
            yield Input(placeholder="search prompt, id or model  (/)", id="search")
            yield Select(STATUS_FILTER, id="status-filter", allow_blank=False, value="")
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
        self.app.history = self
        table = self.query_one(DataTable)
        table.add_column("Date", key="date", width=11)
        table.add_column("Prompt", key="prompt", width=22)
        table.add_column("Status", key="status", width=15)
        table.add_column("Length", key="length", width=6)
        table.add_column("Cost", key="cost", width=7)
        table.add_column("Model", key="model", width=12)
        self.reload()
        table.focus()

    def on_screen_resume(self) -> None:
        self.reload()

    # --- data -------------------------------------------------------------------------

    def jobs(self) -> list[Job]:
        search = self.query_one("#search", Input).value.strip()
        status = self.query_one("#status-filter", Select).value
        return self.app.engine.store.list_jobs(search=search, status=str(status) if status else None)

    def reload(self, select: str | None = None) -> None:
        if not self.is_mounted:
            return
        table = self.query_one(DataTable)
        keep = select or self.selected_id()
        table.clear()
        for job in self.jobs():
            length = job.duration_s if job.duration_s is not None else (job.plan.total_seconds if job.plan else None)
            table.add_row(
                date(job.created_at, short=True),
                excerpt(job.prompt, 22),
                Text(f"{job.status}", style=JOB_STATUS_STYLE.get(job.status, "")),
                duration(length),
                money(job.cost_usd if job.cost_usd else job.estimated_cost_usd),
                job.model,
                key=job.id,
            )
        if keep is not None:
            try:
                table.move_cursor(row=table.get_row_index(keep))
            except Exception:
                pass
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
        text = self.query_one("#detail-text", Static)
        log = self.query_one("#detail-log", RichLog)
        log.clear()
        store = self.app.engine.store
        job = store.get_job(job_id) if job_id else None
        if job is None:
            text.update("No jobs yet: press F2 to make one." if job_id is None else "")
            return
        out = Text()
        out.append(f"{job.id}\n", "bold")
        out.append(f"{job.status}", JOB_STATUS_STYLE.get(job.status, ""))
        out.append(f" · {job.model} · {job.mode} · created {date(job.created_at)}\n")
        out.append(f"cost {money(job.cost_usd)} (est. {money(job.estimated_cost_usd)})\n")
        if job.output:
            out.append("output ", "bold green")
            out.append(f"{job.output}\n")
        if job.error:
            out.append(f"error {job.error}\n", "red")
        keyframes = store.keyframes(job.id)
        if keyframes:
            made = sum(1 for k in keyframes if k.status == "done")
            mine = sum(1 for k in keyframes if k.source == "user" and k.status == "done")
            out.append(f"◆ keyframes {made}/{len(keyframes)} ready" + (f" ({mine} your image)" if mine else ""), "bold")
            if job.status is JobStatus.AWAITING_REVIEW:
                out.append(" · no video paid for yet · r reviews them")
            out.append("\n")
        out.append("\n")
        out.append(job.prompt + "\n\n", "italic")
        for seg in store.segments(job.id):
            out.append(f"{STATUS_ICON.get(seg.status, '')} #{seg.index} ", SEGMENT_STATUS_STYLE.get(seg.status, ""))
            out.append(f"{seg.title or '(untitled)'} · {seg.seconds}s · {seg.status}", "bold")
            if seg.cost_usd:
                out.append(f" · {money(seg.cost_usd)}")
            out.append(f"\n   {excerpt(seg.prompt, 200)}\n", "dim")
        text.update(out)
        for rec in store.logs(job.id, tail=LOG_TAIL):
            prefix = f"[seg {rec.index}] " if rec.index is not None else ""
            log.write(f"{rec.level[:4]:4} {prefix}{rec.message}")

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail(str(event.row_key.value) if event.row_key else None)

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_show()

    @on(Input.Changed, "#search")
    def _search(self) -> None:
        self.reload()

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        self.query_one(DataTable).focus()

    @on(Select.Changed, "#status-filter")
    def _filter(self) -> None:
        self.reload()

    # --- actions ----------------------------------------------------------------------

    def _need_job(self) -> str | None:
        job_id = self.selected_id()
        if job_id is None:
            self.notify("No job selected.", severity="warning")
        return job_id

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_show(self) -> None:
        if job_id := self._need_job():
            self.app.show_on_board(job_id)

    def action_resume(self) -> None:
        if job_id := self._need_job():
            self.app.resume_job(job_id)

    def action_redo(self) -> None:
        if job_id := self._need_job():
            self.app.ask_redo(job_id)

    def action_duplicate(self) -> None:
        if job_id := self._need_job():
            self.app.duplicate_job(job_id)

    def action_delete(self) -> None:
        if job_id := self._need_job():
            self.app.ask_delete(job_id)

    def action_open(self) -> None:
        if job_id := self._need_job():
            self.app.open_output(job_id)
