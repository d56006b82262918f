"""API keys: environment variable first, then the OS keyring, else none.

Keys are never logged, stored in history or written into plans. ``KeyInfo``'s
repr masks the value so that an accidental log line cannot leak it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

SERVICE = "sora-tui"
ENV_VARS = {"fal": "FAL_KEY", "openai": "OPENAI_API_KEY"}
NAMES = tuple(ENV_VARS)


class KeyringUnavailable(Exception):
    """No usable keyring backend on this machine."""

    def __init__(self, name: str, detail: str = "") -> None:
        var = ENV_VARS.get(name, "the environment variable")
        super().__init__(
            "No OS keyring is available on this machine"
            + (f" ({detail})" if detail else "")
            + f". Set the key in the environment instead, e.g. `export {var}=...` in your shell profile."
        )


@dataclass(frozen=True)
class KeyInfo:
    name: str
    source: str  # "env" | "keyring" | "none"
    value: str | None = field(default=None, repr=False)
    detail: str = ""  # e.g. why the keyring could not be read

    @property
    def present(self) -> bool:
        return bool(self.value)

    @property
    def env_var(self) -> str:
        return ENV_VARS[self.name]

    @property
    def masked(self) -> str:
        if not self.value:
            return "not set"
        tail = self.value[-4:] if len(self.value) >= 12 else ""
        return f"…{tail}" if tail else "set"

    def describe(self) -> str:
        if self.source == "env":
            return f"{self.name}: set from ${self.env_var} ({self.masked})"
        if self.source == "keyring":
            return f"{self.name}: set in the OS keyring ({self.masked})"
        hint = f"`sora-tui keys set {self.name}` or export {self.env_var}"
        extra = f"; {self.detail}" if self.detail else ""
        return f"{self.name}: not set ({hint}){extra}"


def _check_name(name: str) -> None:
    if name not in ENV_VARS:
        from .models import InputError

        raise InputError("key name", f"unknown key {name!r}", list(NAMES))


def _backend_problem() -> str | None:
    """Why the keyring cannot be used, or None when a real backend is there."""
    try:
        import keyring
        from keyring.backends import fail
    except Exception as exc:  # pragma: no cover - keyring is a dependency
        return f"keyring cannot be imported: {exc}"
    try:
        backend = keyring.get_keyring()
    except Exception as exc:
        return f"keyring backend failed: {exc}"
    if isinstance(backend, fail.Keyring):
        return "no keyring backend found"
    return None


def keyring_available() -> bool:
    return _backend_problem() is None


def get_key(name: str, env: Mapping[str, str] | None = None) -> KeyInfo:
    _check_name(name)
    env = os.environ if env is None else env
    value = env.get(ENV_VARS[name], "").strip()
    if value:
        return KeyInfo(name, "env", value)
    problem = _backend_problem()
    if problem:
        return KeyInfo(name, "none", None, detail=f"OS keyring unavailable: {problem}")
    import keyring

    try:
        stored = keyring.get_password(SERVICE, name)
    except Exception as exc:
        return KeyInfo(name, "none", None, detail=f"OS keyring unreadable: {type(exc).__name__}")
    if stored:
        return KeyInfo(name, "keyring", stored)
    return KeyInfo(name, "none", None)


def set_key(name: str, value: str) -> None:
    _check_name(name)
    value = value.strip()
    if not value:
        from .models import InputError

        raise InputError("key", "is empty; paste the key to store")
    problem = _backend_problem()
    if problem:
        raise KeyringUnavailable(name, problem)
    import keyring

    try:
        keyring.set_password(SERVICE, name, value)
    except Exception as exc:
        raise KeyringUnavailable(name, type(exc).__name__) from None


def delete_key(name: str) -> bool:
    """Remove a stored key; False when none was stored."""
    _check_name(name)
    problem = _backend_problem()
    if problem:
        raise KeyringUnavailable(name, problem)
    import keyring
    from keyring.errors import PasswordDeleteError

    try:
        keyring.delete_password(SERVICE, name)
    except PasswordDeleteError:
        return False
    except Exception as exc:
        raise KeyringUnavailable(name, type(exc).__name__) from None
    return True


class KeyCache:
    """Keys read once (environment, then the OS keyring) and kept until they change.

    A front end may ask on every keystroke: the keyring (D-Bus on a desktop, seconds when it is
    locked) is read once per key, at ``load`` (call it off any UI loop) or on first use. Setting or
    deleting a key through the cache reads it again; ``forget`` drops what is known.
    """

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env: Mapping[str, str] = os.environ if env is None else env
        self._keys: dict[str, KeyInfo] = {}
        self._backend: tuple[str | None] | None = None  # (problem,) once probed
        self._lock = threading.Lock()

    def get(self, name: str) -> KeyInfo:
        with self._lock:
            info = self._keys.get(name)
        if info is None:
            info = get_key(name, self.env)
            with self._lock:
                self._keys[name] = info
        return info

    def known(self, name: str) -> KeyInfo | None:
        """The key as last read, or None when it has not been read yet (never touches the keyring)."""
        with self._lock:
            return self._keys.get(name)

    def keyring_problem(self) -> str | None:
        """Why the OS keyring cannot be used (None: it can); probed once."""
        if self._backend is None:
            self._backend = (_backend_problem(),)
        return self._backend[0]

    def keyring_available(self) -> bool:
        return self.keyring_problem() is None

    def load(self) -> KeyCache:
        """Read every key and probe the keyring now (a slow keyring waits here, not later)."""
        self.keyring_problem()
        for name in NAMES:
            self.get(name)
        return self

    def forget(self, name: str | None = None) -> None:
        with self._lock:
            if name is None:
                self._keys.clear()
            else:
                self._keys.pop(name, None)

    def set(self, name: str, value: str) -> KeyInfo:
        set_key(name, value)
        self.forget(name)
        return self.get(name)

    def delete(self, name: str) -> bool:
        try:
            return delete_key(name)
        finally:
            self.forget(name)

    def secrets(self) -> list[str]:
        """The key values in effect (to scrub them from any text written)."""
        return [v for n in NAMES if (v := self.get(n).value) and len(v) >= 6]


def known_secrets(env: Mapping[str, str] | None = None) -> list[str]:
    """The key values currently in effect (to scrub them from any text we write)."""
    out = []
    for name in NAMES:
        info = get_key(name, env)
        if info.value and len(info.value) >= 6:
            out.append(info.value)
    return out


def redact(text: str, secrets: list[str]) -> str:
    """Replace every secret in ``text`` with a mask (defence in depth for messages and logs)."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, "***")
    return text
