"""The finishing stage end to end, offline: narration → subtitles → music bed → exports, judged by decoding.

Plan with narration on the offline planner → preview render → narration on the offline voice
(espeak-ng; the placeholder voice where it is not installed, never under CI) → subtitles →
a tone file as the music bed → every export preset.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from finishkit import (
    decode_frames,
    ffmpeg_err,
    frame_rgb,
    make_engine,
    make_job,
    parse_times,
    speech_onset,
    streams,
    tone_file,
    tone_level_db,
    video_md5,
)
from sora_tui.core.engine import Engine
from sora_tui.core.finish import narration as rules
from sora_tui.core.finish.export import ExportResult
from sora_tui.core.finish.ffmpeg import decode_audio, measure_loudness, missing_features
from sora_tui.core.finish.stage import Finisher, FinishOptions, FinishResult
from sora_tui.core.finish.tts import espeak_binary
from sora_tui.core.media import probe, psnr
from sora_tui.core.models import InputError

FRAME = 1 / 24  # the preview renders 24 fps

SilentJob = tuple[Engine, str, FinishResult]  # the engine, the job's id, its finished version
SoundJob = tuple[Engine, str, FinishResult]  # a job with the model's own sound, finished
ExportJob = tuple[Engine, str, FinishResult, dict[str, ExportResult]]  # ... and every export by preset


def test_bundled_ffmpeg_has_every_feature_the_finishing_stage_uses() -> None:
    assert missing_features() == []


def test_offline_voice_is_a_real_engine_in_ci() -> None:
    binary = espeak_binary()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("espeak-ng is not installed; .ci/run installs it (apt install espeak-ng)")
        pytest.skip("espeak-ng is not installed here (the placeholder voice stands in)")
    assert Path(binary).name.startswith("espeak")


@pytest.fixture(scope="module")
def silent_job(tmp_path_factory: pytest.TempPathFactory) -> SilentJob:
    """A 4 × 3 s preview job without model sound, with narration, finished with a tone as music."""
    home = tmp_path_factory.mktemp("finish-silent")
    engine = make_engine(home)
    job_id = make_job(engine, audio=False)
    music = tone_file(home / "tone.wav")
    result = asyncio.run(Finisher(engine).finish(job_id, FinishOptions(music=music)))
    return engine, job_id, result


@pytest.fixture(scope="module")
def sound_job(tmp_path_factory: pytest.TempPathFactory) -> SoundJob:
    """A 4 × 3 s preview job with the model's own sound, narration and music."""
    home = tmp_path_factory.mktemp("finish-sound")
    engine = make_engine(home)
    job_id = make_job(engine, audio=True)
    music = tone_file(home / "tone.wav")
    return engine, job_id, asyncio.run(Finisher(engine).finish(job_id, FinishOptions(music=music)))


@pytest.fixture(scope="module")
def export_job(tmp_path_factory: pytest.TempPathFactory) -> ExportJob:
    """A 2 × 2 s preview job with sound, narration and music, finished; then every export (1080p and VP9
    encodes: a short job keeps them quick)."""
    home = tmp_path_factory.mktemp("finish-export")
    engine = make_engine(home)
    job_id = make_job(engine, segments=2, seconds=2, audio=True)
    music = tone_file(home / "tone.wav")
    finisher = Finisher(engine)
    result = asyncio.run(finisher.finish(job_id, FinishOptions(music=music)))
    exports: dict[str, ExportResult] = {}
    for preset in ("web-720p", "web-1080p", "webm", "hls", "gif-preview", "source"):
        exports[preset] = asyncio.run(finisher.export(job_id, preset))
    return engine, job_id, result, exports


def test_cues_follow_the_spoken_narration_within_a_frame(silent_job: SilentJob) -> None:
    engine, job_id, result = silent_job
    job = engine.find_job(job_id)
    assert result.path.name == "finished_v1.mp4" and (job.job_dir / "final.mp4").is_file()
    assert job.plan is not None and result.srt is not None and result.vtt is not None
    assert [p.text for p in result.placements] == [s.narration for s in job.plan.segments if s.narration]
    srt_times = parse_times(result.srt.read_text())
    vtt_text = result.vtt.read_text()
    assert vtt_text.startswith("WEBVTT") and parse_times(vtt_text) == srt_times
    assert len(srt_times) == len(result.placements) == 4
    audio = decode_audio(result.path)
    spans = Finisher(engine).spans(job, probe(result.path).duration)
    for (start, end), (span_start, span_end) in zip(srt_times, spans, strict=True):
        assert span_start <= start < end <= span_end + 1e-6  # each line within its segment
        onset = speech_onset(audio, start - 0.3, end)
        assert abs(onset - start) <= FRAME, (onset, start)


def test_soft_subtitle_track_matches_the_srt(silent_job: SilentJob) -> None:
    _, _, result = silent_job
    assert "Subtitle: mov_text" in streams(result.path) and result.srt is not None
    import subprocess

    from sora_tui.core.media import ffmpeg_exe

    track = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(result.path), "-map", "0:s:0", "-f", "srt", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for (a0, a1), (b0, b1) in zip(parse_times(track), parse_times(result.srt.read_text()), strict=True):
        assert abs(a0 - b0) <= FRAME and abs(a1 - b1) <= FRAME


def test_music_is_ducked_under_speech_by_at_least_6_db(silent_job: SilentJob) -> None:
    _, _, result = silent_job
    assert result.srt is not None
    audio = decode_audio(result.path)
    cues = parse_times(result.srt.read_text())
    under = [tone_level_db(audio, s + 0.25, e - 0.05) for s, e in cues[1:3]]
    gaps = [tone_level_db(audio, cues[i][1] + 0.6, cues[i + 1][0] - 0.1) for i in range(3)]
    ducking = min(gaps) - max(under)
    assert ducking >= 6.0, (gaps, under)


def test_picture_is_stream_copied_and_loudness_meets_the_target(silent_job: SilentJob, sound_job: SoundJob) -> None:
    for engine, job_id, result in (silent_job, sound_job):
        job = engine.find_job(job_id)
        assert video_md5(result.path) == video_md5(job.job_dir / "final.mp4")
        loud = measure_loudness(result.path)
        assert abs(loud.integrated - (-16.0)) <= 1.0, loud
        assert loud.true_peak <= -1.0, loud
        assert abs(probe(result.path).duration - probe(job.job_dir / "final.mp4").duration) < 0.05


def test_models_sound_stays_in_the_mix(sound_job: SoundJob) -> None:
    """The preview's chord (its model sound) is still there under the narration and the music."""
    engine, job_id, result = sound_job
    job = engine.find_job(job_id)
    original = decode_audio(job.job_dir / "final.mp4")
    finished = decode_audio(result.path)
    # the loudest partial of the model's sound in segment 1, outside the narration
    import numpy as np

    seg = original[int(1.8 * 48000) : int(2.8 * 48000)]
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    freqs = np.fft.rfftfreq(len(seg), 1 / 48000)
    band = (freqs > 100) & (freqs < 1500)
    hz = float(freqs[band][np.argmax(spec[band])])
    assert tone_level_db(finished, 1.8, 2.8, hz) > tone_level_db(finished, 1.8, 2.8, hz * 1.37) + 20


def test_every_export_decodes_with_the_expected_size_codec_and_duration(export_job: ExportJob) -> None:
    engine, job_id, result, exports = export_job
    duration = probe(result.path).duration
    expected = {"web-720p": ((1280, 720), "h264"), "web-1080p": ((1920, 1080), "h264"), "webm": ((320, 180), "vp9")}
    for preset, (size, codec) in expected.items():
        path = exports[preset].path
        info = probe(path)
        assert (info.width, info.height) == size and info.vcodec == codec, (preset, info)
        assert abs(info.duration - duration) <= 0.1, (preset, info.duration)
        assert decode_frames(path) == info.frames == probe(result.path).frames
        assert info.acodec == ("opus" if preset == "webm" else "aac")
        assert exports[preset].size_bytes >= path.stat().st_size > 10_000
    for preset in ("web-720p", "web-1080p"):
        data = exports[preset].path.read_bytes()
        assert data.find(b"moov") < data.find(b"mdat"), "faststart: the index comes first"
        assert "mov_text" in streams(exports[preset].path)
    assert "Subtitle: webvtt" in streams(exports["webm"].path)
    # the source preset is the finished file, remuxed
    assert video_md5(exports["source"].path) == video_md5(result.path)
    # the GIF: 320 px wide, the whole story in at most 8 s
    gif = probe(exports["gif-preview"].path)
    assert gif.width == 320 and gif.vcodec == "gif" and gif.duration <= 8.05
    assert decode_frames(exports["gif-preview"].path) >= 10
    # subtitles travel with the video exports
    assert result.srt is not None
    assert exports["web-720p"].path.with_suffix(".srt").read_text() == result.srt.read_text()


def test_hls_lists_every_rendition_and_segment_and_each_variant_decodes(export_job: ExportJob) -> None:
    engine, job_id, result, exports = export_job
    master = exports["hls"].path
    text = master.read_text()
    variants = re.findall(r"#EXT-X-STREAM-INF:.*RESOLUTION=(\d+)x(\d+).*\n(\S+)", text)
    assert [(int(w), int(h)) for w, h, _ in variants] == [(1280, 720), (640, 360)]
    duration = probe(result.path).duration
    for _, _, uri in variants:
        playlist = master.parent / uri
        body = playlist.read_text()
        assert "#EXT-X-ENDLIST" in body and "#EXT-X-PLAYLIST-TYPE:VOD" in body
        segments = re.findall(r"#EXTINF:([\d.]+),\n(\S+)", body)
        assert segments and all((playlist.parent / name).is_file() for _, name in segments)
        assert abs(sum(float(d) for d, _ in segments) - duration) < 0.15
        assert decode_frames(playlist) == probe(result.path).frames  # every frame once


def test_poster_is_a_well_exposed_frame(export_job: ExportJob) -> None:
    import cv2

    engine, job_id, *_ = export_job
    job = engine.find_job(job_id)
    img = cv2.imread(str(job.job_dir / "exports" / "poster.jpg"))
    assert img is not None and img.shape[:2] == (180, 320)
    assert 40 < img.mean() < 215


def test_history_lists_versions_and_exports_with_sizes(export_job: ExportJob) -> None:
    engine, job_id, _, exports = export_job
    from sora_tui.core.finish.stage import describe_outputs
    from sora_tui.core.reach import human_size

    records = [r for r in engine.store.outputs(job_id) if r.kind in ("finish", "export")]
    lines = describe_outputs(engine.store.outputs(job_id))
    assert lines[0].startswith("finished v1 · ")
    assert {ln.split(" · ")[0] for ln in lines} >= {f"export {p}" for p in ("web-720p", "webm", "hls")}
    for rec, line in zip(records, lines, strict=True):
        # each line shows the size on disk of what was made, in human units: a finished version's
        # file; an export's files (every HLS rendition, the subtitles that travel with it)
        made = [Path(rec.path)] if rec.kind == "finish" else exports[rec.name].files
        size = sum(f.stat().st_size for f in made if f.is_file())
        assert rec.size_bytes == size > 0
        assert line.endswith(f" · {human_size(size)}"), line
    job = engine.find_job(job_id)
    assert job.plan is not None
    assert job.plan.metadata.title and job.plan.metadata.hashtags[-1] == "#aivideo"
    # the finished file carries the title in its container tags (ffmpeg -i lists them as "title : …")
    tags = ffmpeg_err("-i", str(job.job_dir / "finished_v1.mp4"))
    assert re.search(rf"^\s+title\s*: {re.escape(job.plan.metadata.title)}$", tags, re.M), tags


def test_finishing_again_reuses_the_speech_and_burns_subtitles_in(silent_job: SilentJob) -> None:
    engine, job_id, first = silent_job
    job = engine.find_job(job_id)
    spoken = [r.message for r in engine.store.logs(job_id) if r.message.startswith("narration ")]
    second = asyncio.run(Finisher(engine).finish(job_id, FinishOptions(burn_subtitles=True)))
    assert second.path.name == "finished_v2.mp4" and first.path.is_file() and second.srt is not None
    again = [r.message for r in engine.store.logs(job_id) if r.message.startswith("narration ")]
    assert again == spoken  # nothing spoken (or paid for) twice
    start, end = parse_times(second.srt.read_text())[1]
    t = (start + end) / 2
    burned, clean = frame_rgb(second.path, t), frame_rgb(job.job_dir / "final.mp4", t)
    h = burned.shape[0]
    assert psnr(burned[: h // 2], clean[: h // 2]) > 30  # the picture is the same above the text
    changed = np.abs(burned.astype(int) - clean.astype(int)).max(axis=2) > 80
    assert changed[: h // 2].mean() < 0.001 and changed[h * 2 // 3 :].mean() > 0.004  # the white text
    assert measure_loudness(second.path).true_peak <= -1.0


def test_overlong_narration_is_reported_before_anything_is_spoken(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    job_id = make_job(engine, segments=2, seconds=2)
    job = engine.find_job(job_id)
    assert job.plan is not None
    job.plan.segments[1].narration = " ".join(["word"] * 12)  # the user edits the job's plan.json
    (job.job_dir / "plan.json").write_text(json.dumps(job.plan.to_dict()))
    assert rules.check_plan(job.plan)[0].index == 2
    with pytest.raises(InputError, match=r"segment 2: narration has 12 words, 2 s fit about 5"):
        asyncio.run(Finisher(engine).finish(job_id, FinishOptions()))
    assert engine.store.narration(job_id) == [] and engine.store.outputs(job_id) == []
    edited = engine.find_job(job_id).plan
    assert edited is not None
    assert edited.segments[1].narration.count("word") == 12  # taken from plan.json


def test_captions_without_narration_and_a_missing_music_file(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    job_id = make_job(engine, segments=2, seconds=2, narration=False, audio=True)
    with pytest.raises(InputError, match="music"):
        asyncio.run(Finisher(engine).finish(job_id, FinishOptions(music=tmp_path / "nope.mp3")))
    result = asyncio.run(Finisher(engine).finish(job_id, FinishOptions()))
    job = engine.find_job(job_id)
    assert job.plan is not None
    assert [c.text for c in result.cues] == [s.title for s in job.plan.segments]
    assert result.placements == [] and "Subtitle: mov_text" in streams(result.path)
    assert abs(measure_loudness(result.path).integrated + 16) <= 1.0


def test_narration_rules_never_cut_a_word() -> None:
    assert rules.word_budget(4) == 10 and rules.word_budget(3) == 7
    text = "The fox runs. It jumps over the fence, then rests beneath the old oak tree at dusk."
    fitted = rules.fit_words(text, 5)
    assert fitted == "The fox runs." and rules.word_count(fitted) <= 5
    long_sentence = "Slowly the extraordinarily luminous lanterns drift across the harbour tonight"
    cut = rules.fit_words(long_sentence, 4)
    assert cut == "Slowly the extraordinarily luminous." and all(w in long_sentence for w in cut[:-1].split())


def test_spans_come_from_seams_json_else_from_the_segment_files(tmp_path: Path) -> None:
    from sora_tui.core.finish.subtitles import segment_spans

    engine = make_engine(tmp_path)
    job_id = make_job(engine, segments=3, seconds=2, narration=False)
    job = engine.find_job(job_id)
    files: list[Path] = []
    for seg in engine.store.segments(job_id):
        assert seg.file is not None
        files.append(Path(seg.file))
    assert job.seams is not None
    # the join's own report: the repeated first frames of segments 2 and 3 were cut
    assert segment_spans(job.job_dir, files) == [tuple(s) for s in job.seams["spans"]]
    assert job.seams["spans"][-1][1] == pytest.approx(6 - 2 / 24, abs=1e-6)
    (job.job_dir / "seams.json").unlink()
    spans = segment_spans(job.job_dir, files)  # without it: the segment files' decoded lengths
    assert spans == pytest.approx([(0, 2), (2, 4), (4, 6)], abs=1e-6)
    (job.job_dir / "seams.json").write_text(json.dumps({"spans": [[0, 1.958], [1.958, 3.917], [3.917, 5.875]]}))
    assert segment_spans(job.job_dir, files) == [(0, 1.958), (1.958, 3.917), (3.917, 5.875)]
    result = asyncio.run(Finisher(engine).finish(job_id, FinishOptions()))
    assert result.srt is not None
    assert parse_times(result.srt.read_text())[2][0] == pytest.approx(3.917 + 0.1, abs=0.002)
