"""Runner tasks: work on a job other than rendering it, done in a runner process like a render.

``runner.spawn(env, job, task=..., options=...)`` starts ``python -m sora_tui.core.runner JOB
--task NAME``; the runner holds the job's lease (so a task never runs while the job renders, and
two windows never both finish it; a second start is refused naming the holder's pid and host),
reads its options from ``JOB_DIR/task.json`` and runs :func:`run_task`. Progress and the outcome
go to the job's event log (``FinishProgress``, ``LogLine``, ``KeyframeReady``, then
``TaskStarted`` … ``TaskDone``), where every window that follows the job reads them. A stop
request (``runner.request_stop``) or SIGTERM cancels a finish or an export.

Tasks:
* ``finish`` — options: ``FinishOptions.to_dict()``; narration, subtitles, music bed → a new version.
* ``export`` — options: ``{"preset": NAME}``.
* ``keyframe`` — options: ``{"index": K, "prompt": TEXT or null}``; one image call; a new
  description also goes into the job's plan.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import signal
from collections.abc import Callable
from typing import Any

from . import runner
from .errors import code_of
from .finish.ffmpeg import Cancelled
from .finish.stage import Finisher, FinishError, FinishOptions
from .models import Event, InputError, LogLine, TaskDone, TaskStarted
from .plans import videos_started
from .services import EngineServices
from .testhooks import task_gate

FINISH, EXPORT, KEYFRAME = "finish", "export", "keyframe"
TASKS = (FINISH, EXPORT, KEYFRAME)


def describe(task: str, options: dict[str, Any]) -> str:
    """What a task is called for people: "finish", the preset's name, "keyframe 2"."""
    if task == EXPORT:
        return str(options.get("preset", "export"))
    if task == KEYFRAME:
        return f"keyframe {options.get('index')}"
    return task


def task_index(task: str, options: dict[str, Any]) -> int | None:
    """The keyframe a "keyframe" task makes (carried in its events: nobody parses "keyframe 3" back)."""
    if task != KEYFRAME:
        return None
    index = options.get("index")
    return index if isinstance(index, int) and not isinstance(index, bool) else None


STOPPABLE = (FINISH, EXPORT)  # a keyframe is one image call, already paid for: it finishes by itself


def can_stop(task: str) -> bool:
    """Can a running task be stopped (a stop request, SIGTERM)? Finish and export yes; a keyframe no."""
    return task in STOPPABLE


def later_keyframes_follow(index: int | None, segments: int) -> bool:
    """Keyframe ``index`` of a job of ``segments`` segments was made again: were later keyframes made from
    the old one (each keyframe after the first is an edit of the one before), so they may need it too?"""
    return index is not None and 0 <= index < segments


def read_options(job_dir: Any, task: str) -> dict[str, Any]:
    try:
        data = json.loads((job_dir / runner.TASK_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("task") != task or not isinstance(data.get("options"), dict):
        return {}
    return dict(data["options"])


async def run_task(engine: EngineServices, job_ref: str, task: str, say: Callable[[str], None]) -> int:
    """The work of a task's runner process (``python -m sora_tui.core.runner JOB --task NAME``,
    which builds the engine): returns its exit status (0 done, 1 failed, 2 input, 130 cancelled).
    Closes ``engine`` when done."""
    if task not in TASKS:
        say(f"runner: unknown task {task!r} (one of {', '.join(TASKS)})")
        await engine.aclose()
        return runner.EXIT_INPUT
    try:
        job = engine.find_job(job_ref)
    except InputError as exc:
        say(f"runner: {exc}")
        await engine.aclose()
        return runner.EXIT_INPUT
    options = read_options(job.job_dir, task)
    what = describe(task, options)
    index = task_index(task, options)
    events = runner.EventLog(job.job_dir)

    def emit(event: Event) -> None:
        events.append(event)
        if isinstance(event, LogLine):  # already redacted
            say(f"{event.level}: {event.message}")

    say(f"runner {os.getpid()} on {runner.this_host()}: {what} of job {job.id}")
    emit(TaskStarted(job.id, task, what, index))
    try:
        await task_gate()
        result = await _do(engine, job.id, task, options, emit)
    except InputError as exc:
        failed = TaskDone(job.id, task, what, "failed", error=engine.redact(str(exc)), index=index, **_coded_kw(exc))
        return _end(emit, say, failed, runner.EXIT_INPUT)
    except Exception as exc:  # FinishError, provider and media errors: the message says what to fix
        if isinstance(exc, Cancelled):
            return _end(emit, say, TaskDone(job.id, task, what, "cancelled", index=index), runner.EXIT_CANCELLED)
        error = engine.redact(str(exc) or type(exc).__name__)
        if not isinstance(exc, _EXPECTED):
            error = engine.redact(f"{type(exc).__name__}: {exc}")
        return _end(
            emit,
            say,
            TaskDone(job.id, task, what, "failed", error=error, index=index, **_coded_kw(exc)),
            runner.EXIT_FAILED,
        )
    finally:
        await engine.aclose()
        with contextlib.suppress(OSError):
            (job.job_dir / runner.TASK_FILE).unlink()
    return _end(emit, say, TaskDone(job.id, task, what, "done", result=result, index=index), runner.EXIT_OK)


def _coded_kw(exc: BaseException) -> dict[str, Any]:
    """A failure's code and facts for its TaskDone (``errors.code_of``), so front ends word the advice."""
    code, context = code_of(exc)
    return {"error_code": str(code), "error_context": context} if code is not None else {}


def _end(emit: Callable[[Event], None], say: Callable[[str], None], done: TaskDone, code: int) -> int:
    emit(done)
    say(f"runner: {done.what} {done.outcome}" + (f": {done.error}" if done.error else ""))
    return code


_EXPECTED: tuple[type[Exception], ...] = (FinishError,)


async def _do(
    engine: EngineServices, job_id: str, task: str, options: dict[str, Any], emit: Callable[[Event], None]
) -> str:
    """Run the task; the file it wrote."""
    if task == KEYFRAME:
        index = int(options["index"])
        prompt = options.get("prompt") or None
        path = await engine.regenerate_keyframe(job_id, index, prompt, on_event=emit)
        if prompt is not None:
            plan_keyframe(engine, job_id, index, prompt)
        return str(path)
    finisher = Finisher(engine, emit)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, finisher.cancel)
    job = engine.find_job(job_id)
    watcher = asyncio.create_task(_watch_stop(job.job_dir, finisher))
    try:
        if task == FINISH:
            return str((await finisher.finish(job_id, FinishOptions.from_dict(options))).path)
        return str((await finisher.export(job_id, str(options.get("preset", "")))).path)
    finally:
        watcher.cancel()


async def _watch_stop(job_dir: Any, finisher: Any) -> None:
    while not finisher.cancel_event.is_set():
        if runner.stop_requested(job_dir):
            finisher.cancel()
            return
        await asyncio.sleep(runner.STOP_POLL)


def plan_keyframe(engine: EngineServices, job_id: str, index: int, prompt: str) -> None:
    """Keep the plan's keyframe descriptions in step (only while no video has started)."""
    job = engine.store.get_job(job_id)
    if job is None or job.plan is None or videos_started(engine.store.segments(job_id)):
        return
    plan = copy.deepcopy(job.plan)
    plan.keyframes = plan.keyframe_prompts()
    plan.keyframes[index] = prompt
    with contextlib.suppress(InputError):
        engine.update_plan(job_id, plan)
