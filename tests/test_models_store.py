"""Plans as versioned JSON, the SQLite store and its migrations, settings."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sora_tui.core.models import InputError, Job, JobStatus, Mode, Plan, Segment, SegmentPlan, SegmentStatus
from sora_tui.core.settings import Settings, get_paths, load_settings, save_settings
from sora_tui.core.store import SCHEMA_VERSION, Keyframe, Store, StoreError


def _plan() -> Plan:
    return Plan(
        prompt="a paper boat",
        model="preview",
        resolution="360p",
        aspect="16:9",
        segments=[SegmentPlan("one", 4, "Start"), SegmentPlan("two", 4, "End")],
        mode=Mode.CHAIN,
    )


def test_plan_round_trip() -> None:
    plan = _plan()
    again = Plan.from_dict(plan.to_dict())
    assert again == plan


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d.update(version=99), "plan.version"),
        (lambda d: d.pop("version"), "plan.version"),
        (lambda d: d.update(segments=[]), "plan.segments"),
        (lambda d: d["segments"][1].update(prompt=" "), "plan.segments[2].prompt"),
        (lambda d: d["segments"][0].update(seconds="4"), "plan.segments[1].seconds"),
        (lambda d: d.update(mode="zigzag"), "plan.mode"),
        (lambda d: d.update(model=""), "plan.model"),
    ],
)
def test_plan_schema_errors_name_the_field(mutate: Callable[[dict[str, Any]], object], field: str) -> None:
    data = _plan().to_dict()
    mutate(data)
    with pytest.raises(InputError) as info:
        Plan.from_dict(data)
    assert info.value.field == field


def test_store_jobs_segments_logs(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite3")
    assert store.schema_version == SCHEMA_VERSION
    job = Job(
        id="20260101-000000-abcdef",
        prompt="p",
        model="preview",
        mode=Mode.CHAIN,
        status=JobStatus.QUEUED,
        plan=_plan(),
        folder=str(tmp_path),
    )
    store.create_job(job, [Segment(job.id, i, f"s{i}", 4) for i in (1, 2)])
    store.update_segment(job.id, 1, status=SegmentStatus.SUBMITTED, request_id="req-1")
    store.increment_segment(job.id, 1, "submits")
    store.update_job(job.id, status=JobStatus.GENERATING, cost_usd=1.5)
    store.log(job.id, "hello", index=1)
    store.upsert_keyframe(Keyframe(job.id, 0, "k0", "done", "k0.png"))
    store.close()

    store = Store(tmp_path / "db.sqlite3")  # reopened: everything is still there
    got = store.find_job("20260101")
    assert got is not None and got.status is JobStatus.GENERATING and got.plan == _plan()
    seg = store.segment(job.id, 1)
    assert (seg.status, seg.request_id, seg.submits) == (SegmentStatus.SUBMITTED, "req-1", 1)
    assert [r.message for r in store.logs(job.id)] == ["hello"]
    store.log(job.id, "second")
    assert [r.message for r in store.logs(job.id, tail=1)] == ["second"]
    assert store.keyframes(job.id)[0].file == "k0.png"
    last = store.find_job("last")
    assert last is not None and last.id == job.id
    assert [j.id for j in store.list_jobs(search="p", status="generating")] == [job.id]
    store.delete_job(job.id)
    assert store.get_job(job.id) is None and store.segments(job.id) == [] and store.logs(job.id) == []


def test_store_migrates_old_schema_and_refuses_newer(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    from sora_tui.core import store as store_mod

    db = sqlite3.connect(path)
    for stmt in store_mod._MIGRATIONS[1]:
        db.execute(stmt)
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    assert Store(path).schema_version == SCHEMA_VERSION  # v1 → current
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=999")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer sora-tui"):
        Store(path)


def test_settings_file_and_env(tmp_path: Path) -> None:
    env = {"SORA_TUI_HOME": str(tmp_path)}
    paths = get_paths(env)
    assert paths.data_dir == tmp_path / "data" and paths.config_dir == tmp_path / "config"
    s = Settings(default_model="wan-2.7", max_retries=2, fal_queue_url="http://127.0.0.1:9/q")
    save_settings(s, paths)
    loaded = load_settings(paths, env)
    assert (loaded.default_model, loaded.max_retries, loaded.fal_queue_url) == ("wan-2.7", 2, "http://127.0.0.1:9/q")
    env |= {"SORA_TUI_MAX_RETRIES": "7", "OPENAI_BASE_URL": "http://localhost:11434/v1"}
    loaded = load_settings(paths, env)
    assert loaded.max_retries == 7 and loaded.openai_base_url == "http://localhost:11434/v1"
    with pytest.raises(InputError, match="SORA_TUI_MAX_RETRIES"):
        load_settings(paths, env | {"SORA_TUI_MAX_RETRIES": "lots"})


def test_migration_8_keeps_a_failed_jobs_code_and_facts(tmp_path: Path) -> None:
    """A v7 history (jobs with errors as text only) gains error_code/error_context; a failure recorded
    with a code reads back as data, and a new error (or none) drops the old code."""
    from sora_tui.core import store as store_mod
    from sora_tui.core.errors import Code

    path = tmp_path / "db.sqlite3"
    db = sqlite3.connect(path)
    for version in range(1, 8):
        for stmt in store_mod._MIGRATIONS[version]:
            db.execute(stmt)
    db.execute("PRAGMA user_version=7")
    db.execute(
        "INSERT INTO jobs (id, prompt, model, mode, status, created_at, updated_at, error, cost_usd, "
        "estimated_cost_usd) VALUES ('old', 'p', 'preview', 'chain', 'failed', 1, 1, 'it broke', 0, 0)"
    )
    db.commit()
    db.close()
    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION == 8
    old = store.get_job("old")
    assert old is not None and old.error == "it broke" and old.error_code is None and old.error_context is None
    store.update_job(
        "old", error="disk full at /x", error_code=Code.DISK_FULL, error_context={"path": "/x", "free": 0, "job": "old"}
    )
    job = store.get_job("old")
    assert job is not None and job.error_code == "disk_full" and Code(job.error_code) is Code.DISK_FULL
    assert job.error_context == {"path": "/x", "free": 0, "job": "old"}
    store.update_job("old", error="something else")
    job = store.get_job("old")
    assert job is not None and job.error == "something else" and job.error_code is None and job.error_context is None
