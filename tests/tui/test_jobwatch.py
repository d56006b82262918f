"""JobWatch's follower, one pass at a time (no app loop, no thread): which events of a job it tells."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sora_tui.core.engine import Engine
from sora_tui.core.follow import Follower, RunnerWatch
from sora_tui.core.models import Job, TaskDone, TaskStarted
from sora_tui.core.runner import EventLog
from sora_tui.core.store import Store
from sora_tui.tui.jobs import JobWatch

from .conftest import small_plan


class NoApp:
    """JobWatch's app, for passes driven by the test: nothing is posted to it."""

    def post_message(self, message: Any) -> bool:
        raise AssertionError(f"a pass driven by the test posted {message!r}")


@pytest.fixture
def watch(tui_env: dict[str, str]) -> Iterator[tuple[JobWatch, Job, Store]]:
    engine = Engine(env=tui_env)
    job = engine.create_job(small_plan(1))
    jobs = JobWatch(engine, NoApp())  # type: ignore[arg-type]
    store = Store(engine.store.path)
    try:
        yield jobs, job, store
    finally:
        store.close()
        jobs.stop()


def told(readings: dict[str, Any], job_id: str) -> list[str]:
    reading = readings.get(job_id)
    return [type(e).__name__ for e in reading.events] if reading is not None else []


def test_a_task_started_as_the_last_one_ends_is_told(watch: tuple[JobWatch, Job, Store]) -> None:
    """The window starts a task (read_from, then the spawn) while its follower still reads the job for the
    task before; the job then rests a moment (the window stops following it, the follower drops it) before
    the new runner is followed. The new follower begins where the task began: its TaskStarted is told."""
    jobs, job, store = watch
    log = EventLog(job.job_dir)
    followed: dict[str, Follower] = {}
    jobs._wanted[job.id] = RunnerWatch()  # the finish runs: the window follows the job
    log.append(TaskDone(job_id=job.id, task="finish", what="finish", outcome="done"))
    jobs._pass(store, followed, set(), 0.0)
    assert followed[job.id].offset == log.end()

    jobs.read_from(job.id, log.end())  # F7: the export is about to be spawned
    jobs._pass(store, followed, set(), 1.0)  # a pass while the job is still followed for the finish
    del jobs._wanted[job.id]  # the finish runner's exit seen: the job rests
    jobs._pass(store, followed, set(), 2.0)
    assert job.id not in followed
    log.append(TaskStarted(job_id=job.id, task="export", what="gif-preview"))  # the export runner starts
    jobs._wanted[job.id] = RunnerWatch()  # and the window follows the job again (follow(started=True))
    readings = jobs._pass(store, followed, set(), 3.0)
    assert told(readings, job.id) == ["TaskStarted"]
    log.append(TaskDone(job_id=job.id, task="export", what="gif-preview", outcome="done"))
    assert told(jobs._pass(store, followed, set(), 4.0), job.id) == ["TaskDone"]  # each event told once


def test_a_follower_past_the_tasks_start_forgets_it(watch: tuple[JobWatch, Job, Store]) -> None:
    """Once the follower has read past where the task began, that offset is dropped: a job followed again
    much later begins at the log's end, not at an old task's start (its events are in the rows by then)."""
    jobs, job, store = watch
    log = EventLog(job.job_dir)
    followed: dict[str, Follower] = {}
    jobs._wanted[job.id] = RunnerWatch()
    jobs._pass(store, followed, set(), 0.0)
    jobs.read_from(job.id, log.end())
    log.append(TaskStarted(job_id=job.id, task="export", what="gif-preview"))
    assert told(jobs._pass(store, followed, set(), 1.0), job.id) == ["TaskStarted"]
    log.append(TaskDone(job_id=job.id, task="export", what="gif-preview", outcome="done"))
    assert told(jobs._pass(store, followed, set(), 2.0), job.id) == ["TaskDone"]
    del jobs._wanted[job.id]
    jobs._pass(store, followed, set(), 3.0)
    jobs._wanted[job.id] = RunnerWatch()  # followed again: nothing old is told again
    assert told(jobs._pass(store, followed, set(), 4.0), job.id) == []


def test_the_follower_is_begun_where_the_task_began(watch: tuple[JobWatch, Job, Store]) -> None:
    """A job this window did not follow yet: its follower begins at read_from's offset."""
    jobs, job, store = watch
    log = EventLog(job.job_dir)
    log.append(TaskDone(job_id=job.id, task="finish", what="finish", outcome="done"))
    jobs.read_from(job.id, log.end())
    log.append(TaskStarted(job_id=job.id, task="export", what="gif-preview"))
    jobs._wanted[job.id] = RunnerWatch()
    assert told(jobs._pass(store, {}, set(), 0.0), job.id) == ["TaskStarted"]
