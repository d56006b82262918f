"""The rules the studio used to hold, in the core: what stopping does, the redo index, the keyframe a
task made (carried in its events), and a form's request checked without reading files."""

from __future__ import annotations

from pathlib import Path

import pytest

from sora_tui.core import jobactions, queue, tasks
from sora_tui.core.engine import Engine
from sora_tui.core.jobactions import StopStep, redo_index, stop_step
from sora_tui.core.models import (
    InputError,
    JobStatus,
    Mode,
    Plan,
    Request,
    SegmentPlan,
    TaskDone,
    TaskStarted,
    event_from_dict,
)


@pytest.mark.parametrize(
    ("task", "running", "state", "held", "step"),
    [
        ("keyframe", False, "generating", True, StopStep.TASK_UNSTOPPABLE),
        ("finish", False, "completed", True, StopStep.STOP_TASK),
        ("export", False, "completed", True, StopStep.STOP_TASK),
        (None, True, "queued", False, StopStep.DEQUEUE),  # waits in the queue, no runner: nothing paid
        (None, True, "queued", True, StopStep.ASK),  # a runner took it: a render, asked first
        (None, True, "generating", True, StopStep.ASK),
        (None, False, "completed", False, StopStep.NOT_RUNNING),
        (None, False, "failed", False, StopStep.NOT_RUNNING),
    ],
)
def test_stop_step(task: str | None, running: bool, state: str, held: bool, step: StopStep) -> None:
    assert stop_step(task=task, running=running, state=state, held=held) is step


def test_which_tasks_can_stop() -> None:
    assert tasks.can_stop(tasks.FINISH) and tasks.can_stop(tasks.EXPORT)
    assert not tasks.can_stop(tasks.KEYFRAME)  # one image call, already paid for


@pytest.mark.parametrize(("value", "n", "k"), [("1", 3, 1), (" 3 ", 3, 3), ("2", 2, 2)])
def test_redo_index_accepts_a_segment(value: str, n: int, k: int) -> None:
    assert redo_index(value, n) == k


@pytest.mark.parametrize(
    ("value", "n", "words"),
    [("0", 3, "segment 0 does not exist; enter 1 to 3"), ("4", 3, "segment 4 does not exist"), ("x", 3, "from 1 to 3")],
)
def test_redo_index_names_the_range(value: str, n: int, words: str) -> None:
    with pytest.raises(InputError) as caught:
        redo_index(value, n)
    assert words in caught.value.problem and caught.value.field == "segment"


def test_keyframe_tasks_carry_their_index() -> None:
    assert tasks.task_index(tasks.KEYFRAME, {"index": 3, "prompt": None}) == 3
    assert tasks.task_index(tasks.KEYFRAME, {"index": "3"}) is None  # never parsed out of words
    assert tasks.task_index(tasks.FINISH, {"index": 3}) is None
    done = TaskDone("j1", "keyframe", "keyframe 3", "done", result="kf_03.png", index=3)
    assert event_from_dict(done.to_dict()) == done
    started = TaskStarted("j1", "keyframe", "keyframe 2", 2)
    assert event_from_dict(started.to_dict()) == started
    # an event log written before the index was carried still reads (index unknown)
    old = {"type": "TaskDone", "job_id": "j1", "task": "keyframe", "what": "keyframe 3", "outcome": "done"}
    read = event_from_dict(old)
    assert isinstance(read, TaskDone) and read.index is None


@pytest.mark.parametrize(("index", "n", "follow"), [(0, 3, True), (2, 3, True), (3, 3, False), (None, 3, False)])
def test_later_keyframes_follow(index: int | None, n: int, follow: bool) -> None:
    assert tasks.later_keyframes_follow(index, n) is follow


def _plan() -> Plan:
    return Plan(
        prompt="a paper boat",
        model="preview",
        resolution="180p",
        aspect="16:9",
        segments=[SegmentPlan(prompt="a paper boat, part 1", seconds=1, title="Part 1")],
        mode=Mode.CHAIN,
        audio=False,
    )


def test_take_out_of_queue(home: Path) -> None:
    engine = Engine()
    job = engine.create_job(_plan())
    queue.add(engine.store, job)
    assert queue.entry(engine.store, job.id) is not None
    jobactions.take_out_of_queue(engine.store, job)
    assert queue.entry(engine.store, job.id) is None
    stored = engine.store.get_job(job.id)
    assert stored is not None and stored.status is JobStatus.CANCELLED and stored.error == "taken out of the queue"


def test_a_form_check_reads_no_file(home: Path, tmp_path: Path) -> None:
    """The studio checks a request as the user types without touching the disk (check_files=False); the
    start image is checked apart, off the UI loop. With the files checked, a missing one is named."""
    engine = Engine()
    missing = str(tmp_path / "nowhere.png")
    req = Request(prompt="a boat", segments=2, seconds=1, model="preview", start_image=missing)
    resolved = engine.resolve(req, check_files=False)
    assert resolved.start_image == missing
    with pytest.raises(InputError) as caught:
        engine.resolve(req)
    assert caught.value.field == "start_image" and "does not exist" in caught.value.problem
