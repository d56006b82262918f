"""One ffmpeg runner and one parser of its errors (issue 18, item 3).

Every ffmpeg the project runs starts in ``media.spawn_ffmpeg`` / ``media.run_ffmpeg``, and every
failure is worded by ``media.error_line`` / ``media.ffmpeg_failure``: the parser is tested on stderr
that the bundled ffmpeg really wrote, and each caller (join, extend, finish, export) on a corrupt
input, down to what the user reads (one line naming the file, no traceback).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from finishkit import make_engine, make_job
from sora_tui.core import join, media
from sora_tui.core.errors import DiskFull, FileProblem
from sora_tui.core.extend import _grey_frames, split_extension
from sora_tui.core.finish import ffmpeg as fin_ffmpeg
from sora_tui.core.finish.export import poster
from sora_tui.core.finish.stage import Finisher, FinishError, FinishOptions
from sora_tui.core.media import MediaError, error_line, failed_file, ffmpeg_failure

ROOT = Path(__file__).resolve().parents[1]

# stderr of the bundled ffmpeg (imageio-ffmpeg's ffmpeg-linux-x86_64-v9.0.2), copied from real runs
CORRUPT_INPUT = """\
[in#0 @ 0x556884b5d040] Format mov,mp4,m4a,3gp,3g2,mj2 detected only with low score of 1, misdetection possible!
[in#0 @ 0x556884b5d040] moov atom not found
[in#0 @ 0x556884b5ccc0] Error opening input: Invalid data found when processing input
Error opening input file corrupt.mp4.
Error opening input files: Invalid data found when processing input
"""
MISSING_INPUT = """\
[in#0 @ 0x561d57115cc0] Error opening input: No such file or directory
Error opening input file missing.mp4.
Error opening input files: No such file or directory
"""
NO_OUTPUT_FOLDER = """\
Input #0, lavfi, from 'testsrc=d=1':
  Duration: N/A, start: 0.000000, bitrate: N/A
  Stream #0:0: Video: wrapped_avframe, rgb24, 320x240 [SAR 1:1 DAR 4:3], 25 fps, 25 tbr, 25 tbn
[out#0/mp4 @ 0x56150d73a440] Error opening output /gone/x.mp4: No such file or directory
Error opening output file /gone/x.mp4.
Error opening output files: No such file or directory
"""
# the same shapes with the OS's other answers (this box runs as root, where EACCES cannot be made)
PERMISSION = NO_OUTPUT_FOLDER.replace("/gone/x.mp4", "/srv/out/x.mp4").replace(
    "No such file or directory", "Permission denied"
)
DISK_FULL = """\
frame=   48 fps=0.0 q=28.0 size=     256KiB time=00:00:01.92 bitrate=1092.3kbits/s speed=3.8x
[out#0/mp4 @ 0x5581c8e2a440] Error submitting a packet to the muxer: No space left on device
[out#0/mp4 @ 0x5581c8e2a440] Error muxing a packet
[out#0/mp4 @ 0x5581c8e2a440] Task finished with error code: -28 (No space left on device)
"""


def test_parser_gives_the_telling_line_naming_the_file() -> None:
    assert error_line(CORRUPT_INPUT) == "corrupt.mp4: moov atom not found"
    assert error_line(CORRUPT_INPUT, Path("x/corrupt.mp4")) == "moov atom not found"  # the caller names it
    assert error_line(MISSING_INPUT) == "missing.mp4: No such file or directory"
    assert error_line(NO_OUTPUT_FOLDER) == "Error opening output /gone/x.mp4: No such file or directory"
    assert error_line(MISSING_INPUT.splitlines()) == error_line(MISSING_INPUT)  # lines or text: one parser
    assert failed_file(CORRUPT_INPUT) == "corrupt.mp4" and failed_file(DISK_FULL) is None
    assert error_line("") == "unknown error"
    assert "\n" not in error_line(CORRUPT_INPUT) and "@ 0x" not in error_line(DISK_FULL)


def test_failure_is_a_disk_full_a_file_problem_or_a_media_error(tmp_path: Path) -> None:
    dest = tmp_path / "final.mp4"
    full = ffmpeg_failure(DISK_FULL, dest, "joining")
    assert isinstance(full, DiskFull) and full.path == dest
    denied = ffmpeg_failure(PERMISSION, dest, "joining")
    assert isinstance(denied, FileProblem) and denied.path == Path("/srv/out/x.mp4")
    assert str(denied) == "permission denied: /srv/out/x.mp4"
    bad = ffmpeg_failure(CORRUPT_INPUT, dest, "joining into final.mp4")
    assert isinstance(bad, MediaError)
    assert str(bad) == "joining into final.mp4 failed (ffmpeg: corrupt.mp4: moov atom not found)"
    same = ffmpeg_failure(CORRUPT_INPUT, dest, "cutting corrupt.mp4")
    assert str(same) == "cutting corrupt.mp4 failed (ffmpeg: moov atom not found)"


def test_parser_on_what_ffmpeg_writes_now(tmp_path: Path) -> None:
    bad = tmp_path / "seg_02.mp4"
    bad.write_bytes(bytes(range(256)) * 40)
    proc = media.run_ffmpeg(["-i", str(bad), "-f", "null", "-"], timeout=60)
    assert proc.returncode != 0
    assert error_line(proc.stderr.decode()) in (
        "seg_02.mp4: moov atom not found",
        "seg_02.mp4: Invalid data found when processing input",
    )
    proc = media.run_ffmpeg(["-i", str(tmp_path / "nope.mp4"), "-f", "null", "-"], timeout=60)
    assert error_line(proc.stderr.decode()) == "nope.mp4: No such file or directory"


def test_no_ffmpeg_is_started_outside_the_runner() -> None:
    """Only media.py starts ffmpeg: no other core module calls subprocess or names the binary."""
    core = ROOT / "src" / "sora_tui" / "core"
    offenders = []
    for path in sorted(core.rglob("*.py")):
        if path.name == "media.py" and path.parent == core:
            continue
        text = path.read_text("utf-8")
        if "ffmpeg_exe()" in text or re.search(r"subprocess\.(run|Popen|call|check_output)\(\s*\[?\s*ffmpeg", text):
            offenders.append(str(path.relative_to(core)))
        for m in re.finditer(r"subprocess\.(run|Popen|call|check_output)\(", text):
            line = text[: m.start()].count("\n") + 1
            # the only other children: the runner's and scheduler's processes (python), espeak-ng
            if str(path.relative_to(core)) not in ("runner/spawn.py", "scheduler.py", "finish/tts.py"):
                offenders.append(f"{path.relative_to(core)}:{line}")
    assert offenders == []


@pytest.fixture
def corrupt(tmp_path: Path) -> Path:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(bytes(range(256)) * 40)
    return bad


def test_join_names_the_corrupt_segment(tmp_path: Path, corrupt: Path) -> None:
    good = tmp_path / "seg_01.mp4"
    subprocess.run(
        [
            media.ffmpeg_exe(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=64x48:d=1",
            "-pix_fmt",
            "yuv420p",
            str(good),
        ],
        check=True,
    )
    with pytest.raises(MediaError) as info:
        join.join_files([good, corrupt], tmp_path / "final.mp4")
    assert str(info.value) == "broken.mp4 is not a playable video (ffmpeg: moov atom not found)"


def test_extend_names_the_file_it_cannot_decode(tmp_path: Path, corrupt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MediaError) as info:
        _grey_frames(corrupt)
    assert str(info.value) == "cannot decode broken.mp4 to compare it with the source (ffmpeg: moov atom not found)"
    # the cut of an echoed source: its ffmpeg fails through the same parser
    good = tmp_path / "src.mp4"
    subprocess.run(
        [
            media.ffmpeg_exe(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=64x48:d=1",
            "-pix_fmt",
            "yuv420p",
            str(good),
        ],
        check=True,
    )
    info_good = media.probe(good)
    monkeypatch.setattr("sora_tui.core.extend.echo_length", lambda *a: (5, 40.0, info_good, info_good))
    with pytest.raises(MediaError) as info:
        split_extension(corrupt, good, tmp_path / "ext.mp4")
    assert str(info.value) == "cutting the echoed source out of broken.mp4 failed (ffmpeg: moov atom not found)"


def test_finish_and_export_runs_name_the_file(tmp_path: Path, corrupt: Path) -> None:
    with pytest.raises(MediaError) as info:
        fin_ffmpeg.run(["-i", str(corrupt), str(tmp_path / "out.mp4")], what="export web")
    assert str(info.value) == "export web failed (ffmpeg: broken.mp4: moov atom not found)"
    with pytest.raises(MediaError, match=r"^broken\.mp4 is not a playable video \(ffmpeg: moov atom not found\)$"):
        poster(corrupt, tmp_path / "poster.jpg")
    with pytest.raises(MediaError) as info:
        fin_ffmpeg.decode_audio(corrupt)
    assert str(info.value) == "decoding the sound of broken.mp4 failed (ffmpeg: moov atom not found)"


@pytest.fixture(scope="module")
def spoiled_job(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A completed preview job whose joined video was overwritten with garbage."""
    home = tmp_path_factory.mktemp("spoiled")
    engine = make_engine(home)
    job_id = make_job(engine, segments=2, seconds=2, narration=False)
    final = engine.find_job(job_id).job_dir / "final.mp4"
    final.write_bytes(bytes(range(256)) * 40)
    return home, job_id


def test_finish_of_a_corrupt_video_is_one_clear_error(spoiled_job: tuple[Path, str]) -> None:
    home, job_id = spoiled_job
    engine = make_engine(home)
    with pytest.raises(FinishError) as info:
        asyncio.run(Finisher(engine).finish(job_id, FinishOptions(narration=False)))
    assert "final.mp4" in str(info.value) and "moov atom not found" in str(info.value)


@pytest.mark.parametrize("command", [["finish", "--no-narration"], ["export", "--preset", "web-720p"]])
def test_cli_finish_and_export_of_a_corrupt_video_say_one_line(
    spoiled_job: tuple[Path, str], command: list[str]
) -> None:
    home, job_id = spoiled_job
    env = {**os.environ, "SORA_TUI_HOME": str(home), "PYTHONPATH": str(ROOT / "src")}
    res = subprocess.run(
        [sys.executable, "-m", "sora_tui.cli", command[0], job_id, *command[1:]],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    # the run's own log line ("[error] …") may come first; the last line is the error, on one line
    assert lines[-1].startswith("sora-tui: ") and len(lines) <= 2, res.stderr
    assert "final.mp4" in lines[-1] and "moov atom not found" in lines[-1]
