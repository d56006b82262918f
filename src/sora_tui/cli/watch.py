"""Looking at jobs: history, show, show --follow, stop."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from .advice import job_error
from .common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CliError, _err
from .progress import ProgressView
from .render import _console, _x, history_cells, job_summary, print_plan, print_seams

if TYPE_CHECKING:
    from ..core.engine import Engine
    from ..core.models import Job


def cmd_history(engine: Engine, args: argparse.Namespace) -> int:

    from ..core.models import InputError, JobStatus
    from ..core.runner import live_status

    statuses = [str(s) for s in JobStatus] + ["interrupted"]
    if args.status and args.status not in statuses:
        raise InputError("--status", f"unknown status {args.status!r}", statuses)
    if args.status == "interrupted":  # not a stored status: working jobs that nothing holds
        jobs = [j for j in engine.store.list_jobs(search=args.search) if live_status(j) == "interrupted"]
    else:
        jobs = engine.store.list_jobs(search=args.search, status=args.status)
    if args.json:
        print(
            json.dumps(
                [job_summary(engine, j) | {"prompt": j.prompt, "created_at": j.created_at} for j in jobs], indent=2
            )
        )
        return EXIT_OK
    if not jobs:
        if args.search or args.status:
            print(
                "no job matches "
                + " and ".join(
                    f
                    for f in (f"{args.search!r}" if args.search else "", f"status {args.status}" if args.status else "")
                    if f
                )
            )
        else:
            print('no jobs yet: `sora-tui generate "..."` makes one')
        return EXIT_OK
    if not sys.stdout.isatty():  # piped: one tab-separated line per job, nothing cut
        print("job\tdate\tstatus\tmodel\tduration\tcost\tprompt")
        for j in jobs:
            print("\t".join(history_cells(j)))
        return EXIT_OK
    from rich.table import Table
    from rich.text import Text

    table = Table(title="History")
    table.add_column("job", no_wrap=True, min_width=max(len(j.id) for j in jobs))
    for col in ("date", "status", "model", "duration", "cost"):
        table.add_column(col, no_wrap=True)
    table.add_column("prompt", overflow="ellipsis", no_wrap=True, ratio=1)
    for j in jobs:
        table.add_row(*(Text(c) for c in history_cells(j)))  # outside text: never parsed as markup
    _console().print(table)
    return EXIT_OK


def cmd_show(engine: Engine, args: argparse.Namespace) -> int:
    job = engine.find_job(args.job)
    if args.follow:
        return follow_job(engine, job, args)
    summary = job_summary(engine, job)
    summary["plan"] = job.plan.to_dict() if job.plan else None
    summary["outputs"] = [
        {
            "kind": o.kind,
            "name": o.name,
            "path": o.path,
            "size_bytes": o.size_bytes,
            "removed": o.removed_at is not None,
        }
        for o in engine.store.outputs(job.id, include_removed=True)
    ]
    summary["logs"] = [
        {"ts": r.ts, "level": r.level, "segment": r.index, "message": r.message} for r in engine.store.logs(job.id)
    ]
    if args.json:
        print(json.dumps(summary, indent=2))
        return EXIT_OK
    out = _console()
    runner = summary["runner"]
    held = f" (process {runner['pid']} on {runner['host']})" if runner else ""
    out.print(f"[b]job {job.id}[/b] — {summary['status']}{held} — {job.model}, {job.mode} mode")
    out.print(f"prompt: {job.prompt}", markup=False)
    if job.plan:
        print_plan(engine, job.plan, out)
    for s in summary["segments"]:
        seg = engine.store.segment(job.id, s["index"])
        out.print(
            f"  segment {seg.index:>2}: {s['status']:<11} {seg.file or ''} {('— ' + seg.error) if seg.error else ''}",
            markup=False,
        )
    out.print(f"output: {job.output or '—'}   cost: ${job.cost_usd:.2f}   folder: {job.folder}", markup=False)
    print_seams(job, out)
    from ..core.finish.stage import describe_outputs

    if job.plan is not None and job.plan.metadata:
        meta = job.plan.metadata
        out.print(f"title: {meta.title}   {' '.join(meta.hashtags)}", markup=False)
    for line in describe_outputs(engine.store.outputs(job.id, include_removed=True)):
        out.print(f"  {line}", markup=False)
    if job.error:
        out.print(f"[red]error:[/red] {_x(job_error(job.error, job.error_code, job.error_context))}")
    out.print("[b]log[/b]")
    for r in engine.store.logs(job.id, tail=30):
        out.print(f"  {r.level:<7} {r.message}", markup=False)
    return EXIT_OK


FOLLOW_POLL = 0.2  # seconds between looks at the store and the event log


def follow_job(engine: Engine, job: Job, args: argparse.Namespace) -> int:
    """`show --follow`: the job's progress from the store and its runner's event log, until nobody works on it.

    The follower and the rule for a runner that is starting or gone are the studio's (core/follow.py)."""
    import time

    from ..core.follow import Follower, RunnerWatch
    from ..core.models import JobStatus
    from ..core.runner import INTERRUPTED, exit_code

    follower = Follower.from_end(job.job_dir)  # the store says where the job is; the log says what happens next
    watch = RunnerWatch()
    watch.begin(job)  # a runner that may still be taking the lease gets what is left of the grace
    max_jobs = engine.settings.queue_max_jobs
    first = follower.read(engine.store, job.id, rows=True, max_jobs=max_jobs)
    current = first.job if first is not None else job
    alive = watch.look(current, first.holder if first is not None else None)
    where = f" in {alive.runner}" if alive.runner else ""
    doing = f", {alive.task} running" if alive.task else ""  # a finished job's export: "completed, export running"
    _err(f"following job {job.id} ({alive.state}{doing}{where}); Ctrl-C stops following, not the job")
    waits = ""
    try:
        with ProgressView(engine, current, quiet=args.json) as view:
            while alive.busy:
                time.sleep(FOLLOW_POLL)
                reading = follower.read(engine.store, job.id, starting=watch.expecting, max_jobs=max_jobs)
                if reading is None:  # nothing new: the same row, the same holder (a starting runner's grace runs on)
                    alive = watch.look(current, follower.holder)
                    continue
                for event in reading.events:
                    view(event)
                current = reading.job
                alive = watch.look(current, reading.holder)
                if reading.waits_for and reading.waits_for != waits and not args.json:
                    _err(f"job {job.id}: {reading.waits_for}")
                waits = reading.waits_for
            last = follower.read(engine.store, job.id)  # what the runner wrote while it let go of the lease
            for event in last.events if last is not None else []:
                view(event)
    except KeyboardInterrupt:
        _err(f"stopped following; job {job.id} goes on (`sora-tui stop {job.id}` stops it)")
        return EXIT_INTERRUPTED
    final = engine.store.get_job(job.id) or current
    if args.json:
        print(json.dumps(job_summary(engine, final), indent=2))
    elif final.status is JobStatus.COMPLETED:
        _console().print(
            f"[green]done[/green]: {_x(final.output)} ({(final.duration_s or 0):.1f} s, ${final.cost_usd:.2f}) — job {final.id}"
        )
    if alive.state == INTERRUPTED:
        _err(f"job {final.id} was interrupted (its runner is gone); `sora-tui resume {final.id}` continues it")
        return EXIT_FAILED
    if final.status is not JobStatus.COMPLETED:
        error = job_error(final.error, final.error_code, final.error_context)
        _err(f"job {final.id} {final.status}" + (f": {error}" if error else ""))
    return exit_code(final.status)


def cmd_stop(engine: Engine, args: argparse.Namespace) -> int:
    """`stop` / `cancel`: a request to the process that holds the job (it cancels; request ids are kept)."""
    import time

    from ..core.runner import holder, live_status, request_stop

    job = engine.find_job(args.job)
    who = holder(job.job_dir)
    quote = engine.cancel_quote(job.id)
    if who is None or not request_stop(job.job_dir):
        state = live_status(job)
        if state == "queued":
            raise CliError(f"job {job.id} waits in the queue; `sora-tui queue rm {job.id}` takes it out")
        raise CliError(f"job {job.id} is not running ({state}); there is nothing to stop")
    _console().print(f"asked {who.describe()} to stop job {job.id}; {quote.summary()}", markup=False)
    if not args.wait:
        return EXIT_OK
    while holder(job.job_dir) is not None:
        time.sleep(FOLLOW_POLL)
    final = engine.store.get_job(job.id) or job
    _console().print(f"job {job.id} {live_status(final)}", markup=False)
    return EXIT_OK
