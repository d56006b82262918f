"""A shot's takes side by side: a card per take (its last picture, status, seam figures, seed and
cost, which one is kept); ←/→ move, Enter asks to keep the highlighted take.

``TakesPanel`` holds one ``TakesStrip`` per shot that has takes (a shot planned with ``takes`` > 1,
or one with takes in the job's ``takes.json``); it reads them in a thread worker (``read_takes``:
the engine's ``shot_takes``, and each take's last frame decoded from its own file). The strip
only shows and asks: Enter posts ``messages.TakeKeepRequested``; what keeping costs and what it
renders again is the engine's (``pick_quote``, ``pick_take``), asked by whoever handles it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from .. import messages as msg
from ..format import money
from .halfblock import halfblock_rows

if TYPE_CHECKING:
    from ...core.engine import Engine

THUMB = (28, 12)  # pixels: 28 cells × 6 rows of half blocks
THUMB_LINES = THUMB[1] // 2
TEXT_LINES = 4  # title, status, seam figures, seed and cost
STATUS_ICON = {"done": "✓", "failed": "✗", "submitted": "⇡", "pending": "·"}


@dataclass
class TakeView:
    """One take as a card shows it (read in a thread; ``pixels`` is its last frame, small)."""

    shot: int
    take: int
    status: str
    seed: int | None = None
    cost_usd: float | None = None
    kept: bool = False
    score: list[float] = field(default_factory=list)
    file: str | None = None
    pixels: Any = field(default=None, compare=False, repr=False)

    @property
    def figures(self) -> str:
        """The seam figures ``takes.best_take`` compares: a doubled first frame, a faded tail, colour drift."""
        if len(self.score) < 3:
            return "no seam figures yet" if self.status != "done" else "not measured"
        parts = ["doubled frame"] if self.score[0] else []
        parts += [f"fade {self.score[1]:g}", f"drift {self.score[2]:.1f} ΔE"]
        return " · ".join(parts)


@dataclass
class ShotTakes:
    shot: int
    title: str
    planned: int  # takes the plan asks for
    takes: list[TakeView]

    @property
    def kept(self) -> int | None:
        return next((t.take for t in self.takes if t.kept), None)


def _last_picture(view: TakeView, cache: dict[tuple[str, int], Any], decode: bool = True) -> Any:
    """A take's last frame (what the next shot continues from), fitted into ``THUMB``; None if unreadable.

    The PNG the run wrote beside a take 2..N (``seg_KK_tT_last.png``) when there is one; take 1's
    ``seg_KK_last.png`` is the kept take's, so a take 1 not kept is decoded from its own video."""
    from ...core import media

    assert view.file is not None
    video = Path(view.file)
    png = video.with_name(video.stem + "_last.png")
    path = png if png.is_file() and (view.take > 1 or view.kept) else video
    try:
        key = (str(path), path.stat().st_mtime_ns)
    except OSError:
        return None
    if key not in cache and decode:
        try:
            if path.suffix == ".png":
                cache[key] = media.thumbnail(path, *THUMB)
            else:
                import cv2

                rgb = media.read_last_frame(path)
                h, w = rgb.shape[:2]
                scale = min(THUMB[0] / w, THUMB[1] / h)
                size = (max(1, round(w * scale)), max(2, round(h * scale)))
                cache[key] = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        except (media.MediaError, OSError):
            return None
    return cache.get(key)


def read_takes(engine: Engine, job_id: str) -> list[ShotTakes]:
    """Every shot of ``job_id`` that has takes, with its takes, no pictures yet (blocking: call it
    in a thread; ``read_pictures`` adds them). Takes not started yet are shown as pending cards."""
    job = engine.find_job(job_id)
    plan = job.plan
    if plan is None:
        return []
    out = []
    for k, seg in enumerate(plan.segments, 1):
        rows = engine.shot_takes(job.id, k)
        if len(rows) < 2 and seg.takes < 2:
            continue
        views = [
            TakeView(
                k,
                int(r["take"]),
                str(r["status"]),
                r.get("seed"),
                r.get("cost_usd"),
                bool(r["kept"]) and (len(rows) > 1 or str(r["status"]) == "done"),
                list(r.get("score") or []),
                r.get("file"),
            )
            for r in rows
        ]
        views += [TakeView(k, t, "pending") for t in range(len(views) + 1, seg.takes + 1)]
        out.append(ShotTakes(k, seg.title, seg.takes, views))
    return out


def read_pictures(shots: list[ShotTakes], cache: dict[tuple[str, int], Any], decode: bool = True) -> bool:
    """Each finished take's picture (blocking; ``decode=False``: only those in ``cache``); True
    when every finished take has its picture."""
    complete = True
    for shot in shots:
        for view in shot.takes:
            if view.status == "done" and view.file:
                view.pixels = _last_picture(view, cache, decode)
                complete = complete and view.pixels is not None
    return complete


class TakeCard(Widget):
    """One take: four lines of text over its picture, drawn by the card itself (as SegmentCard)."""

    DEFAULT_CSS = """
    TakeCard {
        width: 1fr;
        max-width: 34;
        min-width: 22;
        height: auto;
        border: round $primary 40%;
        padding: 0 1;
    }
    TakeCard.-kept { border: round $success; }
    TakeCard.-failed { border: round $error; }
    TakeCard.-highlight { border: heavy $accent 60%; }
    TakesStrip:focus TakeCard.-highlight { border: heavy $accent; background: $accent 10%; }
    TakeCard > .take-card--title { text-style: bold; }
    TakeCard > .take-card--kept { color: $success; text-style: bold; }
    TakeCard > .take-card--muted { color: $text-muted; }
    """
    COMPONENT_CLASSES = {"take-card--title", "take-card--kept", "take-card--muted"}

    def __init__(self, view: TakeView, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.view = view
        self._rows: tuple[int, list[list[Segment]]] | None = None  # the picture's rows, for one width
        self.set_class(view.kept, "-kept")
        self.set_class(view.status == "failed", "-failed")

    def update_view(self, view: TakeView) -> None:
        self.view = view
        self._rows = None
        self.set_class(view.kept, "-kept")
        self.set_class(view.status == "failed", "-failed")
        self.refresh()

    def text_lines(self) -> list[str]:
        """The card's text as plain lines (what the tests read)."""
        v = self.view
        title = f"take {v.take}" + ("  ★ kept" if v.kept else "")
        seed = f"seed {v.seed}" if v.seed is not None else "seed –"
        return [title, f"{STATUS_ICON.get(v.status, '')} {v.status}", v.figures, f"{money(v.cost_usd)} · {seed}"]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return TEXT_LINES + THUMB_LINES

    def _line(self, text: Text, width: int) -> Strip:
        text = text.copy()
        text.truncate(width, overflow="ellipsis")
        segments = Segment.apply_style(text.render(self.app.console), self.rich_style)
        return Strip(segments).adjust_cell_length(width, self.rich_style)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base: Style = self.rich_style
        lines = self.text_lines()
        if y == 0:
            title = Text(f"take {self.view.take}", self.get_component_rich_style("take-card--title"))
            if self.view.kept:
                title.append("  ★ kept", self.get_component_rich_style("take-card--kept"))
            return self._line(title, width)
        if y < TEXT_LINES:
            style = self.get_component_rich_style("take-card--muted") if y >= 2 else Style()
            return self._line(Text(lines[y], style), width)
        row = y - TEXT_LINES
        pixels = self.view.pixels
        if pixels is None:
            if row == THUMB_LINES // 2:
                muted = self.get_component_rich_style("take-card--muted")
                label = "no picture" if self.view.status == "done" else "not rendered yet"
                return Strip([Segment(label[:width].center(width), base + muted)], width)
            return Strip.blank(width, base)
        if self._rows is None or self._rows[0] != width:
            if pixels.shape[1] > width:  # a narrow card (four takes on a narrow terminal): a smaller picture
                import cv2

                h = max(2, round(pixels.shape[0] * width / pixels.shape[1]))
                pixels = cv2.resize(pixels, (width, h), interpolation=cv2.INTER_AREA)
            self._rows = (width, halfblock_rows(pixels, width, base))
        rows = self._rows[1]
        top = max(0, (THUMB_LINES - len(rows)) // 2)
        if 0 <= row - top < len(rows):
            return Strip(rows[row - top]).adjust_cell_length(width, base)
        return Strip.blank(width, base)


class TakesStrip(Widget, can_focus=True):
    """One shot's takes side by side; ←/→ choose, Enter asks to keep the highlighted one."""

    BINDINGS = [
        Binding("left", "move(-1)", "Prev take", id="takes.prev", show=False, tooltip="The take on the left"),
        Binding("right", "move(1)", "Next take", id="takes.next", show=False, tooltip="The take on the right"),
        Binding("up", "other_shot(-1)", "Shot above", id="takes.up", show=False, tooltip="The shot above"),
        Binding("down", "other_shot(1)", "Shot below", id="takes.down", show=False, tooltip="The shot below"),
        Binding("enter", "keep", "Keep take", id="takes.keep", tooltip="Keep the highlighted take (asks first)"),
    ]
    DEFAULT_CSS = """
    TakesStrip { height: auto; width: 1fr; }
    TakesStrip > .takes-strip--head { height: 1; color: $text-muted; }
    TakesStrip:focus > .takes-strip--head { color: $accent; text-style: bold; }
    TakesStrip > Horizontal { height: auto; width: 1fr; }
    TakesStrip TakeCard { margin-right: 1; }
    """

    highlighted: reactive[int] = reactive(0, init=False)

    def __init__(self, job_id: str, shot: ShotTakes, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.shot = shot
        kept = [i for i, t in enumerate(shot.takes) if t.kept]
        self.set_reactive(TakesStrip.highlighted, kept[0] if kept else 0)

    def compose(self) -> ComposeResult:
        yield Static(self._head(), classes="takes-strip--head")
        with Horizontal():
            for i, view in enumerate(self.shot.takes):
                yield TakeCard(view, classes="-highlight" if i == self.highlighted else "")

    def _head(self) -> Text:
        s = self.shot
        name = f"Shot {s.shot}" + (f" · {s.title}" if s.title else "")
        kept = f" · take {s.kept} kept" if s.kept is not None else ""
        return Text(f"{name} · {len(s.takes)} takes{kept} · ←/→ choose · Enter keeps")

    @property
    def cards(self) -> list[TakeCard]:
        return list(self.query(TakeCard))

    @property
    def current(self) -> TakeView | None:
        takes = self.shot.takes
        return takes[self.highlighted] if 0 <= self.highlighted < len(takes) else None

    def update_shot(self, shot: ShotTakes) -> None:
        """New readings of the same shot: redraw the cards in place (the highlight stays)."""
        self.shot = shot
        cards = self.cards
        if len(cards) != len(shot.takes):
            self.refresh(recompose=True)
            return
        for card, view in zip(cards, shot.takes, strict=True):
            if card.view != view or card.view.pixels is not view.pixels:
                card.update_view(view)
        self.query_one(".takes-strip--head", Static).update(self._head())

    def watch_highlighted(self, old: int, new: int) -> None:
        cards = self.cards
        for i, card in enumerate(cards):
            card.set_class(i == new, "-highlight")
        if 0 <= new < len(cards):
            cards[new].scroll_visible(animate=False)

    def action_move(self, delta: int) -> None:
        n = len(self.shot.takes)
        if n:
            self.highlighted = max(0, min(n - 1, self.highlighted + delta))

    def action_other_shot(self, delta: int) -> None:
        strips = list(self.screen.query(TakesStrip))
        i = strips.index(self) + delta if self in strips else -1
        if 0 <= i < len(strips):
            strips[i].focus()

    def action_keep(self) -> None:
        view = self.current
        if view is None:
            return
        if view.kept:
            self.notify(f"Shot {view.shot} keeps take {view.take} already.")
            return
        if view.status != "done" or not view.file:
            self.notify(
                f"Take {view.take} of shot {view.shot} is {view.status}: only a finished take can be kept.",
                severity="warning",
            )
            return
        self.post_message(msg.TakeKeepRequested(self.job_id, view.shot, view.take))

    def on_click(self, event: Any) -> None:
        widget = getattr(event, "widget", None)
        for i, card in enumerate(self.cards):
            if widget is card:
                self.highlighted = i
        self.focus()


class TakesPanel(Vertical):
    """Every shot of one job that has takes, a strip each; hidden when the job has none."""

    DEFAULT_CSS = """
    TakesPanel { height: auto; display: none; }
    TakesPanel.-shown { display: block; }
    TakesPanel > .takes-panel--title { text-style: bold; color: $accent; height: 1; margin-top: 1; }
    TakesPanel > .takes-panel--none { color: $text-muted; height: auto; }
    """

    class Read(Message, bubble=False):
        """From the panel's thread to itself: the takes it read."""

        def __init__(self, job_id: str, shots: list[ShotTakes]) -> None:
            super().__init__()
            self.job_id = job_id
            self.shots = shots

    class Loaded(Message):
        """The panel drew a job's takes (``shots``: the shots with takes)."""

        def __init__(self, job_id: str, shots: list[ShotTakes]) -> None:
            super().__init__()
            self.job_id = job_id
            self.shots = shots

    def __init__(self, engine: Engine, *, job_id: str | None = None, empty_note: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine = engine
        self.job_id: str | None = job_id  # shown once mounted; show() changes it
        self.shots: list[ShotTakes] = []
        self.empty_note = empty_note  # shown when the job has no takes ("" hides the panel instead)
        self._cache: dict[tuple[str, int], Any] = {}

    @property
    def strips(self) -> list[TakesStrip]:
        return list(self.query(TakesStrip))

    def on_mount(self) -> None:
        self.set_class(bool(self.empty_note), "-shown")
        if self.job_id is not None:
            self.load(self.job_id)

    def show(self, job_id: str | None) -> None:
        """Show ``job_id``'s takes (read in a thread); None empties the panel."""
        if job_id != self.job_id:
            self.job_id = job_id
            self.shots = []
            self.remove_children()
            self.set_class(bool(self.empty_note), "-shown")
        if job_id is not None:
            self.load(job_id)

    @work(thread=True, exclusive=True, group="takes-panel", exit_on_error=False)
    def load(self, job_id: str) -> None:
        from textual.worker import get_current_worker

        from ...core.models import InputError

        worker = get_current_worker()

        def send(shots: list[ShotTakes]) -> None:
            if not worker.is_cancelled:  # a newer reading replaced this one: never draw an older one after it
                self.post_message(self.Read(job_id, shots))  # thread-safe

        try:
            shots = read_takes(self.engine, job_id)
        except InputError:  # the job was deleted meanwhile: nothing to show
            shots = []
        # the text and the pictures seen before at once; then the others (a decode per new take)
        if read_pictures(shots, self._cache, decode=False):
            send(shots)
            return
        send([ShotTakes(s.shot, s.title, s.planned, [replace(v) for v in s.takes]) for s in shots])
        read_pictures(shots, self._cache)
        send(shots)

    async def on_takes_panel_read(self, message: Read) -> None:
        job_id, shots = message.job_id, message.shots
        if job_id != self.job_id or not self.is_attached:
            return
        old = {s.shot.shot: s for s in self.strips}
        self.shots = shots  # before mounting: the board's Takes key asks for it
        if [s.shot for s in shots] == list(old) and old:
            for shot in shots:
                old[shot.shot].update_shot(shot)
        else:
            self.set_class(bool(shots) or bool(self.empty_note), "-shown")
            await self.remove_children()
            if shots:
                await self.mount(Static("Takes", classes="takes-panel--title"))
                await self.mount_all([TakesStrip(job_id, s) for s in shots])
            elif self.empty_note:
                await self.mount(Static(Text(self.empty_note), classes="takes-panel--none"))
        self.set_class(bool(shots) or bool(self.empty_note), "-shown")
        self.refresh(layout=True)  # the scroll around it measures it again (it grew from nothing)
        self.post_message(self.Loaded(job_id, shots))

    def focus_first(self) -> bool:
        strips = self.strips
        if strips:
            strips[0].focus()
        return bool(strips)
