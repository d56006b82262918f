"""Narration through OpenAI's speech endpoint (the local fake, the real openai SDK), costs and budget;
the offline voices; clean-up (dry run and real run never remove a final)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fakes.openai_server import OpenAIFake
from finishkit import audio_seconds, decode_frames, make_engine, make_job
from sora_tui.core.costs import job_spent
from sora_tui.core.engine import Engine
from sora_tui.core.finish.clean import apply_clean, parse_age, plan_clean
from sora_tui.core.finish.narration import WORDS_PER_SECOND
from sora_tui.core.finish.stage import Finisher, FinishOptions
from sora_tui.core.finish.tts import PlaceholderTTS, get_tts, tts_price
from sora_tui.core.models import InputError
from sora_tui.core.settings import Settings


def openai_engine(home: Path, fake: OpenAIFake, **extra: Any) -> Engine:
    values: dict[str, Any] = {
        "tts_provider": "openai",
        "tts_model": "tts-1",
        "tts_voice": "nova",
        "openai_base_url": fake.url,
    }
    settings = Settings(openai_max_retries=0, **(values | extra))
    return Engine(env={"SORA_TUI_HOME": str(home), "OPENAI_API_KEY": fake.key}, settings=settings)


def test_openai_speech_is_requested_once_per_line_and_costed(tmp_path: Path, openai_fake: OpenAIFake) -> None:
    engine = openai_engine(tmp_path, openai_fake)
    job_id = make_job(engine, segments=3, seconds=4, audio=True)
    job = engine.find_job(job_id)
    assert job.plan is not None
    lines = [s.narration for s in job.plan.segments]
    expected = round(sum(tts_price("tts-1", t) for t in lines), 6)
    assert engine.estimate(job.plan) == pytest.approx(expected, abs=1e-4)  # speech joins the estimate
    result = asyncio.run(Finisher(engine).finish(job_id, FinishOptions()))
    speeches = openai_fake.speeches
    assert [r.json["input"] for r in speeches] == lines
    for rec in speeches:
        assert rec.json == {"model": "tts-1", "voice": "nova", "input": rec.json["input"], "response_format": "wav"}
        assert rec.headers["authorization"] == f"Bearer {openai_fake.key}" and rec.status == 200
    assert result.voice == "openai/tts-1/nova" and not result.placeholder_voice
    assert result.speech_cost_usd == pytest.approx(expected, abs=1e-6)
    assert engine.find_job(job_id).cost_usd == job_spent(engine.store, job_id) == pytest.approx(expected, abs=1e-4)
    # the fake speaks 2.5 words a second: each clip keeps that length (trimmed silence only)
    for narr in engine.store.narration(job_id):
        words = len(narr.text.split())
        assert narr.seconds is not None
        assert abs(narr.seconds - (words / WORDS_PER_SECOND - 0.1)) < 0.05
    # finishing again pays for nothing, even after a clean-up (paid speech is kept)
    cleaned = apply_clean(engine, plan_clean(engine, 0, "finals"))
    assert cleaned.items and not [i for i in cleaned.items if i.path.parent.name == "narration"]
    asyncio.run(Finisher(engine).finish(job_id, FinishOptions()))
    assert len(openai_fake.speeches) == len(lines)
    assert engine.find_job(job_id).cost_usd == pytest.approx(expected, abs=1e-4)


def test_budget_cap_refuses_speech_before_any_request(tmp_path: Path, openai_fake: OpenAIFake) -> None:
    engine = openai_engine(tmp_path, openai_fake)
    job_id = make_job(engine, segments=2, seconds=4, audio=True)
    with pytest.raises(InputError, match=r"max_cost: narration would cost \$0\.000\d+ on top of \$0\.00 spent"):
        asyncio.run(Finisher(engine).finish(job_id, FinishOptions(max_cost=0.0001)))
    assert openai_fake.speeches == []


def test_speech_errors_name_what_to_fix(tmp_path: Path, openai_fake: OpenAIFake) -> None:
    from sora_tui.core.finish.stage import FinishError

    engine = openai_engine(tmp_path, openai_fake)
    job_id = make_job(engine, segments=1, seconds=4, audio=True)
    openai_fake.speech_status = 401
    with pytest.raises(FinishError, match="rejected the API key for speech"):
        asyncio.run(Finisher(engine).finish(job_id, FinishOptions()))
    openai_fake.speech_status = None
    bad = openai_engine(tmp_path, openai_fake, tts_model="")
    with pytest.raises(FinishError, match="HTTP 400: Missing required parameter: 'model'"):
        asyncio.run(Finisher(bad).finish(job_id, FinishOptions()))
    assert engine.store.outputs(job_id) == []


def test_placeholder_voice_has_the_narration_timing(tmp_path: Path) -> None:
    tts = get_tts("placeholder", Settings())
    assert tts.placeholder and "placeholder voice" in PlaceholderTTS.LABEL
    text = "one two three four five six seven eight nine ten"
    asyncio.run(tts.synthesize(text, tmp_path / "p.wav"))
    assert abs(audio_seconds(tmp_path / "p.wav") - (10 / WORDS_PER_SECOND - 0.1)) < 0.02


def test_offline_voice_speaks(tmp_path: Path) -> None:
    tts = get_tts("offline", Settings())
    if tts.placeholder:
        pytest.skip("espeak-ng is not installed (test_offline_voice_is_a_real_engine_in_ci fails under CI)")
    asyncio.run(tts.synthesize("The paper boat drifts on.", tmp_path / "e.wav"))
    assert 1.0 < audio_seconds(tmp_path / "e.wav") < 4.0


def test_parse_age() -> None:
    assert parse_age("7d") == 7 * 86400 and parse_age("24h") == 86400 and parse_age("0") == 0
    with pytest.raises(InputError, match="older-than"):
        parse_age("soon")


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_clean_never_removes_a_final(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    job_id = make_job(engine, segments=2, seconds=2, audio=True)
    finisher = Finisher(engine)
    asyncio.run(finisher.finish(job_id, FinishOptions()))
    asyncio.run(finisher.finish(job_id, FinishOptions()))  # v1 is now superseded
    asyncio.run(finisher.export(job_id, "web-720p"))
    job = engine.find_job(job_id)
    folder = job.job_dir
    (folder / ".seg_01.tmp-abc.mp4").write_bytes(b"x")  # a crashed write
    (folder / "exports" / "web-720p" / "old-title.mp4").write_bytes(b"y")  # a replaced export
    finals = {"plan.json", "final.mp4", "finished_v2.mp4", "finished_v2.srt", "finished_v2.vtt", "exports/poster.jpg"}
    finals |= {f for f in _files(folder) if f.startswith("exports/web-720p/a-paper-boat")}
    before = _files(folder)

    assert plan_clean(engine, parse_age("7d")).items == []  # too young
    dry = plan_clean(engine, 0, "finals")
    listed = {str(i.path.relative_to(folder)) for i in dry.items}
    assert listed and not (listed & finals)
    assert {"seg_01_first.png", "seg_02_last.png", "seg_01.mp4", "finished_v1.mp4", ".seg_01.tmp-abc.mp4"} <= listed
    caches = {f for f in before if re.fullmatch(r"\.seg_0[12]\.(seam\.npz|sound-[\d-]+\.f32)", f)}
    assert len(caches) == 4 and caches <= listed  # each segment's seam analysis and its kept sound
    assert "exports/web-720p/old-title.mp4" in listed and "narration/narr_01.wav" in listed
    assert _files(folder) == before  # a dry run removes nothing
    keep_all = {str(i.path.relative_to(folder)) for i in plan_clean(engine, 0, "all").items}
    assert "seg_01.mp4" not in keep_all and "finished_v1.mp4" not in keep_all and "seg_01_first.png" in keep_all
    assert caches <= keep_all

    done = apply_clean(engine, dry)
    assert done.freed_bytes == dry.freed_bytes > 0
    assert _files(folder) == before - listed and finals <= _files(folder)
    stored = engine.store.get_job(job_id)
    assert stored is not None and stored.seams is not None
    joined = stored.seams["frames"]  # every frame of the join (repeats at seams cut)
    assert decode_frames(folder / "finished_v2.mp4") == joined and decode_frames(folder / "final.mp4") == joined
    log = [r.message for r in engine.store.logs(job_id)]
    assert any(m.startswith(f"clean-up removed {len(listed)} files") for m in log)
    removed = [o for o in engine.store.outputs(job_id, include_removed=True) if o.removed_at is not None]
    assert [o.name for o in removed if o.kind == "finish"] == ["v1"]
    assert engine.find_job(job_id) is not None and plan_clean(engine, 0, "finals").items == []


def test_cli_finish_export_clean(sora_cmd: list[str], cli_env: dict[str, str], home: Path, tmp_path: Path) -> None:
    """The user's path: generate with narration and music → finished MP4 + SRT, WebM and HLS; clean --dry-run."""
    from finishkit import tone_file

    music = tone_file(tmp_path / "music.wav")

    def run(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*sora_cmd, *a], env=cli_env, capture_output=True, text=True, timeout=300)

    res = run(
        "generate",
        "a fox in the snow",
        "-n",
        "2",
        "-s",
        "3",
        "-r",
        "180p",
        "--narration",
        "--music",
        str(music),
        "--yes",
    )
    assert res.returncode == 0, res.stderr
    assert "finished v1" in res.stdout and "subtitles:" in res.stdout
    res = run("export", "last", "-p", "webm", "-p", "hls", "--json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [r["preset"] for r in rows] == ["webm", "hls"] and all(r["size_bytes"] > 0 for r in rows)
    res = run("meta", "last", "--title", "Fox", "--hashtags", "fox #Snow", "--json")
    assert json.loads(res.stdout)["hashtags"] == ["#fox", "#snow"]
    res = run("clean", "--older-than", "0", "--dry-run", "--json")
    report = json.loads(res.stdout)
    names = {Path(f["path"]).name for f in report["files"]}
    assert report["dry_run"] and "seg_01_last.png" in names
    assert not names & {"final.mp4", "finished_v1.mp4", "finished_v1.srt", "plan.json", "master.m3u8"}
    res = run("finish", "last", "--music", str(tmp_path / "missing.wav"))
    assert res.returncode == 2 and "music:" in res.stderr


async def test_openai_planner_writes_narration_within_the_budget_and_metadata(openai_fake: OpenAIFake) -> None:
    from sora_tui.core.catalog import load_catalog, resolve_request
    from sora_tui.core.finish.narration import check_plan
    from sora_tui.core.models import Request
    from sora_tui.core.planner.registry import get_planner

    catalog = load_catalog()
    req = resolve_request(Request(prompt="A red fox crosses a snowy forest", segments=3, seconds=4), catalog)
    req.narration = True
    settings = Settings(openai_base_url=openai_fake.url, openai_model="gpt-test", openai_max_retries=0)
    planner = get_planner("openai", settings=settings, env={"OPENAI_API_KEY": openai_fake.key})
    openai_fake.long_narration = 1  # the first answer's narration is too long: one repair
    plan = await planner.plan(req, catalog.get(req.model))
    assert len(openai_fake.completions) == 2
    repair = openai_fake.completions[1].json["messages"][-1]["content"]
    assert "segment 1's narration has 15 words; 4 s fit at most 10" in repair
    assert all(s.narration for s in plan.segments) and check_plan(plan) == []
    assert "at most 10 words" in openai_fake.completions[0].json["messages"][1]["content"]
    assert plan.metadata.title and plan.metadata.hashtags == ["#aivideo", "#story"]
    schema = openai_fake.completions[0].json["response_format"]["json_schema"]["schema"]
    assert {"title", "description", "hashtags"} <= set(schema["properties"])


def test_offline_planner_narration_fits_and_metadata() -> None:
    from sora_tui.core.finish.narration import check_plan
    from sora_tui.core.models import Request
    from sora_tui.core.planner.offline import offline_plan

    for n, seconds in ((1, 2), (4, 4), (8, 6)):
        plan = offline_plan(Request("a paper boat drifts down a rainy street at dusk", n, seconds, narration=True))
        assert all(s.narration.endswith(".") for s in plan.segments) and check_plan(plan) == []
    assert offline_plan(Request("a paper boat", 2, 4)).segments[0].narration == ""
    assert plan.metadata.title == "A paper boat drifts down a rainy street" and "#aivideo" in plan.metadata.hashtags


def test_auto_clean_at_start_follows_the_setting(tmp_path: Path) -> None:
    from sora_tui.core.finish.clean import auto_clean

    engine = make_engine(tmp_path, auto_clean_days=3, auto_clean_keep="all")
    job_id = make_job(engine, segments=1, seconds=1, narration=False)
    folder = engine.find_job(job_id).job_dir
    fresh = auto_clean(engine)
    assert fresh is not None and fresh.items == []  # finished just now
    with engine.store._lock:  # four days ago
        engine.store._db.execute("UPDATE jobs SET updated_at=updated_at-4*86400 WHERE id=?", (job_id,))
    report = auto_clean(engine)
    assert report is not None
    assert {i.path.name for i in report.items} == {"seg_01_first.png", "seg_01_last.png", ".seg_01.seam.npz"}
    assert (folder / "seg_01.mp4").is_file() and (folder / "final.mp4").is_file()
    assert auto_clean(make_engine(tmp_path)) is None  # off by default
