"""What to do about an engine error, in the command line's words (its flags and commands)."""

from __future__ import annotations


def cli_advice(exc: Exception) -> str:
    """What to do about an engine error, in the command line's words (flags and commands)."""
    from ..core.errors import Code, InputError

    if not isinstance(exc, InputError):
        return ""
    ctx = exc.context
    if exc.code is Code.RENDER_KEY:
        env = ctx.get("env_var", "FAL_KEY")
        return f"; run `sora-tui keys set {ctx.get('key', 'fal')}` or export {env}, or use --model preview to render offline"
    if exc.code is Code.OVER_BUDGET:
        if ctx.get("speech"):
            return "; raise --max-cost or narrate offline (--tts offline)"
        return "; raise --max-cost, use fewer or shorter segments, or a cheaper model"
    if exc.code is Code.SEGMENT_FILE:
        return f"; run `sora-tui redo {ctx.get('job')} --from {ctx.get('index')}` to render it again"
    if exc.code is Code.JOB_NOT_FOUND:
        return "; see `sora-tui history`"
    if exc.code is Code.BAD_IMAGE:
        return "; give a PNG or JPEG picture"
    if exc.code is Code.DISK_SPACE:
        return "; free some space there (`sora-tui clean` removes intermediate files), or set SORA_TUI_HOME to a bigger disk"
    return ""
