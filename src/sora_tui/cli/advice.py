"""The command line's words for the engine's error codes: flags and commands.

The core raises errors with a ``code`` and its ``context`` facts (``core.errors.Code``) and names no
front end's flag; this module says what to do in the command line's terms (the studio's words are
``tui.advice``). A job's stored failure (``job.error_code``, ``job.error_context``) is worded here too.
"""

from __future__ import annotations

import re
from typing import Any

from ..core.errors import Code, code_of


def advice(code: Code | None, ctx: dict[str, Any]) -> str:
    """What to do, as ``"; …"`` to follow the error's own words ("" when there is nothing to add)."""
    job = ctx.get("job", "JOB")
    key = ctx.get("key", "fal")
    env = ctx.get("env_var", "FAL_KEY" if key == "fal" else "OPENAI_API_KEY")
    way_round = {"planner": "plan without it: --planner offline", "narration": "narrate offline with --tts offline"}
    if code is Code.RENDER_KEY:
        return f"; run `sora-tui keys set {key}` or export {env}, or use --model preview to render offline"
    if code is Code.OVER_BUDGET:
        if ctx.get("speech"):
            return "; raise --max-cost or narrate offline (--tts offline)"
        return "; raise --max-cost, use fewer or shorter segments, or a cheaper model"
    if code is Code.SEGMENT_FILE:
        return f"; run `sora-tui redo {job} --from {ctx.get('index')}` to render it again"
    if code is Code.JOB_NOT_FOUND:
        return "; see `sora-tui history`"
    if code is Code.JOB_RUNNING:
        return f"; follow it with `sora-tui show --follow {job}` or stop it with `sora-tui stop {job}`"
    if code is Code.BAD_IMAGE:
        return "; give a PNG or JPEG picture"
    if code is Code.DISK_SPACE:
        return "; free some space there (`sora-tui clean` removes intermediate files), or set SORA_TUI_HOME to a bigger disk"
    if code is Code.KEY_MISSING:
        other = way_round.get(ctx.get("use", ""))
        return f"; run `sora-tui keys set {key}` or export {env}" + (f", or {other}" if other else "")
    if code is Code.KEY_REJECTED:
        other = way_round.get(ctx.get("use", ""))
        return f"; set a valid key with `sora-tui keys set {key}` or export {env}" + (f", or {other}" if other else "")
    if code is Code.KEYRING_UNAVAILABLE:
        return f": `sora-tui keys set {key} --file`"
    if code is Code.PLANNER_FAILED:
        return "; or plan without it: --planner offline"
    if code is Code.SPEECH_FAILED:
        return "; or narrate offline with --tts offline"
    if code is Code.JOB_NOT_COMPLETED:
        return f"; `sora-tui resume {job}` completes it"
    if code is Code.JOINED_MISSING:
        return f"; `sora-tui redo {job} --from 1` renders it again"
    if code is Code.PLAN_SEGMENTS_CHANGED:
        return f"; change segments with `sora-tui redo {job} --from K`"
    if code is Code.LOCAL_CPU:
        if ctx.get("reason") == "no_cuda":
            return "; run on a GPU box (install the CUDA build of torch there), or pass --allow-cpu for small models and tests"
        return "; pass --allow-cpu (small models and tests) or run on a GPU box with --device cuda:N"
    if code is Code.LOCAL_OUT_OF_MEMORY:
        return f"; another device: --device cuda:N; `sora-tui resume {job}` continues"
    if code is Code.LOCAL_FOLDER:
        return f"; record it with `sora-tui models local add {ctx.get('model', 'ID')} DIR`"
    if code is Code.CAST_EXISTS:
        return f"; `sora-tui cast rm {ctx.get('name')}` removes it"
    if code is Code.SHEET_UNFINISHED or code is Code.SHEET_FAILED:
        return f"; run the same `sora-tui cast generate` again, or drop it with `sora-tui cast rm {ctx.get('name')}`"
    if code is Code.DISK_FULL or code is Code.FILE_PROBLEM:
        return f"; `sora-tui resume {job}` carries on once it is fixed" if "job" in ctx else ""
    return ""


def _already_said(hint: str, text: str) -> bool:
    """The hint's command is in the message already (a message not yet converted to a code names it)."""
    return any(cmd in text for cmd in re.findall(r"`[^`]+`", hint))


def cli_advice(exc: BaseException) -> str:
    """What to do about an engine error, in the command line's words ("" for an error with no code)."""
    code, ctx = code_of(exc)
    hint = advice(code, ctx)
    return "" if _already_said(hint, str(exc)) else hint


def job_error(message: str | None, code: Code | str | None, context: dict[str, Any] | None) -> str:
    """A job's stored failure as the command line says it: the message and, from its code, what to do."""
    text = message or ""
    if not text or not code:
        return text
    try:
        known = Code(code)
    except ValueError:  # a code from a newer version: its words are enough
        return text
    hint = advice(known, context or {})
    return text if _already_said(hint, text) else text + hint


# the commands that render a job: after Ctrl-C its finished segments stay and a resume carries on
_RENDERING = frozenset({"generate", "render", "resume", "redo", "pick"})


def interrupted(args: Any) -> str:
    """What Ctrl-C left behind, for the command that was interrupted."""
    command = getattr(args, "command", None)
    if command in _RENDERING:
        return "interrupted; finished segments are kept — `sora-tui resume last` continues"
    if command == "cast" and getattr(args, "cast_command", None) == "generate":
        return (
            "interrupted; the pictures already asked for are kept — the same "
            f"`sora-tui cast generate {getattr(args, 'name', 'NAME')}` carries on without paying for them again"
        )
    return "interrupted"
