"""Segment board: one card per segment, overall progress, the log, and the finished video's path."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Header, ProgressBar, RichLog, Static, Tab, Tabs

from ...core.seams import worst_flagged as worst_seam
from .. import jobtext
from .. import messages as msg
from ..context import Studio
from ..format import excerpt
from ..live import LiveJob
from ..widgets.footer import Footer
from ..widgets.keyframe_card import KeyframeCard
from ..widgets.segment_card import SegmentCard
from ..widgets.takes_strip import TakesPanel
from .mode import ModeScreen

NO_JOB = "No job yet. Press F2 to start one."


def tab_id(job_id: str) -> str:
    return "job-" + job_id


class BoardScreen(ModeScreen):
    BINDINGS = [
        Binding("c", "job('stop')", "Stop", id="board.cancel", tooltip="Stop the job (says what it cost)"),
        Binding("t", "job('resume')", "Retry", id="board.retry", tooltip="Retry failed segments / resume"),
        Binding("o", "job('open')", "Open", id="board.open", tooltip="Open the video in the system player"),
        Binding("y", "job('copy')", "Copy path", id="board.copy", show=False, tooltip="Copy its path (over SSH: scp)"),
        Binding("d", "job('files')", "Download", id="board.download", tooltip="Get the video, a segment…"),
        Binding("p", "job('preview')", "Preview", id="board.preview", tooltip="Step through frames and seams"),
        Binding("v", "review", "Keyframes", id="board.review", tooltip="Review a keyframe-mode job's keyframes"),
        Binding("k", "takes", "Takes", id="board.takes", tooltip="Choose among a shot's takes (Enter keeps one)"),
        Binding("r", "rerender", "Re-render", id="board.rerender", tooltip="Render the worst seam's segment again"),
        Binding(
            "left_square_bracket", "switch(-1)", "Prev", id="board.prev", show=False, tooltip="Show the previous job"
        ),
        Binding("right_square_bracket", "switch(1)", "Next", id="board.next", show=False, tooltip="Show the next job"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Tabs(id="job-tabs")
        yield Static(NO_JOB, id="job-summary")
        with Horizontal(id="overall-row"):
            yield ProgressBar(total=1.0, show_eta=False, id="overall")
            yield Static("", id="overall-text")
        with VerticalScroll(id="cards-scroll"):
            yield Grid(id="kf-row")
            yield Grid(id="cards")
            yield TakesPanel(self.studio.engine, id="takes-panel")
        yield Static("", id="output-line")
        yield RichLog(id="log", max_lines=500, wrap=True, markup=False, auto_scroll=True)
        yield Footer(compact=True)

    shown: str | None = None

    def __init__(self, studio: Studio) -> None:
        super().__init__(studio)
        self._shown_text: dict[str, str | Text] = {}  # what each header line shows
        self._takes_pending = False  # a reload of the takes strip is due

    async def on_mount(self) -> None:
        self.sub_title = "Board"
        self.studio.jobs.subscribe(self)
        self.set_interval(1.0, self.tick)
        await self.sync_tabs()

    async def on_screen_resume(self) -> None:
        # the board draws only while on screen: catch up with what happened meanwhile
        await self.sync_tabs()
        self.redraw()

    # --- which job -------------------------------------------------------------------

    async def sync_tabs(self) -> None:
        """One tab per live job; show the watch's current job (the newest running one, else the newest)."""
        jobs = self.studio.jobs
        if jobs.current is None:
            jobs.select(jobs.newest())
        jobs.get(jobs.current)  # a job the window does not hold yet is read in a thread: JobStateChanged follows
        tabs = self.query_one(Tabs)
        if not tabs.query("#tabs-list"):  # shown before the Tabs composed their row: once they have
            self.call_after_refresh(self.sync_tabs)
            return
        have = {t.id for t in tabs.query(Tab)}
        for job_id, live in list(jobs.live.items()):
            if tab_id(job_id) not in have:
                tabs.add_tab(Tab(self._tab_label(live), id=tab_id(job_id)))
        for tab in list(tabs.query(Tab)):
            if tab.id and tab.id.removeprefix("job-") not in jobs.live:
                tabs.remove_tab(tab.id)
        want = jobs.current
        if want and tabs.active != tab_id(want):
            tabs.active = tab_id(want)
        elif self.shown != want:
            await self.show_job(want)
        for live in jobs.live.values():
            self._update_tab(live)

    def _tab_label(self, live: LiveJob) -> Text:
        icon = {"completed": "✓", "failed": "✗", "cancelled": "■", "interrupted": "!"}.get(live.state)
        return Text(f"{icon or ('▶' if live.running else '·')} {excerpt(live.job.prompt, 18)}")

    def _update_tab(self, live: LiveJob) -> None:
        try:
            tab = self.query_one(f"#{tab_id(live.id)}", Tab)
        except NoMatches:
            return
        label = self._tab_label(live)
        if tab.label_text != label.plain:  # a new label lays the tab row out again: only when it changed
            tab.label = label

    async def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tab is None or event.tab.id is None:
            return
        job_id = event.tab.id.removeprefix("job-")
        self.studio.jobs.select(job_id)
        if job_id != self.shown:
            await self.show_job(job_id)

    def action_switch(self, delta: int) -> None:
        tabs = self.query_one(Tabs)
        if delta > 0:
            tabs.action_next_tab()
        else:
            tabs.action_previous_tab()

    async def show_job(self, job_id: str | None) -> None:
        self.shown = job_id
        grid = self.query_one("#cards", Grid)
        kf_row = self.query_one("#kf-row", Grid)
        log = self.query_one(RichLog)
        await grid.remove_children()
        await kf_row.remove_children()
        log.clear()
        self.query_one(TakesPanel).show(job_id)
        live = self.live
        if live is None:
            self._show("#job-summary", NO_JOB)
            self.query_one("#overall", ProgressBar).update(progress=0)
            self._show("#overall-text", "")
            self._show("#output-line", "")
            return
        await grid.mount_all([SegmentCard(i) for i in sorted(live.segments)])
        kf_row.display = live.is_keyframe_job
        if live.is_keyframe_job:  # the boundary images the segments run between, above the cards
            n = len(live.segments)
            kf_row.styles.grid_size_columns = min(n + 1, 6)
            await kf_row.mount_all([KeyframeCard(k, n, compact=True) for k in range(n + 1)])
        for line in live.log:
            log.write(line)
        self.redraw()
        self.refresh_bindings()

    # --- what the live jobs say --------------------------------------------------------------

    async def on_job_state_changed(self, message: msg.JobStateChanged) -> None:
        if message.job_id is not None and message.job_id == self.shown:
            self._reload_takes()
        if self.is_current:
            await self.sync_tabs()
            self.refresh_bindings()

    def on_job_updated(self, message: msg.JobUpdated) -> None:
        if message.job_id == self.shown and message.log and self.is_mounted:
            log = self.query_one(RichLog)
            for line in message.log:
                log.write(line)
        if not self.is_current:
            return  # drawn from the live state when the board comes back
        for index in message.indexes:
            self.update_card(message.job_id, index)
        if message.job_id == self.shown and self._takes_changed(message.indexes):
            self._reload_takes()
        if message.keyframes:
            self.update_keyframes(message.job_id)
        if message.header:
            self.update_header(message.job_id)

    def redraw(self) -> None:
        """Redraw everything of the shown job from its live state."""
        live = self.live
        if live is None:
            return
        for idx in live.segments:
            self.update_card(live.id, idx)
        self.update_keyframes(live.id)
        self.update_header(live.id)

    def update_keyframes(self, job_id: str) -> None:
        """Redraw the keyframe row (states and thumbnails as they become ready)."""
        if job_id != self.shown or not self.is_mounted:
            return
        live = self.studio.jobs.live.get(job_id)
        if live is None or not live.is_keyframe_job:
            return
        making = next((k for k, kf in sorted(live.keyframes.items()) if kf.status != "done"), None)
        for card in self.query(KeyframeCard):
            kf = live.keyframes.get(card.index)
            card.update_from(kf, busy=live.running and card.index == making)
            thumb = self.studio.jobs.keyframe_thumbs.get((job_id, card.index))
            if thumb is not None and kf is not None and kf.status == "done" and card.thumb_version != thumb[1]:
                card.set_thumbnail(*thumb)

    def _takes_changed(self, indexes: frozenset[int]) -> bool:
        """A segment of a shot with takes changed (its takes may have too)."""
        live = self.live
        plan = live.job.plan if live is not None else None
        if plan is None:
            return False
        shots = {s.shot for s in self.query_one(TakesPanel).shots}
        return any(i in shots or (i <= len(plan.segments) and plan.segments[i - 1].takes > 1) for i in indexes)

    def _reload_takes(self) -> None:
        """Read the shown job's takes again, at most twice a second (a render sends many updates)."""
        if not self._takes_pending:
            self._takes_pending = True

            def reload() -> None:
                self._takes_pending = False
                self.query_one(TakesPanel).show(self.shown)

            self.set_timer(0.5, reload)

    @property
    def live(self) -> LiveJob | None:
        return self.studio.jobs.get(self.shown)

    def update_card(self, job_id: str, index: int) -> None:
        if job_id != self.shown or not self.is_mounted or not self.is_current:
            return
        live = self.studio.jobs.live.get(job_id)
        if live is None or index not in live.segments:
            return
        card = next((c for c in self.query(SegmentCard) if c.index == index), None)
        if card is None:
            return
        seg = live.segments[index]
        card.update_from(seg, self.studio.clock())
        pixels = self.studio.jobs.thumbnails.get((job_id, index))
        if pixels is not None and card.thumb_source != seg.thumbnail_source:
            card.set_thumbnail(pixels, seg.thumbnail_source)

    def update_header(self, job_id: str) -> None:
        live = self.studio.jobs.live.get(job_id)
        if live is None or not self.is_current:
            return
        self._update_tab(live)
        if job_id != self.shown:
            return
        self._show("#job-summary", jobtext.summary(live))
        self.query_one("#overall", ProgressBar).update(total=1.0, progress=live.overall)
        self._show("#overall-text", jobtext.progress(live))
        self._show("#output-line", jobtext.outcome(live))

    def _show(self, selector: str, content: str | Text) -> None:
        """Update a header line only when its text changed (each update lays the board out again)."""
        if self._shown_text.get(selector) != content:
            self._shown_text[selector] = content
            self.query_one(selector, Static).update(content)

    def tick(self) -> None:
        live = self.live
        if live is not None and live.running and self.is_current:
            for idx, seg in live.segments.items():
                if seg.started_at is not None and seg.finished_at is None:
                    self.update_card(live.id, idx)

    # --- actions ----------------------------------------------------------------------

    def action_job(self, action: str) -> None:
        """Ask the app to act on the shown job (stop, resume, open, copy, download, preview)."""
        if self.shown:
            self.post_message(msg.JobRequested(self.shown, msg.JobAction(action)))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        live = self.live
        if action == "review":  # only keyframe-mode jobs have keyframes
            return live is not None and live.is_keyframe_job
        if action == "job" and parameters == (msg.JobAction.STOP.value,):  # only a running job can be stopped
            return live is not None and (live.running or bool(live.task))
        if action == "takes":  # only a job with a shot of several takes
            return bool(self.query(TakesPanel)) and bool(self.query_one(TakesPanel).shots)
        if action == "rerender":  # only a finished job with a flagged seam
            return live is not None and not live.running and worst_seam(live.job.seams) is not None
        return True

    def action_rerender(self) -> None:
        live = self.live
        worst = worst_seam(live.job.seams) if live is not None else None
        if live is None or worst is None:
            self.notify("No flagged seam to re-render.", severity="warning")
            return
        self.post_message(msg.RedoRequested(live.id, worst["index"] + 1, only=True, seam=worst))

    def on_takes_panel_loaded(self, message: TakesPanel.Loaded) -> None:
        self.refresh_bindings()  # the Takes key shows only for a job with takes

    def action_takes(self) -> None:
        if not self.query_one(TakesPanel).focus_first():
            self.notify("No shot of this job has more than one take.", severity="warning")

    def action_review(self) -> None:
        live = self.live
        if live is None or not live.is_keyframe_job:
            self.notify("Only keyframe-mode jobs have keyframes to review.", severity="warning")
            return
        self.post_message(msg.JobRequested(live.id, msg.JobAction.REVIEW))
