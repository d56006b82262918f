"""The retry policy's errors are data: a code and its facts, never a front end's command or flag."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sora_tui.core.catalog import load_catalog
from sora_tui.core.errors import Code, JobFailed
from sora_tui.core.models import SegmentStatus
from sora_tui.core.providers.base import AuthError, ContentPolicyError, ProviderError, TransientError
from sora_tui.core.retry import with_retries
from sora_tui.core.settings import Settings

CATALOG = load_catalog()


class FakeRun:
    """The parts of a JobRun the policy reads (retry.RetriedRun)."""

    def __init__(self, tmp_path: Path) -> None:
        self.job = SimpleNamespace(id="2026-job")
        self.spec = CATALOG.get("veo3.1-fast")
        self.dir = tmp_path
        self.settings = Settings(max_retries=1, retry_base_delay=0.0, retry_max_delay=0.0)
        self.engine = SimpleNamespace(catalog=CATALOG)
        self.control = SimpleNamespace(cancel_event=asyncio.Event())
        self.store = SimpleNamespace(
            segment=lambda job_id, idx: SimpleNamespace(prompt="a forbidden scene " * 10),
            increment_segment=lambda *a: None,
        )
        self.segments: list[tuple[int, Any]] = []
        self.lines: list[str] = []

    def check_cancel(self) -> None:
        pass

    def set_segment(self, index: int, status: SegmentStatus | None = None, message: str = "", **changes: Any) -> None:
        self.segments.append((index, status))

    def log(self, message: str, level: str = "info", index: int | None = None) -> None:
        self.lines.append(message)


def _fail_with(exc: Exception, tmp_path: Path) -> tuple[JobFailed, FakeRun]:
    run = FakeRun(tmp_path)

    async def call() -> None:
        raise exc

    with pytest.raises(JobFailed) as info:
        asyncio.run(with_retries(run, call, 2, "submitting"))  # type: ignore[arg-type]
    return info.value, run


def test_a_refused_prompt_names_the_segment_and_the_plan(tmp_path: Path) -> None:
    err, run = _fail_with(ContentPolicyError("flagged by a content checker"), tmp_path)
    assert err.code is Code.CONTENT_POLICY
    assert err.context == {"job": "2026-job", "index": 2, "model": "veo3.1-fast", "plan": str(tmp_path / "plan.json")}
    assert "segment 2 was refused" in str(err) and 'Prompt: "a forbidden scene' in str(err)
    assert run.segments == [(2, SegmentStatus.FAILED)]


def test_a_rejected_key_names_the_key_and_its_variable(tmp_path: Path) -> None:
    err, _ = _fail_with(AuthError("401 unauthorised"), tmp_path)
    assert err.code is Code.KEY_REJECTED
    assert err.context == {"key": "fal", "env_var": "FAL_KEY", "use": "render", "job": "2026-job"}


@pytest.mark.parametrize(
    ("exc", "attempts"), [(ProviderError("render failed"), 1), (TransientError("502 bad gateway"), 2)]
)
def test_a_failed_call_is_resumable(tmp_path: Path, exc: Exception, attempts: int) -> None:
    err, _ = _fail_with(exc, tmp_path)
    assert err.code is Code.RESUMABLE
    assert err.context == {"job": "2026-job", "index": 2, "attempts": attempts}


@pytest.mark.parametrize(
    "exc", [ContentPolicyError("x"), AuthError("x"), ProviderError("x"), TransientError("x")], ids=str
)
def test_no_front_end_words_in_the_message(tmp_path: Path, exc: Exception) -> None:
    err, _ = _fail_with(exc, tmp_path)
    assert "sora-tui" not in str(err) and "--" not in str(err) and "`" not in str(err)
