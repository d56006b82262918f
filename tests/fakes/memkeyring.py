"""Keyring backends for tests: in memory, or in a JSON file (for `sora-tui` subprocesses).

In-process: the ``mem_keyring`` fixture installs :class:`MemKeyring`. In a subprocess::

    PYTHONPATH=<repo root>  PYTHON_KEYRING_BACKEND=tests.fakes.memkeyring.FileKeyring
    SORA_TUI_TEST_KEYRING=<path to a JSON file>

(``fakes.memkeyring.FileKeyring`` with ``PYTHONPATH=<repo>/tests`` works as well.)
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

FILE_ENV = "SORA_TUI_TEST_KEYRING"


class MemKeyring(KeyringBackend):
    """Passwords in a dict; never touches the OS."""

    priority = 100

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # keyring's KeyringBackend.__init__ is unannotated
        self.data: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.data.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.data[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.data:
            raise PasswordDeleteError("not stored")
        del self.data[(service, username)]


class SlowKeyring(MemKeyring):
    """A keyring that answers every call after ``delay`` seconds (a desktop's D-Bus, a locked
    keyring), and counts the calls and the threads they came from."""

    def __init__(self, delay: float = 0.2) -> None:
        super().__init__()
        self.delay = delay
        self.calls: list[tuple[str, str]] = []  # (method, thread name)

    def _wait(self, what: str) -> None:
        self.calls.append((what, threading.current_thread().name))
        time.sleep(self.delay)

    def get_password(self, service: str, username: str) -> str | None:
        self._wait("get")
        return super().get_password(service, username)

    def set_password(self, service: str, username: str, password: str) -> None:
        self._wait("set")
        super().set_password(service, username, password)

    def delete_password(self, service: str, username: str) -> None:
        self._wait("delete")
        super().delete_password(service, username)


class FileKeyring(KeyringBackend):
    """Passwords in the JSON file named by ``$SORA_TUI_TEST_KEYRING`` (shared with subprocesses)."""

    priority = 100

    @property
    def path(self) -> Path:
        name = os.environ.get(FILE_ENV)
        if not name:
            raise RuntimeError(f"{FILE_ENV} is not set")
        return Path(name)

    def _load(self) -> dict[str, str]:
        try:
            data: dict[str, str] = json.loads(self.path.read_text("utf-8"))
            return data
        except FileNotFoundError:
            return {}

    def _save(self, data: dict[str, str]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data), "utf-8")
        os.replace(tmp, self.path)

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}/{username}"] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if f"{service}/{username}" not in data:
            raise PasswordDeleteError("not stored")
        del data[f"{service}/{username}"]
        self._save(data)
