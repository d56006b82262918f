"""Each front end words engine errors in its own terms (issue 10 item 3, issue 18 item 3): the core
raises a code with its facts and names no flag; the CLI words it in flags, the studio in its keys."""

from __future__ import annotations

import pytest

from sora_tui.cli import cli_advice
from sora_tui.cli.advice import job_error as cli_job_error
from sora_tui.core.errors import Code, DiskFull, FileProblem, InputError, JobFailed
from sora_tui.core.finish.tts import TTSError
from sora_tui.core.keys import KeyringUnavailable
from sora_tui.core.models import Job, JobStatus, Mode
from sora_tui.core.planner.base import PlannerError
from sora_tui.core.providers.local import LocalOutOfMemory
from sora_tui.tui.advice import explain, job_error, label, problem, say, words_for

# every code a user can act on, with facts as the core gives them
FACTS: dict[Code, dict[str, object]] = {
    Code.RENDER_KEY: {"model": "veo3.1-fast", "key": "fal", "env_var": "FAL_KEY"},
    Code.CAST_EXISTS: {"name": "Mara"},
    Code.SHEET_UNFINISHED: {"name": "Mara"},
    Code.SHEET_FAILED: {"name": "Mara"},
    Code.OVER_BUDGET: {"total": 3.0, "cap": 2.0},
    Code.SEGMENT_FILE: {"job": "J", "index": 2},
    Code.JOB_NOT_FOUND: {"ref": "x"},
    Code.JOB_RUNNING: {"job": "J"},
    Code.BAD_IMAGE: {"path": "/x.txt"},
    Code.DISK_SPACE: {"path": "/d", "need": 10, "free": 1},
    Code.DISK_FULL: {"path": "/d", "free": 0, "job": "J"},
    Code.FILE_PROBLEM: {"path": "/d/x", "reason": "permission denied", "job": "J"},
    Code.KEY_MISSING: {"key": "openai", "env_var": "OPENAI_API_KEY", "use": "planner"},
    Code.KEY_REJECTED: {"key": "openai", "env_var": "OPENAI_API_KEY", "use": "narration"},
    Code.KEYRING_UNAVAILABLE: {"key": "fal", "env_var": "FAL_KEY"},
    Code.PLANNER_FAILED: {"planner": "openai"},
    Code.SPEECH_FAILED: {"where": "api.openai.com"},
    Code.JOB_NOT_COMPLETED: {"job": "J", "status": "failed"},
    Code.JOINED_MISSING: {"job": "J"},
    Code.PLAN_SEGMENTS_CHANGED: {"job": "J", "path": "/j/plan.json"},
    Code.LOCAL_CPU: {"reason": "no_cuda", "torch": "2.13.0+cpu"},
    Code.LOCAL_OUT_OF_MEMORY: {"job": "J", "device": "cuda:0", "model": "wan"},
    Code.LOCAL_FOLDER: {"model": "wan"},
}


def test_each_front_end_words_the_same_error() -> None:
    over = InputError("max_cost", "this job would cost $3.00, over the cap of $2.00", code=Code.OVER_BUDGET)
    key = InputError(
        "model",
        "veo3.1-fast renders on fal.ai and no fal key is set",
        code=Code.RENDER_KEY,
        context={"key": "fal", "env_var": "FAL_KEY"},
    )
    missing = InputError("segment 2", "file x.mp4 is missing", code=Code.SEGMENT_FILE, context={"job": "J", "index": 2})
    assert "--max-cost" in cli_advice(over) and "--max-cost" not in explain(over)
    assert explain(over).startswith("Budget cap: ") and "raise the budget cap" in explain(over)
    assert "--model preview" in cli_advice(key) and "Settings (F5)" in explain(key)
    assert "sora-tui" not in explain(key) and "--" not in explain(key)
    assert "sora-tui redo J --from 2" in cli_advice(missing) and "History (F4) → k" in explain(missing)
    assert (
        problem(over) == "this job would cost $3.00, over the cap of $2.00; " + "raise the budget cap, use fewer "
        "or shorter segments, or choose a cheaper model"
    )


@pytest.mark.parametrize("code", list(FACTS))
def test_every_actionable_code_is_worded_by_both_front_ends(code: Code) -> None:
    from sora_tui.cli.advice import advice as cli_words

    cli, studio = cli_words(code, dict(FACTS[code])), words_for(code, dict(FACTS[code]))
    assert cli and studio, f"{code} has no advice in one front end"
    assert "--" not in studio and "sora-tui" not in studio and "`" not in studio
    assert "--" in cli or "sora-tui" in cli or "PNG" in cli  # the command line's own words


def test_coded_errors_of_planners_speech_keys_and_renderers() -> None:
    planner = PlannerError("cannot reach the planner at http://x (refused)")
    assert cli_advice(planner) == "; or plan without it: --planner offline"
    assert say(planner) == "cannot reach the planner at http://x (refused); or choose the offline planner"
    no_key = TTSError(
        "no OpenAI key is set for narration with the OpenAI voice",
        code=Code.KEY_MISSING,
        context={"key": "openai", "env_var": "OPENAI_API_KEY", "use": "narration"},
    )
    assert "`sora-tui keys set openai`" in cli_advice(no_key) and "--tts offline" in cli_advice(no_key)
    assert say(no_key).endswith("add the openai key in Settings (F5), or choose the offline voice")
    ring = KeyringUnavailable("fal", "no backend")
    assert "--" not in str(ring) and "sora-tui keys set fal --file" in cli_advice(ring)
    oom = LocalOutOfMemory("cuda:0 ran out of memory", context={"job": "J", "device": "cuda:0"})
    assert "--device cuda:N" in cli_advice(oom) and "sora-tui resume J" in cli_advice(oom)
    assert "--" not in say(oom) and "History (F4) → r Resume" in say(oom)
    full = DiskFull("/nowhere/x", free=0)
    assert full.code is Code.DISK_FULL and full.context == {"path": "/nowhere/x", "free": 0}
    denied = FileProblem("/x", "permission denied")
    assert denied.code is Code.FILE_PROBLEM and denied.context["reason"] == "permission denied"
    assert cli_advice(JobFailed("plain")) == "" and say(JobFailed("plain")) == "plain"


def test_a_stored_failure_is_worded_from_its_code_not_its_text() -> None:
    job = Job(
        "J",
        "p",
        "preview",
        Mode.CHAIN,
        JobStatus.FAILED,
        error="disk full at /d: 0 B free",
        error_code="disk_full",
        error_context={"path": "/d", "free": 0, "job": "J"},
    )
    assert job_error(job) == "disk full at /d: 0 B free; free some space there, then History (F4) → r Resume carries on"
    assert cli_job_error(job.error, job.error_code, job.error_context) == (
        "disk full at /d: 0 B free; `sora-tui resume J` carries on once it is fixed"
    )
    job.error_code = "a_code_from_a_newer_version"
    assert job_error(job) == "disk full at /d: 0 B free"  # its words, nothing rewritten
    job.error_code, job.error = None, "segment 2 failed"
    assert job_error(job) == "segment 2 failed"


def test_labels_not_field_ids() -> None:
    assert label("start_image") == "Start image"
    assert label("plan.segments[2].seconds") == "Segment 2 · Seconds per segment"
    assert label("plan.max_cost") == "Budget cap"
    bad = InputError("start_image", "x.png is not a PNG, JPEG, WebP or BMP image", code=Code.BAD_IMAGE)
    assert explain(bad).startswith("Start image: ") and "start_image" not in explain(bad)


def test_the_studio_rewrites_no_stored_text() -> None:
    """No regex rewriting of stored messages is left in the studio's wording."""
    import sora_tui.tui.advice as advice

    assert not hasattr(advice, "studio_words") and not hasattr(advice, "_COMMANDS")


def test_the_cli_does_not_repeat_a_command_the_message_already_names() -> None:
    """While some core messages still name a command (issue 18: other modules convert theirs), the CLI's
    advice is not said twice."""
    from sora_tui.core.errors import DiskFull

    said = InputError(
        "disk",
        "disk full at /d: 0 B free; finished segments are kept, and `sora-tui resume J` carries on once it is fixed",
        code=Code.DISK_FULL,
        context={"path": "/d", "free": 0, "job": "J"},
    )
    assert cli_advice(said) == ""
    plain = InputError("disk", "disk full at /d: 0 B free", code=Code.DISK_FULL, context={"job": "J"})
    assert cli_advice(plain) == "; `sora-tui resume J` carries on once it is fixed"
    assert cli_job_error(str(said), "disk_full", {"job": "J"}) == str(said)
    assert cli_advice(DiskFull("/d", free=0)) == ""  # no job in its facts: nothing to resume yet
