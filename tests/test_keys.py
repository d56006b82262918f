"""API keys: env beats keyring, set/get/delete through a keyring backend, no backend, redact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fakes.memkeyring import MemKeyring
from sora_tui.cli.advice import cli_advice
from sora_tui.core import keys
from sora_tui.core.keys import KeyringUnavailable, delete_key, get_key, known_secrets, redact, set_key
from sora_tui.core.models import InputError

ROOT = Path(__file__).resolve().parents[1]


def test_env_wins_over_keyring(mem_keyring: MemKeyring) -> None:
    set_key("fal", "keyring-fal-key-0000")
    info = get_key("fal", {"FAL_KEY": "env-fal-key-1111"})
    assert info.source == "env" and info.value == "env-fal-key-1111"
    info = get_key("fal", {})
    assert info.source == "keyring" and info.value == "keyring-fal-key-0000"
    assert "keyring-fal-key-0000" not in repr(info) and "0000" in info.masked


def test_set_get_delete(mem_keyring: MemKeyring) -> None:
    assert get_key("openai", {}).source == "none"
    set_key("openai", "  sk-stored-abcdef123456 \n")
    assert mem_keyring.data[(keys.SERVICE, "openai")] == "sk-stored-abcdef123456"
    assert get_key("openai", {}).value == "sk-stored-abcdef123456"
    assert delete_key("openai") is True
    assert delete_key("openai") is False
    assert get_key("openai", {}).present is False


def test_bad_names_and_empty_values(mem_keyring: MemKeyring) -> None:
    with pytest.raises(InputError, match="unknown key"):
        get_key("stability", {})
    with pytest.raises(InputError, match="empty"):
        set_key("fal", "   ")


def test_no_backend_gives_keyring_unavailable_with_the_env_var() -> None:
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]  # keyring's backends are unannotated
    try:
        with pytest.raises(KeyringUnavailable) as err:
            set_key("fal", "some-fal-key-123456")
        text = str(err.value)
        assert "export FAL_KEY=" in text and "No OS keyring" in text
        assert "some-fal-key-123456" not in text
        assert "sora-tui" not in text and "sora-tui keys set fal --file" in cli_advice(err.value)
        assert delete_key("openai") is False  # nothing in a keyring or a key file: nothing to remove
        info = get_key("fal", {})
        assert info.source == "none" and "keyring unavailable" in info.detail
        assert "sora-tui" not in info.describe() and "FAL_KEY" in info.describe()
        assert "`sora-tui keys set fal` or export FAL_KEY" in info.describe(how="`sora-tui keys set fal`")
    finally:
        keyring.set_keyring(previous)


def test_redact_and_known_secrets(mem_keyring: MemKeyring) -> None:
    env = {"FAL_KEY": "fal-secret-abcdef", "OPENAI_API_KEY": "sk-secret-123456"}
    assert sorted(known_secrets(env)) == ["fal-secret-abcdef", "sk-secret-123456"]
    text = "url?key=fal-secret-abcdef and sk-secret-123456 twice sk-secret-123456"
    out = redact(text, known_secrets(env))
    assert "secret" not in out and out.count("***") == 3
    assert redact("nothing here", []) == "nothing here"


def test_file_keyring_is_shared_with_a_subprocess(tmp_path: Path) -> None:
    """The file-backed test keyring works through PYTHON_KEYRING_BACKEND in a child process."""
    store = tmp_path / "keyring.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FAL_", "OPENAI_"))},
        "PYTHONPATH": str(ROOT),
        "PYTHON_KEYRING_BACKEND": "tests.fakes.memkeyring.FileKeyring",
        "SORA_TUI_TEST_KEYRING": str(store),
    }
    code = (
        "from sora_tui.core.keys import set_key, get_key\n"
        "set_key('fal', 'child-fal-key-424242')\n"
        "print(get_key('fal', {}).source)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "keyring"
    assert json.loads(store.read_text())["sora-tui/fal"] == "child-fal-key-424242"
