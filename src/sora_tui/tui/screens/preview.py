"""Preview: frames of the final video or of one segment, stepping through segments and seams.

Frames are decoded in a thread worker (``core.media.frame_at``) at the size of the
picture area, drawn with Kitty graphics or Sixel where the terminal can, half-blocks
elsewhere (and in the browser). ←/→ step between the two sides of every seam,
shift+←/→ by a second, space plays at a few frames a second.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Middle
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Header, Static

from ...core.reach import JobFile, picture_box
from ...core.timeline import Timeline, spans_from
from .. import messages as msg
from ..context import Studio
from ..format import duration
from ..graphics import cell_pixels, picture_widget, show_pixels
from ..widgets.footer import Footer

PLAY_FPS = 4  # frames drawn a second while playing: a glance at motion, not a player


@dataclass(frozen=True)
class Loaded:
    timeline: Timeline
    info: Any  # media.VideoInfo


def clock(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m):02d}:{s:06.3f}"


def ruler(timeline: Timeline, frame: int, width: int) -> Text:
    """Two lines: the segments as coloured runs with their numbers, and a marker under the shown frame."""
    width = max(10, width)
    total = timeline.frames / timeline.fps
    bar = Text()
    starts = [round(a / total * width) for a, _ in timeline.spans] + [width]
    for k in range(len(timeline.spans)):
        n = max(1, starts[k + 1] - starts[k])
        label = f" {k + 1} "[:n]
        run = ("│" if k else "") + label + "━" * max(0, n - len(label) - (1 if k else 0))
        bar.append(run[:n], "bold cyan" if k % 2 == 0 else "bold magenta")
    at = min(width - 1, round(frame / max(1, timeline.frames - 1) * (width - 1)))
    bar.append("\n" + "─" * at, "dim")  # a drawn line: a Static drops leading spaces
    bar.append("▲", "bold")
    bar.append("─" * (width - at - 1), "dim")
    return bar


class PreviewScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q", "close", "Back", id="preview.close", tooltip="Close the preview"),
        Binding("left", "step(-1)", "◀ Seam", id="preview.prev", tooltip="Previous stop: a segment's start or end"),
        Binding("right", "step(1)", "Seam ▶", id="preview.next", tooltip="Next stop: a segment's start or end"),
        Binding("shift+left", "seek(-1)", "−1 s", id="preview.back", tooltip="One second back"),
        Binding("shift+right", "seek(1)", "+1 s", id="preview.forward", tooltip="One second on"),
        Binding("space", "play", "Play", id="preview.play", tooltip=f"Play / pause ({PLAY_FPS} frames a second)"),
        Binding("left_square_bracket", "source(-1)", "Prev file", id="preview.prev_file", tooltip="Previous file"),
        Binding("right_square_bracket", "source(1)", "Next file", id="preview.next_file", tooltip="Next file"),
        Binding("d", "download", "Download", id="preview.download", tooltip="Get this file (browser, copy, scp)"),
    ]

    class FrameReady(Message):
        def __init__(
            self, source: int, frame: int, box: tuple[int, int], pixels: Any, loaded: Loaded | None, error: str | None
        ) -> None:
            super().__init__()
            self.source, self.frame, self.box, self.pixels = source, frame, box, pixels
            self.loaded, self.error = loaded, error

    def __init__(self, studio: Studio, job_id: str, files: list[JobFile], start: int = 0) -> None:
        super().__init__()
        self.studio = studio
        self.job_id = job_id
        self.files = files
        self.source = start
        self.frame = 0
        self.loaded: dict[int, Loaded] = {}
        self._busy = False
        self._shown: tuple[int, int, tuple[int, int]] | None = None
        self._player: Timer | None = None
        self._play_clock = 0.0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="preview-title")
        yield Static("", id="preview-pos")
        with Middle(id="picture-box"), Center():
            yield picture_widget(self.studio.picture_mode, id="picture")
        yield Static("", id="preview-ruler")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "Preview"
        self.call_after_refresh(self.redraw)  # once laid out: the picture area's size is known

    def on_resize(self) -> None:
        self.call_after_refresh(self.request)

    # --- what is shown -------------------------------------------------------------------

    @property
    def file(self) -> JobFile:
        return self.files[self.source]

    @property
    def timeline(self) -> Timeline | None:
        loaded = self.loaded.get(self.source)
        return loaded.timeline if loaded else None

    def box(self) -> tuple[int, int]:
        area = self.query_one("#picture-box").size
        mode = self.studio.picture_mode
        return picture_box(mode, area.width, max(1, area.height), cell_pixels(mode))

    def redraw(self) -> None:
        f = self.file
        title = Text.assemble(
            (f.label, "bold"), f"  ·  {f.path.name}  ·  file {self.source + 1} of {len(self.files)}  ·  "
        )
        title.append(f"{self.studio.picture_mode} pictures", "dim")
        loaded = self.loaded.get(self.source)
        if loaded is not None:
            title.append(f"  ·  {duration(loaded.info.duration)} at {loaded.info.fps:g} fps", "dim")
        self.query_one("#preview-title", Static).update(title)
        tl = self.timeline
        if tl is None:
            self.query_one("#preview-pos", Static).update("reading the video…")
            self.query_one("#preview-ruler", Static).update("")
        else:
            t = self.frame / tl.fps
            pos = Text.assemble(
                (clock(t), "bold"), f" / {clock(tl.frames / tl.fps)}  ·  frame {self.frame + 1}/{tl.frames}  ·  "
            )
            pos.append(tl.label(self.frame), "bold cyan")
            if self._player is not None:
                pos.append("  ·  ▶ playing", "green")
            self.query_one("#preview-pos", Static).update(pos)
            self.query_one("#preview-ruler", Static).update(ruler(tl, self.frame, self.size.width - 2))
        self.request()

    def request(self) -> None:
        """Decode the wanted frame unless it is shown or one is being decoded (its result asks again)."""
        if self._busy or not self.is_attached:
            return
        box = self.box()
        want = (self.source, self.frame, box)
        if want == self._shown:
            return
        self._busy = True
        self.decode(self.source, self.frame, box)

    @work(thread=True, group="preview", exit_on_error=False)
    def decode(self, source: int, frame: int, box: tuple[int, int]) -> None:
        from ...core import media

        loaded = self.loaded.get(source)
        try:
            if loaded is None:
                loaded = self._load(source)
            pixels = media.frame_at(self.files[source].path, loaded.timeline.seek_time(frame), *box, info=loaded.info)
        except Exception as exc:  # a damaged or vanished file: said on screen, never a traceback
            self.post_message(self.FrameReady(source, frame, box, None, loaded, f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(self.FrameReady(source, frame, box, pixels, loaded, None))

    def _load(self, source: int) -> Loaded:
        """Probe the file and lay out its segments (thread)."""
        from ...core import media

        f = self.files[source]
        info = media.probe(f.path)
        if f.kind != "final":
            return Loaded(Timeline.build(info.duration, info.fps), info)
        job = self.studio.engine.store.get_job(self.job_id)
        report = job.seams if job is not None else None
        if job is not None and job.folder and (Path(job.folder) / "seams.json").is_file():
            try:
                report = json.loads((Path(job.folder) / "seams.json").read_text())
            except (OSError, ValueError):
                pass
        durations = []
        for seg in self.studio.engine.store.segments(self.job_id):
            try:
                durations.append(media.probe(seg.file, count_frames=False).duration if seg.file else float(seg.seconds))
            except media.MediaError:
                durations.append(float(seg.seconds))
        return Loaded(Timeline.build(info.duration, info.fps, spans_from(report, durations)), info)

    def on_preview_screen_frame_ready(self, message: FrameReady) -> None:
        self._busy = False
        if message.loaded is not None and message.source not in self.loaded:
            self.loaded[message.source] = message.loaded
            if message.source == self.source:
                self.frame = message.loaded.timeline.clamp(self.frame)
        if message.error is not None:
            self._stop()
            self.notify(f"Cannot show {self.files[message.source].path.name}: {message.error}", severity="error")
            return
        if message.source == self.source and message.frame == self.frame:
            show_pixels(self.query_one("#picture"), message.pixels)
            self._shown = (message.source, message.frame, message.box)
        self.redraw()

    # --- keys -------------------------------------------------------------------------

    def action_close(self) -> None:
        self._stop()
        self.dismiss()

    def _go(self, frame: int) -> None:
        tl = self.timeline
        if tl is not None:
            self.frame = tl.clamp(frame)
            self.redraw()

    def action_step(self, direction: int) -> None:
        tl = self.timeline
        if tl is None:
            return
        self._stop()
        stop = tl.step(self.frame, direction)
        if stop is None:
            self.notify("That is the " + ("end." if direction > 0 else "start."), timeout=2)
            return
        self._go(stop.frame)

    def action_seek(self, seconds: int) -> None:
        tl = self.timeline
        if tl is not None:
            self._stop()
            self._go(self.frame + round(seconds * tl.fps))

    def action_source(self, delta: int) -> None:
        self._stop()
        self.source = (self.source + delta) % len(self.files)
        self.frame = 0
        self.redraw()

    def action_play(self) -> None:
        if self._player is not None:
            self._stop()
            self.redraw()
            return
        tl = self.timeline
        if tl is None:
            return
        if self.frame >= tl.frames - 1:
            self.frame = 0
        self._play_clock = time.monotonic()
        self._player = self.set_interval(1 / PLAY_FPS, self._tick, name="preview-play")
        self.redraw()

    def _tick(self) -> None:
        tl = self.timeline
        now = time.monotonic()
        if tl is None or self._busy:
            return  # decoding is slower than the clock: show fewer frames, keep real time
        frame = tl.frame_of(self.frame / tl.fps + (now - self._play_clock))
        self._play_clock = now
        if frame >= tl.frames - 1:
            self._stop()
        self._go(frame)

    def _stop(self) -> None:
        if self._player is not None:
            self._player.stop()
            self._player = None

    def action_download(self) -> None:
        self.post_message(msg.FileRequested(self.file))
