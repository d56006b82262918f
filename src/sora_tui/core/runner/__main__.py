"""The runner process: ``python -m sora_tui.core.runner JOB [--task NAME]`` renders a job (or runs a
task on it) detached, under the lease that ``spawn`` handed over. The one part of the runner that
builds an ``Engine``: it sits above the engine facade, beside the front ends."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time

from ..engine import Engine
from ..errors import JobFailed, describe_os_error
from ..models import Event, InputError, JobStatus, LogLine
from ..tasks import run_task
from .files import RENDER
from .lease import adopt, set_task, this_host
from .status import ACTIVE, EXIT_FAILED, EXIT_INPUT, exit_code
from .stops import request_stop


def _say(text: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} {text}", flush=True)


async def _run(args: argparse.Namespace) -> int:
    engine = Engine()
    try:
        job = engine.find_job(args.job)
    except InputError as exc:
        _say(f"runner: {exc}")
        return EXIT_INPUT
    job_dir = job.job_dir

    def on_event(event: Event) -> None:  # Engine.run also appends every event to the job's EventLog
        if isinstance(event, LogLine):  # already redacted by the engine
            seg = f" [segment {event.index}]" if event.index is not None else ""
            _say(f"{event.level}{seg}: {event.message}")

    def on_signal(name: str) -> None:
        _say(f"runner: {name} received; cancelling the job (in-flight request ids are kept)")
        with contextlib.suppress(OSError):
            request_stop(job_dir)
        engine.cancel(job.id)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig.name)
    _say(f"runner {os.getpid()} on {this_host()}: job {job.id} ({job.status})")
    try:
        final = await engine.run(
            job.id,
            on_event,
            output=args.output,
            max_cost=args.max_cost,
            review_keyframes=args.review_keyframes,
        )
    except InputError as exc:
        _say(f"runner: {engine.redact(str(exc))}")
        return EXIT_INPUT
    except Exception as exc:  # a bug or an OS error: the job says so instead of looking alive
        if isinstance(exc, OSError | JobFailed):  # a disk fault (full, read-only, gone): named, no traceback
            message = engine.redact(describe_os_error(exc) if isinstance(exc, OSError) else str(exc))
        else:
            message = engine.redact(f"the runner stopped on an unexpected error: {type(exc).__name__}: {exc}")
        _say(message)
        with contextlib.suppress(Exception):  # best effort: a full disk may refuse this write too
            current = engine.store.get_job(job.id)
            if current is not None and current.status in ACTIVE:
                engine.store.update_job(job.id, status=JobStatus.FAILED, error=message)
                engine.log(job.id, message, "error")
        return EXIT_FAILED
    finally:
        await engine.aclose()
    _say(f"runner: job {final.id} {final.status}" + (f": {final.error}" if final.error else ""))
    return exit_code(final.status)


async def _run_task(args: argparse.Namespace) -> int:
    return await run_task(Engine(), args.job, args.task, _say)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sora_tui.core.runner", description="run one job (detached)")
    parser.add_argument("job")
    parser.add_argument("--lock-fd", type=int, help="the locked runner.lock descriptor handed over by spawn")
    parser.add_argument("--max-cost", type=float)
    parser.add_argument("--review-keyframes", action="store_true")
    parser.add_argument("--output")
    parser.add_argument("--task", default=RENDER, help="finish, export or keyframe (options in JOB_DIR/task.json)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a closed terminal or SSH session does not end the job
    if args.lock_fd is not None:
        adopt(args.lock_fd)
    if args.task != RENDER:
        set_task(args.task)
        return asyncio.run(_run_task(args))
    return asyncio.run(_run(args))


if __name__ == "__main__":
    sys.exit(main())
