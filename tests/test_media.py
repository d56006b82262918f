"""media.py against the real bundled ffmpeg: probe, exact frames, thumbnails, atomic writes, join."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from sora_tui.core import join, media
from sora_tui.core.errors import DiskFull
from sora_tui.core.media import MediaError

FPS = 24


def _ff(*args: str) -> None:
    subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def _make(path: Path, size: str, seconds: float, audio: bool, gop: int | None = None) -> Path:
    args = ["-f", "lavfi", "-i", f"testsrc2=s={size}:r={FPS}:d={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=f=440:r=48000:d={seconds}", "-c:a", "aac"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if gop:
        args += ["-g", str(gop)]
    _ff(*args, "-movflags", "+faststart", str(path))
    return path


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    a = _make(d / "a.mp4", "320x180", 2, audio=True)
    b = _make(d / "b.mp4", "320x180", 1, audio=False)
    c = _make(d / "c.mp4", "480x270", 1, audio=False)
    mkv = d / "a.mkv"
    _ff("-i", str(a), "-c", "copy", str(mkv))
    return {"a": a, "b": b, "c": c, "mkv": mkv, "dir": d}


def _all_frames_cv2(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- probe ----------------------------------------------------------------------------


def test_probe_fields(clips: dict[str, Path]) -> None:
    info = media.probe(clips["a"])
    assert (info.width, info.height) == (320, 180)
    assert info.fps == pytest.approx(24.0)
    assert info.frames == 48
    assert info.duration == pytest.approx(2.0)
    assert info.vcodec == "h264" and info.pix_fmt == "yuv420p"
    assert info.acodec == "aac" and info.audio_rate == 48000 and info.audio_channels == 1
    assert info.has_audio
    assert info.copy_key() == media.probe(clips["a"]).copy_key()


def test_probe_without_audio_and_mkv(clips: dict[str, Path]) -> None:
    info = media.probe(clips["b"])
    assert not info.has_audio and info.acodec is None and info.audio_rate is None
    assert info.frames == 24 and info.duration == pytest.approx(1.0)
    mkv = media.probe(clips["mkv"])
    assert mkv.frames == 48 and mkv.duration == pytest.approx(2.0)


def test_probe_errors_name_the_file(tmp_path: Path, clips: dict[str, Path]) -> None:
    with pytest.raises(MediaError, match="does not exist"):
        media.probe(tmp_path / "nope.mp4")
    empty = tmp_path / "seg_01.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="seg_01.mp4 is empty"):
        media.probe(empty)
    bad = tmp_path / "seg_02.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    with pytest.raises(MediaError, match=r"seg_02\.mp4 is not a playable video \(ffmpeg: .+\)"):
        media.probe(bad)
    truncated = tmp_path / "seg_03.mp4"
    truncated.write_bytes(clips["a"].read_bytes()[:3000])
    with pytest.raises(MediaError, match="seg_03.mp4"):
        media.probe(truncated)
    audio_only = tmp_path / "voice.m4a"
    _ff("-f", "lavfi", "-i", "sine=d=0.5", "-c:a", "aac", str(audio_only))
    with pytest.raises(MediaError, match="voice.m4a has no video stream"):
        media.probe(audio_only)


# --- frames ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "mkv"])
def test_last_frame_is_the_true_last_frame(clips: dict[str, Path], tmp_path: Path, name: str) -> None:
    path = clips[name]
    frames = _all_frames_cv2(path)
    assert len(frames) == 48
    dest = tmp_path / "seg_01_last.png"
    assert media.last_frame(path, dest) == dest
    ours = media.read_image(dest)
    # bit-exact against decoding every frame with the same colour conversion
    info = media.probe(path)
    everything = media._decode_rgb(["-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough"], 320, 180, path)
    assert len(everything) == 48
    assert np.array_equal(ours, everything[-1])
    assert info.frames == 48
    # and, independently of our decoder, OpenCV agrees it is the last frame and clearly no other
    # (cv2 converts YUV to RGB a little differently, hence no exact comparison)
    scores = [media.psnr(ours, f) for f in frames]
    assert int(np.argmax(scores)) == len(frames) - 1
    assert max(scores[:-1]) < scores[-1] - 3
    assert not list(tmp_path.glob(".*tmp*"))


def test_last_frame_when_container_frame_count_is_wrong(clips: dict[str, Path]) -> None:
    cap = cv2.VideoCapture(str(clips["mkv"]))
    reported = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    decoded = len(_all_frames_cv2(clips["mkv"]))
    # the MKV header misleads (e.g. 49 for 48 frames): we must not trust it
    ours = media.read_last_frame(clips["mkv"])
    scores = [media.psnr(ours, f) for f in _all_frames_cv2(clips["mkv"])]
    assert int(np.argmax(scores)) == len(scores) - 1
    assert decoded == 48 and reported in (47, 48, 49)


def test_first_frame_and_thumbnail(clips: dict[str, Path], tmp_path: Path) -> None:
    png = media.first_frame(clips["a"], tmp_path / "first.png")
    frames = _all_frames_cv2(clips["a"])
    scores = [media.psnr(png, f) for f in frames[:5]]
    assert int(np.argmax(scores)) == 0
    thumb = media.thumbnail(clips["a"], 64, 64)
    assert thumb.dtype == np.uint8 and thumb.shape == (36, 64, 3)  # aspect kept, fits the box
    thumb = media.thumbnail(png, 100, 20)
    assert thumb.shape == (20, 36, 3)
    assert media.thumbnail(png, 320, 180).shape == (180, 320, 3)


def _boundary_matches_separate_calls(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fallback: bool
) -> media.VideoInfo:
    first, last = tmp_path / "f.png", tmp_path / "l.png"
    probes: list[Path] = []
    real_probe = media.probe

    def spy(p: str | os.PathLike[str], count_frames: bool = True) -> media.VideoInfo:
        probes.append(Path(p))
        return real_probe(p, count_frames)

    with monkeypatch.context() as m:
        m.setattr(media, "probe", spy)
        info = media.boundary_frames(path, first, last)
    assert bool(probes) == fallback  # the one-process run answered, or the separate calls did
    ref = media.probe(path)
    assert (info.frames, info.duration, info.copy_key()) == (ref.frames, ref.duration, ref.copy_key())
    assert np.array_equal(media.read_image(first), media.read_first_frame(path))
    assert np.array_equal(media.read_image(last), media.read_last_frame(path))
    assert not list(tmp_path.glob(".*tmp*"))
    return info


@pytest.mark.parametrize("name", ["a", "b", "mkv"])
def test_boundary_frames_is_probe_plus_first_and_last_frame(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    _boundary_matches_separate_calls(clips[name], tmp_path, monkeypatch, fallback=False)


def test_boundary_frames_falls_back_where_the_fast_run_cannot_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # sound runs 2 s past the picture: the -sseof window of the fast run holds no video frame
    long_audio = tmp_path / "long_audio.mp4"
    _ff(
        "-f", "lavfi", "-i", f"testsrc2=s=160x90:r={FPS}:d=1",
        "-f", "lavfi", "-i", "sine=r=48000:d=3",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(long_audio),
    )  # fmt: skip
    info = _boundary_matches_separate_calls(long_audio, tmp_path, monkeypatch, fallback=True)
    assert info.frames == 24
    bad = tmp_path / "seg_04.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    with pytest.raises(MediaError, match=r"seg_04\.mp4 is not a playable video"):
        media.boundary_frames(bad, tmp_path / "f.png", tmp_path / "l.png")
    assert not (tmp_path / "f.png").exists() or (tmp_path / "f.png").stat().st_size > 0


def test_psnr() -> None:
    a = np.zeros((8, 8, 3), np.uint8)
    assert media.psnr(a, a) == float("inf")
    b = a.copy()
    b[0, 0, 0] = 255
    assert 20 < media.psnr(a, b) < 40
    with pytest.raises(ValueError):
        media.psnr(a, np.zeros((4, 4, 3), np.uint8))


def test_atomic_helpers(tmp_path: Path) -> None:
    dest = tmp_path / "sub" / "x.bin"
    media.write_atomic(dest, b"hello")
    assert dest.read_bytes() == b"hello"
    with pytest.raises(RuntimeError), media.atomic_path(dest) as tmp:
        assert tmp.parent == dest.parent and tmp.suffix == ".bin"
        tmp.write_bytes(b"partial")
        raise RuntimeError("boom")
    assert dest.read_bytes() == b"hello"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["x.bin"]


# --- join -----------------------------------------------------------------------------


def test_join_stream_copy(clips: dict[str, Path], tmp_path: Path) -> None:
    odd = tmp_path / 'it\'s a "seg" 02.mp4'  # quotes must survive the concat list
    odd.write_bytes(clips["a"].read_bytes())
    seen: list[float] = []
    before = {p: _digest(p) for p in (clips["a"], odd)}
    res = join.join_files([clips["a"], odd], tmp_path / "final.mp4", progress=seen.append)
    assert res.method == "copy"
    info = media.probe(res.path)
    assert info.duration == pytest.approx(4.0, abs=1 / FPS)
    assert res.duration == pytest.approx(info.duration)
    assert info.has_audio and info.frames == 96
    assert seen and seen[-1] == 1.0
    assert {p: _digest(p) for p in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["final.mp4", odd.name])
    with open(res.path, "rb") as fh:  # +faststart: moov before mdat
        head = fh.read(4096)
    assert head.find(b"moov") != -1 and (head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat"))


def test_join_reencode_mixed_sizes_and_audio(clips: dict[str, Path], tmp_path: Path) -> None:
    seen: list[float] = []
    res = join.join_files([clips["a"], clips["c"], clips["b"]], tmp_path / "final.mp4", progress=seen.append)
    assert res.method == "reencode" and "differs" in res.reason
    info = media.probe(res.path)
    assert (info.width, info.height) == (480, 270)
    assert info.duration == pytest.approx(4.0, abs=1 / FPS)
    assert info.has_audio and info.audio_rate == 48000
    assert seen[-1] == 1.0 and seen == sorted(seen)
    # sound stays in sync: the container (longest stream) is not longer than the video
    assert info.container_duration == pytest.approx(4.0, abs=0.06)


def test_join_rejects_bad_inputs(clips: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "seg_02.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(MediaError, match="seg_02.mp4"):
        join.join_files([clips["a"], bad], tmp_path / "final.mp4")
    assert not (tmp_path / "final.mp4").exists()
    with pytest.raises(MediaError, match="one of the inputs"):
        join.join_files([clips["a"]], clips["a"])
    with pytest.raises(MediaError, match="nothing to join"):
        join.join_files([], tmp_path / "final.mp4")


@pytest.mark.parametrize("inputs", [["a", "a"], ["a", "c"]])
def test_join_disk_full_is_clear_and_keeps_inputs(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inputs: list[str]
) -> None:
    """A wire-level fake: probing runs the real ffmpeg, the join's ffmpeg writes a bit and dies with ENOSPC."""
    real = media.ffmpeg_exe()
    fake = tmp_path / "ffmpeg"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in *+faststart*) ;; *) exec "' + real + '" "$@";; esac\n'
        'for last; do :; done\nprintf "partial" > "$last"\n'
        'echo "[out#0/mp4 @ 0x1] Error writing trailer: No space left on device" >&2\nexit 1\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(media, "ffmpeg_exe", lambda: str(fake))
    out_dir = tmp_path / "job"
    out_dir.mkdir()
    files = [clips[n] for n in inputs]
    before = {p: _digest(p) for p in files}
    with pytest.raises(DiskFull) as err:  # not a MediaError: the inputs are fine
        join.join_files(files, out_dir / "final.mp4")
    msg = str(err.value)
    assert (
        msg.startswith(f"disk full at {out_dir}")
        and "No space left on device" in msg
        and str(out_dir) in msg
        and "final.mp4" in msg
    )
    assert list(out_dir.iterdir()) == []  # no temp file, no list file, no partial output
    assert {p: _digest(p) for p in files} == before


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="process priorities are a Unix call")
def test_background_work_runs_nicer_by_default_and_as_asked() -> None:
    """Children (ffmpeg, renders, runners) run BACKGROUND_NICE steps nicer than what starts them; a box that
    only renders can ask for 0 (SORA_TUI_BACKGROUND_NICE; the test session itself runs with 0)."""
    assert media.background_nice({}) == media.BACKGROUND_NICE == 10
    assert media.background_nice({"SORA_TUI_BACKGROUND_NICE": "0"}) == 0
    assert media.background_nice({"SORA_TUI_BACKGROUND_NICE": "25"}) == 19
    assert media.background_nice({"SORA_TUI_BACKGROUND_NICE": "fast"}) == 10  # not a number: the default
    assert media.background_nice() == 0  # tests/conftest.py
    own = os.getpriority(os.PRIO_PROCESS, 0)
    for steps, want in ((None, own), (0, own), (3, min(19, own + 3)), (media.background_nice({}), min(19, own + 10))):
        with subprocess.Popen(["sleep", "5"]) as child:
            try:
                media.lower_priority(child.pid, steps)
                assert os.getpriority(os.PRIO_PROCESS, child.pid) == want, steps
            finally:
                child.kill()
