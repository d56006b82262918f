"""What tui/serve.py takes from textual-serve beyond constructing its Server, pinned (<2) and checked.

``StudioServer`` overrides ``_make_app`` (to add the token middleware), ``handle_index``,
``initialize_logging`` and ``on_startup``, and raises ``download_manager.DOWNLOAD_TIMEOUT``.
A release that renames or reshapes any of them would silently drop the access token or the
longer download timeout; these tests fail first, naming what changed.
"""

from __future__ import annotations

import inspect
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

from textual_serve import download_manager
from textual_serve.server import Server

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("_make_app", "handle_index", "on_startup", "initialize_logging")


def test_installed_textual_serve_is_the_pinned_major() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pin = next(d for d in deps if d.startswith("textual-serve"))
    upper = re.search(r"<\s*(\d+)", pin)
    assert upper, f"textual-serve must be pinned below its next major ({pin!r}): serve.py overrides its internals"
    assert int(version("textual-serve").split(".")[0]) < int(upper.group(1))


def test_the_server_members_serve_py_overrides_are_there() -> None:
    for name in CHECKED[:3]:
        member = getattr(Server, name, None)
        assert member is not None and inspect.iscoroutinefunction(member), f"textual-serve's Server.{name} changed"
    assert callable(getattr(Server, "initialize_logging", None)), "textual-serve's Server.initialize_logging changed"
    params = inspect.signature(Server.__init__).parameters
    assert {"command", "host", "port", "title", "public_url"} <= set(params), list(params)
    assert list(inspect.signature(Server.handle_index).parameters) == ["self", "request"]


def test_the_download_timeout_is_a_module_constant() -> None:
    assert isinstance(download_manager.DOWNLOAD_TIMEOUT, int | float), "textual-serve moved DOWNLOAD_TIMEOUT"
    source = inspect.getsource(download_manager)
    assert "DOWNLOAD_TIMEOUT" in source.split("DOWNLOAD_TIMEOUT =", 1)[1], "no longer read by the download manager"


def test_every_member_serve_py_overrides_is_checked_here() -> None:
    from sora_tui.tui.serve import _server_class

    studio = _server_class()
    assert issubclass(studio, Server)
    overridden = {n for n in vars(studio) if hasattr(Server, n) and not n.startswith("__")}
    assert overridden <= set(CHECKED), f"serve.py now overrides {sorted(overridden - set(CHECKED))}: check them here"
