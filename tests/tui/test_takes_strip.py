"""Pilot: the takes strip on the board (a job rendered with 3 takes of a shot on the offline preview
renderer): 3 cards with pictures, seam figures and cost; ←/→ and Enter on another take → the question
says what renders again → yes → the job keeps that take, renders what continues from it and joins
again; the joined video shows the kept take's frames (measured). The palette's Takes screen shows
the same panel. A snapshot of the strip on a fixed takes job, with its own folder and clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from textual.message import Message
from textual.pilot import Pilot

from sora_tui.core import media
from sora_tui.core.colour import psnr
from sora_tui.core.engine import Engine
from sora_tui.core.models import JobStatus

from .conftest import SIZE, MakeApp, notes, on_screen, small_plan, wait_for

if TYPE_CHECKING:
    import numpy as np

    from sora_tui.tui.app import SoraApp


def kept_take(engine: Engine, job_id: str, shot: int) -> int:
    take: int = next(r["take"] for r in engine.shot_takes(job_id, shot) if r["kept"])
    return take


def job_status(engine: Engine, job_id: str) -> JobStatus:
    job = engine.store.get_job(job_id)
    assert job is not None, job_id
    return job.status


def shot_frame(video: str | Path, spans: list[list[float]], shot: int, dest: Path, offset: float | None = None) -> Path:
    """The frame in the middle of ``shot``'s span of a joined video (or at ``offset`` s into a take)."""
    info = media.probe(video)
    t = (spans[shot - 1][0] + spans[shot - 1][1]) / 2 if offset is None else offset
    return media.frame_png(video, int(round(t * info.fps)), dest)


async def rendered_job(home: Path) -> tuple[Engine, str]:
    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    plan = small_plan(2, seconds=2)
    plan.segments[0].takes = 3
    job = engine.create_job(plan)
    done = await engine.run(job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    return engine, job.id


async def test_takes_strip_keeps_take_3_and_the_joined_video_changes(
    make_app: MakeApp, home: Path, tmp_path: Path
) -> None:
    from sora_tui.tui.screens.board import BoardScreen
    from sora_tui.tui.screens.takes import KeepTakeModal
    from sora_tui.tui.widgets.takes_strip import TakesPanel

    engine, job_id = await rendered_job(home)
    before_kept = kept_take(engine, job_id, 1)
    target = 3 if before_kept != 3 else 2
    job = engine.find_job(job_id)
    spans = json.loads((job.job_dir / "seams.json").read_text())["spans"]
    before = shot_frame(job.output or "", spans, 1, tmp_path / "before.png")

    app = make_app("board")
    async with app.run_test(size=(160, 48)) as pilot:
        app.show_on_board(job_id)
        board = await on_screen(pilot, BoardScreen, lambda s: s.shown == job_id)
        panel = board.query_one(TakesPanel)
        await wait_for(pilot, lambda: len(panel.strips) == 1, what="the takes strip")
        strip = panel.strips[0]
        await wait_for(pilot, lambda: len(strip.cards) == 3, what="three take cards")
        cards = strip.cards
        assert [c.view.take for c in cards] == [1, 2, 3]
        assert all(c.view.status == "done" and c.view.pixels is not None for c in cards)  # each its own picture
        assert [c.view.kept for c in cards] == [t == before_kept for t in (1, 2, 3)]
        lines = cards[before_kept - 1].text_lines()
        assert "★ kept" in lines[0] and "drift" in lines[2] and "$0.00" in lines[3] and "seed" in lines[3]
        seeds = {c.view.seed for c in cards}
        assert len(seeds) == 3  # each take its own seed
        # the pictures differ: the takes are different renders
        first, second = cards[0].view.pixels, cards[1].view.pixels
        assert first is not None and second is not None and first.tobytes() != second.tobytes()

        await pilot.press("k")  # the board's Takes key puts the focus on the strip
        await wait_for(pilot, lambda: app.focused is strip, what="the strip focused")
        assert strip.highlighted == before_kept - 1  # it opens on the kept take
        await pilot.press(*(["left"] * 3), *(["right"] * (target - 1)))
        assert strip.highlighted == target - 1
        await pilot.press("enter")
        modal = await on_screen(pilot, KeepTakeModal, what="the question")
        await wait_for(pilot, lambda: modal.quote is not None, what="what keeping it renders again")
        assert modal.quote == (0.0, [2])  # shot 2 continues from shot 1 (free on the preview model)
        body = str(modal.query_one("#keep-body").render())
        assert "Shot 2 continues from it and renders again" in body
        await pilot.press("y")
        await wait_for(pilot, lambda: not isinstance(app.screen, KeepTakeModal), what="the question answered")
        await wait_for(
            pilot,
            lambda: job_status(engine, job_id) is JobStatus.COMPLETED and kept_take(engine, job_id, 1) == target,
            timeout=90,
            what="shot 2 rendered again and the video joined again",
        )
        await wait_for(pilot, lambda: bool(panel.shots) and panel.shots[0].kept == target, what="the strip redrawn")
        assert [c.view.kept for c in panel.strips[0].cards] == [t == target for t in (1, 2, 3)]

    job = engine.find_job(job_id)
    spans = json.loads((job.job_dir / "seams.json").read_text())["spans"]
    after = shot_frame(job.output or "", spans, 1, tmp_path / "after.png")
    take_video = next(r["file"] for r in engine.shot_takes(job_id, 1) if r["take"] == target)
    mid = (spans[0][0] + spans[0][1]) / 2 - spans[0][0]
    own = shot_frame(take_video, spans, 1, tmp_path / "take.png", offset=mid)
    a, b, t = media.read_image(after), media.read_image(before), media.read_image(own)
    assert psnr(a, t) > 26  # the joined video shows the kept take (re-encoded)
    assert psnr(a, t) > psnr(b, t) + 3  # and it did not before
    segment = engine.store.segment(job_id, 1)
    assert segment is not None and segment.file == take_video


async def test_a_cancelled_question_keeps_everything_and_the_palette_screen_shows_the_panel(
    make_app: MakeApp, home: Path
) -> None:
    from sora_tui.tui.screens.takes import KeepTakeModal, TakesScreen
    from sora_tui.tui.widgets.takes_strip import TakesPanel

    engine, job_id = await rendered_job(home)
    kept = kept_take(engine, job_id, 1)
    segments = [(s.file, s.status) for s in engine.store.segments(job_id)]
    app = make_app("board")
    async with app.run_test(size=SIZE) as pilot:
        app.open_takes(job_id)
        screen = await on_screen(pilot, TakesScreen, what="the takes screen")
        await wait_for(pilot, lambda: bool(screen.query(TakesPanel)), what="the panel")
        panel = screen.query_one(TakesPanel)
        await wait_for(pilot, lambda: len(panel.strips) == 1 and app.focused is panel.strips[0], what="focused")
        strip = panel.strips[0]
        await pilot.press("enter")  # on the kept take: nothing to ask
        await wait_for(pilot, lambda: f"keeps take {kept} already" in "\n".join(notes(app)), what="the answer")
        assert isinstance(app.screen, TakesScreen)
        await pilot.press("right" if kept < 3 else "left", "enter")
        modal = await on_screen(pilot, KeepTakeModal, what="the question")
        assert not isinstance(app.screen_stack[-2], TakesScreen)  # the palette screen stepped aside
        await wait_for(pilot, lambda: modal.quote is not None, what="the quote")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, KeepTakeModal), what="cancelled")
        assert strip.highlighted != kept - 1
    assert kept_take(engine, job_id, 1) == kept
    assert [(s.file, s.status) for s in engine.store.segments(job_id)] == segments
    assert job_status(engine, job_id) is JobStatus.COMPLETED


async def test_a_job_without_takes_has_no_strip(make_app: MakeApp, home: Path) -> None:
    from sora_tui.tui.screens.board import BoardScreen
    from sora_tui.tui.widgets.takes_strip import TakesPanel

    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    job = engine.create_job(small_plan(2))
    app = make_app("board")
    loaded: list[str] = []  # the jobs whose takes the panel has read and drawn (TakesPanel.Loaded)

    def hook(message: Message) -> None:
        if isinstance(message, TakesPanel.Loaded):
            loaded.append(message.job_id)

    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        app.show_on_board(job.id)
        board = await on_screen(pilot, BoardScreen, lambda s: s.shown == job.id)
        panel = board.query_one(TakesPanel)
        await wait_for(pilot, lambda: job.id in loaded, what="the panel's reading of the job's takes")
        assert panel.strips == [] and not panel.display
        assert board.check_action("takes", ()) is False


# --- snapshot ----------------------------------------------------------------------------------


@pytest.fixture
def _fixed_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")


TAKES_JOB = "20260921-120000-7a8b9c"


def takes_demo_app(home: Path) -> SoraApp:
    """A fixed finished job whose shot 1 has three takes (take 2 kept), its own folder, frozen clock."""
    import shutil

    from sora_tui.core.models import Plan, SegmentStatus
    from sora_tui.core.takes import Take, TakeBook, take_file
    from sora_tui.tui.app import create_app

    from .demo import DEMO_TZ, FROZEN_TIME, _demo_seams, _picture, demo_env, encode_frames

    if home.exists():
        shutil.rmtree(home)
    engine = Engine(env=demo_env(home))
    plan = Plan.from_dict(
        {"version": 2, "prompt": "A paper boat leaves the harbour at dawn", "model": "veo3.1-fast",
         "resolution": "720p", "aspect": "16:9", "audio": False,
         "segments": [{"seconds": 4, "prompt": "the boat leaves the quay", "title": "Harbour", "takes": 3},
                      {"seconds": 4, "prompt": "the boat passes the lighthouse", "title": "Lighthouse"}]}
    )  # fmt: skip
    job = engine.create_job(plan, job_id=TAKES_JOB)
    folder = job.job_dir
    created = FROZEN_TIME - 3600
    book = TakeBook(folder)
    every: list[np.ndarray] = []
    scores = {1: [0.0, 2.0, 3.1], 2: [0.0, 0.0, 0.8], 3: [0.0, 0.0, 1.9]}
    for t, seed in ((1, 21), (2, 22), (3, 23)):
        frames = [_picture(seed, 128, 72, light=0.1 + 0.8 * k / 15 * (1 + t) / 4) for k in range(16)]
        dest = take_file(folder, 1, t)
        encode_frames(frames, dest)
        book.put(1, Take(t, 1000 + 7919 * (t - 1), "done", str(dest), cost_usd=0.4, score=scores[t]))
        if t == 2:
            every += frames
    book.kept[1] = 2
    book.save()
    frames = [_picture(31, 128, 72, light=0.2 + 0.6 * k / 15) for k in range(16)]
    encode_frames(frames, folder / "seg_02.mp4")
    every += frames
    encode_frames(every, folder / "final.mp4")
    for i, (file, seed) in enumerate(((take_file(folder, 1, 2), 22), (folder / "seg_02.mp4", 31)), 1):
        last = folder / f"seg_{i:02d}_last.png"
        media.write_png(_picture(seed, 64, 36, light=0.9), last)
        engine.store.update_segment(
            job.id, i, status=SegmentStatus.DONE, file=str(file), first_frame=str(last), last_frame=str(last),
            cost_usd=1.2 if i == 1 else 0.4, submits=3 if i == 1 else 1,
            started_at=created + 20 * i, finished_at=created + 20 * i + 17,
        )  # fmt: skip
    seams = _demo_seams([4, 4])
    engine.store.update_job(
        job.id, status=JobStatus.COMPLETED, created_at=created, cost_usd=1.6, output=str(folder / "final.mp4"),
        seams=seams, duration_s=seams["duration_s"],
    )  # fmt: skip
    with engine.store._lock:  # fixed log times, for a stable picture
        engine.store._db.execute("UPDATE logs SET ts=? WHERE job_id=?", (created, job.id))
    engine.store.log(job.id, "segment 1: kept take 2 of 3 (seam figures: the least colour drift)", index=1)
    return create_app(engine=engine, clock=lambda: FROZEN_TIME, tz=DEMO_TZ, initial_mode="board", cursor_blink=False)


@pytest.mark.usefixtures("demo_home_lock", "_fixed_keyring")
def test_takes_strip_snapshot(snap_compare: Callable[..., bool]) -> None:
    from sora_tui.tui.widgets.takes_strip import TakesPanel

    from .demo import SIZE as DEMO_SIZE
    from .demo import demo_home, settle, until

    app = takes_demo_app(demo_home("takes-strip"))

    async def run_before(pilot: Pilot[int]) -> None:
        app.show_on_board(TAKES_JOB)
        await until(pilot, lambda: getattr(app.screen, "shown", None) == TAKES_JOB, "the board showing the job")

        def drawn() -> bool:
            panel = app.screen.query_one(TakesPanel)
            return bool(panel.strips) and all(c.view.pixels is not None for c in panel.strips[0].cards)

        await until(pilot, drawn, "the takes strip with its pictures")
        await pilot.press("k", "right")  # the strip focused on the kept take 2, then take 3 highlighted
        await settle(pilot)
        assert app.screen.query_one(TakesPanel).strips[0].highlighted == 2

    assert snap_compare(app, terminal_size=DEMO_SIZE, run_before=run_before)
