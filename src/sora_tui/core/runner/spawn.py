"""Spawn: start a detached runner (``python -m sora_tui.core.runner JOB``) in its own session.

Closing the terminal, an SSH disconnect (SIGHUP) or a browser tab's app ending does not reach it.
The parent takes the lock and hands the locked descriptor to the child, so the job is never
unheld between the two and two spawns of one job cannot both start.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .. import media
from ..errors import Code, InputError
from ..settings import get_paths
from .files import LOG_FILE, RENDER, TASK_FILE
from .lease import Holder, clear_stop, holder, read_info, refusal, this_host, try_lock, write_info


def spawn(
    paths_env: dict[str, str] | None,
    job_id: str,
    *,
    max_cost: float | None = None,
    review_keyframes: bool = False,
    output: str | None = None,
    task: str = RENDER,
    options: dict[str, Any] | None = None,
) -> int:
    """Start a detached runner for ``job_id`` and return its pid.

    ``task``: what it does — render the job (the default), or one of ``core.tasks.TASKS`` (finish,
    export, keyframe) with its ``options`` (plain JSON data, written to ``JOB_DIR/task.json``).

    ``paths_env`` is laid over this process's environment for the runner (an Engine's ``env``);
    it also says where the job lives (SORA_TUI_HOME). Raises InputError when a live process
    already holds the job. Returns at once: the runner holds the lease from the start.
    """
    env = {**os.environ, **(paths_env or {})}
    job_dir = get_paths(env).jobs_dir / job_id
    if not job_dir.is_dir():
        raise InputError(
            "job",
            f"no folder for job {job_id} ({job_dir})",
            code=Code.JOB_NOT_FOUND,
            context={"ref": job_id, "path": str(job_dir)},
        )
    fd = try_lock(job_dir)
    if fd is None:
        raise refusal(job_id, holder(job_dir) or read_info(job_dir))
    try:
        # the lease is held from here on: say now what for. Until the child's own line below, the
        # runner.json of the job's last run would be read as the holder (a render by a process that may even
        # be this one): a window would see the job rendering, then not, and stop following it
        write_info(job_dir, Holder(os.getpid(), this_host(), time.time(), detached=True, task=task))
        clear_stop(job_dir)
        cmd = [sys.executable, "-m", "sora_tui.core.runner", job_id, "--lock-fd", str(fd)]
        if task != RENDER:
            path = job_dir / TASK_FILE
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"task": task, "options": options or {}}) + "\n", "utf-8")
            os.replace(tmp, path)
            cmd += ["--task", task]
        if max_cost is not None:
            cmd += ["--max-cost", repr(float(max_cost))]
        if review_keyframes:
            cmd.append("--review-keyframes")
        if output:
            cmd += ["--output", str(Path(output).expanduser().resolve())]
        env.setdefault("PYTHONUNBUFFERED", "1")
        with open(job_dir / LOG_FILE, "ab") as log:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # no SIGHUP from the terminal, no Ctrl-C from its process group
                pass_fds=(fd,),
            )
        # a runner is background work, like the renders and ffmpeg runs it starts (media.lower_priority):
        # the keys of the windows that follow it come first. On Linux a new session is also its own
        # scheduling group (autogroup), shared fairly with the app's whatever the nice value: lower it too.
        steps = media.background_nice(env)
        media.lower_priority(proc.pid, steps)
        with contextlib.suppress(OSError):
            if steps > 0:
                Path(f"/proc/{proc.pid}/autogroup").write_text(f"{steps}\n")
        write_info(job_dir, Holder(proc.pid, this_host(), time.time(), detached=True, task=task))
    finally:
        os.close(fd)  # the child keeps the lock through its copy of the descriptor
    return proc.pid
