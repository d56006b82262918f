"""Errors as data: the engine raises these; each front end words the advice.

An ``InputError`` says what is wrong (``field``, ``problem``, the ``allowed`` values) and, as
a ``code`` with its ``context`` values, what kind of problem it is. It never says *how* to fix
it in one front end's words: the CLI turns a code into flags (``--max-cost``, ``--model
preview``), the studio into its own actions and keys (see ``cli_advice`` in ``sora_tui.cli``
and ``sora_tui.tui.advice``).
"""

from __future__ import annotations

import enum
from typing import Any


class Code(enum.StrEnum):
    """What kind of problem an InputError is (front ends key their advice on it)."""

    INVALID = "invalid"  # a field's value is wrong: the message names it and the allowed values
    RENDER_KEY = "render_key"  # the model renders on a service whose key is not set (context: model, key)
    OVER_BUDGET = "over_budget"  # the job would cost more than its cap (context: total, cap)
    SEGMENT_FILE = "segment_file"  # a finished segment's file is gone (context: job, index)
    JOB_NOT_FOUND = "job_not_found"  # no job with that id (context: ref)
    JOB_AMBIGUOUS = "job_ambiguous"  # an id prefix several jobs share (context: ref, matches)
    JOB_RUNNING = "job_running"  # the job is running (context: job)
    BAD_IMAGE = "bad_image"  # not a picture that can be read (context: path)
    NOT_WRITABLE = "not_writable"  # a folder that cannot be written to (context: path)


class InputError(ValueError):
    """Bad input a user can fix: a code, the field, the problem, the allowed values and context.

    ``str(exc)`` is ``"field: problem (allowed: …)"`` with no advice in any front end's words.
    """

    def __init__(
        self,
        field: str,
        message: str,
        allowed: list[Any] | None = None,
        *,
        code: Code = Code.INVALID,
        context: dict[str, Any] | None = None,
    ) -> None:
        self.field = field
        self.problem = message
        self.allowed = allowed
        self.code = Code(code)
        self.context: dict[str, Any] = dict(context or {})
        text = f"{field}: {message}"
        if allowed:
            text += " (allowed: " + ", ".join(str(a) for a in allowed) + ")"
        super().__init__(text)


class JobFailed(Exception):
    """The job stopped with an error; it stays resumable."""


class JobCancelled(Exception):
    """The user asked the run to stop."""


class DiskFull(JobFailed):
    """The disk filled up (e.g. during the join): the job fails resumable and the caller gets an InputError."""
