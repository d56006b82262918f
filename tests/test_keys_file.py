"""Keys on a machine without a keyring: the key file (0600 in a 0700 folder), the lookup order
environment → keyring → file, delete from every place, `keys status` wording, and no key text in
argv, logs, history, events or plan files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from fakes.fal_server import FalFake
from fakes.memkeyring import MemKeyring
from pilotkit import wait_for
from sora_tui.core import keys
from sora_tui.core.errors import Code
from sora_tui.core.keys import get_key, key_dir, key_file, remove_key, set_key

if TYPE_CHECKING:
    pass

ROOT = Path(__file__).resolve().parents[1]
SECRET = "fal-file-key-5f3a9c2e77"


@pytest.fixture
def no_keyring() -> Iterator[None]:
    """The fail backend, as on a GPU box over SSH (no Secret Service)."""
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]  # keyring: __init__ unannotated
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_key_file_is_0600_in_a_0700_folder_even_with_a_zero_umask(home: Path, no_keyring: None) -> None:
    old = os.umask(0)
    try:
        path = set_key("fal", f"  {SECRET}\n", to_file=True)
    finally:
        os.umask(old)
    assert path == key_file("fal") == home / "config" / "keys" / "fal.key"
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert path.read_text() == SECRET + "\n"
    assert not [p for p in path.parent.iterdir() if p.name != "fal.key"]  # no temp file left
    # an existing folder that is too open is tightened; the file is replaced, still 0600
    os.chmod(path.parent, 0o755)
    set_key("fal", SECRET + "b", to_file=True)
    assert mode(path.parent) == 0o700 and mode(path) == 0o600
    assert get_key("fal", {}).value == SECRET + "b"


def test_key_file_is_created_exclusive_with_mode_0600(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never world-readable, not even for an instant: the first open creates it with 0600 (O_EXCL,
    O_NOFOLLOW), fchmod runs before a byte is written."""
    # ("open", (name, flags, mode)), ("fchmod", mode), ("write", byte count)
    calls: list[tuple[str, tuple[str, int, int] | int]] = []
    real_open, real_fchmod, real_write = os.open, os.fchmod, os.write

    def spy_open(path: str | os.PathLike[str], flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        calls.append(("open", (Path(path).name, flags, mode)))
        return real_open(path, flags, mode, dir_fd=dir_fd)

    def spy_fchmod(fd: int, m: int) -> None:
        calls.append(("fchmod", m))
        return real_fchmod(fd, m)

    def spy_write(fd: int, data: bytes) -> int:
        calls.append(("write", len(data)))
        return real_write(fd, data)

    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(os, "fchmod", spy_fchmod)
    monkeypatch.setattr(os, "write", spy_write)
    keys.write_key_file("openai", "sk-file-abcdef123456")
    monkeypatch.undo()
    kinds = [c[0] for c in calls]
    assert kinds == ["open", "fchmod", "write"]
    opened = calls[0][1]
    assert isinstance(opened, tuple)
    name, flags, created = opened
    assert name.startswith(".openai.key.") and created == 0o600
    assert flags & os.O_CREAT and flags & os.O_EXCL and flags & os.O_NOFOLLOW
    assert calls[1][1] == 0o600


def test_lookup_order_environment_keyring_file(home: Path, mem_keyring: MemKeyring) -> None:
    set_key("fal", "file-key-000011112222", to_file=True)
    assert get_key("fal", {}).source == "file"
    info = get_key("fal", {})
    assert info.path == key_file("fal") and "file-key-000011112222" not in repr(info)
    set_key("fal", "keyring-key-33334444")
    assert get_key("fal", {}).source == "keyring" and get_key("fal", {}).value == "keyring-key-33334444"
    info = get_key("fal", {"FAL_KEY": "env-key-55556666"})
    assert info.source == "env" and info.value == "env-key-55556666"
    # delete removes it from every place it is stored; the environment stays the shell's
    assert remove_key("fal") == ["keyring", "file"]
    assert not key_file("fal").exists() and mem_keyring.data == {}
    assert get_key("fal", {}).source == "none"
    assert remove_key("fal") == []


def test_failing_keyring_falls_back_to_the_file(home: Path, no_keyring: None) -> None:
    assert not keys.keyring_available()
    with pytest.raises(keys.KeyringUnavailable, match="key file") as err:
        set_key("openai", "sk-nokeyring-123456")
    assert err.value.code is Code.KEYRING_UNAVAILABLE and "--file" not in str(err.value)
    set_key("openai", "sk-nokeyring-123456", to_file=True)
    info = get_key("openai", {})
    assert info.source == "file" and info.value == "sk-nokeyring-123456"
    assert "set in the file" in info.describe() and "unencrypted" in info.describe()
    assert "sk-nokeyring-123456" in keys.known_secrets({})  # so the engine redacts it
    assert keys.delete_key("openai") is True and get_key("openai", {}).source == "none"


def test_a_key_file_others_can_read_is_flagged(home: Path, no_keyring: None) -> None:
    path = set_key("fal", SECRET, to_file=True)
    assert path is not None
    os.chmod(path, 0o644)
    info = get_key("fal", {})
    assert info.source == "file" and f"chmod 600 {path}" in info.describe()


def run_cli(cli_env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**cli_env, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-m", "sora_tui", *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


def test_cli_set_file_status_delete(cli_env: dict[str, str], home: Path) -> None:
    res = run_cli(cli_env, "keys", "set", "fal", "--file", stdin=SECRET + "\n")
    assert res.returncode == 2 and "--yes" in res.stderr and "unencrypted" in res.stderr
    assert not key_file("fal", cli_env).exists()
    res = run_cli(cli_env, "keys", "set", "fal", "--file", "--yes", stdin=SECRET + "\n")
    assert res.returncode == 0, res.stderr
    path = home / "config" / "keys" / "fal.key"
    assert "stored unencrypted" in res.stderr and "readable" in res.stderr and str(path) in res.stderr
    assert f"fal key stored in {path} (mode 0600)" in res.stdout
    assert SECRET not in res.stdout + res.stderr
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    # a new process (a new shell) finds it; status names where each key comes from
    res = run_cli(cli_env, "keys", "status")
    assert res.returncode == 0
    assert f"fal: set in the file {path}, unencrypted (…7e77)" not in res.stdout  # masked as the last four
    assert f"fal: set in the file {path}, unencrypted (…2e77)" in res.stdout
    assert "openai: not set" in res.stdout and "no OS keyring" in res.stdout and SECRET not in res.stdout
    res = run_cli({**cli_env, "FAL_KEY": "env-fal-key-00009999"}, "keys", "status")
    assert "fal: set from $FAL_KEY (…9999)" in res.stdout
    res = run_cli(cli_env, "keys", "delete", "fal")
    assert res.returncode == 0 and f"deleted from the key file {path}" in res.stdout and not path.exists()
    res = run_cli(cli_env, "keys", "delete", "fal")
    assert "was not stored" in res.stdout
    res = run_cli(cli_env, "keys", "set", "fal")  # no keyring, no --file: says both ways out
    assert res.returncode == 2 and "FAL_KEY" in res.stderr and "--file" in res.stderr


def test_the_cli_never_takes_a_key_from_argv(cli_env: dict[str, str]) -> None:
    """A key typed on the command line (where the process list shows it) is refused, not stored."""
    res = run_cli(cli_env, "keys", "set", "fal", SECRET, "--file", "--yes")
    assert res.returncode == 2 and "unrecognized arguments" in res.stderr and "Traceback" not in res.stderr
    assert not key_file("fal", cli_env).exists()


async def test_a_file_key_renders_and_never_lands_in_logs_history_or_plans(
    fal_fake: FalFake, home: Path, no_keyring: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sora_tui.core.engine import Engine
    from sora_tui.core.models import JobStatus, Mode, Request

    set_key("fal", fal_fake.key, to_file=True)
    env = {k: v for k, v in fal_fake.env().items() if k != "FAL_KEY"}
    env.update(SORA_TUI_HOME=str(home), SORA_TUI_POLL_INTERVAL="0.05")
    engine = Engine(env=env)
    assert get_key("fal", engine.env).source == "file"
    req = engine.resolve(Request(prompt="a lighthouse", segments=2, seconds=4, model="veo3.1-fast", mode=Mode.CHAIN))
    job = engine.create_job(await engine.plan(req))
    # an error that quotes the key is redacted before it is stored
    engine.log(job.id, f"a provider echoed Key {fal_fake.key}", "warning")
    done = await engine.run(job.id)
    await engine.aclose()
    assert done.status is JobStatus.COMPLETED, done.error
    assert all(s.headers["authorization"] == f"Key {fal_fake.key}" for s in fal_fake.submits)
    secret = fal_fake.key.encode()
    written = [p for p in home.rglob("*") if p.is_file() and p.parent != key_dir(engine.env)]
    assert any(p.suffix == ".sqlite" or "history" in p.name for p in written)
    for p in written:
        assert secret not in p.read_bytes(), p


async def test_settings_screen_stores_a_key_in_a_file_without_a_keyring(home: Path, no_keyring: None) -> None:
    """Pilot: no keyring → the screen warns (unencrypted, who can read it) and offers "Store in file"."""
    from textual.widgets import Button, Input, Static

    from sora_tui.tui.app import create_app

    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAL_", "OPENAI_"))}
    app = create_app({**env, "SORA_TUI_HOME": str(home)}, initial_mode="settings")
    async with app.run_test(size=(140, 50)) as pilot:
        await wait_for(
            pilot, lambda: bool(app.screen.query("#no-keyring")), what="the settings screen's keyring warning"
        )
        warning = str(app.screen.query_one("#no-keyring", Static).render())
        assert "unencrypted" in warning and "readable only by your user" in warning
        assert str(home / "config" / "keys") in warning
        panel = app.screen.query_one("#key-fal")
        button = panel.query_one(".key-set", Button)
        assert str(button.label) == "Store in file" and not button.disabled
        panel.query_one(".key-input", Input).value = SECRET
        await pilot.click(button)

        def status() -> str:
            return str(panel.query_one(".key-status", Static).render())

        await wait_for(pilot, lambda: "set in the file" in status(), what="the fal panel to show the stored key")
        path = home / "config" / "keys" / "fal.key"
        assert path.read_text().strip() == SECRET and mode(path) == 0o600 and mode(path.parent) == 0o700
        assert "set in the file" in status() and SECRET not in status()
        assert app.engine.has_key("fal")
        await pilot.click(panel.query_one(".key-delete", Button))
        await wait_for(pilot, lambda: "fal: not set" in status(), what="the fal panel to show the key deleted")
        assert not path.exists()
