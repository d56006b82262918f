"""API keys: environment variable first, then the OS keyring, then a key file, else none.

A key file is for machines without a keyring (a GPU box over SSH has no Secret Service): one file
per key in ``<config folder>/keys/`` (``fal.key``, ``openai.key``), stored unencrypted, the file
created mode 0600 (never readable by others, not even for an instant) in a folder of mode 0700,
like the GitHub and Hugging Face command lines do. Keys are never logged, stored in history or
written into plans. ``KeyInfo``'s repr masks the value so that an accidental log line cannot leak it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import Code

SERVICE = "sora-tui"
ENV_VARS = {"fal": "FAL_KEY", "openai": "OPENAI_API_KEY"}
NAMES = tuple(ENV_VARS)


class KeyringUnavailable(Exception):
    """No usable keyring backend on this machine (``code`` KEYRING_UNAVAILABLE, ``context`` key and
    env_var: each front end says how it stores a key file instead)."""

    def __init__(self, name: str, detail: str = "") -> None:
        var = ENV_VARS.get(name, "the environment variable")
        self.code = Code.KEYRING_UNAVAILABLE
        self.context: dict[str, str] = {"key": name, "env_var": var}
        super().__init__(
            "No OS keyring is available on this machine"
            + (f" ({detail})" if detail else "")
            + f". Set the key in the environment instead, e.g. `export {var}=...` in your shell profile, "
            "or store it in a key file readable only by you"
        )


@dataclass(frozen=True)
class KeyInfo:
    name: str
    source: str  # "env" | "keyring" | "file" | "none"
    value: str | None = field(default=None, repr=False)
    detail: str = ""  # e.g. why the keyring could not be read
    path: Path | None = None  # the key file (source "file")

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

    def describe(self, how: str = "") -> str:
        """One line: where the key comes from; for a missing one, ``how`` to set it (the front
        end's words, e.g. a command) or the environment variable."""
        if self.source == "env":
            return f"{self.name}: set from ${self.env_var} ({self.masked})"
        if self.source == "keyring":
            return f"{self.name}: set in the OS keyring ({self.masked})"
        if self.source == "file":
            extra = f"; {self.detail}" if self.detail else ""
            return f"{self.name}: set in the file {self.path}, unencrypted ({self.masked}){extra}"
        hint = f"{how} or export {self.env_var}" if how else f"export {self.env_var}"
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


def key_dir(env: Mapping[str, str] | None = None) -> Path:
    """The folder of key files: ``keys/`` in the config folder (SORA_TUI_HOME or platformdirs)."""
    from .settings import get_paths

    merged = os.environ if env is None else {**os.environ, **env}
    return get_paths(merged).config_dir / "keys"


def key_file(name: str, env: Mapping[str, str] | None = None) -> Path:
    _check_name(name)
    return key_dir(env) / f"{name}.key"


FILE_WARNING = (
    "The key is stored unencrypted in {path}: readable by your user only (the file is mode 0600, its "
    "folder 0700), and by root, by anyone who can log in as you and by whoever holds a backup of that folder."
)


def file_warning(name: str, env: Mapping[str, str] | None = None) -> str:
    """What storing ``name`` in a file means, said before it is done."""
    return FILE_WARNING.format(path=key_file(name, env))


def _read_file(name: str, env: Mapping[str, str] | None) -> KeyInfo | None:
    path = key_file(name, env)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return KeyInfo(name, "none", None, detail=f"key file {path} unreadable: {exc.strerror}")
    try:
        st = os.fstat(fd)
        with os.fdopen(fd, "r", encoding="utf-8") as fh:
            value = fh.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        return KeyInfo(name, "none", None, detail=f"key file {path} unreadable: {type(exc).__name__}")
    if not value:
        return None
    detail = ""
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        detail = f"others can read it: run `chmod 600 {path}`"
    return KeyInfo(name, "file", value, detail=detail, path=path)


def get_key(name: str, env: Mapping[str, str] | None = None) -> KeyInfo:
    """The key in effect: ``$FAL_KEY``/``$OPENAI_API_KEY``, else the OS keyring, else the key file."""
    _check_name(name)
    paths_env = env
    env = os.environ if env is None else env
    value = env.get(ENV_VARS[name], "").strip()
    if value:
        return KeyInfo(name, "env", value)
    problem = _backend_problem()
    detail = ""
    if problem:
        detail = f"OS keyring unavailable: {problem}"
    else:
        import keyring

        try:
            stored = keyring.get_password(SERVICE, name)
        except Exception as exc:
            stored = None
            detail = f"OS keyring unreadable: {type(exc).__name__}"
        if stored:
            return KeyInfo(name, "keyring", stored)
    from_file = _read_file(name, paths_env)
    if from_file is not None and from_file.present:
        return from_file
    if from_file is not None and from_file.detail:
        detail = "; ".join(d for d in (detail, from_file.detail) if d)
    return KeyInfo(name, "none", None, detail=detail)


def _clean(value: str) -> str:
    value = value.strip()
    if not value:
        from .models import InputError

        raise InputError("key", "is empty; paste the key to store")
    return value


def set_key(name: str, value: str, *, to_file: bool = False, env: Mapping[str, str] | None = None) -> Path | None:
    """Store a key in the OS keyring, or with ``to_file`` in the key file (returns its path)."""
    _check_name(name)
    value = _clean(value)
    if to_file:
        return write_key_file(name, value, env)
    problem = _backend_problem()
    if problem:
        raise KeyringUnavailable(name, problem)
    import keyring

    try:
        keyring.set_password(SERVICE, name, value)
    except Exception as exc:
        raise KeyringUnavailable(name, type(exc).__name__) from None
    return None


def _private_dir(folder: Path) -> None:
    """Create ``folder`` (and its parents) with the folder itself mode 0700; an existing one is
    tightened to 0700 (it must be ours: another user's folder is refused)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    st = os.stat(folder, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        raise OSError(f"{folder} is not a folder")
    if st.st_uid != os.getuid():
        raise PermissionError(f"{folder} belongs to another user; remove it or set SORA_TUI_HOME")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(folder, 0o700)


def write_key_file(name: str, value: str, env: Mapping[str, str] | None = None) -> Path:
    """Write the key file atomically: a new file opened O_CREAT|O_EXCL with mode 0600 (fchmod'ed, so
    no umask widens it) in the 0700 key folder, then renamed over the old one. Never world-readable,
    not even for an instant; the value never reaches argv, a log or an exception message."""
    value = _clean(value)
    path = key_file(name, env)
    _private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (value + "\n").encode("utf-8"))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    os.close(fd)
    os.replace(tmp, path)
    return path


def remove_key(name: str, env: Mapping[str, str] | None = None) -> list[str]:
    """Remove a stored key from every place it is stored (the keyring, the key file); the places
    it was removed from. The environment is the user's shell's: it is only reported (``get_key``)."""
    _check_name(name)
    removed = []
    if _backend_problem() is None:
        import keyring
        from keyring.errors import PasswordDeleteError

        try:
            keyring.delete_password(SERVICE, name)
            removed.append("keyring")
        except PasswordDeleteError:
            pass
        except Exception as exc:
            raise KeyringUnavailable(name, type(exc).__name__) from None
    path = key_file(name, env)
    try:
        path.unlink()
        removed.append("file")
    except FileNotFoundError:
        pass
    return removed


def delete_key(name: str, env: Mapping[str, str] | None = None) -> bool:
    """Remove a stored key from the keyring and the key file; False when none was stored."""
    return bool(remove_key(name, env))


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

    def set(self, name: str, value: str, *, to_file: bool = False) -> Path | None:
        """Store a key (the OS keyring, or with ``to_file`` the key file: its path) and read it again."""
        try:
            return set_key(name, value, to_file=to_file, env=self.env)
        finally:
            self.forget(name)
            self.get(name)

    def delete(self, name: str) -> list[str]:
        """Remove a key from every place it is stored (see ``remove_key``) and read it again."""
        try:
            return remove_key(name, self.env)
        finally:
            self.forget(name)
            self.get(name)

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
