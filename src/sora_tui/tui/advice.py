"""The studio's words for engine errors: its own screens, actions and keys, never CLI flags.

The engine raises errors as data (``core.errors.InputError``: code, field, allowed values,
context); the CLI words them with flags (``--max-cost``), the studio with this module.
Messages stored in a job's history (``job.error``, log lines) were written for every front
end; ``studio_words`` swaps the commands they name for the studio's keys.
"""

from __future__ import annotations

import re

from ..core.errors import Code, InputError

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


def advice(exc: InputError, where: str = "") -> str:
    """What to do, in the studio's terms ("" when the message already says it)."""
    ctx = exc.context
    if exc.code is Code.RENDER_KEY:
        return (
            f"add a {ctx.get('key', 'fal')} key in Settings (F5), or choose the free offline Preview model; "
            "planning and estimates need no key"
        )
    if exc.code is Code.OVER_BUDGET:
        if ctx.get("speech"):
            return "raise the budget cap, or choose the offline voice"
        return "raise the budget cap, use fewer or shorter segments, or choose a cheaper model"
    if exc.code is Code.SEGMENT_FILE:
        return f"History (F4) → k renders it again from segment {ctx.get('index')}"
    if exc.code is Code.JOB_RUNNING:
        return "wait for it to finish, or stop it on the Board (F3)"
    if exc.code is Code.BAD_IMAGE:
        return "choose a PNG or JPEG picture"
    if exc.code is Code.NOT_WRITABLE:
        return "choose a folder you can write to, or leave it empty"
    if exc.code is Code.DISK_SPACE:
        return "free some space there (History → clean up finished jobs), then start it again"
    return ""


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


_COMMANDS = [
    (re.compile(r"`?sora-tui redo \S+ --from (\d+)`?"), r"History (F4) → k redo from segment \1"),
    (re.compile(r"`?sora-tui resume \S+`?"), "History (F4) → r Resume"),
    (re.compile(r"`?sora-tui keys set (\w+)`? or export [A-Z_]+"), r"add the \1 key in Settings (F5)"),
    (re.compile(r"`?sora-tui keys set (\w+)`?"), r"Settings (F5)"),
    (re.compile(r"`?sora-tui keyframes \S+[^`]*`?"), "the keyframe review (History → r)"),
    (re.compile(r"(?:raise|with a higher) --max-cost"), "raise the budget cap"),
    (re.compile(r"use --model preview"), "choose the Preview model"),
    (re.compile(r"--tts offline"), "the offline voice"),
]


def studio_words(message: str) -> str:
    """A stored message (job error, log line) with its CLI commands replaced by the studio's keys."""
    for pattern, words in _COMMANDS:
        message = pattern.sub(words, message)
    return message
