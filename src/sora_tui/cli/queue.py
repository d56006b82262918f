"""`sora-tui queue | batch`: the box's job queue and batches on the command line.

Registered by :mod:`sora_tui.cli`; same exit codes (0 done, 1 failed, 2 bad input, 130 interrupted).
The rules live in core/queue.py and core/batch.py; this module only words them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core.engine import Engine
    from ..core.models import Job
    from ..core.queue import Row, Snapshot

from .common import EXIT_INTERRUPTED, EXIT_OK, _confirm, _err

QUEUE_ACTIONS = ["list", "move", "pause", "resume", "rm"]


def add_parsers(sub: Any, money: Any) -> None:
    p = sub.add_parser(
        "queue",
        help="the job queue: list, move JOB up|down|top|bottom|N, pause|resume [JOB], rm JOB",
        description="Jobs handed to the background (generate/render --detach, the studio, batch) wait here; "
        "a scheduler starts them while the limits allow (settings queue_max_jobs, fal_slots).",
    )
    p.add_argument("action", nargs="?", default="list", choices=QUEUE_ACTIONS)
    p.add_argument("job", nargs="?", help="job id, unique prefix, or `last`")
    p.add_argument("where", nargs="?", help="move: up, down, top, bottom or a position N")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser(
        "batch",
        help="queue many jobs from a JSON Lines or CSV file (one job a line), or `batch status ID`",
        description="Each line: a prompt and any generate option (segments, seconds, model, …), or a plan file. "
        "Every line is checked first; one bad line refuses the whole batch.",
    )
    p.add_argument("file", help="the batch file (.jsonl or .csv), or `status`")
    p.add_argument("batch_id", nargs="?", help="with `status`: the batch id (or `last`)")
    p.add_argument("--max-cost", type=money, help="cap for the whole batch in USD: a job that would cross it is held")
    p.add_argument("--plan-only", action="store_true", help="plan every line and write the plans for review")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument("--json", action="store_true")


def _short(text: str, width: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _snapshot(engine: Engine) -> Snapshot:
    from ..core import queue

    return queue.snapshot(engine.store, engine.settings.queue_max_jobs)


def _row_line(row: Row) -> str:
    pos = f"{row.position:>3}" if row.position else "  -"
    waits = f"  waits for {row.waits_for}" if row.waits_for and not row.waits_for.startswith("held") else ""
    if row.waits_for.startswith("held"):
        waits = f"  {row.waits_for}"
    batch = f" [{row.entry.batch_id}]" if row.entry.batch_id else ""
    return f"{pos}  {row.job_id}  {row.state:<8} ${row.estimate:>6.2f}  {_short(row.job.prompt)}{batch}{waits}"


def queue_json(engine: Engine, snap: Snapshot) -> dict[str, Any]:
    from ..core import scheduler

    who = scheduler.running(engine.env)
    return {
        "paused": snap.paused,
        "max_jobs": engine.settings.queue_max_jobs,
        "fal_slots": engine.settings.fal_slots,
        "scheduler_pid": who.pid if who is not None else None,
        "jobs": [r.to_dict() for r in snap.rows],
        "batches": [
            {
                "id": b.id,
                "name": b.name,
                "max_cost": b.max_cost,
                "spent_usd": snap.batch_spend(b).spent,
                "committed_usd": snap.batch_spend(b).committed,
                "jobs": b.jobs,
            }
            for b in snap.batches.values()
        ],
    }


def print_queue(engine: Engine, snap: Snapshot) -> None:
    from ..core import scheduler

    running = sum(1 for r in snap.rows if r.state == "running")
    waiting = len(snap.rows) - running
    who = scheduler.running(engine.env)
    head = f"queue: {running} running (at most {engine.settings.queue_max_jobs}), {waiting} waiting"
    if snap.paused:
        head += "; PAUSED (`sora-tui queue resume` resumes)"
    head += f"; scheduler {'process ' + str(who.pid) if who else 'not running'}"
    print(head)
    if not snap.rows:
        print("  nothing queued")
    for row in snap.rows:
        print(_row_line(row))
    for b in snap.batches.values():
        spend = snap.batch_spend(b)
        cap = f" of a cap of ${b.max_cost:.2f}" if b.max_cost is not None else ""
        print(f"batch {b.id} ({b.name}): ${spend.spent:.2f} spent{cap}, {len(b.jobs)} jobs")


def cmd_queue(engine: Engine, args: argparse.Namespace) -> int:
    from ..core import queue, scheduler
    from ..core.models import InputError

    action = args.action
    if action == "list":
        if args.job:
            raise InputError("queue", f"unknown action {args.job!r}", QUEUE_ACTIONS)
        snap = _snapshot(engine)
        if not scheduler.idle(snap, []) and scheduler.running(engine.env) is None:
            # work left and no scheduler (killed, or the box restarted): start it again
            scheduler.ensure(engine.env)
        if args.json:
            print(json.dumps(queue_json(engine, snap), indent=2))
        else:
            print_queue(engine, snap)
        return EXIT_OK
    job: Job | None = engine.find_job(args.job) if args.job else None
    if action == "move":
        if job is None or not args.where:
            raise InputError("move", "give a job and where: `sora-tui queue move JOB up|down|top|bottom|N`")
        pos = queue.move(engine.store, job.id, args.where)
        scheduler.ensure(engine.env)
        print(f"job {job.id} is now at position {pos}")
    elif action in ("pause", "resume"):
        paused = action == "pause"
        queue.set_paused(engine.store, paused, job.id if job else None)
        what = f"job {job.id}" if job else "the queue"
        if paused:
            note = "no new job starts" if job is None else "it does not start"
            print(f"{what} paused: {note}, and runners start no new provider request (those in flight finish)")
        else:
            scheduler.ensure(engine.env)
            print(f"{what} resumed")
    elif action == "rm":
        if job is None:
            raise InputError("rm", "give the job to take out of the queue: `sora-tui queue rm JOB`")
        entry = queue.entry(engine.store, job.id)
        if entry is None:
            raise InputError("job", f"job {job.id} is not in the queue; see `sora-tui queue`")
        snap = _snapshot(engine)
        if job.id in snap.running:
            raise InputError("job", f"job {job.id} is running; stop it with `sora-tui stop {job.id}`")
        queue.drop(engine.store, job)
        from ..core.models import JobStatus

        if job.status is JobStatus.QUEUED:
            engine.store.update_job(job.id, status=JobStatus.CANCELLED, error="taken out of the queue")
        engine.store.log(job.id, "taken out of the queue")
        print(f"job {job.id} taken out of the queue (it stays in the history: `sora-tui resume {job.id}` renders it)")
    if args.json:
        print(json.dumps(queue_json(engine, _snapshot(engine)), indent=2))
    return EXIT_OK


def detach_to_queue(engine: Engine, job: Job, args: argparse.Namespace, review: bool) -> int:
    """`generate|render|resume|redo --detach`: put the job in the queue; print where it stands."""
    from ..core import queue

    options = {"max_cost": args.max_cost, "review_keyframes": review, "output": args.output}
    queue.enqueue(engine, job, options={k: v for k, v in options.items() if v})
    snap = _snapshot(engine)
    row = queue.position_of(snap, job.id)
    follow, stop, listing = f"sora-tui show --follow {job.id}", f"sora-tui stop {job.id}", "sora-tui queue"
    position = row.position if row is not None else None
    waits = row.waits_for if row is not None else ""
    if args.json:
        out = {"job_id": job.id, "status": "queued", "position": position, "waits_for": waits or None}
        print(json.dumps(out | {"follow": follow, "stop": stop, "queue": listing}))
    else:
        where = f" at position {position}" if position else ""
        print(f"job {job.id} is queued{where}" + (f"; it waits for {waits}" if waits else "; it starts shortly"))
        print(f"  follow it: {follow}\n  the queue: {listing}\n  take it out: sora-tui queue rm {job.id}", flush=True)
    return EXIT_OK


async def cmd_batch(engine: Engine, args: argparse.Namespace) -> int:
    from ..core import batch as batches
    from ..core import queue
    from ..core.costs import over_cap

    if args.file == "status" and args.batch_id:
        return batch_status(engine, args.batch_id, args.json)
    if args.batch_id:
        from ..core.models import InputError

        raise InputError("batch", f"unexpected {args.batch_id!r}; `sora-tui batch FILE` or `sora-tui batch status ID`")
    path = Path(args.file).expanduser()
    lines = batches.read(engine, path)  # every line checked: one bad line refuses the batch (exit 2)
    planned = await batches.plan_all(engine, lines)
    total = round(sum(cost for _, cost in planned), 4)
    out = sys.stderr if args.json else sys.stdout
    for line, cost in planned:
        assert line.plan is not None
        plan = line.plan
        print(
            f"line {line.line:>3}: {len(plan.segments)} × {plan.segments[0].seconds} s on {plan.model}  "
            f"${cost:.2f}  {_short(plan.prompt, 50)}",
            file=out,
        )
    cap = args.max_cost
    note = ""
    if over_cap(total, cap):
        note = f"; the cap of ${cap:.2f} holds the jobs that would cross it (`held: batch cap`)"
    print(
        f"{len(planned)} jobs, estimated ${total:.2f}" + (f", capped at ${cap:.2f}" if cap is not None else "") + note,
        file=out,
    )
    if args.plan_only:
        folder = path.with_name(path.name + ".plans")
        folder.mkdir(exist_ok=True)
        written = []
        for line, _ in planned:
            assert line.plan is not None
            written.append(str(engine.save_plan_file(line.plan, folder / f"line-{line.line:03d}.json")))
        if args.json:
            print(json.dumps({"plans": written, "estimated_cost_usd": total}, indent=2))
        else:
            print(f'plans written to {folder}; edit them, then queue them with lines like {{"plan": "{written[0]}"}}')
        return EXIT_OK
    if total > 0 and not args.yes and not _confirm(f"Queue {len(planned)} jobs for about ${total:.2f}?"):
        _err("nothing queued")
        return EXIT_INTERRUPTED
    jobs = []
    for line, _ in planned:
        assert line.plan is not None
        jobs.append((engine.create_job(line.plan), line))
    b = queue.create_batch(engine.store, path.name, cap, [job.id for job, _ in jobs])
    for job, line in jobs:
        queue.enqueue(engine, job, options=dict(line.options), batch_id=b.id, start=False)
    from ..core import scheduler

    scheduler.ensure(engine.env)
    if args.json:
        print(json.dumps({"batch_id": b.id, "jobs": [j.id for j, _ in jobs], "estimated_cost_usd": total}))
    else:
        print(f"batch {b.id}: {len(jobs)} jobs queued; `sora-tui batch status {b.id}` or `sora-tui queue`")
    return EXIT_OK


def batch_status(engine: Engine, ref: str, as_json: bool) -> int:
    from ..core import queue
    from ..core.runner import live_status

    b = queue.find_batch(engine.store, ref)
    snap = _snapshot(engine)
    rows = {r.job_id: r for r in snap.rows}
    jobs = [j for j in (engine.store.get_job(jid) for jid in b.jobs) if j is not None]
    running = {j.id for j in jobs if rows.get(j.id) is not None and rows[j.id].state == "running"}
    spend = queue.batch_spend(b, {j.id: j for j in jobs}, running)
    items = []
    for j in jobs:
        row = rows.get(j.id)
        items.append(
            {
                "job_id": j.id,
                "status": row.state if row is not None else live_status(j),
                "waits_for": (row.waits_for or None) if row is not None else None,
                "cost_usd": round(j.cost_usd, 4),
                "estimated_cost_usd": round(j.estimated_cost_usd, 4),
                "output": j.output,
            }
        )
    if as_json:
        print(
            json.dumps(
                {"batch_id": b.id, "name": b.name, "max_cost": b.max_cost, "spent_usd": spend.spent, "jobs": items},
                indent=2,
            )
        )
        return EXIT_OK
    cap = f" of a cap of ${b.max_cost:.2f}" if b.max_cost is not None else ""
    print(f"batch {b.id} ({b.name}): {len(jobs)} jobs, ${spend.spent:.2f} spent{cap}")
    for it in items:
        waits = f"  {it['waits_for']}" if it["waits_for"] else ""
        print(f"  {it['job_id']}  {it['status']:<10} ${it['cost_usd']:.2f} of ${it['estimated_cost_usd']:.2f}{waits}")
    return EXIT_OK


ASYNC_HANDLERS = {"batch": cmd_batch}
SYNC_HANDLERS = {"queue": cmd_queue}
