"""The studio's words for engine errors: its own screens, actions and keys, never CLI flags.

The engine raises errors as data (``core.errors.InputError``, ``JobFailed`` and the coded errors of
planners, speech and keys: a ``code`` with its ``context`` facts) and names no front end's flag;
the CLI words them with flags (``sora_tui.cli.advice``), the studio with this module. A job's
failure is stored with its code and context (``job.error_code``, ``job.error_context``), so
``job_error`` words it from the code, never by rewriting the stored text.
"""

from __future__ import annotations

import re
from typing import Any

from ..core.errors import Code, InputError, code_of
from ..core.models import Job

# what a form field is called on screen (the engine names fields by their request/plan key)
LABELS = {
    "prompt": "Prompt",
    "segments": "Segments",
    "seconds": "Seconds per segment",
    "model": "Model",
    "resolution": "Resolution",
    "aspect": "Aspect",
    "mode": "Mode",
    "planner": "Planner",
    "start_image": "Start image",
    "max_cost": "Budget cap",
    "audio": "Audio",
    "output_dir": "Output folder",
    "narration": "Narration",
}


def label(field: str) -> str:
    """``plan.segments[2].seconds`` → ``Segment 2 · Seconds per segment``; ``start_image`` → ``Start image``."""
    m = re.fullmatch(r"(?:plan\.)?segments\[(\d+)\](?:\.(\w+))?", field)
    if m:
        what = LABELS.get(m.group(2) or "", m.group(2) or "")
        return f"Segment {m.group(1)}" + (f" · {what}" if what else "")
    name = field.removeprefix("plan.").removeprefix("--")
    return LABELS.get(name, name.replace("_", " "))


def words_for(code: Code | None, ctx: dict[str, Any]) -> str:
    """What to do about an error of ``code``, in the studio's terms ("" when there is nothing to add)."""
    key = ctx.get("key", "fal")
    way_round = {"planner": "or choose the offline planner", "narration": "or choose the offline voice"}
    if code is Code.RENDER_KEY:
        return (
            f"add a {key} key in Settings (F5), or choose the free offline Preview model; "
            "planning and estimates need no key"
        )
    if code is Code.OVER_BUDGET:
        if ctx.get("speech"):
            return "raise the budget cap, or choose the offline voice"
        return "raise the budget cap, use fewer or shorter segments, or choose a cheaper model"
    if code is Code.SEGMENT_FILE:
        return f"History (F4) → k renders it again from segment {ctx.get('index')}"
    if code is Code.JOB_NOT_FOUND:
        return "History (F4) lists every job"
    if code is Code.JOB_RUNNING:
        return "wait for it to finish, or stop it on the Board (F3)"
    if code is Code.BAD_IMAGE:
        return "choose a PNG or JPEG picture"
    if code is Code.NOT_WRITABLE:
        return "choose a folder you can write to, or leave it empty"
    if code is Code.DISK_SPACE:
        return "free some space there (History → clean up finished jobs), then start it again"
    if code is Code.DISK_FULL:
        return "free some space there, then History (F4) → r Resume carries on"
    if code is Code.FILE_PROBLEM:
        return "fix that file or folder, then History (F4) → r Resume carries on"
    if code is Code.KEY_MISSING:
        other = way_round.get(ctx.get("use", ""))
        return f"add the {key} key in Settings (F5)" + (f", {other}" if other else "")
    if code is Code.KEY_REJECTED:
        other = way_round.get(ctx.get("use", ""))
        return f"set a valid {key} key in Settings (F5)" + (f", {other}" if other else "")
    if code is Code.KEYRING_UNAVAILABLE:
        return "Settings (F5) → Store in file keeps it in a file only you can read"
    if code is Code.PLANNER_FAILED:
        return "or choose the offline planner"
    if code is Code.CAST_EXISTS:
        return "delete it in the Cast library first, or choose another name"
    if code is Code.SHEET_UNFINISHED or code is Code.SHEET_FAILED:
        return "ask for the same sheet again to finish it, or delete the unfinished member in the Cast library"
    if code is Code.SPEECH_FAILED:
        return "or choose the offline voice"
    if code is Code.JOB_NOT_COMPLETED:
        return "History (F4) → r Resume completes it first"
    if code is Code.JOINED_MISSING:
        return "History (F4) → k redo from segment 1 renders it again"
    if code is Code.PLAN_SEGMENTS_CHANGED:
        return "change segments with History (F4) → k redo"
    if code is Code.LOCAL_CPU:
        return "run the studio on a GPU box, or allow the CPU (small models and tests) in the settings"
    if code is Code.LOCAL_OUT_OF_MEMORY:
        return "choose another device in Settings (F5) → Local models run on; History (F4) → r Resume continues"
    if code is Code.LOCAL_FOLDER:
        return f"set Local model folders in Settings (F5) to a folder holding {ctx.get('model', 'the model')}/"
    return ""


def advice(exc: BaseException) -> str:
    """What to do about an engine error, in the studio's terms ("" when it has no code)."""
    code, ctx = code_of(exc)
    return words_for(code, ctx)


def say(exc: BaseException) -> str:
    """One line for a notification of any engine error: its own words, then what to do."""
    hint = advice(exc)
    return f"{exc}; {hint}" if hint else str(exc)


def coded_words(message: str, code: str | None, context: dict[str, Any] | None) -> str:
    """A stored failure (a job's, a task's) in the studio's words: its message and, from its code,
    what to do; the message itself is never rewritten."""
    if not code:
        return message
    try:
        known = Code(code)
    except ValueError:  # a code from a newer version: its words are enough
        return message
    hint = words_for(known, context or {})
    return f"{message}; {hint}" if hint else message


def job_error(job: Job, default: str = "the job failed") -> str:
    """A job's stored failure in the studio's words (``coded_words`` of its error, code and facts)."""
    if not job.error:
        return default
    return coded_words(job.error, job.error_code, job.error_context)


def explain(exc: InputError) -> str:
    """One line for a notification: the field by its label, the problem, the allowed values, the advice."""
    text = f"{label(exc.field)}: {exc.problem}" if exc.field else exc.problem
    if exc.allowed:
        text += " (allowed: " + ", ".join(str(a) for a in exc.allowed) + ")"
    hint = advice(exc)
    return f"{text}; {hint}" if hint else text


def problem(exc: InputError) -> str:
    """For a message under its own field: the problem and what to do, without the field's name."""
    text = exc.problem
    if exc.allowed:
        text += " (allowed: " + ", ".join(str(a) for a in exc.allowed) + ")"
    hint = advice(exc)
    return f"{text}; {hint}" if hint else text
