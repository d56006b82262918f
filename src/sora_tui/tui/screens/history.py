"""History: every job in the store, searchable and filterable, with details and actions."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, Label, RichLog, Select, Static
from textual.widgets.data_table import RowDoesNotExist

from ...core.finish.stage import describe_outputs
from ...core.models import Job, JobStatus
from .. import jobtext
from .. import messages as msg
from ..format import (
    SEAM_STYLE,
    SEGMENT_STATUS_STYLE,
    STATUS_ICON,
    date,
    duration,
    excerpt,
    money,
    seam_details,
    seam_label,
    worst_seam,
)
from ..widgets.footer import Footer

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
        Binding("e", "export", "Finish/Export", id="history.export", tooltip="Narration, music, subtitles, exports"),
        Binding(
            "d", "download", "Download", id="history.download", tooltip="Get the video, a segment or the seam report"
        ),
        Binding("p", "preview", "Preview", id="history.preview", tooltip="Step through the video's frames and seams"),
    ]

    app: SoraApp

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[tuple[str, tuple[object, ...]]] | None = None  # what the table shows
        self._detail: str | Text | None = None  # what the detail pane shows
        self._log_job: str | None = None  # whose log it shows
        self._log_lines: list[str] = []  # and which lines

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
        self.app.jobs.subscribe(self)
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

    def on_job_state_changed(self, message: msg.JobStateChanged) -> None:
        if self.is_current:
            self.reload()

    # --- data -------------------------------------------------------------------------

    def jobs(self) -> list[Job]:
        search = self.query_one("#search", Input).value.strip()
        status = self.query_one("#status-filter", Select).value
        return self.app.engine.store.list_jobs(search=search, status=str(status) if status else None)

    def reload(self, select: str | None = None) -> None:
        """Re-read the jobs; the table and the detail pane change only where their content did."""
        if not self.is_mounted:
            return
        table = self.query_one(DataTable)
        keep = select or self.selected_id()
        rows = []
        for job in self.jobs():
            length = job.duration_s if job.duration_s is not None else (job.plan.total_seconds if job.plan else None)
            cells = (
                date(job.created_at, short=True),
                excerpt(job.prompt, 22),
                jobtext.state(job),
                duration(length),
                money(job.cost_usd if job.cost_usd else job.estimated_cost_usd),
                job.model,
            )
            rows.append((job.id, cells))
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
        text = self.query_one("#detail-text", Static)
        log = self.query_one("#detail-log", RichLog)
        store = self.app.engine.store
        job = store.get_job(job_id) if job_id else None
        if job is None:
            self._show(text, "No jobs yet: press F2 to make one." if job_id is None else "")
            self._show_log(log, None, [])
            return
        out = Text()
        out.append(f"{job.id}\n", "bold")
        out.append_text(jobtext.state(job))
        out.append(f" · {job.model} · {job.mode} · created {date(job.created_at)}\n")
        out.append(f"cost {money(job.cost_usd)} (est. {money(job.estimated_cost_usd)})\n")
        if job.output:
            out.append("output ", "bold green")
            out.append(f"{job.output}\n")
        if job.error:
            out.append(f"error {job.error}\n", "red")
        meta = job.plan.metadata if job.plan else None
        if meta:
            out.append("title ", "bold")
            out.append(f"{meta.title}  {' '.join(meta.hashtags)}\n")
        for line in describe_outputs(store.outputs(job.id, include_removed=True)):
            out.append(f"▸ {line}\n", "cyan")
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
        seams = (job.seams or {}).get("seams") or []
        if seams:
            report = job.seams or {}
            out.append("\nSeams", "bold")
            out.append(
                f" · {report.get('reencoded_frames')} of {report.get('frames')} frames re-encoded · "
                f"sound {report.get('audio')}\n"
            )
            for seam in seams:
                out.append(seam_label(seam), SEAM_STYLE.get(seam["verdict"], ""))
                out.append(f"\n   {seam_details(seam)}\n", "dim")
                for line in seam["reasons"]:
                    out.append(f"   {line}\n", SEAM_STYLE.get(seam["verdict"], ""))
            worst = worst_seam(job.seams)
            if worst is not None:
                out.append(f"   the board's r re-renders segment {worst['index'] + 1}\n", "dim")
        self._show(text, out)
        lines = []
        for rec in store.logs(job.id, tail=LOG_TAIL):
            prefix = f"[seg {rec.index}] " if rec.index is not None else ""
            lines.append(f"{rec.level[:4]:4} {prefix}{rec.message}")
        self._show_log(log, job.id, lines)

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

    def action_export(self) -> None:
        if job_id := self._need_job():
            self.app.open_export(job_id)

    def action_download(self) -> None:
        if job_id := self._need_job():
            self.app.open_files(job_id)

    def action_preview(self) -> None:
        if job_id := self._need_job():
            self.app.open_preview(job_id)
