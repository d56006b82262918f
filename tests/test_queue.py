"""The queue's rules (core/queue.py), its store rows, the slot semaphore (core/slots.py), batch files
(core/batch.py) and the `queue` / `batch` commands in process. No runner starts here: the
processes are tests/test_queue_procs.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sora_tui import cli
from sora_tui.core import queue, runner, slots
from sora_tui.core.engine import Engine
from sora_tui.core.errors import Code
from sora_tui.core.models import InputError, Job, JobStatus, Mode, Plan, SegmentPlan


def plan(prompt: str = "a paper boat on a rainy street", n: int = 1) -> Plan:
    return Plan(
        prompt=prompt,
        model="preview",
        resolution="180p",
        aspect="16:9",
        segments=[SegmentPlan(prompt=f"{prompt}, part {i}", seconds=1) for i in range(1, n + 1)],
        mode=Mode.CHAIN,
        audio=False,
    )


@pytest.fixture
def engine(home: Path) -> Engine:
    return Engine()


def job(i: int, cost: float = 0.0, spent: float = 0.0) -> Job:
    return Job(
        id=f"j{i}",
        prompt=f"job {i}",
        model="preview",
        mode=Mode.CHAIN,
        status=JobStatus.QUEUED,
        estimated_cost_usd=cost,
        cost_usd=spent,
    )


def entry(i: int, **kw: Any) -> queue.Entry:
    return queue.Entry(job_id=f"j{i}", position=float(i), **kw)


# --- the rule -------------------------------------------------------------------------------------


def test_six_queued_five_start_the_sixth_waits_and_starts_when_one_ends() -> None:
    rows = [entry(i) for i in range(6)]
    jobs = {f"j{i}": job(i) for i in range(6)}
    first = queue.assess(rows, jobs, set(), queue.Limits(5), False, {})
    assert [r.state for r in first] == [queue.NEXT] * 5 + [queue.WAITING]
    assert first[5].waits_for == "a free job slot (5 of 5 jobs running)" and first[5].position == 6
    # five run: the sixth still waits (now first in line)
    running = {f"j{i}" for i in range(5)}
    rows = [entry(i, started_at=1.0) for i in range(5)] + [entry(5)]
    now = queue.assess(rows, jobs, running, queue.Limits(5), False, {})
    assert [r.state for r in now] == [queue.RUNNING] * 5 + [queue.WAITING] and now[5].position == 1
    # one ends (its runner is gone, its row stays until the scheduler drops it): the sixth starts
    jobs["j2"].status = JobStatus.COMPLETED
    after = queue.assess(rows, jobs, running - {"j2"}, queue.Limits(5), False, {})
    assert [r.job_id for r in after if r.state == queue.NEXT] == ["j5"]
    assert "j2" not in [r.job_id for r in after]


def test_paused_rows_and_a_paused_queue() -> None:
    rows = [entry(0, paused=True), entry(1), entry(2)]
    jobs = {f"j{i}": job(i) for i in range(3)}
    out = queue.assess(rows, jobs, set(), queue.Limits(1), False, {})
    assert [r.state for r in out] == [queue.PAUSED, queue.NEXT, queue.WAITING]  # a paused job holds up nobody
    assert out[0].waits_for == queue.JOB_PAUSED == "the job to resume"
    out = queue.assess(rows, jobs, set(), queue.Limits(1), True, {})
    assert [r.state for r in out] == [queue.PAUSED] * 3
    assert out[1].waits_for == queue.QUEUE_PAUSED == "the queue to resume"


def test_batch_cap_holds_the_job_that_would_cross_it_and_lets_others_pass() -> None:
    jobs = {f"j{i}": job(i, cost=0.4) for i in range(5)}
    jobs["j4"].estimated_cost_usd = 0.1
    batch = queue.Batch("b1", "night", 1.3, 0.0, ["j0", "j1", "j2", "j3", "j4"])
    rows = [entry(i, batch_id="b1") for i in range(5)]
    out = queue.assess(rows, jobs, set(), queue.Limits(5), False, {"b1": batch})
    assert [r.state for r in out] == [queue.NEXT] * 3 + [queue.HELD, queue.NEXT]
    assert out[3].waits_for == "held: batch cap ($1.20 spent or committed + $0.40 would cross the cap of $1.30)"
    # three ran and spent $0.40 each: the fourth is still held, the cap is never crossed
    for i in range(3):
        jobs[f"j{i}"].cost_usd, jobs[f"j{i}"].status = 0.4, JobStatus.COMPLETED
    rows = [entry(3, batch_id="b1")]
    out = queue.assess(rows, jobs, set(), queue.Limits(5), False, {"b1": batch})
    assert out[0].state == queue.HELD
    # a running job of the batch counts with its estimate; the runner's own cap is what is left
    row = queue.assess([entry(4, batch_id="b1")], jobs, set(), queue.Limits(5), False, {"b1": batch})[0]
    assert queue.runner_budget(row, {"b1": batch}, jobs, set()) == pytest.approx(0.1)
    # with room to spare a runner still gets its own estimate: no job eats into what others were promised
    roomy = queue.Batch("b2", "night", 5.0, 0.0, batch.jobs)
    assert queue.runner_budget(row, {"b1": roomy}, jobs, set()) == pytest.approx(0.1)
    own = queue.assess([entry(4, batch_id="b1", options={"max_cost": 0.05})], jobs, set(), queue.Limits(5), False, {})[
        0
    ]
    assert queue.runner_budget(own, {"b1": roomy}, jobs, set()) == pytest.approx(0.05)
    spend = queue.batch_spend(batch, jobs, {"j3"})
    assert spend.spent == pytest.approx(1.2) and spend.committed == pytest.approx(1.6)


# --- the store rows -------------------------------------------------------------------------------


def test_add_move_pause_drop_and_honest_state(engine: Engine) -> None:
    jobs = [engine.create_job(plan(f"p{i}")) for i in range(4)]
    for j in jobs:
        queue.add(engine.store, j)
    queue.add(engine.store, jobs[0])  # already queued: keeps its place
    assert [e.job_id for e in queue.entries(engine.store)] == [j.id for j in jobs]
    assert queue.move(engine.store, jobs[3].id, "top") == 1
    assert queue.move(engine.store, jobs[3].id, "down") == 2
    assert queue.move(engine.store, jobs[0].id, "4") == 4
    assert queue.move(engine.store, jobs[0].id, "up") == 3
    assert [e.job_id for e in queue.entries(engine.store)] == [jobs[3].id, jobs[1].id, jobs[0].id, jobs[2].id]
    with pytest.raises(InputError, match="outside the queue's positions 1-4"):
        queue.move(engine.store, jobs[0].id, "9")
    with pytest.raises(InputError, match="is not up, down, top, bottom or a position"):
        queue.move(engine.store, jobs[0].id, "sideways")
    # a queued job with no runner is "queued", not "interrupted"; out of the queue it is interrupted
    fresh = engine.store.get_job(jobs[2].id)
    assert fresh is not None
    assert runner.live_status(fresh) == "queued"
    queue.drop(engine.store, fresh)
    assert runner.live_status(fresh) == runner.INTERRUPTED
    queue.set_paused(engine.store, True, jobs[1].id)
    assert queue.job_paused(engine.store, jobs[1].id) and not queue.job_paused(engine.store, jobs[3].id)
    queue.set_paused(engine.store, True)
    assert queue.job_paused(engine.store, jobs[3].id) == queue.QUEUE_PAUSED
    with pytest.raises(InputError, match="is not in the queue") as info:
        queue.set_paused(engine.store, True, jobs[2].id)
    assert info.value.code is Code.NOT_QUEUED and info.value.context == {"job": jobs[2].id}
    snap = queue.snapshot(engine.store, 5, live=lambda j: False)
    assert [r.state for r in snap.rows] == [queue.PAUSED] * 3


def test_a_completed_job_is_not_queued(engine: Engine, tmp_path: Path) -> None:
    j = engine.create_job(plan())
    out = tmp_path / "v.mp4"
    out.write_bytes(b"x")
    engine.store.update_job(j.id, status=JobStatus.COMPLETED, output=str(out))
    done = engine.store.get_job(j.id)
    assert done is not None
    with pytest.raises(InputError, match="already complete"):
        queue.add(engine.store, done)


# --- slots ----------------------------------------------------------------------------------------


def test_slots_are_a_shared_semaphore(tmp_path: Path) -> None:
    a = slots.try_take(tmp_path, "fal", 2)
    b = slots.try_take(tmp_path, "fal", 2)
    assert a is not None and b is not None and {a.index, b.index} == {0, 1}
    assert slots.try_take(tmp_path, "fal", 2) is None
    assert slots.in_use(tmp_path, "fal", 2) == 2
    a.release()
    assert slots.in_use(tmp_path, "fal", 2) == 1
    c = slots.try_take(tmp_path, "fal", 2)
    assert c is not None and c.index == 0
    b.release()
    c.release()
    assert slots.in_use(tmp_path, "fal", 2) == 0


# --- batch files and the commands -------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_batch_refuses_every_bad_line_and_queues_nothing(
    engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "night.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"prompt": "a lighthouse at night", "segments": 2, "seconds": 4, "model": "preview"}),
                json.dumps({"prompt": "a fox in snow", "segments": "many", "model": "preview"}),
                "# a comment, skipped",
                json.dumps({"prompt": "a harbour", "colour": "warm", "model": "preview"}),
                '{"prompt": "broken',
                json.dumps({"prompt": "a desert", "model": "no-such-model"}),
                json.dumps({"prompt": "", "model": "preview"}),
            ]
        )
        + "\n"
    )
    code, out, err = run_cli(capsys, "batch", str(path), "--yes")
    assert code == cli.EXIT_INPUT
    assert "line 5, field (json): not valid JSON" in err  # a line that is not JSON stops the file at once
    path.write_text("\n".join(line for line in path.read_text().splitlines() if "broken" not in line) + "\n")
    code, out, err = run_cli(capsys, "batch", str(path), "--yes")
    assert code == cli.EXIT_INPUT
    assert "4 problems, nothing was queued" in err
    assert "line 2, field segments: 'many' is not a whole number" in err
    assert "line 4, field colour: is not a batch field" in err
    assert "line 5, field model:" in err and "no-such-model" in err
    assert "line 6, field prompt: is missing or empty" in err
    assert "line 1" not in err
    assert engine.store.list_jobs() == [] and queue.entries(engine.store) == []

    csv = tmp_path / "night.csv"
    csv.write_text(
        "prompt,segments,seconds,model,crossfade,output\n"
        "a lighthouse,2,4,preview,,out/a.mp4\n"
        "a fox,2,7,preview,5000,\n"
        "a hare,1,4,preview,80,no-such-folder/b.mp4\n"
    )
    (tmp_path / "out").mkdir()
    code, out, err = run_cli(capsys, "batch", str(csv), "--yes")
    assert code == cli.EXIT_INPUT and "line 3, field crossfade: 5000.0 is out of range" in err
    assert "line 4, field output:" in err and "no-such-folder" in err and "line 2" not in err
    assert engine.store.list_jobs() == []


def test_batch_plan_only_writes_plans_and_queues_nothing(
    engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "two.csv"
    path.write_text("prompt,segments,seconds,model\na lighthouse,2,4,preview\na fox,1,4,preview\n")
    code, out, err = run_cli(capsys, "batch", str(path), "--plan-only")
    assert code == 0, err
    assert "2 jobs, estimated $0.00" in out
    plans = sorted((tmp_path / "two.csv.plans").glob("line-*.json"))
    assert [p.name for p in plans] == ["line-002.json", "line-003.json"]
    assert len(Plan.from_dict(json.loads(plans[0].read_text())).segments) == 2
    assert engine.store.list_jobs() == [] and queue.entries(engine.store) == []
    # a reviewed plan goes back in as a plan line
    back = tmp_path / "reviewed.jsonl"
    back.write_text(
        json.dumps({"plan": str(plans[1]), "max_cost": 1}) + "\n" + json.dumps({"plan": "gone.json"}) + "\n"
    )
    code, out, err = run_cli(capsys, "batch", str(back), "--yes")
    assert code == cli.EXIT_INPUT and "line 2, field plan:" in err and "gone.json does not exist" in err


def test_queue_commands_name_what_to_fix(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "queue", "--json")
    assert code == 0 and json.loads(out)["jobs"] == [] and json.loads(out)["max_jobs"] == 5
    j = engine.create_job(plan())
    code, out, err = run_cli(capsys, "queue", "move", j.id, "up")
    assert code == cli.EXIT_INPUT and f"job {j.id} is not in the queue" in err
    code, out, err = run_cli(capsys, "queue", "rm", j.id)
    assert code == cli.EXIT_INPUT and "is not in the queue" in err
    queue.add(engine.store, j, paused=True)
    queue.set_paused(engine.store, True)  # no scheduler starts anything in this test
    code, out, err = run_cli(capsys, "queue")
    assert code == 0 and "PAUSED" in out and j.id in out and "paused" in out
    code, out, err = run_cli(capsys, "stop", j.id)
    assert code == cli.EXIT_INPUT and f"waits in the queue; `sora-tui queue rm {j.id}` takes it out" in err
    code, out, err = run_cli(capsys, "queue", "rm", j.id)
    assert code == 0 and "taken out of the queue" in out
    cancelled = engine.store.get_job(j.id)
    assert queue.entries(engine.store) == [] and cancelled is not None and cancelled.status is JobStatus.CANCELLED
    code, out, err = run_cli(capsys, "batch", "status", "nope")
    assert code == cli.EXIT_INPUT and "'nope' is not a batch" in err


def test_detach_queues_the_job_and_says_where_it_stands(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    queue.set_paused(engine.store, True)  # the scheduler it starts finds nothing to do and leaves
    code, out, err = run_cli(
        capsys, "generate", "a paper boat", "--model", "preview", "-n", "1", "--yes", "--detach", "--json"
    )
    assert code == 0, err
    shown = json.loads(out.strip().splitlines()[-1])
    assert shown["status"] == "queued" and shown["position"] == 1 and "runner_pid" not in shown
    assert shown["waits_for"] == "the queue to resume"
    job_id = shown["job_id"]
    assert [e.job_id for e in queue.entries(engine.store)] == [job_id]
    queued = engine.store.get_job(job_id)
    assert queued is not None and runner.live_status(queued) == "queued"
    code, out, err = run_cli(capsys, "show", job_id, "--json")
    assert code == 0 and json.loads(out)["status"] == "queued"
