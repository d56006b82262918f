"""The store's SQL takes nothing from callers as SQL text, and deleting a job removes only its own folder."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sora_tui.core.engine import Engine
from sora_tui.core.models import Job, JobStatus, Mode, Plan, Segment, SegmentPlan, SegmentStatus
from sora_tui.core.store import Store, like_pattern


def _plan(prompt: str = "a paper boat") -> Plan:
    return Plan(
        prompt=prompt,
        model="preview",
        resolution="360p",
        aspect="16:9",
        segments=[SegmentPlan("one", 4, "Start"), SegmentPlan("two", 4, "End")],
        mode=Mode.CHAIN,
    )


def _job(store: Store, job_id: str, prompt: str, model: str = "preview") -> Job:
    job = Job(id=job_id, prompt=prompt, model=model, mode=Mode.CHAIN, status=JobStatus.QUEUED, plan=_plan(prompt))
    store.create_job(job, [Segment(job.id, i, f"s{i}", 4) for i in (1, 2)])
    return job


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "db.sqlite3")


# --- column names from **changes --------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"status='completed', cost_usd": 0},  # SQL in a keyword's name (update_job(**user_dict))
        {"error=NULL WHERE 1=1; --": "x"},
        {"nonexistent": 1},
        {"id": "other"},  # the key is not an updatable column
        {"cost_usd": 2.0, "bogus": 1},  # one bad name refuses the whole update
    ],
)
def test_update_job_refuses_unknown_columns(store: Store, changes: dict[str, object]) -> None:
    job = _job(store, "20260101-aaaaaa", "a boat")
    with pytest.raises(ValueError, match="cannot update jobs column"):
        store.update_job(job.id, **changes)
    got = store.get_job(job.id)
    assert got is not None and got.status is JobStatus.QUEUED and got.cost_usd == 0.0 and got.error is None


@pytest.mark.parametrize(
    "changes",
    [{"status='done', cost_usd": 1}, {"idx": 5}, {"error=NULL --": "x"}, {"seed=0, file": "x"}],
)
def test_update_segment_refuses_unknown_columns(store: Store, changes: dict[str, object]) -> None:
    job = _job(store, "20260101-aaaaaa", "a boat")
    with pytest.raises(ValueError, match="cannot update segments column"):
        store.update_segment(job.id, 1, **changes)
    assert [s.status for s in store.segments(job.id)] == [SegmentStatus.PENDING, SegmentStatus.PENDING]


def test_increment_segment_refuses_other_columns(store: Store) -> None:
    job = _job(store, "20260101-aaaaaa", "a boat")
    with pytest.raises(ValueError):
        store.increment_segment(job.id, 1, "cost_usd")
    with pytest.raises(ValueError):
        store.increment_segment(job.id, 1, "attempts=0, submits")
    store.increment_segment(job.id, 1, "attempts")
    assert store.segment(job.id, 1).attempts == 1


def test_known_columns_still_update(store: Store) -> None:
    job = _job(store, "20260101-aaaaaa", "a boat")
    store.update_job(job.id, status=JobStatus.FAILED, error="boom", cost_usd=1.25, seams={"seams": []})
    store.update_segment(job.id, 2, status=SegmentStatus.DONE, request_id="r", file="seg_02.mp4", seed=7)
    got = store.get_job(job.id)
    assert got is not None and (got.status, got.error, got.cost_usd, got.seams) == (
        JobStatus.FAILED,
        "boom",
        1.25,
        {"seams": []},
    )
    seg = store.segment(job.id, 2)
    assert (seg.status, seg.request_id, seg.file, seg.seed) == (SegmentStatus.DONE, "r", "seg_02.mp4", 7)


# --- LIKE patterns --------------------------------------------------------------------------------


def test_like_pattern_escapes_wildcards() -> None:
    assert like_pattern("50%_off") == "%50\\%\\_off%"
    assert like_pattern("a\\b", prefix=True) == "a\\\\b%"


def test_search_matches_percent_and_underscore_literally(store: Store) -> None:
    _job(store, "20260101-aaaaaa", "a sale: 50% off everything")
    _job(store, "20260101-bbbbbb", "500 paper boats")
    _job(store, "20260101-cccccc", "snake_case river")
    _job(store, "20260101-dddddd", "snakeXcase river")
    _job(store, "20260101-eeeeee", "back\\slash")

    def ids(search: str) -> list[str]:
        return sorted(j.id[-1] for j in store.list_jobs(search=search))

    assert ids("50%") == ["a"]  # unescaped, "50%" also matched "500 paper boats"
    assert ids("%") == ["a"]  # unescaped, "%" matched every job
    assert ids("_") == ["c"]  # unescaped, "_" matched every job
    assert ids("snake_case") == ["c"]  # unescaped, "_" matched "snakeXcase" too
    assert ids("\\") == ["e"]
    assert ids("river") == ["c", "d"]


def test_id_prefix_is_literal(store: Store) -> None:
    _job(store, "20260101-aaaaaa", "one")
    assert store.find_job("20260101-a") is not None
    assert store.find_job("%") is None  # unescaped, "%" found the only job by "prefix"
    assert store.find_job("2026010_-") is None  # unescaped, "_" matched the "1"
    assert store.find_job("last") is not None


# --- delete_job removes only the job's own folder ----------------------------------------------------


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return Engine(env={"SORA_TUI_HOME": str(tmp_path / "home")})


def test_delete_job_removes_its_folder(engine: Engine) -> None:
    job = engine.create_job(_plan())
    folder = Path(job.folder or "")
    assert folder.parent == engine.paths.jobs_dir and (folder / "plan.json").exists()
    engine.delete_job(job.id)
    assert engine.store.get_job(job.id) is None
    assert not folder.exists()


@pytest.mark.parametrize("where", ["outside", "home", "jobs_dir", "other_job", "link_out"])
def test_delete_job_keeps_folders_it_does_not_own(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    # a stand-in home folder: were the check broken, this test must not remove the real one
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    Path.home().mkdir()
    (Path.home() / ".bashrc").write_text("# mine")
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    other = engine.create_job(_plan("another job"))
    job = engine.create_job(_plan())
    target = {
        "outside": outside,
        "home": Path.home(),  # a job row pointing at the user's home folder
        "jobs_dir": engine.paths.jobs_dir,  # every job's folder at once
        "other_job": Path(other.folder or ""),
    }.get(where)
    if where == "link_out":  # the job's own folder name, but a link that leads out of the jobs folder
        own = Path(job.folder or "")
        for f in own.iterdir():
            f.unlink()
        own.rmdir()
        own.symlink_to(outside, target_is_directory=True)
        target = own
    assert target is not None
    engine.store.update_job(job.id, folder=str(target))
    before = sorted(p.name for p in target.iterdir())

    engine.delete_job(job.id)

    assert engine.store.get_job(job.id) is None  # the job is gone from the history
    assert target.is_dir() and sorted(p.name for p in target.iterdir()) == before
    assert (outside / "keep.txt").read_text() == "mine"
    assert Path(other.folder or "").is_dir() and engine.store.get_job(other.id) is not None


def test_rows_are_parameters_not_sql(store: Store, tmp_path: Path) -> None:
    """A value that looks like SQL is stored as text."""
    job = _job(store, "20260101-aaaaaa", "x'); DROP TABLE jobs; --")
    store.update_job(job.id, error="'; DELETE FROM segments; --")
    db = sqlite3.connect(tmp_path / "db.sqlite3")
    assert db.execute("SELECT count(*) FROM segments").fetchone()[0] == 2
    got = store.get_job(job.id)
    assert got is not None and got.prompt.startswith("x')")
