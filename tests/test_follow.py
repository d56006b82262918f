"""The one progress model (core/progress.py) and the one job follower (core/follow.py) that the studio and
`sora-tui show --follow` both use: a runner that is starting, one that died, a finished job, a queued one."""

from __future__ import annotations

from pathlib import Path

import pytest

from sora_tui.core import runner
from sora_tui.core.follow import RUNNER_GRACE, STARTING, Follower, RunnerWatch, read_job
from sora_tui.core.models import (
    Job,
    JobStatus,
    JobStatusChanged,
    JoinProgress,
    LogLine,
    Mode,
    Segment,
    SegmentProgress,
    SegmentStatus,
    SegmentStatusChanged,
)
from sora_tui.core.progress import LiveJob
from sora_tui.core.store import Store

T0 = 1_000.0  # monotonic
W0 = 1_800_000_000.0  # wall clock


def _job(tmp_path: Path, status: JobStatus = JobStatus.GENERATING, updated_at: float = W0) -> Job:
    folder = tmp_path / "job"
    folder.mkdir(exist_ok=True)
    return Job(
        id="20260101-000000-abcdef",
        prompt="p",
        model="preview",
        mode=Mode.CHAIN,
        status=status,
        folder=str(folder),
        created_at=updated_at,
        updated_at=updated_at,
    )


RENDERER = runner.Holder(4242, "box", W0)
FINISHER = runner.Holder(4343, "box", W0, detached=True, task="finish")


# --- whether the runner lives: one rule, one grace ----------------------------------------------------


def test_a_runner_that_never_takes_the_lease_is_starting_for_the_grace_then_interrupted(tmp_path: Path) -> None:
    job = _job(tmp_path, updated_at=W0 - 5)  # a job that says it renders, its row changed 5 s ago
    watch = RunnerWatch()
    watch.begin(job, now=T0, wall=W0)
    alive = watch.look(job, None, now=T0 + 1)
    assert (alive.state, alive.running, alive.busy) == (STARTING, True, True)
    alive = watch.look(job, None, now=T0 + RUNNER_GRACE - 5 - 0.1)  # what was left of the grace
    assert alive.state == STARTING
    alive = watch.look(job, None, now=T0 + RUNNER_GRACE - 5 + 0.1)
    assert (alive.state, alive.running, alive.busy) == (runner.INTERRUPTED, False, False)


def test_a_job_whose_row_is_older_than_the_grace_is_interrupted_at_once(tmp_path: Path) -> None:
    job = _job(tmp_path, updated_at=W0 - RUNNER_GRACE - 1)
    watch = RunnerWatch()
    watch.begin(job, now=T0, wall=W0)
    assert watch.look(job, None, now=T0).state == runner.INTERRUPTED


def test_a_runner_seen_holding_the_lease_and_gone_died_and_is_interrupted_at_once(tmp_path: Path) -> None:
    job = _job(tmp_path)
    watch = RunnerWatch()
    watch.expect(now=T0, wall=W0)  # this front end just started it: the grace runs
    assert watch.look(job, None, now=T0 + 1).state == STARTING
    alive = watch.look(job, RENDERER, now=T0 + 2)
    assert (alive.state, alive.running, alive.runner) == ("generating", True, "process 4242 on host box")
    alive = watch.look(job, None, now=T0 + 3)  # well inside the grace, but it had taken the lease: it died
    assert (alive.state, alive.running) == (runner.INTERRUPTED, False)


def test_a_status_from_before_the_start_says_nothing_about_the_new_runner(tmp_path: Path) -> None:
    old = _job(tmp_path, JobStatus.COMPLETED, updated_at=W0 - 60)  # a redo: the row still says completed
    watch = RunnerWatch()
    watch.expect(now=T0, wall=W0)
    assert watch.look(old, None, now=T0 + 1).state == STARTING
    done = _job(tmp_path, JobStatus.COMPLETED, updated_at=W0 + 5)  # written by the new runner, which is gone
    alive = watch.look(done, None, now=T0 + 6)
    assert (alive.state, alive.running, alive.busy) == ("completed", False, False)


@pytest.mark.parametrize("status", [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.AWAITING_REVIEW])
def test_a_job_at_rest_ends_the_follow_with_its_state(tmp_path: Path, status: JobStatus) -> None:
    job = _job(tmp_path, status, updated_at=W0 - 1)  # fresh, but not working: no grace
    watch = RunnerWatch()
    watch.begin(job, now=T0, wall=W0)
    alive = watch.look(job, None, now=T0)
    assert (alive.state, alive.busy) == (str(status), False)


def test_a_job_waiting_in_the_queue_is_followed_on_and_never_interrupted(tmp_path: Path) -> None:
    job = _job(tmp_path, JobStatus.QUEUED, updated_at=W0 - 3600)
    (job.job_dir / runner.QUEUED_FILE).write_text("1\n")
    watch = RunnerWatch()
    watch.begin(job, now=T0, wall=W0)
    alive = watch.look(job, None, now=T0 + 3600)
    assert (alive.state, alive.running, alive.busy) == ("queued", True, True)
    (job.job_dir / runner.QUEUED_FILE).unlink()  # out of the queue, no runner holds it: interrupted
    assert watch.look(job, None, now=T0 + 3600).state == runner.INTERRUPTED


def test_a_task_holds_the_job_without_rendering_it(tmp_path: Path) -> None:
    job = _job(tmp_path, JobStatus.COMPLETED)
    alive = RunnerWatch().look(job, FINISHER, now=T0)
    assert (alive.running, alive.task, alive.busy, alive.state) == (False, "finish", True, "completed")


# --- the follower: the event log, the lease, the rows ----------------------------------------------------


def _stored(tmp_path: Path, status: JobStatus) -> tuple[Store, Job]:
    store = Store(tmp_path / "db.sqlite3")
    job = _job(tmp_path, status)
    store.create_job(job, [Segment(job.id, i, f"s{i}", 4) for i in (1, 2)])
    return store, job


def test_the_follower_reads_new_events_the_lease_and_the_final_state(tmp_path: Path) -> None:
    store, job = _stored(tmp_path, JobStatus.GENERATING)
    log = runner.EventLog(job.job_dir)
    log.append(LogLine(job.id, "before the follow"))  # already in the rows: not read again
    follower = Follower.from_end(job.job_dir)
    watch = RunnerWatch()
    with runner.Lease(job.job_dir, job.id):
        first = follower.read(store, job.id, now=T0)
        assert first is not None and first.events == [] and first.segments is not None and first.log is not None
        assert first.holder is not None and watch.look(first.job, first.holder, now=T0).running
        assert follower.read(store, job.id, now=T0 + 0.1) is None  # nothing new
        log.append(SegmentStatusChanged(job.id, 1, SegmentStatus.DONE))
        reading = follower.read(store, job.id, now=T0 + 0.2)
        assert reading is not None and reading.events == [SegmentStatusChanged(job.id, 1, SegmentStatus.DONE)]
        assert reading.segments is not None  # a status event: the rows are read again
        store.update_job(job.id, status=JobStatus.COMPLETED)  # the runner writes its end, then lets go
    log.close()
    last = follower.read(store, job.id, now=T0 + 0.3)  # the holder changed: rows read
    assert last is not None and last.holder is None and last.job.status is JobStatus.COMPLETED
    alive = watch.look(last.job, last.holder, now=T0 + 0.3)
    assert (alive.state, alive.busy) == ("completed", False)
    store.close()


def test_a_killed_runner_is_reported_interrupted_by_the_follower(tmp_path: Path) -> None:
    store, job = _stored(tmp_path, JobStatus.GENERATING)
    follower = Follower.from_end(job.job_dir)
    watch = RunnerWatch()
    lease = runner.Lease(job.job_dir, job.id).acquire()
    reading = follower.read(store, job.id, now=T0)
    assert reading is not None and watch.look(reading.job, reading.holder, now=T0).state == "generating"
    lease.release()  # what the kernel does when the runner dies: the row still says generating
    reading = follower.read(store, job.id, now=T0 + 0.2)
    assert reading is not None and reading.job.status is JobStatus.GENERATING
    assert watch.look(reading.job, reading.holder, now=T0 + 0.2).state == runner.INTERRUPTED
    got = read_job(store, job.id)
    assert got is not None and got.holder is None and runner.display_status(got.job, None) == runner.INTERRUPTED
    store.close()


# --- the progress model ---------------------------------------------------------------------------------


def test_progress_by_stage_segments_weighted_by_length_then_the_join(tmp_path: Path) -> None:
    job = _job(tmp_path)
    live = LiveJob.from_rows(job, [Segment(job.id, 1, "a", 4), Segment(job.id, 2, "b", 12)], [], [])
    assert live.overall == 0.0 and live.segments[1].label == "pending"
    live.apply(SegmentStatusChanged(job.id, 1, SegmentStatus.RUNNING))
    live.apply(SegmentProgress(job.id, 1, 0.5, "rendering"))
    assert live.segments[1].fraction == pytest.approx(0.05 + 0.8 * 0.5)
    assert live.segments[1].label == "rendering"
    live.apply(SegmentProgress(job.id, 1, None, "queued", queue_position=3, message="queue position 3"))
    assert live.segments[1].label == "queued #3"
    assert live.segments[1].fraction == pytest.approx(0.45)  # never goes back while it renders
    live.apply(SegmentProgress(job.id, 1, 0.2, "rendering", message="denoising step 10 of 50"))
    assert live.segments[1].label == "denoising step 10 of 50"
    live.apply(SegmentStatusChanged(job.id, 1, SegmentStatus.DONE))
    assert live.segments[1].fraction == 1.0 and live.segments[1].label == "done"
    assert live.overall == pytest.approx(0.9 * 4 / 16)  # segment 1 is a quarter of the seconds
    live.apply(SegmentStatusChanged(job.id, 2, SegmentStatus.DONE))
    live.apply(JobStatusChanged(job.id, JobStatus.JOINING))
    live.apply(JoinProgress(job.id, 0.5))
    assert live.overall == pytest.approx(0.9 + 0.05)
    live.apply(JobStatusChanged(job.id, JobStatus.COMPLETED))
    assert live.overall == 1.0 and live.join_fraction == 1.0


def test_a_failed_segment_starts_again_from_nothing_and_its_eta_follows_its_progress(tmp_path: Path) -> None:
    job = _job(tmp_path)
    live = LiveJob.from_rows(job, [Segment(job.id, 1, "a", 4)], [], [])
    seg = live.segments[1]
    seg.started_at = 100.0
    live.apply(SegmentStatusChanged(job.id, 1, SegmentStatus.RUNNING))
    live.apply(SegmentProgress(job.id, 1, 0.5, "rendering"))  # 0.45 done after 45 s: 55 s to go
    assert seg.eta(145.0) == pytest.approx(45.0 * 0.55 / 0.45)
    live.apply(SegmentStatusChanged(job.id, 1, SegmentStatus.FAILED))
    assert seg.fraction == 0.0 and seg.eta(150.0) is None


# --- `sora-tui show --follow` uses the same rule -----------------------------------------------------------


def test_show_follow_waits_with_a_queued_job_and_ends_with_its_outcome(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A job in the queue waits for the scheduler: the follow goes on (it used to give up after 3 s and exit 1
    saying "queued"), and it ends when the job does."""
    import threading

    from sora_tui.cli import main
    from sora_tui.core import queue
    from sora_tui.core.engine import Engine
    from sora_tui.core.models import Plan, SegmentPlan

    engine = Engine()
    plan = Plan(
        prompt="a paper boat",
        model="preview",
        resolution="180p",
        aspect="16:9",
        segments=[SegmentPlan(prompt="a paper boat, part 1", seconds=1)],
        mode=Mode.CHAIN,
        audio=False,
    )
    job = engine.create_job(plan, status=JobStatus.QUEUED)
    queue.add(engine.store, job)
    assert runner.live_status(job) == "queued"
    codes: list[int] = []
    follow = threading.Thread(target=lambda: codes.append(main(["show", "--follow", job.id])))
    follow.start()
    follow.join(4.0)  # longer than the old 3 s give-up
    assert follow.is_alive(), capsys.readouterr().err
    engine.store.update_job(job.id, status=JobStatus.COMPLETED, output=str(job.job_dir / "final.mp4"))
    (job.job_dir / runner.QUEUED_FILE).unlink()
    follow.join(10.0)
    assert not follow.is_alive() and codes == [0]
    err = capsys.readouterr().err
    assert f"following job {job.id} (queued)" in err and "interrupted" not in err
    engine.store.close()
