"""Errors are never swallowed silently (issue 10, item 3): listener failures are logged with their
traceback, and a cancelled caller's CancelledError is never eaten while the preview reaps its tasks."""

from __future__ import annotations

import argparse
import ast
import asyncio
import logging
import os
import re
from pathlib import Path

import pytest

from sora_tui.core.engine import Engine
from sora_tui.core.models import Event, LogLine, Plan, SegmentPlan
from sora_tui.core.providers.preview import _reap
from sora_tui.core.run import JobRun


def test_a_broken_listener_is_logged_with_its_traceback_and_the_run_goes_on(
    home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    plan = Plan("boat", "preview", "180p", "16:9", [SegmentPlan("boat", 2)], audio=False)
    job = engine.create_job(plan)

    def broken(event: Event) -> None:
        raise RuntimeError("listener bug")

    run = JobRun(engine, job, broken, None, None, False)
    with caplog.at_level(logging.ERROR, logger="sora_tui.core.run"):
        run.emit(LogLine(job.id, "hello"))  # does not raise
    record = next(r for r in caplog.records if "event listener failed" in r.getMessage())
    assert record.exc_info is not None and "listener bug" in str(record.exc_info[1])


async def test_reap_eats_only_the_reaped_task_cancellation(caplog: pytest.LogCaptureFixture) -> None:
    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(0.2)  # cleans up for a while
            raise

    inner = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    inner.cancel()
    await _reap(inner)  # its own cancellation: expected, swallowed
    assert inner.cancelled()

    inner = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    inner.cancel()
    outer = asyncio.create_task(_reap(inner))
    await asyncio.sleep(0.05)
    outer.cancel()  # the caller is cancelled while it waits: that goes on up
    with pytest.raises(asyncio.CancelledError):
        await outer

    async def broken() -> None:
        raise ValueError("render bug")

    task = asyncio.create_task(broken())
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="sora_tui.core.providers.preview"):
        await _reap(task)  # logged, not raised (the task was being cancelled anyway)
    (record,) = [r for r in caplog.records if r.name == "sora_tui.core.providers.preview"]
    assert record.levelno == logging.ERROR and "failed while being cancelled" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)
    assert str(record.exc_info[1]) == "render bug"


# --- no front end's words in the core's messages (issue 18, item 3) ---------------------------------

CORE = Path(__file__).resolve().parents[1] / "src" / "sora_tui" / "core"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
BARE_FLAG = re.compile(r"--[a-z][a-z0-9-]*(=\S*)?")  # an argv token or an argparse name, not a sentence
# modules whose messages other engineers are converting (issue 18): how many sentences still name the
# command line there; lower these as they go, never raise them
PENDING = {"run.py": 7, "retry.py": 4, "queue.py": 7, "runner.py": 2, "providers/fal.py": 1}


def _commands() -> set[str]:
    from sora_tui.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _strings(path: Path) -> list[tuple[int, str]]:
    """Every string the module can show (constants and f-strings, whole), docstrings left out."""
    tree = ast.parse(path.read_text("utf-8"))
    skip = _docstrings(tree)
    inner = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    out = []
    for node in ast.walk(tree):
        if id(node) in skip or id(node) in inner:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values)
            out.append((node.lineno, text))
    return out


def cli_words_in(path: Path, commands: set[str]) -> list[str]:
    said = re.compile(r"sora-tui (" + "|".join(sorted(commands)) + r")\b")
    found = []
    for line, text in _strings(path):
        if BARE_FLAG.fullmatch(text.strip()):
            continue
        # another tool's command (pip, the Hugging Face CLI): both front ends say it the same
        text = re.sub(r"(pip install|hf download)[^;)`]*", "", text)
        if FLAG.search(text) or said.search(text):
            where = path.relative_to(CORE) if path.is_relative_to(CORE) else path.name
            found.append(f"{where}:{line}: {text[:90]}")
    return found


def test_core_messages_name_no_flag_or_command() -> None:
    commands = _commands()
    assert {"resume", "redo", "keys", "generate"} <= commands
    by_file: dict[str, list[str]] = {}
    for path in sorted(CORE.rglob("*.py")):
        name = str(path.relative_to(CORE))
        found = cli_words_in(path, commands)
        if found:
            by_file[name] = found
    over = {n: f for n, f in by_file.items() if len(f) > PENDING.get(n, 0)}
    assert over == {}, (
        "core strings that name the command line (raise with a Code; word it in cli/advice.py and tui/advice.py)"
    )
    assert {n: len(f) for n, f in by_file.items()} == {n: c for n, c in PENDING.items() if n in by_file}


def test_the_scan_finds_what_it_must(tmp_path: Path) -> None:
    """The scan is not fooled by f-strings, implicit concatenation or an odd flag, and skips docstrings."""
    src = tmp_path / "m.py"
    src.write_text(
        '"""Module doc: `sora-tui resume JOB` is fine here."""\n'
        "def f(job):\n"
        '    """Doc: --max-cost is fine here."""\n'
        '    a = f"then `sora-tui resume {job}` carries on"\n'
        '    b = "raise " "--max-cost"\n'
        '    c = ["--lock-fd", "3"]\n'
        '    d = "pass --allow-cpu for tests"\n'
        "    return a, b, c, d\n",
        "utf-8",
    )
    found = cli_words_in(src, {"resume", "redo"})
    assert [f.split(":")[1] for f in found] == ["4", "5", "7"]


async def test_a_failed_run_stores_its_code_and_each_front_end_words_it(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run records the failure's code and facts with the job (store migration 8); the studio and
    the CLI word what to do from them, and neither rewrites the stored message."""
    from sora_tui.cli.advice import job_error as cli_job_error
    from sora_tui.core import join as joiner
    from sora_tui.core.errors import Code, DiskFull
    from sora_tui.core.models import InputError, JobStatus
    from sora_tui.core.tasks import _coded_kw
    from sora_tui.tui.advice import job_error

    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    plan = Plan("boat", "preview", "180p", "16:9", [SegmentPlan("boat", 1), SegmentPlan("boat", 1)], audio=False)
    job = engine.create_job(plan)

    def full(inputs: object, dest: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        raise DiskFull(dest, free=0)

    monkeypatch.setattr(joiner, "join_segments", full)
    with pytest.raises(InputError) as err:
        await engine.run(job.id)
    assert err.value.code is Code.DISK_FULL
    failed = engine.find_job(job.id)
    assert failed.status is JobStatus.FAILED and failed.error and "disk full at" in failed.error
    assert failed.error_code == "disk_full"
    assert failed.error_context == {"path": str(failed.job_dir / "final.mp4"), "free": 0, "job": job.id}
    assert job_error(failed).startswith(failed.error + "; ")
    assert job_error(failed).endswith("free some space there, then History (F4) → r Resume carries on")
    cli_said = cli_job_error(failed.error, failed.error_code, failed.error_context)
    assert cli_said.count(f"`sora-tui resume {job.id}` carries on once it is fixed") == 1
    # a task's failure (finish, export) carries its code the same way
    assert _coded_kw(DiskFull("/d", free=0)) == {"error_code": "disk_full", "error_context": {"path": "/d", "free": 0}}
    assert _coded_kw(RuntimeError("x")) == {}
    await engine.aclose()
