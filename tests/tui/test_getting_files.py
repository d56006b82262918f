"""The video reaches the user: Download (a copy in Downloads, the scp line over SSH), open's honest
answers, and the preview screen stepping through segments and seams (decoded frames compared)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from sora_tui.core import media
from sora_tui.core.models import Job, JobStatus
from sora_tui.tui.app import SoraApp
from sora_tui.tui.screens.files import FilesModal
from sora_tui.tui.screens.history import HistoryScreen
from sora_tui.tui.screens.preview import PreviewScreen
from sora_tui.tui.widgets.halfblock import HalfBlockImage

from .conftest import SIZE, MakeApp, on_board, on_screen, small_plan, wait_for, wait_jobs, workers_done

SSH = {"SSH_CONNECTION": "198.51.100.7 53122 145.40.1.5 22", "USER": "ana", "DISPLAY": ""}


@pytest.fixture
def downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    user_home = tmp_path / "user"
    user_home.mkdir()
    monkeypatch.setenv("HOME", str(user_home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return user_home / "Downloads"


async def _finished_job(app: SoraApp, pilot: Pilot[int], n: int = 2) -> Job:
    created = app.engine.create_job(small_plan(n))
    app.start_job(created.id, show=False)
    await wait_jobs(pilot)
    job = app.engine.store.get_job(created.id)
    assert job is not None and job.status is JobStatus.COMPLETED
    assert job.output is not None  # the joined video
    return job


def _notes(app: SoraApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


async def test_download_in_a_local_terminal_saves_a_copy(make_app: MakeApp, downloads: Path) -> None:
    app = make_app(mode="history", SSH_CONNECTION="", SSH_CLIENT="", SSH_TTY="")
    async with app.run_test(size=SIZE) as pilot:
        job = await _finished_job(app, pilot)
        assert job.output is not None
        history = await on_screen(pilot, HistoryScreen)
        history.reload(select=job.id)
        await wait_for(pilot, lambda: history.selected_id() == job.id, what="the job selected in history")
        await pilot.press("d")
        modal = await on_screen(pilot, FilesModal, what="the files list")
        assert [f.label for f in modal.files] == ["final video", "segment 1", "segment 2", "seam report"]
        how = str(modal.query_one("#files-how", Static).render())
        assert "Downloads folder" in how and f"sora-{job.id}.mp4" in how
        await pilot.press("enter")
        copy = downloads / f"sora-{job.id}.mp4"
        await wait_for(pilot, copy.exists, what="the copy in Downloads")
        await workers_done(app)
        assert copy.read_bytes() == open(job.output, "rb").read()
        # the seam report too; the original files are untouched
        await pilot.press("down", "down", "down", "enter")
        await wait_for(pilot, (downloads / f"sora-{job.id}-seams.json").exists, what="the seam report copy")
        frames = media.probe(job.output).frames
        assert frames is not None and frames > 0
        await wait_for(pilot, lambda: "Saved a copy" in _notes(app), what="the saved-a-copy note")


async def test_over_ssh_download_shows_and_copies_the_scp_line(make_app: MakeApp, downloads: Path) -> None:
    app = make_app(mode="board", **SSH)
    async with app.run_test(size=SIZE) as pilot:
        job = await _finished_job(app, pilot, n=1)
        app.show_on_board(job.id)
        await on_board(pilot, job.id)
        await pilot.press("o")  # no display over SSH: said plainly, nothing started
        await wait_for(pilot, lambda: "SSH session" in _notes(app), what="the SSH note")
        assert "Opening" not in _notes(app)
        await pilot.press("d")
        modal = await on_screen(pilot, FilesModal, what="the files list")
        how = str(modal.query_one("#files-how", Static).render())
        scp = f"scp ana@145.40.1.5:{job.output} ."
        assert scp in how and f"rsync -P ana@145.40.1.5:{job.output} ." in how
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.clipboard == scp, what="the scp line on the clipboard")
        assert not downloads.exists()  # nothing saved on the server's side
        await pilot.press("escape")
        app.copy_to_clipboard("")  # so the next line shows that y copied it
        await pilot.press("y")  # copy path: over SSH, the line that fetches it
        await wait_for(pilot, lambda: app.clipboard == scp, what="the scp line on the clipboard again")


async def test_preview_steps_through_seams(make_app: MakeApp) -> None:
    app = make_app(mode="board")
    async with app.run_test(size=SIZE) as pilot:
        job = await _finished_job(app, pilot, n=2)
        output = job.output
        assert output is not None and job.seams is not None
        app.show_on_board(job.id)
        await on_board(pilot, job.id)
        await pilot.press("p")
        screen = await on_screen(pilot, PreviewScreen, what="the preview")
        await wait_for(pilot, lambda: bool(screen.query("#picture")), what="the picture")
        picture = screen.query_one("#picture", HalfBlockImage)
        await wait_for(pilot, lambda: screen.timeline is not None and picture.has_image, what="the first frame")
        tl = screen.timeline
        assert tl is not None
        spans = job.seams["spans"]
        assert [tuple(s) for s in tl.spans] == [tuple(s) for s in spans]  # from the seam report
        assert screen.frame == 0
        info = media.probe(output)

        async def shown_matches(frame: int) -> None:
            await wait_for(
                pilot, lambda: screen._shown is not None and screen._shown[1] == frame, what=f"frame {frame}"
            )
            width, height = screen.box()
            expected = media.frame_at(output, tl.seek_time(frame), width, height, info=info)
            assert np.array_equal(picture._pixels, expected)

        await shown_matches(0)
        await pilot.press("right")  # the last frame of segment 1: the left side of seam 1|2
        end1 = round(spans[0][1] * tl.fps) - 1
        assert screen.frame == end1 and "seam 1|2, before" in tl.label(screen.frame)
        await shown_matches(end1)
        await pilot.press("right")  # the first frame of segment 2
        assert screen.frame == end1 + 1 and "seam 1|2, after" in tl.label(screen.frame)
        await shown_matches(end1 + 1)
        pos = str(screen.query_one("#preview-pos", Static).render())
        assert "segment 2 start" in pos
        await pilot.press("left", "left")
        assert screen.frame == 0
        # the next file: segment 1 alone
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: screen.timeline is not None, what="segment 1")
        timeline = screen.timeline
        assert timeline is not None
        assert screen.file.label == "segment 1" and len(timeline.spans) == 1
        # play runs on by itself and stops at the end
        await pilot.press("space")
        await wait_for(pilot, lambda: screen._player is None, timeout=20, what="the end of play")
        timeline = screen.timeline
        assert timeline is not None and screen.frame == timeline.frames - 1
        await pilot.press("escape")
        assert not isinstance(app.screen, PreviewScreen)


async def test_preview_and_download_say_when_there_is_nothing(make_app: MakeApp) -> None:
    app = make_app(mode="board")
    async with app.run_test(size=SIZE) as pilot:
        job = app.engine.create_job(small_plan(1))
        app.show_on_board(job.id)
        await on_board(pilot, job.id)
        await pilot.press("p", "d")
        await wait_for(
            pilot,
            lambda: "No video to preview yet" in _notes(app) and "Nothing to get yet" in _notes(app),
            what="both notes",
        )
