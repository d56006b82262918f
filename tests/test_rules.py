"""Rules that live once in the core, each read by every front end (issue 18, item 3): the default
request from settings, planner names, the output folder, the resume decision, settings' types."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest

from sora_tui.core.engine import Engine
from sora_tui.core.errors import InputError
from sora_tui.core.models import Job, JobStatus, Mode, Plan, SegmentPlan, SegmentStatus
from sora_tui.core.planner import PLANNERS
from sora_tui.core.plans import ResumeStep, default_request, resume_step
from sora_tui.core.settings import Settings, choices, coerce_setting, field_type, load_settings


def test_default_request_reads_the_settings() -> None:
    s = Settings(default_resolution="1080p", default_mode="keyframes", default_planner="openai")
    req = default_request(s, "veo3.1-fast")
    assert (req.model, req.resolution, req.mode, req.planner) == ("veo3.1-fast", "1080p", Mode.KEYFRAMES, "openai")
    plain = default_request(Settings(), "preview")
    assert (plain.resolution, plain.mode, plain.planner) == (None, Mode.CHAIN, "offline")


def test_a_bad_default_is_refused_when_the_settings_load_naming_the_setting(home: Path) -> None:
    (home / "config").mkdir()
    (home / "config" / "settings.toml").write_text('default_mode = "sideways"\n')
    with pytest.raises(InputError) as err:
        load_settings(env={"SORA_TUI_HOME": str(home)})
    assert err.value.field == "default_mode" and err.value.allowed is not None and "chain" in err.value.allowed
    (home / "config" / "settings.toml").write_text('default_mode = "keyframes"\n')
    assert load_settings(env={"SORA_TUI_HOME": str(home)}).default_mode == "keyframes"
    with pytest.raises(InputError, match="default_planner"):
        load_settings(env={"SORA_TUI_HOME": str(home), "SORA_TUI_DEFAULT_PLANNER": "x"})


def test_planner_names_come_from_one_registry() -> None:
    from sora_tui.cli import build_parser
    from sora_tui.core.planner.registry import get_planner
    from sora_tui.tui.widgets.request_form import PLANNERS as FORM_PLANNERS

    assert choices("default_planner") == list(PLANNERS)
    assert [value for _, value in FORM_PLANNERS] == list(PLANNERS)
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices  # noqa: SLF001
    assert isinstance(commands, dict)
    sub = commands["generate"]
    assert isinstance(sub, argparse.ArgumentParser)
    planner = next(a for a in sub._actions if a.dest == "planner")  # noqa: SLF001
    assert planner.choices is not None and list(planner.choices) == list(PLANNERS)
    with pytest.raises(InputError) as err:
        get_planner("nope")
    assert err.value.allowed == list(PLANNERS)


def test_settings_types_come_from_the_schema() -> None:
    assert field_type("loudness_lufs") is float and field_type("auto_clean_days") is int
    assert coerce_setting("loudness_lufs", "-14") == -14.0 and coerce_setting("auto_clean_days", "7") == 7
    with pytest.raises(InputError, match="auto_clean_days"):
        coerce_setting("auto_clean_days", "soon")


def test_the_output_folder_setting_is_honoured_by_the_engine(home: Path, tmp_path: Path) -> None:
    """The engine applies output_dir, so the CLI, the runner and the studio all copy the video there."""
    out = tmp_path / "videos"
    out.mkdir()
    engine = Engine(env={"SORA_TUI_HOME": str(home), "SORA_TUI_OUTPUT_DIR": str(out)})
    plan = Plan("boat", "preview", "180p", "16:9", [SegmentPlan("boat", 1)], audio=False)
    job = engine.create_job(plan)
    final = asyncio.run(engine.run(job.id))
    assert final.status is JobStatus.COMPLETED and final.output is not None
    assert Path(final.output) == (out / f"{job.id}.mp4").resolve() and Path(final.output).stat().st_size > 0


def _job(status: JobStatus, mode: Mode, output: str | None = None) -> Job:
    return SimpleNamespace(status=status, mode=mode, output=output)  # type: ignore[return-value]


def test_one_resume_decision(tmp_path: Path) -> None:
    video = tmp_path / "final.mp4"
    video.write_bytes(b"x")
    pending = [SimpleNamespace(status=SegmentStatus.PENDING, request_id=None, submits=0)]
    started = [SimpleNamespace(status=SegmentStatus.RUNNING, request_id="r", submits=1)]
    done_kfs = [SimpleNamespace(status="done", cost_usd=0.0)] * 2
    some_kfs = [SimpleNamespace(status="done", cost_usd=0.0), SimpleNamespace(status="pending", cost_usd=0.0)]
    complete = _job(JobStatus.COMPLETED, Mode.CHAIN, str(video))
    assert resume_step(complete, started, []) is ResumeStep.COMPLETE
    gone = _job(JobStatus.COMPLETED, Mode.CHAIN, str(tmp_path / "gone.mp4"))
    assert resume_step(gone, started, []) is ResumeStep.RENDER
    review = _job(JobStatus.AWAITING_REVIEW, Mode.KEYFRAMES)
    assert resume_step(review, pending, done_kfs) is ResumeStep.REVIEW
    assert resume_step(review, pending, some_kfs) is ResumeStep.KEYFRAMES
    assert resume_step(_job(JobStatus.FAILED, Mode.KEYFRAMES), pending, done_kfs) is ResumeStep.KEYFRAMES
    assert resume_step(_job(JobStatus.FAILED, Mode.KEYFRAMES), started, done_kfs) is ResumeStep.RENDER
    # the CLI's resume (no --review-keyframes) is how keyframes are accepted: it renders on
    assert resume_step(review, pending, done_kfs, review=False) is ResumeStep.RENDER


def test_history_search_in_memory_matches_the_store_query(home: Path) -> None:
    """The studio filters its cached history with plans.job_matches: the same jobs as Store.list_jobs."""
    from sora_tui.core.plans import job_matches

    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    for prompt in ("A Paper boat", "lighthouse at dusk", "100% rain_drops", "boat race"):
        engine.create_job(Plan(prompt, "preview", "180p", "16:9", [SegmentPlan(prompt, 1)], audio=False))
    jobs = engine.store.list_jobs()
    engine.store.update_job(jobs[0].id, status=JobStatus.FAILED)
    jobs = engine.store.list_jobs()
    for search in ("", "boat", "BOAT", "preview", "100%", "_d", jobs[1].id[:10], "nothing"):
        for status in (None, "failed", "queued"):
            want = [j.id for j in engine.store.list_jobs(search=search, status=status)]
            assert [j.id for j in jobs if job_matches(j, search, status)] == want, (search, status)


def test_settings_choices_are_the_ones_their_users_accept() -> None:
    from sora_tui.core.finish.clean import KEEP_CHOICES
    from sora_tui.core.models import SeamSettings

    assert choices("auto_clean_keep") == list(KEEP_CHOICES)
    assert choices("seams") == list(SeamSettings.MODES)
    assert choices("default_mode") == [m.value for m in Mode]
    assert choices("theme") is None
