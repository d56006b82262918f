"""Errors as data: the engine raises these; each front end words the advice.

An ``InputError`` says what is wrong (``field``, ``problem``, the ``allowed`` values) and, as
a ``code`` with its ``context`` values, what kind of problem it is. It never says *how* to fix
it in one front end's words: the CLI turns a code into flags (``--max-cost``, ``--model
preview``), the studio into its own actions and keys (see ``cli_advice`` in ``sora_tui.cli``
and ``sora_tui.tui.advice``).
"""

from __future__ import annotations

import enum
import errno
import os
import shutil
from pathlib import Path
from typing import Any


class Code(enum.StrEnum):
    """What kind of problem an InputError is (front ends key their advice on it)."""

    INVALID = "invalid"  # a field's value is wrong: the message names it and the allowed values
    RENDER_KEY = "render_key"  # the model renders on a service whose key is not set (context: model, key)
    OVER_BUDGET = "over_budget"  # the job would cost more than its cap (context: total, cap)
    SEGMENT_FILE = "segment_file"  # a finished segment's file is gone (context: job, index)
    JOB_NOT_FOUND = "job_not_found"  # no job with that id (context: ref)
    JOB_AMBIGUOUS = "job_ambiguous"  # an id prefix several jobs share (context: ref, matches)
    # the job is running (context: job; from a lease refusal also holder "process N on host H", pid, host)
    JOB_RUNNING = "job_running"
    BAD_IMAGE = "bad_image"  # not a picture that can be read (context: path)
    NOT_WRITABLE = "not_writable"  # a folder that cannot be written to (context: path)
    DISK_SPACE = "disk_space"  # too little free space to start a render (context: path, need, free)
    DISK_FULL = "disk_full"  # a write ran out of space during a run (context: path, free, job)
    SEGMENTS_NOT_DONE = "segments_not_done"  # a join found segments not done (context: job, indexes)
    JOIN_FAILED = "join_failed"  # the join failed; the segments are kept (context: job)
    # the OS refused a file during a run (permissions, a read-only disk, a folder gone) (context: path, reason, job)
    FILE_PROBLEM = "file_problem"
    # a service's key is needed and not set (context: key "openai"|"fal", env_var, use "planner"|"narration")
    KEY_MISSING = "key_missing"
    KEY_REJECTED = "key_rejected"  # the service refused the key (context: key, env_var, use, job)
    # no OS keyring to store a key in (context: key, env_var)
    KEYRING_UNAVAILABLE = "keyring_unavailable"
    # the openai planner failed; planning offline is the way round it (context: planner)
    PLANNER_FAILED = "planner_failed"
    # hosted speech failed (network, rate limit, model); the offline voice is the way round it (context: where)
    SPEECH_FAILED = "speech_failed"
    JOB_NOT_COMPLETED = "job_not_completed"  # finish/export need a completed job (context: job, status)
    JOINED_MISSING = "joined_missing"  # a completed job's joined video is gone (context: job)
    # plan.json now has other segments than the rendered video (context: job, path)
    PLAN_SEGMENTS_CHANGED = "plan_segments_changed"
    # a local model would run on the CPU, which is refused (context: reason "cpu_device"|"no_cuda", torch)
    LOCAL_CPU = "local_cpu"
    # a local model ran out of GPU memory; the job stays resumable (context: job, device, model)
    LOCAL_OUT_OF_MEMORY = "local_out_of_memory"
    # a local model has no recorded weights folder (context: model, hint: how to download it)
    LOCAL_FOLDER = "local_folder"
    CAST_EXISTS = "cast_exists"  # a cast member of that name exists already (context: name)
    # an unfinished reference sheet waits with paid pictures: finish it as asked, or drop it (context: name)
    SHEET_UNFINISHED = "sheet_unfinished"
    # a reference sheet failed; what was delivered is kept, a retry pays nothing twice (context: name)
    SHEET_FAILED = "sheet_failed"
    NOT_QUEUED = "not_queued"  # the job is not in the queue (context: job)
    # no batch by that reference, or several share it (context: ref, problem "unknown"|"ambiguous")
    BATCH_NOT_FOUND = "batch_not_found"
    # the model refused a segment's prompt; edit it and redo from there (context: job, index, model, plan)
    CONTENT_POLICY = "content_policy"
    # a provider call failed for good; the job is saved and a resume goes on (context: job, index, attempts)
    RESUMABLE = "resumable"


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
    """The job stopped with an error; it stays resumable.

    Like an InputError it may carry a ``code`` and its ``context`` facts, so each front end can
    word what to do (``str(exc)`` names what happened, never a front end's flag or key).
    """

    def __init__(self, *args: object, code: Code | None = None, context: dict[str, Any] | None = None) -> None:
        super().__init__(*args)
        self.code = Code(code) if code is not None else None
        self.context: dict[str, Any] = dict(context or {})


def code_of(exc: BaseException) -> tuple[Code | None, dict[str, Any]]:
    """The ``code`` and ``context`` an error carries (InputError, JobFailed and the coded errors of
    planners, speech, keys and providers), else ``(None, {})``: what front ends word advice from."""
    code = getattr(exc, "code", None)
    context = getattr(exc, "context", None)
    return (code if isinstance(code, Code) else None), (dict(context) if isinstance(context, dict) else {})


class JobCancelled(Exception):
    """The user asked the run to stop."""


class DiskFull(JobFailed):
    """A write failed for want of space: names the path and what is free there.

    The job fails resumable (finished segments are kept) and the caller gets an InputError
    (field ``disk``). ``str(exc)`` is ``"disk full at <path>: <free> free"``, plus ``detail``.
    """

    def __init__(self, path: str | os.PathLike[str], free: int | None = None, detail: str = "") -> None:
        self.path = Path(path)
        self.free = free_bytes(self.path) if free is None else free
        self.detail = detail
        text = f"disk full at {self.path}: {_size(self.free)} free"
        context = {"path": str(self.path), "free": self.free}
        super().__init__(text + (f" ({detail})" if detail else ""), code=Code.DISK_FULL, context=context)


class FileProblem(JobFailed):
    """A write or read the OS refused for a reason a user can fix (permissions, a read-only disk,
    a folder that is gone): names the path and the reason."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(
            f"{reason}: {self.path}", code=Code.FILE_PROBLEM, context={"path": str(self.path), "reason": reason}
        )


# OSError numbers the project can name, and how (a DiskFull for space, a FileProblem for the rest)
SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "not a folder",
    errno.EISDIR: "is a folder",
    errno.EEXIST: "already exists",
    errno.ENAMETOOLONG: "name too long",
    errno.EIO: "input/output error (a failing disk or a dropped network mount)",
    errno.EMFILE: "too many open files",
}


def free_bytes(path: str | os.PathLike[str]) -> int:
    """Free bytes on the file system that holds ``path`` (its nearest existing folder); 0 when unknown."""
    p = Path(path)
    for candidate in (p, *p.parents):
        try:
            return int(shutil.disk_usage(candidate).free)
        except OSError:
            continue
    return 0


def _size(n: float) -> str:
    from .reach import human_size

    return human_size(n)


def is_space_error(exc: BaseException) -> bool:
    """An OSError (or SQLite error) that means the disk or the user's quota is full."""
    if isinstance(exc, OSError):
        return exc.errno in SPACE_ERRNOS
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    return code == 13 or "database or disk is full" in str(exc)  # SQLITE_FULL


def os_failure(exc: OSError, path: str | os.PathLike[str] | None = None) -> JobFailed:
    """The JobFailed for an OSError: DiskFull for space, FileProblem for a reason it can name, else a
    JobFailed with the OS's own words. ``path`` is the file tried (default: the error's filename)."""
    where = path if path is not None else (exc.filename if exc.filename is not None else "")
    if exc.errno in SPACE_ERRNOS:
        return DiskFull(where or ".")
    reason = _REASONS.get(exc.errno or -1)
    if reason is not None:
        return FileProblem(where or "(unknown path)", reason)
    return JobFailed(f"{exc.strerror or exc}" + (f": {where}" if where else ""))


def describe_os_error(exc: OSError) -> str:
    """One line for a user, no traceback: what failed and where (what is free, when space ran out)."""
    return str(os_failure(exc))
