"""Shared fixtures. Tests never see the user's real keys, keyring or folders."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fakes.fal_server import FalFake
    from fakes.memkeyring import MemKeyring
    from fakes.openai_server import OpenAIFake

# Before anything imports keyring: no real OS keyring, no real keys, no real folders.
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
for _var in ("FAL_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
    os.environ.pop(_var, None)
for _var in [v for v in os.environ if v.startswith("SORA_TUI_") and v != "SORA_TUI_REQUIRE_BROWSER"]:
    os.environ.pop(_var, None)
# The runners, renders and ffmpeg runs the tests start run at the tests' own priority. By default they run
# 10 steps nicer, in their own scheduling group (a studio's keys come first): beside another pytest worker's
# CPU-heavy tests such a runner got about a tenth of the CPU, and a task test that takes 7 s alone took
# 197 s (measured under four busy loops), past its waits. tests/test_media.py tests the lowering itself.
os.environ["SORA_TUI_BACKGROUND_NICE"] = "0"

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty SORA_TUI_HOME for this test (config, data and jobs under it)."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("SORA_TUI_HOME", str(path))
    return path


@pytest.fixture
def cli_env(home: Path) -> dict[str, str]:
    """Environment for running the `sora-tui` command in a subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAL_", "OPENAI_"))}
    env["SORA_TUI_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def sora_cmd() -> list[str]:
    return [sys.executable, "-m", "sora_tui"]


# --- hosted-service fakes (tests/fakes) and an in-memory keyring ------------------------
# ``tests/`` is on sys.path (rootdir conftest, no __init__.py), so the fakes import as ``fakes.*``.


@pytest.fixture
def mem_keyring() -> Iterator[MemKeyring]:
    """Install an in-memory keyring backend for this test (restores the previous one)."""
    import keyring

    from fakes.memkeyring import MemKeyring

    previous = keyring.get_keyring()
    backend = MemKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def fal_fake() -> Iterator[FalFake]:
    """A running fake fal.ai (queue + storage + CDN) on 127.0.0.1; see tests/fakes/fal_server.py."""
    from fakes.fal_server import FalFake

    fake = FalFake().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def openai_fake() -> Iterator[OpenAIFake]:
    """A running fake OpenAI chat-completions server; see tests/fakes/openai_server.py."""
    from fakes.openai_server import OpenAIFake

    fake = OpenAIFake().start()
    try:
        yield fake
    finally:
        fake.stop()
